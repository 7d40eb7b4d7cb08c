/*
 * Per-source admission configuration as processors see it: the sources table (each
 * source's limits) and the pauses table (current manual pauses), loaded together into
 * an immutable snapshot, sl_sources_t, with O(1) lookups by source name.  Sources
 * without a row get the defaults the snapshot was built with.  Loading a snapshot
 * from Postgres and keeping one current (the watch) live in src/pg/sources_watch.h;
 * this module knows neither Postgres nor the configuration.
 *
 * What admission does with limits and pauses is admission.h's business, not this
 * module's: a pause row is handed over as it is stored (sl_manual_pause_t), so a pause
 * whose until has passed is still returned and admission sees it has expired.
 *
 * Threading: a snapshot is immutable, so any number of threads may read one.
 */
#ifndef SL_SOURCES_H
#define SL_SOURCES_H

#include <stddef.h>
#include <stdint.h>

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

/* A snapshot from rows (copied; the arrays and strings stay the caller's).  A NULL or
 * duplicate id, a duplicate pause, a window_ms <= 0 or a negative number is an error:
 * NULL with errstr naming the source.  Caller frees with sl_sources_destroy(). */
sl_sources_t *sl_sources_build(const sl_limits_t *defaults, const sl_source_row_t *rows,
                               size_t nrows, const sl_pause_row_t *pauses, size_t npauses,
                               char *errstr, size_t errstr_size);

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
/* Rows of the pauses table in the snapshot, expired or not. */
size_t sl_sources_npauses(const sl_sources_t *s);

#endif
