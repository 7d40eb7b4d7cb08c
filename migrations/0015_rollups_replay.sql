-- Rollups and replay jobs (the history issue: rollups, one replay implementation).
--
-- event_rollups     counts of workflow_events per bucket of occurred_at, by type,
--                   source and status, with the first and last occurred_at in the
--                   group; width 'minute' or 'hour' (an hour is the sum of its minutes)
-- delivery_rollups  counts of trigger_deliveries per bucket of decided_at, by trigger
--                   and outcome, with the first and last decided_at in the group
-- rollup_watermarks how far each rollup has been computed: every change to a raw row
--                   up to `upto` is in the rollup (docs/history.md says how a change
--                   is found and why late events are still counted)
-- replay_jobs       one row per replay (sluicectl replay, POST /admin/replay with
--                   "job": true): what it selects, its progress cursor and counts, so
--                   it can be resumed after a crash and cancelled (src/history/replay.h)
--
-- The code that fills the rollups is src/history/rollup.c (sluice-admin periodically,
-- `sluicectl history rollup` by hand); it recomputes whole buckets from the raw rows,
-- so running it twice over a range leaves the same rows.

CREATE TABLE event_rollups (
        width     text        NOT NULL CHECK (width IN ('minute', 'hour')),
        bucket    timestamptz NOT NULL,
        type      text        NOT NULL,
        source    text        NOT NULL,
        status    text        NOT NULL,
        events    bigint      NOT NULL CHECK (events > 0),
        first_at  timestamptz NOT NULL,
        last_at   timestamptz NOT NULL,
        PRIMARY KEY (width, bucket, type, source, status)
);

CREATE TABLE delivery_rollups (
        width      text        NOT NULL CHECK (width IN ('minute', 'hour')),
        bucket     timestamptz NOT NULL,
        trigger_id uuid        NOT NULL,
        outcome    text        NOT NULL,
        deliveries bigint      NOT NULL CHECK (deliveries > 0),
        first_at   timestamptz NOT NULL,
        last_at    timestamptz NOT NULL,
        PRIMARY KEY (width, bucket, trigger_id, outcome)
);

CREATE TABLE rollup_watermarks (
        name       text        PRIMARY KEY CHECK (name IN ('events', 'deliveries')),
        upto       timestamptz NOT NULL,
        runs       bigint      NOT NULL DEFAULT 0,
        buckets    bigint      NOT NULL DEFAULT 0, -- minute buckets recomputed, last run
        updated_at timestamptz NOT NULL DEFAULT now()
);

-- A new installation starts from the beginning of time: the first run rolls up all
-- history (once), after which each run takes what changed since the last.
INSERT INTO rollup_watermarks (name, upto) VALUES
        ('events', '-infinity'), ('deliveries', '-infinity');

-- The later launches of trigger_deliveries (a deferred match launched, replay-shed)
-- change a row's outcome long after decided_at: the rollup finds them by launched_at
-- through trigger_deliveries_launched_later_idx (0011).

CREATE TABLE replay_jobs (
        id           bigserial   PRIMARY KEY,
        created_at   timestamptz NOT NULL DEFAULT now(),
        created_by   text        NOT NULL,
        reason       text,
        -- What it selects: {"ids": [...]} or {"type", "source", "status", "from", "to"}
        filter       jsonb       NOT NULL,
        rate         integer     NOT NULL CHECK (rate > 0),  -- events per second
        state        text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'running', 'done',
                                                  'cancelled', 'failed')),
        -- Progress: the (occurred_at, id) of the last event published and flushed;
        -- a resumed job goes on after it.  NULL: none yet.
        cursor_at    timestamptz,
        cursor_id    uuid,
        selected     bigint,     -- events the filter selected when the job started
        published    bigint      NOT NULL DEFAULT 0,
        failed       bigint      NOT NULL DEFAULT 0,
        runner       text,       -- '<host>:<pid>' running it, while running
        error        text,
        started_at   timestamptz,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz
);

CREATE INDEX replay_jobs_state_idx ON replay_jobs (state) WHERE state IN ('pending', 'running');

ALTER TABLE admin_audit DROP CONSTRAINT admin_audit_action_check;
ALTER TABLE admin_audit ADD CONSTRAINT admin_audit_action_check
        CHECK (action IN ('pause_source', 'resume_source', 'pause_trigger',
                          'resume_trigger', 'cancel_retry', 'replay', 'replay_cancel'));
