-- History retention, archive and restore (docs/history.md).
--
-- archives: one row per export of a daily partition of workflow_events to a zstd
-- file of binary COPY (src/history/archive.c).  Its state is the one truth about the
-- partition's rows once the maintenance has touched it:
--
--   writing   the file is being written (a crash leaves this: the next run marks it
--             failed and removes the file)
--   verified  the file was re-read: its SHA-256 and its row count match the manifest
--   dropped   the partition was dropped, in the same transaction that set this, after
--             a count of its rows under an exclusive lock matched the archive
--   restored  the rows are back in the live table (restore sets this in the
--             transaction of its COPY, so a second restore finds it and adds nothing)
--   failed    verification or the drop's count failed; the partition stays
--   expired   past retention: the file was deleted
--
-- At most one archive of a range is in force (any state but failed and expired).
--
-- maintenance_runs: one row per maintenance run (retention, archive), whoever ran it
-- (sluice-admin's schedule or `sluicectl history retention`), for the storage metrics
-- and the health snapshot.
CREATE TABLE archives (
        id           bigserial   PRIMARY KEY,
        tbl          text        NOT NULL,
        partition    text        NOT NULL,
        range_lo     timestamptz NOT NULL,
        range_hi     timestamptz NOT NULL,
        path         text        NOT NULL,
        state        text        NOT NULL DEFAULT 'writing'
                     CHECK (state IN ('writing', 'verified', 'dropped', 'restored',
                                      'failed', 'expired')),
        rows         bigint,
        bytes        bigint,
        raw_bytes    bigint,
        sha256       text,
        keep_types   text[]      NOT NULL DEFAULT '{}',
        detail       text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        verified_at  timestamptz,
        dropped_at   timestamptz,
        restored_at  timestamptz,
        expired_at   timestamptz,
        CHECK (range_lo < range_hi)
);

CREATE UNIQUE INDEX archives_in_force_idx ON archives (tbl, range_lo)
        WHERE state NOT IN ('failed', 'expired');

CREATE TABLE maintenance_runs (
        id           bigserial   PRIMARY KEY,
        kind         text        NOT NULL CHECK (kind IN ('retention', 'archive')),
        runner       text        NOT NULL,
        dry_run      boolean     NOT NULL DEFAULT false,
        started_at   timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        ok           boolean,
        details      jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX maintenance_runs_kind_idx ON maintenance_runs (kind, started_at);

-- Payloads compress with lz4 rather than pglz (bench/history measures both): set on
-- the parent, new partitions inherit it; existing partitions keep what they were
-- made with for the rows they already hold.
ALTER TABLE workflow_events ALTER COLUMN payload SET COMPRESSION lz4;
ALTER TABLE workflow_events ALTER COLUMN metadata SET COMPRESSION lz4;
-- Partitions made before this migration: set too (only rows written from now on are
-- compressed with it; nothing is rewritten).
DO $$
DECLARE
        part regclass;
BEGIN
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                    WHERE inhparent = 'workflow_events'::regclass LOOP
                EXECUTE format('ALTER TABLE %s ALTER COLUMN payload SET COMPRESSION lz4, '
                               'ALTER COLUMN metadata SET COMPRESSION lz4', part);
        END LOOP;
END
$$;
