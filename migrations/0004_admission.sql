-- Per-source admission (issue 3): the configuration operators edit (sources, pauses,
-- pause_history), the decision columns of workflow_events, the retry intents ingress
-- records for held-back events (event_ingress_retries), and the periodic mirror of
-- the in-memory admission state (scheduler_state).
--
-- Every change to sources or pauses notifies channel sluice_config with payload
-- 'sources:<id>' or 'pauses:<source>', so processors reload at once.

-- A source's limits.  Sources not listed get the admission.default.* keys.
CREATE TABLE sources (
        id          text        PRIMARY KEY,
        rate_limit  bigint      NOT NULL DEFAULT 0     CHECK (rate_limit >= 0),  -- admissions per window; 0 = unlimited
        window_ms   bigint      NOT NULL DEFAULT 1000  CHECK (window_ms > 0),
        pause_after bigint      NOT NULL DEFAULT 0     CHECK (pause_after >= 0), -- throttled in one window before an auto-pause; 0 = never
        pause_ms    bigint      NOT NULL DEFAULT 60000 CHECK (pause_ms >= 0),
        description text,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        updated_by  text        NOT NULL
);

-- Current manual pauses, one per source.  until NULL: until resumed.
CREATE TABLE pauses (
        source    text        PRIMARY KEY,
        paused_at timestamptz NOT NULL DEFAULT now(),
        until     timestamptz,
        reason    text        NOT NULL,
        paused_by text        NOT NULL
);

-- Every pause that ended: resumed (resumed_at/resumed_by set) or replaced by a new
-- pause of the same source (resumed_by 'replaced by <who>').
CREATE TABLE pause_history (
        id         bigserial   PRIMARY KEY,
        source     text        NOT NULL,
        paused_at  timestamptz NOT NULL,
        until      timestamptz,
        reason     text        NOT NULL,
        paused_by  text        NOT NULL,
        resumed_at timestamptz,
        resumed_by text
);

CREATE INDEX pause_history_source_idx ON pause_history (source, paused_at);

-- TG_ARGV[0]: the key column of the table ('id' for sources, 'source' for pauses).
CREATE FUNCTION sluice_config_notify() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
        old_key text;
        new_key text;
BEGIN
        IF TG_OP <> 'INSERT' THEN
                old_key := to_jsonb(OLD) ->> TG_ARGV[0];
        END IF;
        IF TG_OP <> 'DELETE' THEN
                new_key := to_jsonb(NEW) ->> TG_ARGV[0];
        END IF;
        IF old_key IS NOT NULL AND old_key IS DISTINCT FROM new_key THEN
                PERFORM pg_notify('sluice_config', TG_TABLE_NAME || ':' || old_key);
        END IF;
        IF new_key IS NOT NULL THEN
                PERFORM pg_notify('sluice_config', TG_TABLE_NAME || ':' || new_key);
        END IF;
        RETURN NULL;
END
$fn$;

CREATE TRIGGER sources_notify
        AFTER INSERT OR UPDATE OR DELETE ON sources
        FOR EACH ROW EXECUTE FUNCTION sluice_config_notify('id');

CREATE TRIGGER pauses_notify
        AFTER INSERT OR UPDATE OR DELETE ON pauses
        FOR EACH ROW EXECUTE FUNCTION sluice_config_notify('source');

-- The decision on each event row: status ('accepted', 'throttled', 'paused'), why,
-- when, and for which attempt (0 = first delivery; retries count up).
ALTER TABLE workflow_events
        ADD COLUMN reason     text,
        ADD COLUMN decided_at timestamptz,
        ADD COLUMN attempt    integer NOT NULL DEFAULT 0;

-- Only held-back events are indexed by status: the accepted majority would make the
-- index cost every COPY a fifth of its rate and it would never be selective for them.
CREATE INDEX workflow_events_held_idx ON workflow_events (status, decided_at)
        WHERE status <> 'accepted';

-- Retry intent of a throttled or paused event.  Column order after event_id is the
-- one ingress COPYs: (event_id, source, occurred_at, attempt, next_attempt_at,
-- reason, state).
CREATE TABLE event_ingress_retries (
        event_id        uuid        PRIMARY KEY,
        source          text        NOT NULL,
        occurred_at     timestamptz NOT NULL, -- with event_id, finds the workflow_events row
        attempt         integer     NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        reason          text        NOT NULL,
        state           text        NOT NULL CHECK (state IN ('scheduled', 'due', 'completed',
                                                              'rescheduled', 'cancelled', 'exhausted')),
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX event_ingress_retries_due_idx ON event_ingress_retries (state, next_attempt_at);

-- Mirror of each stage's in-memory state per key (for ingress: per source), upserted
-- every few seconds by the worker that owns it.  The changelog topic is the truth;
-- this is what SQL and the admin API show.
CREATE TABLE scheduler_state (
        stage           text        NOT NULL,
        key             text        NOT NULL,
        kafka_partition integer     NOT NULL,
        window_start    timestamptz,
        window_count    bigint      NOT NULL,
        throttled       bigint      NOT NULL,
        paused_until    timestamptz,
        updated_at      timestamptz NOT NULL,
        worker          text        NOT NULL,
        mirrored_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stage, key)
);
