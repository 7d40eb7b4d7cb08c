-- The launch stage's hot path (issue 11, Benchmark): every match it decides is one
-- trigger_deliveries row, and each index the row enters costs Postgres CPU on the
-- stage's critical path (bench/trigger: ~10,000 rows a second is this machine's
-- limit).  A launched row, the common one, entered five indexes after 0009: the key,
-- trigger_idx, event_idx, waiting_idx and launched_idx.  launched_idx goes: a launch
-- decided at once (first_outcome 'launched') has launched_at = decided_at, so
-- trigger_idx finds it by time already; only the launches that came later (from the
-- deferred queue, or by replay-shed) need an index of their own, and they are few.
--
-- The indexes of trigger_deliveries after this migration, and who reads each:
--   trigger_deliveries_pkey (launch_id)
--       the launch stage: a batch's repeats (insert conflicts, lookups), results and
--       deferred launches by launch id
--   trigger_deliveries_trigger_idx (trigger_id, decided_at)
--       operators and the admin API: "the deliveries of trigger T by time"; the
--       launch stage on assignment: the launches of T decided at once in its window
--   trigger_deliveries_event_idx (event_id)
--       operators and the admin API: "what happened to event E"
--   trigger_deliveries_shed_idx (trigger_id, decided_at), shed rows only
--       replay-shed
--   trigger_deliveries_deferred_idx (trigger_id, match_offset), deferred rows only
--       the launch stage: a trigger's deferred queue, in order
--   trigger_deliveries_waiting_idx (trigger_id), launches without a result only
--       the launch stage on assignment: the launches still waiting for a result
--   trigger_deliveries_launched_later_idx (trigger_id, launched_at), launches that
--       were not decided as launches at first only
--       the launch stage on assignment: those of them in T's current window

DROP INDEX trigger_deliveries_launched_idx;

CREATE INDEX trigger_deliveries_launched_later_idx
        ON trigger_deliveries (trigger_id, launched_at)
        WHERE outcome = 'launched' AND first_outcome <> 'launched';
