/*
 * bench/ingress, shared between its files: the CPU a process (or a whole Postgres
 * cluster) used, and the simple pipeline baseline (simple.c).
 */
#ifndef SL_BENCH_INGRESS_H
#define SL_BENCH_INGRESS_H

#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

/* CPU seconds (user + system) pid has used so far; 0 when it cannot be read. */
double bench_cpu_of(pid_t pid);
/* The same summed over the Postgres cluster whose postmaster is pid: the postmaster
 * and every process it started (backends, walwriter, checkpointer, autovacuum),
 * those that have ended included (the postmaster's reaped children). */
double bench_cpu_of_cluster(pid_t postmaster);

/* What the CPU went to in one measured run, per row (µs). */
typedef struct bench_cpu_s {
        pid_t postmaster_pid, broker_pid, stage_pid; /* 0: not measured */
        double pg0, broker0, stage0;                 /* at the start */
        double pg, broker, stage;                    /* used during the run (s) */
} bench_cpu_t;
void bench_cpu_begin(bench_cpu_t *c);
void bench_cpu_end(bench_cpu_t *c);

/*
 * The simplest correct pipeline, written plainly: consume events.in (the same
 * consumer settings as the stages), decode each envelope, binary COPY the rows over
 * nconn connections in batches of batch rows (or what batch_ms brings), produce each
 * record to events.accepted (keyed by source), wait for the deliveries, commit the
 * offsets, next batch.  No validation beyond decoding, no admission, no dead letters,
 * no duplicates handling (it writes into an empty table), no overlap between steps.
 * Returns rows/s from the end of its first batch to the end of its last (the span
 * the ingress figure is measured over too); cpu->stage is this process's CPU.
 */
double bench_simple_pipeline(const sl_conf_t *conf, size_t n, int nconn, int batch,
                             int batch_ms, bench_cpu_t *cpu);

#endif
