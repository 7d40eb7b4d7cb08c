-- Minute buckets a rollup advance found changed but did not recompute yet
-- (src/history/rollup.c, docs/history.md "How a rollup is computed"): a minute is
-- recomputed once its end is rollup.settle.ms behind the watermark, so that a minute
-- still being written is computed once, not at every advance (bench/ingress: with an
-- advance every second, recomputing the open minute each time cost ingress a third
-- of its throughput).  GET /admin/rollups answers a pending bucket from the raw rows.
CREATE TABLE rollup_pending (
        name   text        NOT NULL REFERENCES rollup_watermarks (name),
        bucket timestamptz NOT NULL,
        PRIMARY KEY (name, bucket)
);
