-- The source breaker (issue 11, ticket 064): a source whose dead-lettered share in one
-- window reaches dlq_rate percent, over at least dlq_min of its events, is auto-paused
-- for dlq_pause_ms, like a flood (docs/admission.md, "Source breaker").  Sources not
-- listed get the admission.default.dlq.* keys.  The defaults keep the breaker off.
--
--   dlq_rate       percent of the window's events dead-lettered that trips the breaker;
--                  0 = off
--   dlq_min        events of the source in the window before the rate counts
--   dlq_window_ms  the breaker's window, epoch-aligned like window_ms
--   dlq_pause_ms   length of the pause it starts (its own, not pause_ms: a publisher
--                  gone bad is fixed by a deploy, not by waiting out a burst)
--
-- The sources trigger of migration 0004 notifies processors of changes to these
-- columns as of any other.
ALTER TABLE sources
        ADD COLUMN dlq_rate      bigint NOT NULL DEFAULT 0     CHECK (dlq_rate BETWEEN 0 AND 100),
        ADD COLUMN dlq_min       bigint NOT NULL DEFAULT 20    CHECK (dlq_min >= 0),
        ADD COLUMN dlq_window_ms bigint NOT NULL DEFAULT 60000 CHECK (dlq_window_ms > 0),
        ADD COLUMN dlq_pause_ms  bigint NOT NULL DEFAULT 60000 CHECK (dlq_pause_ms >= 0);
