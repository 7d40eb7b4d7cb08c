/*
 * Per-source admission configuration as processors see it: the sources table (each
 * source's limits) and the pauses table (current manual pauses), loaded together into
 * an immutable snapshot, sl_sources_t, with O(1) lookups by source name.  Sources
 * without a row get the admission.default.* keys.  A watch (sl_sources_watch_*) keeps
 * a snapshot current through LISTEN sluice_config (the tables' triggers notify it),
 * a full reload after every reconnect, and a periodic reload every sources.reload.ms.
 *
 * What admission does with limits and pauses is admission.h's business, not this
 * module's: a pause row is handed over as it is stored (sl_manual_pause_t), so a pause
 * whose until has passed is still returned and admission sees it has expired.
 *
 * Threading: a snapshot is immutable, so any number of threads may read one; the
 * watch is polled by one thread.
 */
#ifndef SL_SOURCES_H
#define SL_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "limits/admission.h"

typedef struct sl_sources_s sl_sources_t;

/* A sources row, for sl_sources_build(). */
typedef struct sl_source_row_s {
        const char *id;
        sl_limits_t limits;
} sl_source_row_t;

/* A pauses row, for sl_sources_build().  until: ms since the epoch; 0: until resumed. */
typedef struct sl_pause_row_s {
        const char *source;
        int64_t until;
} sl_pause_row_t;

/* The limits of a source without a row: admission.default.limit, .window.ms,
 * .pause.after, .pause.ms. */
void sl_sources_defaults(const sl_conf_t *conf, sl_limits_t *defaults);

/* A snapshot from rows (copied; the arrays and strings stay the caller's).  A NULL or
 * duplicate id, a duplicate pause, a window_ms <= 0 or a negative number is an error:
 * NULL with errstr naming the source.  Caller frees with sl_sources_destroy(). */
sl_sources_t *sl_sources_build(const sl_limits_t *defaults, const sl_source_row_t *rows,
                               size_t nrows, const sl_pause_row_t *pauses, size_t npauses,
                               char *errstr, size_t errstr_size);

/* One blocking query over both tables (conf gives the defaults).  NULL with errstr
 * set.  Caller frees with sl_sources_destroy(). */
sl_sources_t *sl_sources_load(PGconn *pg, const sl_conf_t *conf, char *errstr,
                              size_t errstr_size);
void sl_sources_destroy(sl_sources_t *s); /* NULL-safe */

/* The source's limits, or the defaults when it has no row (or source is NULL).  Never
 * NULL; borrowed, valid as long as s. */
const sl_limits_t *sl_sources_limits(const sl_sources_t *s, const char *source);

/* The source's manual pause ({paused = true, until}), or NULL when it has no pauses
 * row.  Borrowed, valid as long as s.  Expired pauses are returned too. */
const sl_manual_pause_t *sl_sources_pause(const sl_sources_t *s, const char *source);

/* Rows of the sources table in the snapshot. */
size_t sl_sources_count(const sl_sources_t *s);
/* Manual pauses active at now_ms (until == 0 or now_ms < until). */
size_t sl_sources_paused(const sl_sources_t *s, int64_t now_ms);

typedef struct sl_sources_watch_s sl_sources_watch_t;

/* Own connection, LISTEN sluice_config, initial load (blocking).  NULL with errstr set.
 * Caller frees with sl_sources_watch_destroy(). */
sl_sources_watch_t *sl_sources_watch_new(const sl_conf_t *conf, char *errstr,
                                         size_t errstr_size);
void sl_sources_watch_destroy(sl_sources_watch_t *sw); /* NULL-safe */

/* Non-blocking: follows notifications, reconnects and reloads fully after a
 * reconnect.  Returns the current snapshot, never NULL (borrowed: valid until the
 * next poll or destroy).  A failed reload keeps the previous snapshot. */
const sl_sources_t *sl_sources_watch_poll(sl_sources_watch_t *sw);

/* Snapshots loaded so far (1 after _new); grows with every successful reload. */
uint64_t sl_sources_watch_loads(const sl_sources_watch_t *sw);

#endif
