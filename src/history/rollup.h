/*
 * Rollups of history (migration 0015, docs/history.md): counts of workflow_events per
 * minute and hour of occurred_at by type, source and status, and of
 * trigger_deliveries per minute and hour of decided_at by trigger and outcome.  One
 * implementation with two users: sluice-admin advances the rollups periodically
 * (admin.rollup.*), `sluicectl history rollup` recomputes a range by hand.
 *
 * A run recomputes whole buckets from the raw rows (delete the bucket's rows, insert
 * the aggregate), so running it twice over a range leaves the same rows, and a group
 * whose rows changed status disappears from its old group.  Hours are the sums of
 * their minutes.  Which buckets an advance recomputes: those of every raw row changed
 * in (watermark, now - lag]: for events a row's change time is decided_at (ingress
 * sets it when the row is written and when a retry re-decides it), for deliveries
 * decided_at, and launched_at for a launch decided later (deferred, replay-shed).  A
 * late event (occurred_at long past) thus recomputes its old bucket when it arrives.
 *
 * Runs of one rollup are serialised by a transaction-level advisory lock: an advance
 * that finds it taken does nothing (another sluice-admin runs it); a range run waits.
 *
 * Not here: when to run (the caller's timer) and HTTP (processors/admin/rollups.c).
 */
#ifndef SL_HISTORY_ROLLUP_H
#define SL_HISTORY_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

typedef enum sl_rollup_kind {
        SL_ROLLUP_EVENTS = 0, /* event_rollups from workflow_events */
        SL_ROLLUP_DELIVERIES, /* delivery_rollups from trigger_deliveries */
        SL_ROLLUP__CNT
} sl_rollup_kind_t;

/* "events", "deliveries" (rollup_watermarks.name). */
const char *sl_rollup_kind_str(sl_rollup_kind_t k);

/* What one run did. */
typedef struct sl_rollup_result_s {
        bool busy;       /* another run held the lock: nothing done (advance only) */
        int64_t buckets; /* minute buckets recomputed */
        int64_t hours;   /* hour buckets recomputed */
        char upto[40];   /* advance: the new watermark (timestamptz text), "" if none */
} sl_rollup_result_t;

/* Advance rollup k to now - lag_ms: the buckets of every raw row changed since the
 * watermark join rollup_pending, those whose end is settle_ms behind the new
 * watermark are recomputed and leave it, then the watermark moves, in one
 * transaction (a minute still being written is computed once it has settled, not at
 * every advance; sl_rollup_*_sql answer pending buckets from the raw rows).  minute_days
 * (retention.rollups.minute.days; 0: none): buckets of an hour that started before
 * the hour of now - minute_days are left alone (their minute rows are retention's to
 * delete; an hour recomputed from the minutes left would be wrong).  pg borrowed, idle
 * (no transaction open).  SL_OK (res->busy when another run holds the lock) or
 * SL_ERR_PG with errstr set (rolled back). */
int sl_rollup_advance(PGconn *pg, sl_rollup_kind_t k, int64_t lag_ms, int64_t settle_ms,
                      int minute_days, sl_rollup_result_t *res, char *errstr,
                      size_t errstr_size);

/* Recompute every minute bucket that overlaps [from, to) (RFC 3339 or any
 * timestamptz text Postgres reads) and their hours, whatever the watermark, which is
 * left alone; minute_days as for sl_rollup_advance.  Waits for a run in progress.
 * SL_OK or SL_ERR_PG with errstr set. */
int sl_rollup_range(PGconn *pg, sl_rollup_kind_t k, const char *from, const char *to,
                    int minute_days, sl_rollup_result_t *res, char *errstr,
                    size_t errstr_size);

/*
 * The real-time queries (the SQL docs/history.md shows): finished buckets from the
 * rollup table, the open interval (buckets from the watermark's on) aggregated from
 * the raw rows, as TimescaleDB's real-time aggregates answer.  Parameters:
 *   events:     $1 width ('minute'|'hour'), $2 from, $3 to (timestamptz), $4 type,
 *               $5 source, $6 status (NULL: any), $7 limit
 *   deliveries: $1 width, $2 from, $3 to, $4 trigger id (uuid), $5 outcome, $6 limit
 * Rows: bucket, the group's keys, count, first_at, last_at (RFC 3339 UTC text) and
 * finished ('t': from the rollup table), ordered by bucket then keys.
 */
extern const char sl_rollup_events_sql[];
extern const char sl_rollup_deliveries_sql[];

/* Up to where rollup name's rows are finished, as an SQL expression over a
 * rollup_watermarks row: its watermark (upto), or its earliest bucket still pending
 * in rollup_pending, whichever is earlier.  name: an SQL expression ('events', $1). */
#define SL_ROLLUP_DONE_SQL(name)                                                         \
        "least(upto, coalesce((SELECT min(p.bucket) FROM rollup_pending p "              \
        "WHERE p.name = " name "), upto))"

#endif
