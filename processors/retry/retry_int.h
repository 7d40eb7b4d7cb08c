/* sluice-retry's private state, shared by retry.c (the batch path) and reconcile.c. */
#ifndef SL_RETRY_INT_H
#define SL_RETRY_INT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "retry.h"
#include "retry/delayq.h"
#include "retry/due.h"
#include "retry/holds.h"
#include "retry/retry_record.h"
#include "retry/state.h"

#define SL_RETRY_MAX_TIERS      16
#define SL_RETRY_MAX_CONNS      8 /* retry.pg.connections' upper bound */
#define SL_RETRY_HDR_ATTEMPT    "sluice.attempt"
#define SL_RETRY_HDR_RETRY_ID   "sluice.retry.id"

/* A record collected as due in the batch in hand. */
typedef struct sl__retry_due_s {
        sl_retry_record_t rr;
        int64_t planned; /* its row's next_attempt_at once moved to 'due'; else INT64_MIN */
        int tier;        /* >= 0: it was delayed, its offset held in that tier's ... */
        int32_t partition; /* ... partition: released with the batch that injects it */
        int64_t offset;
} sl__retry_due_t;

/* Bytes counted per delayed record besides its envelope (the decoded record's strings,
 * allocator overhead), for retry.delay.max.bytes. */
#define SL_RETRY_DELAYED_OVERHEAD 128

/* A batch whose 'due' UPDATEs are running: sent in its process(), collected (and its
 * events re-injected) in the next one, so Postgres works while the runtime polls and
 * while the batch before is re-injected. */
typedef struct sl__retry_inflight_s {
        PGconn **conns; /* this set's connections (a slice of sl_retry_s.conns) */
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

struct sl_retry_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        PGconn *pg; /* reconciliation and gauges; also conns[0] */
        PGconn *conns[SL_RETRY_MAX_CONNS]; /* the batch's 'due' updates, in parallel */
        size_t nconns;
        bool async_commit; /* retry.pg.async.commit */

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

        int64_t reconcile_ms, grace_ms, due_grace_ms, reconcile_limit, gauges_ms;
        int64_t next_reconcile, next_gauges;

        int64_t (*clock)(void *opaque);
        void *clock_opaque;

        sl_metric_t *m_due, *m_stale, *m_hops, *m_invalid, *m_reconciled, *m_redriven_due,
                *m_held, *m_delayed, *m_scheduled, *m_overdue, *m_lateness;
        sl_metric_t *m_rows[SL_RETRY__STATE_CNT];
};

int64_t sl__retry_now(const sl_retry_t *rty);
/* A statement on the stage's connection, reconnecting once when it was lost; NULL
 * (error logged) on failure, else a result the caller PQclear()s. */
PGresult *sl__retry_exec(sl_retry_t *rty, const char *sql, int nparams,
                         const char *const *params);
/* Refresh the scheduled / overdue gauges and the open states' row counts; with ended,
 * also the row counts of the final states (a count over the table's history). */
void sl__retry_update_gauges(sl_retry_t *rty, bool ended);

#endif
