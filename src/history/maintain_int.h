/*
 * History maintenance's run, shared by its files: maintain.c (the run: lock, record,
 * the retention phases) and maintain_archive.c (the archive phase: write, verify,
 * drop, expire).  Private to src/history.
 */
#ifndef SL_HISTORY_MAINTAIN_INT_H
#define SL_HISTORY_MAINTAIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "history/maintain.h"

#define TBL "workflow_events"

/* The daily partitions of workflow_events with their bounds and their archive in
 * force (the DEFAULT partition has no bounds and is never touched). */
#define PARTS_SQL                                                                        \
        "SELECT c.relname, (extract(epoch FROM b[1]::timestamptz) * 1000)::bigint, "     \
        "(extract(epoch FROM b[2]::timestamptz) * 1000)::bigint, a.id, a.state, "        \
        "(extract(epoch FROM a.restored_at) * 1000)::bigint, a.path, a.rows, a.bytes, "  \
        "a.raw_bytes, a.sha256 "                                                         \
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "                      \
        "CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), "           \
        "'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') b "                            \
        "LEFT JOIN archives a ON a.tbl = $1 AND a.range_lo = b[1]::timestamptz "         \
        "AND a.state NOT IN ('failed', 'expired') "                                      \
        "WHERE i.inhparent = $1::regclass AND b IS NOT NULL ORDER BY 2"

typedef struct run_s {
        PGconn *pg;
        const sl_history_opts_t *o;
        bool dry;
        sl_history_report_fn report;
        void *opaque;
        json_t *details; /* {"actions": [...], "errors": [...]} */
        int failed;
} run_t;

/* One line of the run's report, and an action in its details: action ("would-" before
 * it in a dry run), what, the day starting at lo_ms (none when 0), rows (-1 unknown),
 * why. */
void sl__hist_say(run_t *r, const char *action, const char *what, int64_t lo_ms,
                  long long rows, const char *why);
/* A failed action: logged, counted in r->failed, reported and kept in the details'
 * errors. */
void sl__hist_failure(run_t *r, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* fmt with the partition name quoted for each of its (at most two) %s; NULL when out of
 * memory.  The caller frees it. */
char *sl__hist_with_ident(PGconn *pg, const char *fmt, const char *name);
/* The rows of the partition itself (ONLY), or -1 with errstr set. */
long long sl__hist_count_rows(PGconn *pg, const char *part, char *errstr, size_t sz);
/* Which keep types the partition holds (it->present[]) and their names as a text[]
 * literal into arr (for archives.keep_types).  0, or -1 with errstr set. */
int sl__hist_keep_present(run_t *r, const char *part, sl_history_item_t *it, char *arr,
                          size_t arrsize, char *errstr, size_t sz);

/* maintain_archive.c: archiving on, the partitions past archive.after.days archived,
 * verified and dropped, and the archives past their retention expired. */
void sl__hist_archive_phase(run_t *r, int64_t now_ms);

#endif
