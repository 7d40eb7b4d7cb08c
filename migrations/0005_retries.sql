-- The retry lifecycle (issue 4): what sluice-retry and `sluicectl retries` need on top
-- of the retry intents of 0004 (event_ingress_retries).
--
--   envelope        the original envelope bytes, so a wake-up lost from Kafka can be
--                   produced again from Postgres alone (reconciliation).  Ingress
--                   fills it when it inserts or reschedules the row; rows without it
--                   cannot be reconciled (sluice-retry counts and logs them).
--   updated_by      who made the last operator change (`retries cancel --by`).
--   cancel_reason   why an operator cancelled the retry.
--   reconciled_at   last time sluice-retry re-produced this row's wake-up from
--                   Postgres; a row is re-driven at most once per reconcile window.
--   reconcile_count how many times that happened (an operator's "is this stuck?").
ALTER TABLE event_ingress_retries
        ADD COLUMN envelope        bytea,
        ADD COLUMN updated_by      text,
        ADD COLUMN cancel_reason   text,
        ADD COLUMN reconciled_at   timestamptz,
        ADD COLUMN reconcile_count integer NOT NULL DEFAULT 0;

-- Operators list a source's waiting retries (`sluicectl retries list --source X`).
CREATE INDEX event_ingress_retries_source_idx ON event_ingress_retries (source, state);
