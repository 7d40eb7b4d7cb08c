/*
 * sluice-retry's stage logic: consume the retry tier topics, hold each partition
 * paused until its head record wakes up, and re-inject due events into
 * sluice.events.in once their event_ingress_retries row is read to wait for that
 * attempt (the runtime delivers and commits), marking the rows 'due' behind the
 * re-injections (marks.c).  Also the reconciliation
 * that produces lost wake-ups again from Postgres.  main.c wires it to the runtime;
 * tests and the benchmark link it directly.  See docs/retries.md.
 */
#ifndef SL_RETRY_STAGE_H
#define SL_RETRY_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "runtime/runtime.h"

typedef struct sl_retry_s sl_retry_t;

/* Connects to Postgres and resolves the tier topics (retry.tiers) and events.in.
 * conf is borrowed and must outlive the stage.  NULL with errstr set.
 * Caller frees with sl_retry_destroy(). */
sl_retry_t *sl_retry_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);
void sl_retry_destroy(sl_retry_t *rty);

/* The stage description to hand to sl_runtime_new() (borrowed, lives as long as rty). */
const sl_stage_t *sl_retry_stage(sl_retry_t *rty);

/* Replace the wall clock (ms since the epoch) the stage decides with; for tests. */
void sl_retry_set_clock(sl_retry_t *rty, int64_t (*clock)(void *opaque), void *opaque);

/* One reconciliation round now (tick() runs one at start and every
 * retry.reconcile.ms): produces the wake-ups of overdue rows through rt.  *redriven
 * gets how many.  SL_OK or SL_ERR_PG / SL_ERR_PG_TRANSIENT / SL_ERR_KAFKA. */
int sl_retry_reconcile(sl_retry_t *rty, sl_runtime_t *rt, size_t *redriven);

#endif
