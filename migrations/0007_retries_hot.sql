-- Cheap wake-ups (issue 4's lateness target).  sluice-retry moves each woken retry
-- from 'scheduled'/'rescheduled' to 'due' once per attempt: at 100,000 retries a
-- second that update is the stage's whole cost.  With `state` in two indexes, every
-- such update wrote a new entry into all three of the table's indexes (measured:
-- 33-66 ms per 2,000 rows).  Now no index holds `state` or `updated_at`, so the 'due'
-- update is a HOT update (same page, no index writes; measured 18 ms per 2,000 rows):
--
--   open            true while the retry has not ended (scheduled, rescheduled, due);
--                   a stored generated column, so the partial index below depends on
--                   it and not on `state`: 'scheduled' -> 'due' leaves it true.
--   fillfactor 70   leaves room on each page for the row's next version, which HOT
--                   needs.
--
-- Reconciliation and the gauges read only open rows (the partial index), so their cost
-- follows what is waiting, not the table's whole history.
ALTER TABLE event_ingress_retries SET (fillfactor = 70);

ALTER TABLE event_ingress_retries
        ADD COLUMN open boolean GENERATED ALWAYS AS
                (state IN ('scheduled', 'rescheduled', 'due')) STORED;

DROP INDEX event_ingress_retries_due_idx;
DROP INDEX event_ingress_retries_source_idx;

-- Waiting and in-flight retries in wake-up order: reconciliation, gauges,
-- `sluicectl retries list --state scheduled`.
CREATE INDEX event_ingress_retries_open_idx ON event_ingress_retries (next_attempt_at)
        WHERE open;

-- One source's retries in wake-up order (`sluicectl retries list --source X`).
CREATE INDEX event_ingress_retries_source_idx ON event_ingress_retries (source,
                                                                         next_attempt_at);
