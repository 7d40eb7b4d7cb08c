/* sluice-retry's private state, shared by retry.c (the batch path) and reconcile.c. */
#ifndef SL_RETRY_INT_H
#define SL_RETRY_INT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "metrics/metrics.h"
#include "retry.h"
#include "retry/due.h"
#include "retry/holds.h"
#include "retry/retry_record.h"
#include "retry/state.h"

#define SL_RETRY_MAX_TIERS      16
#define SL_RETRY_HDR_ATTEMPT    "sluice.attempt"
#define SL_RETRY_HDR_RETRY_ID   "sluice.retry.id"

/* A record collected as due in the batch in hand. */
typedef struct sl__retry_due_s {
        sl_retry_record_t rr;
} sl__retry_due_t;

struct sl_retry_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        PGconn *pg;

        char topics[SL_RETRY_MAX_TIERS][256];
        int64_t tiers_ms[SL_RETRY_MAX_TIERS];
        size_t ntiers;
        const char *topic_ptrs[SL_RETRY_MAX_TIERS + 1];
        char topic_in[256];
        sl_retry_timing_t timing;

        sl_retry_holds_t holds;
        sl__retry_due_t *due;
        size_t due_cap;

        int64_t reconcile_ms, grace_ms, due_grace_ms, reconcile_limit, gauges_ms;
        int64_t next_reconcile, next_gauges;

        int64_t (*clock)(void *opaque);
        void *clock_opaque;

        sl_metric_t *m_due, *m_stale, *m_hops, *m_invalid, *m_reconciled, *m_redriven_due,
                *m_held, *m_scheduled, *m_overdue, *m_lateness;
        sl_metric_t *m_rows[SL_RETRY__STATE_CNT];
};

int64_t sl__retry_now(const sl_retry_t *rty);
/* A statement on the stage's connection, reconnecting once when it was lost; NULL
 * (error logged) on failure, else a result the caller PQclear()s. */
PGresult *sl__retry_exec(sl_retry_t *rty, const char *sql, int nparams,
                         const char *const *params);
/* Refresh the scheduled / overdue / per-state gauges with one count query. */
void sl__retry_update_gauges(sl_retry_t *rty);

#endif
