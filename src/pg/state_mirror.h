/*
 * The scheduler_state mirror: a stateful stage's in-memory state (the changelog is
 * its durable truth, DESIGN.md §3) copied periodically to the Postgres table
 * scheduler_state, one row per (stage, key), so SQL and the admin API see the
 * cluster's state.  Rows are upserted in one statement (columns as arrays through
 * unnest), and a row only replaces one whose updated_at is not newer, so a worker
 * that lost a partition cannot overwrite its new owner's mirror.
 *
 * The stage column is the entity kind the mirror was made for: 'ingress' (per-source
 * admission windows), 'trigger' (per-trigger windows and breakers).  What a stage
 * mirrors and when it is due is the stage's choice; this module owns the SQL, the
 * worker name and the interval clock.
 *
 * Not thread-safe: the stage thread owns it.
 */
#ifndef SL_PG_STATE_MIRROR_H
#define SL_PG_STATE_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* One key's state.  Times in ms since the epoch; paused_until 0: not paused (NULL in
 * the table). */
typedef struct sl_state_mirror_row_s {
        const char *key; /* copied by sl_state_mirror_add() */
        int32_t partition;
        int64_t window_start;
        int64_t window_count;
        int64_t throttled;
        int64_t paused_until;
        int64_t updated_at;
        const char *detail; /* JSON object text, copied; NULL: none (SQL NULL) */
} sl_state_mirror_row_t;

typedef struct sl_state_mirror_s sl_state_mirror_t;

/* stage: the entity kind ("ingress", "trigger"), copied.  interval_ms: how often
 * sl_state_mirror_due() says yes.  The worker column is "<host>:<pid>".  NULL with
 * errstr set.  Caller frees with sl_state_mirror_destroy(). */
sl_state_mirror_t *sl_state_mirror_new(const char *stage, int64_t interval_ms,
                                       char *errstr, size_t errstr_size);
void sl_state_mirror_destroy(sl_state_mirror_t *m); /* NULL-safe */

/* True when interval_ms has passed since the previous due time at mono_ms (a
 * monotonic clock, injected) or when force is set; the next due time is then
 * mono_ms + interval_ms.  *secs gets the seconds since the previous due time (1 on
 * the first call), the span a rate over the interval is computed over. */
bool sl_state_mirror_due(sl_state_mirror_t *m, int64_t mono_ms, bool force, double *secs);

/* Queue one row for the next write.  SL_OK or SL_ERR_NOMEM. */
int sl_state_mirror_add(sl_state_mirror_t *m, const sl_state_mirror_row_t *row);
/* Rows queued since the last write. */
size_t sl_state_mirror_pending(const sl_state_mirror_t *m);

/* Upsert the queued rows in one statement on pg and clear the queue (either way).
 * SL_OK (also with nothing queued), or SL_ERR_PG / SL_ERR_NOMEM with errstr set; the
 * caller logs and counts the failure. */
int sl_state_mirror_write(sl_state_mirror_t *m, PGconn *pg, char *errstr,
                          size_t errstr_size);

#endif
