-- Triggers (issue 11): what turns an accepted event into a workflow launch.
--
--   triggers           the definitions operators edit (sluicectl triggers, or psql)
--   trigger_audit      every change to triggers: who, when, before/after, whoever made
--                      it (a Postgres trigger writes it, not the client)
--   trigger_deliveries every match's outcome and its later result, one row per launch
--                      id (UUIDv5 of trigger id and event id)
--
-- Every change to triggers notifies channel sluice_triggers with the trigger's id as
-- payload, so workers reload at once (they also reload fully after a reconnect).
-- The actor of a change is the session setting sluice.actor (sluicectl sets it with
-- set_config('sluice.actor', WHO, true) inside its transaction), else current_user.

CREATE TABLE triggers (
        id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        name              text        NOT NULL UNIQUE CHECK (name <> ''),
        description       text,
        enabled           boolean     NOT NULL DEFAULT true,
        -- Manual pause: its matches are decided 'paused' until resumed or until
        -- paused_until (NULL: until resumed).
        paused            boolean     NOT NULL DEFAULT false,
        paused_at         timestamptz,
        paused_until      timestamptz,
        paused_by         text,
        paused_reason     text,
        -- What it matches: an event type (exact, or a glob with * and ?), optionally
        -- one source, optionally a filter expression (src/trigger/filter.h).
        event_type        text        NOT NULL CHECK (event_type <> ''),
        source            text        CHECK (source <> ''),
        filter            text,
        -- What it launches: a workflow, with parameters filled from the event.
        workflow          text        NOT NULL CHECK (workflow <> ''),
        params_template   jsonb       NOT NULL DEFAULT '{}'
                                      CHECK (jsonb_typeof(params_template) = 'object'),
        -- Rate limit: rate_limit launches per window_ms (NULL or <= 0: unlimited);
        -- over it, 'skip' records the match as throttled, 'defer' holds it until the
        -- window has room (in order per trigger).
        rate_limit        bigint,
        window_ms         bigint      NOT NULL DEFAULT 1000 CHECK (window_ms > 0),
        on_limit          text        NOT NULL DEFAULT 'skip'
                                      CHECK (on_limit IN ('skip', 'defer')),
        -- Circuit breaker.  Opens when, within failure_window_ms, the failure rate
        -- reaches failure_rate percent over at least min_results results (0 = off), or
        -- failures reach failure_count (0 = off); stays open open_ms, doubling with
        -- each consecutive re-open up to open_max_ms; half-open lets `probes` launches
        -- through.  A launch without a result after result_timeout_ms is a failure.
        failure_window_ms bigint      NOT NULL DEFAULT 60000 CHECK (failure_window_ms > 0),
        failure_rate      integer     NOT NULL DEFAULT 50
                                      CHECK (failure_rate BETWEEN 0 AND 100),
        min_results       integer     NOT NULL DEFAULT 10 CHECK (min_results >= 1),
        failure_count     integer     NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
        open_ms           bigint      NOT NULL DEFAULT 30000 CHECK (open_ms > 0),
        open_max_ms       bigint      NOT NULL DEFAULT 600000,
        probes            integer     NOT NULL DEFAULT 3 CHECK (probes >= 1),
        result_timeout_ms bigint      NOT NULL DEFAULT 300000 CHECK (result_timeout_ms > 0),
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        updated_by        text        NOT NULL DEFAULT current_user,
        CONSTRAINT triggers_open_max_check CHECK (open_max_ms >= open_ms),
        CONSTRAINT triggers_unpaused_check CHECK (paused OR (paused_at IS NULL AND
                paused_until IS NULL AND paused_by IS NULL AND paused_reason IS NULL))
);

-- Who changes a trigger: the session's sluice.actor, else the database user.
CREATE FUNCTION sluice_actor() RETURNS text
LANGUAGE sql STABLE
AS $fn$
        SELECT coalesce(nullif(current_setting('sluice.actor', true), ''), current_user::text)
$fn$;

-- Stamps created_at / updated_at / updated_by whoever writes the row, and keeps id and
-- created_at fixed (the audit trail and the launch ids hang off the id).
CREATE FUNCTION sluice_triggers_stamp() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
        IF TG_OP = 'INSERT' THEN
                NEW.created_at := now();
        ELSE
                IF NEW.id IS DISTINCT FROM OLD.id THEN
                        RAISE EXCEPTION 'a trigger''s id cannot change (%)', OLD.id
                                USING ERRCODE = 'check_violation';
                END IF;
                NEW.created_at := OLD.created_at;
        END IF;
        NEW.updated_at := now();
        NEW.updated_by := sluice_actor();
        RETURN NEW;
END
$fn$;

CREATE TRIGGER triggers_stamp
        BEFORE INSERT OR UPDATE ON triggers
        FOR EACH ROW EXECUTE FUNCTION sluice_triggers_stamp();

CREATE TABLE trigger_audit (
        id         bigserial   PRIMARY KEY,
        trigger_id uuid        NOT NULL, -- no foreign key: the trail outlives a delete
        at         timestamptz NOT NULL DEFAULT now(),
        by         text        NOT NULL,
        action     text        NOT NULL CHECK (action IN ('create', 'update', 'delete',
                                                          'enable', 'disable', 'pause',
                                                          'resume')),
        before     jsonb,      -- NULL on create
        after      jsonb       -- NULL on delete
);

