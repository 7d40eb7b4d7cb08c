/*
 * History maintenance: retention, archive and restore, with Postgres and the archive
 * folder (docs/history.md).  One engine, two users: sluice-admin runs
 * sl_history_maintain() every history.maintenance.interval.ms, and `sluicectl history
 * retention [--dry-run]` runs it by hand; `sluicectl archive restore` calls
 * sl_history_restore().  The decisions are policy.c's; this file applies them.
 *
 * A run holds the session advisory lock SL_HISTORY_LOCK on its connection for its
 * whole length (pg_try_advisory_lock): a second runner, anywhere, finds it taken and
 * does nothing.  Every real run (not a dry run) is a row of maintenance_runs per kind
 * (archive when archive.dir is set, retention always) with its details.
 *
 * Every statement is parameterised; partition names, which cannot be, come from
 * pg_class and are quoted with PQescapeIdentifier.  Not thread-safe: one run per
 * connection at a time.
 */
#ifndef SL_HISTORY_MAINTAIN_H
#define SL_HISTORY_MAINTAIN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "history/policy.h"

/* pg_try_advisory_lock(SL_HISTORY_LOCK_KEY1, SL_HISTORY_LOCK_KEY2): 'sluc', 13. */
#define SL_HISTORY_LOCK_KEY1 "1936487779"
#define SL_HISTORY_LOCK_KEY2 "13"

typedef struct sl_history_opts_s {
        sl_history_policy_t pol;
        char dir[1024];         /* archive.dir; "" archiving off */
        int level;              /* archive.zstd.level */
        int dead_letters_days;  /* retention.dead_letters.days */
        int deliveries_days;    /* retention.deliveries.days */
        int rollup_minute_days; /* retention.rollups.minute.days */
        int rollup_hour_days;   /* retention.rollups.hour.days */
        int batch_rows;         /* retention.delete.batch.rows */
        char runner[128];       /* who runs: "sluicectl", "sluice-admin@host:pid" */
} sl_history_opts_t;

/* The retention.*, archive.* keys of conf, checked together (archive.after.days at
 * most retention.events.days and more than events.partitions.days.back; archive.dir
 * an existing writable folder).  0, or -1 with errstr naming the key. */
int sl_history_opts_from_conf(const sl_conf_t *conf, sl_history_opts_t *o,
                              const char *runner, char *errstr, size_t errstr_size);

/* Gets each line of a run's report (tab-separated: action, what, range, rows, why). */
typedef void (*sl_history_report_fn)(void *opaque, const char *line);

#define SL_HISTORY_BUSY 1 /* another runner holds the lock: nothing was done */

/* One maintenance run on pg (borrowed; the lock is released before returning).
 * dry_run: decide and report, change nothing, record nothing.  0 when every action
 * succeeded, SL_HISTORY_BUSY, or -1 with errstr set (what could be done was done and
 * recorded; the failed actions are in the run's details and the report). */
int sl_history_maintain(PGconn *pg, const sl_history_opts_t *o, bool dry_run,
                        sl_history_report_fn report, void *opaque, char *errstr,
                        size_t errstr_size);

/* Brings back the archived day starting at day ("YYYY-MM-DD", UTC) of
 * workflow_events: into the live table (into NULL: the partition is made again and
 * attached, and the archive's state becomes restored in the same transaction, so a
 * second restore adds nothing and says so), or into a new table into (for a look:
 * it must not exist).  The file is verified as it loads.  0 restored, 1 already
 * restored (nothing done), -1 with errstr set (nothing changed). *rows gets the rows
 * loaded. */
int sl_history_restore(PGconn *pg, const char *day, const char *into, long long *rows,
                       char *errstr, size_t errstr_size);

#endif
