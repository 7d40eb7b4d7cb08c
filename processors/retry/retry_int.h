/* sluice-retry's private state, shared by retry.c (the batch path) and reconcile.c. */
#ifndef SL_RETRY_INT_H
#define SL_RETRY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/session.h"
#include "retry.h"
#include "retry/delayq.h"
#include "retry/due.h"
#include "retry/holds.h"
#include "retry/idset.h"
#include "retry/retry_record.h"
#include "retry/state.h"

#define SL_RETRY_MAX_TIERS 16
#define SL_RETRY_MAX_CONNS 8 /* retry.pg.connections' upper bound */
/* Names of the statements prepared on every connection (state.h has their SQL). */
#define SL_RETRY_GUARD    "sluice_wake_guard"
#define SL_RETRY_MARK_DUE "sluice_mark_due"
/* Collected 'due' marks past which adding one waits for Postgres to catch up. */
#define SL_RETRY_MARKS_MAX 500000

/* A record collected as due in the batch in hand. */
typedef struct sl__retry_due_s {
        sl_retry_record_t rr;
        int64_t planned;   /* its row's next_attempt_at when it waits for this attempt;
                            * else INT64_MIN */
        int tier;          /* >= 0: it was delayed, its offset held in that tier's ... */
        int32_t partition; /* ... partition: released with the batch that injects it */
        int64_t offset;
} sl__retry_due_t;

/* Bytes counted per delayed record besides its envelope (the decoded record's strings,
 * allocator overhead), for retry.delay.max.bytes. */
#define SL_RETRY_DELAYED_OVERHEAD 128

/* A batch whose wake-up guards are running: sent in its process(), collected (and its
 * events re-injected) in the next one, so Postgres works while the runtime polls and
 * while the batch before is re-injected. */
typedef struct sl__retry_inflight_s {
        sl_pg_session_t **conns; /* this set's sessions (a slice of sl_retry_s.conns) */
        size_t nconns;
        sl__retry_due_t *due;
        size_t n, cap;
        sl_runtime_batch_t *batch; /* NULL: nothing in flight */
        uint64_t seq;              /* send order */
        /* Per connection: the arrays sent (kept from batch to batch), the parameters
         * pointing into them, each array slot's index in due, how many. */
        sl_pgarr_t ids[SL_RETRY_MAX_CONNS], atts[SL_RETRY_MAX_CONNS];
        const char *params[SL_RETRY_MAX_CONNS][2];
        size_t *idx[SL_RETRY_MAX_CONNS];
        size_t cnt[SL_RETRY_MAX_CONNS];
        bool sent[SL_RETRY_MAX_CONNS];
        int64_t t0;
} sl__retry_inflight_t;

/* The 'due' marks of re-injected retries, written behind the re-injection (marks.c). */
typedef struct sl__retry_marks_s {
        sl_pg_session_t *ses;       /* a session of their own */
        sl_pgarr_t ids[2], atts[2]; /* [fill] collects while the other is in flight */
        sl_retry_idset_t recent[2]; /* the same attempts, until their mark has landed */
        int fill;
        size_t n;       /* collected, not yet sent */
        int64_t oldest; /* when the first of them was collected */
        bool busy;      /* an UPDATE in flight ... */
        size_t sent;    /* ... for this many */
        const char *params[2];
        int64_t delay_ms; /* retry.due.mark.ms */
} sl__retry_marks_t;

struct sl_retry_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        sl_pg_session_t *pg; /* reconciliation and gauges; also conns[0] */
        sl_pg_session_t *conns[SL_RETRY_MAX_CONNS]; /* the batch's wake-up guards */
        size_t nconns;

        char topics[SL_RETRY_MAX_TIERS][256];
        int64_t tiers_ms[SL_RETRY_MAX_TIERS];
        size_t ntiers;
        const char *topic_ptrs[SL_RETRY_MAX_TIERS + 1];
        char topic_in[256];
        sl_retry_timing_t timing;

        sl_retry_holds_t holds;
        sl_retry_delayq_t delayq; /* awake, not yet due, in memory */
        size_t delay_max_bytes;
        sl__retry_due_t *due; /* the batch in hand's due records */
        size_t due_cap;
        sl__retry_inflight_t inflight[2]; /* used alternately, by inflight_seq */
        uint64_t inflight_seq;
        sl__retry_marks_t marks;

        int64_t reconcile_ms, grace_ms, due_grace_ms, reconcile_limit, gauges_ms;
        int64_t next_reconcile, next_gauges;

        int64_t (*clock)(void *opaque);
        void *clock_opaque;

        sl_metric_t *m_due, *m_stale, *m_hops, *m_invalid, *m_reconciled, *m_redriven_due,
            *m_held, *m_delayed, *m_marked, *m_scheduled, *m_overdue, *m_lateness;
        sl_metric_t *m_rows[SL_RETRY__STATE_CNT];
};

int64_t sl__retry_now(const sl_retry_t *rty);

/* Before re-injecting (event_id, attempt): false when this worker re-injected it
 * already and its mark has not landed (a duplicate wake-up: drop it); else true, and
 * its 'due' mark is collected (marks.c). */
bool sl__retry_marks_claim(sl_retry_t *rty, const char *event_id, int32_t attempt);
/* Take a finished mark's result; send what was collected when the connection is free
 * and either no wake-up check is in flight (!checking) or the oldest waited
 * retry.due.mark.ms. */
void sl__retry_marks_pump(sl_retry_t *rty, bool checking);
/* Write every collected mark now and wait for it (revocation, shutdown). */
void sl__retry_marks_flush(sl_retry_t *rty);
void sl__retry_marks_free(sl__retry_marks_t *mk);

/* Refresh the scheduled / overdue gauges and the open states' row counts; with ended,
 * also the row counts of the final states (a count over the table's history). */
void sl__retry_update_gauges(sl_retry_t *rty, bool ended);

#endif
