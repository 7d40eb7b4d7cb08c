-- sluice-admin (issue 13): what the admin server reads and writes besides the tables
-- of the stages.
--
-- processor_heartbeats: one row per running stage instance, upserted by the shared
-- runtime every runtime.heartbeat.ms (src/runtime/heartbeat.c), so
-- GET /admin/event-health shows, cluster-wide, the newest event time each stage and
-- instance processed and the state restores in progress.  A clean stop sets
-- stopped_at; a crashed instance's row simply stops beating.
--
--   stage            the runtime stage name ('ingress', 'retry', 'trigger-match', ...)
--   instance         '<host>:<pid>', like scheduler_state.worker
--   newest_event_at  the newest Kafka record timestamp the instance processed
--   restoring        partitions being restored (on_assign running); 0 when none
--   restore_started  when the restore in progress began
--
-- admin_audit: every change made through the admin API's operate scope (pauses,
-- resumes, retry cancellations, replays) with the token's name.  Pauses of sources
-- are also in pause_history and those of triggers in trigger_audit, as when
-- sluicectl makes them; this table is the one place that lists replays.
--
-- Two BRIN indexes make the decision counts per source and trigger over the last
-- minutes (event-health) a range scan: decided_at grows with insertion order.
-- (Numbered 0012: 0011 is left to a branch in flight.)
CREATE TABLE processor_heartbeats (
        stage            text        NOT NULL,
        instance         text        NOT NULL,
        group_id         text        NOT NULL,
        started_at       timestamptz NOT NULL,
        beat_at          timestamptz NOT NULL,
        stopped_at       timestamptz,
        newest_event_at  timestamptz,
        records_total    bigint      NOT NULL DEFAULT 0,
        batches_total    bigint      NOT NULL DEFAULT 0,
        assigned         integer     NOT NULL DEFAULT 0,
        restoring        integer     NOT NULL DEFAULT 0,
        restore_started  timestamptz,
        last_restore_ms  bigint,
        PRIMARY KEY (stage, instance)
);

CREATE TABLE admin_audit (
        id      bigserial   PRIMARY KEY,
        at      timestamptz NOT NULL DEFAULT now(),
        by      text        NOT NULL,
        action  text        NOT NULL CHECK (action IN ('pause_source', 'resume_source',
                                                       'pause_trigger', 'resume_trigger',
                                                       'cancel_retry', 'replay')),
        target  text,
        detail  jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX admin_audit_at_idx ON admin_audit (at);

CREATE INDEX workflow_events_decided_at_idx ON workflow_events USING brin (decided_at);
CREATE INDEX trigger_deliveries_decided_at_idx ON trigger_deliveries USING brin (decided_at);