CREATE INDEX trigger_audit_trigger_idx ON trigger_audit (trigger_id, at);

-- After every change of triggers: one audit row (none for an update that changed
-- nothing but the stamps) and a NOTIFY on sluice_triggers.  The action names the
-- change: an update of enabled alone is enable/disable, of the pause columns alone
-- pause/resume, anything else update.
CREATE FUNCTION sluice_triggers_changed() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
        old_j   jsonb;
        new_j   jsonb;
        changed text[];
        act     text;
BEGIN
        IF TG_OP = 'INSERT' THEN
                act := 'create';
                new_j := to_jsonb(NEW);
        ELSIF TG_OP = 'DELETE' THEN
                act := 'delete';
                old_j := to_jsonb(OLD);
        ELSE
                old_j := to_jsonb(OLD);
                new_j := to_jsonb(NEW);
                SELECT array_agg(k) INTO changed
                FROM jsonb_object_keys(new_j) AS k
                WHERE k NOT IN ('updated_at', 'updated_by', 'created_at')
                  AND new_j -> k IS DISTINCT FROM old_j -> k;
                IF changed IS NULL THEN
                        PERFORM pg_notify('sluice_triggers', NEW.id::text);
                        RETURN NULL;
                END IF;
                IF changed <@ ARRAY['enabled'] THEN
                        act := CASE WHEN NEW.enabled THEN 'enable' ELSE 'disable' END;
                ELSIF changed <@ ARRAY['paused', 'paused_at', 'paused_until',
                                       'paused_by', 'paused_reason'] THEN
                        act := CASE WHEN NEW.paused THEN 'pause' ELSE 'resume' END;
                ELSE
                        act := 'update';
                END IF;
        END IF;
        INSERT INTO trigger_audit (trigger_id, at, by, action, before, after)
        VALUES (coalesce(NEW.id, OLD.id), now(), sluice_actor(), act, old_j, new_j);
        PERFORM pg_notify('sluice_triggers', coalesce(NEW.id, OLD.id)::text);
        RETURN NULL;
END
$fn$;

CREATE TRIGGER triggers_changed
        AFTER INSERT OR UPDATE OR DELETE ON triggers
        FOR EACH ROW EXECUTE FUNCTION sluice_triggers_changed();

-- One row per (trigger, event) match, keyed by its launch id = UUIDv5(trigger id,
-- event id): a replay or a restart finds the row and never decides twice.
--
-- outcome: what the launch stage decided, in the order it checks:
--   'paused'    the trigger was disabled or manually paused
--   'open'      its breaker was open (or half-open with every probe in flight)
--   'throttled' over its rate window with on_limit 'skip'
--   'deferred'  over its rate window with on_limit 'defer': held, launched later
--   'launched'  produced on sluice.workflow.launches (launched_at set)
-- A deferred match that launches, or a throttled/paused/open one that
-- `triggers replay-shed` launches, becomes 'launched'; first_outcome keeps the first
-- decision and replayed_at says when replay-shed launched it.
-- reason: why, as JSON: for a throttle the window's start, count and limit; for a
-- breaker its state; for a pause who paused it and until when.
-- result: the workflow's answer ('succeeded', 'failed'), or 'timed_out' when none came
-- within the trigger's result_timeout_ms.
CREATE TABLE trigger_deliveries (
        launch_id      uuid        PRIMARY KEY,
        trigger_id     uuid        NOT NULL, -- no foreign key: deliveries outlive a delete
        event_id       uuid        NOT NULL,
        event_type     text,
        workflow       text        NOT NULL,
        correlation_id text,
        outcome        text        NOT NULL CHECK (outcome IN ('launched', 'throttled',
                                                               'deferred', 'paused', 'open')),
        first_outcome  text        NOT NULL CHECK (first_outcome IN ('launched', 'throttled',
                                                                     'deferred', 'paused',
                                                                     'open')),
        reason         jsonb,
        matched_at     timestamptz NOT NULL,
        decided_at     timestamptz NOT NULL,
        launched_at    timestamptz,
        replayed_at    timestamptz,
        result         text        CHECK (result IN ('succeeded', 'failed', 'timed_out')),
        error          text,
        finished_at    timestamptz,
        CONSTRAINT trigger_deliveries_launched_at_check
                CHECK ((outcome = 'launched') = (launched_at IS NOT NULL)),
        CONSTRAINT trigger_deliveries_finished_check
                CHECK (result IS NULL OR (outcome = 'launched' AND finished_at IS NOT NULL))
);

-- "What did trigger X do": its deliveries in decision order.
CREATE INDEX trigger_deliveries_trigger_idx ON trigger_deliveries (trigger_id, decided_at);
-- "What happened to event E": every trigger's delivery of it.
CREATE INDEX trigger_deliveries_event_idx ON trigger_deliveries (event_id);
-- What replay-shed may launch: the shed matches only (the launched majority stays out).
CREATE INDEX trigger_deliveries_shed_idx ON trigger_deliveries (trigger_id, decided_at)
        WHERE outcome IN ('throttled', 'paused', 'open');
