-- The launch stage (issue 11): what trigger_deliveries needs beyond migration 0008 so
-- that a deferred match can be launched later, and a restarted worker can go on
-- waiting for the results of the launches its predecessor made.
--
--   trigger_name  the trigger's name when it matched (the trigger may be renamed or
--                 deleted later; history keeps what it was)
--   match_offset  offset of the match on sluice.trigger.matches: a trigger's matches
--                 all sit on one partition, so this orders its deferred matches
--   params        the launch's parameters (JSON text exactly as the match stage filled
--                 them, so a deferred or replayed launch carries the same bytes)
--   traceparent   W3C traceparent of the event, carried into the launch
--   accepted_at   when the event was accepted (the accepted->launch latency's start)
--   probe         the launch went as a half-open probe of the breaker
ALTER TABLE trigger_deliveries
        ADD COLUMN trigger_name text,
        ADD COLUMN match_offset bigint,
        ADD COLUMN params       text,
        ADD COLUMN traceparent  text,
        ADD COLUMN accepted_at  timestamptz,
        ADD COLUMN probe        boolean NOT NULL DEFAULT false;

-- The deferred queue of a trigger, in order (the launch stage takes the head of it
-- when the window has room).
CREATE INDEX trigger_deliveries_deferred_idx ON trigger_deliveries (trigger_id, match_offset)
        WHERE outcome = 'deferred';
-- Launches still waiting for their result: a worker that takes a trigger over loads
-- them, so their result timeout still runs.
CREATE INDEX trigger_deliveries_waiting_idx ON trigger_deliveries (trigger_id)
        WHERE outcome = 'launched' AND result IS NULL;

-- Launches of a trigger in its current rate window: a worker that takes a trigger over
-- counts them, so a crash between Postgres and the changelog never opens room twice.
CREATE INDEX trigger_deliveries_launched_idx ON trigger_deliveries (trigger_id, launched_at)
        WHERE outcome = 'launched';

-- scheduler_state rows carry what a stage keeps besides the rate window in detail, a
-- JSON object (NULL when there is nothing more): for stage 'trigger' the breaker and
-- the deferred backlog, e.g. {"breaker": "open", "open_until": 1795944665064,
-- "reopens": 2, "deferred": 40, "waiting": 7}; for 'ingress' the source breaker's
-- counts (docs/admission.md).
ALTER TABLE scheduler_state ADD COLUMN detail jsonb;
