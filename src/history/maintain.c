/*
 * History maintenance (maintain.h): the run (lock, list, decide, act, record) and its
 * retention phases.  The archive phase is maintain_archive.c's (maintain_int.h), the
 * restore restore.c's.  Decisions are policy.c's, bytes archive.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "history/maintain.h"
#include "history/maintain_int.h"
#include "history/pgexec.h"
#include "log/log.h"

void sl__hist_say(run_t *r, const char *action, const char *what, int64_t lo_ms,
                  long long rows, const char *why)
{
        char line[1024], range[32] = "-";

        if (lo_ms > 0) {
                time_t t = (time_t)(lo_ms / 1000);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(range, sizeof(range), "%Y-%m-%d", &tm);
        }
        snprintf(line, sizeof(line), "%s%s\t%s\t%s\t%lld\t%s", r->dry ? "would-" : "",
                 action, what, range, rows, why);
        if (r->report)
                r->report(r->opaque, line);
        if (r->details)
                json_array_append_new(json_object_get(r->details, "actions"),
                                      json_pack("{s:s, s:s, s:s, s:I, s:s}", "action",
                                                action, "what", what, "range", range,
                                                "rows", (json_int_t)rows, "why", why));
}

void sl__hist_failure(run_t *r, const char *what, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        r->failed++;
        sl_log_error("history maintenance: %s: %s", what, msg);
        sl__hist_say(r, "error", what, 0, 0, msg);
        if (r->details)
                json_array_append_new(
                    json_object_get(r->details, "errors"),
                    json_pack("{s:s, s:s}", "what", what, "error", msg));
}

/* "SELECT ... FROM ONLY <part> ..." with the partition quoted. */
char *sl__hist_with_ident(PGconn *pg, const char *fmt, const char *name)
{
        char *ident = PQescapeIdentifier(pg, name, strlen(name)), *sql = NULL;

        if (ident && asprintf(&sql, fmt, ident, ident) < 0)
                sql = NULL;
        PQfreemem(ident);
        return sql;
}

long long sl__hist_count_rows(PGconn *pg, const char *part, char *errstr, size_t sz)
{
        char *sql = sl__hist_with_ident(pg, "SELECT count(*) FROM ONLY %s", part);
        PGresult *res = sql ? sl__hist_q(pg, sql, 0, NULL, errstr, sz) : NULL;
        long long n = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;

        PQclear(res);
        free(sql);
        return n;
}

/* Which keep types the partition holds (present[]) and their names as a text[]
 * literal (for archives.keep_types). */
int sl__hist_keep_present(run_t *r, const char *part, sl_history_item_t *it, char *arr,
                          size_t arrsize, char *errstr, size_t sz)
{
        const sl_history_policy_t *pol = &r->o->pol;
        size_t off = 0;

        off += (size_t)snprintf(arr, arrsize, "{");
        for (size_t i = 0; i < pol->nkeep; i++) {
                char *sql = sl__hist_with_ident(
                    r->pg, "SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE type = $1)", part);
                const char *params[1] = {pol->keep[i].type};
                PGresult *res =
                    sql ? sl__hist_q(r->pg, sql, 1, params, errstr, sz) : NULL;
                free(sql);
                if (!res)
                        return -1;
                it->present[i] = PQgetvalue(res, 0, 0)[0] == 't';
                PQclear(res);
                if (it->present[i] && off + 2 * strlen(pol->keep[i].type) + 8 < arrsize) {
                        /* element quoted for the array literal: \ and " escaped */
                        off += (size_t)snprintf(arr + off, arrsize - off, "%s\"",
                                                off > 1 ? "," : "");
                        for (const char *c = pol->keep[i].type; *c; c++) {
                                if (*c == '"' || *c == '\\')
                                        arr[off++] = '\\';
                                arr[off++] = *c;
                        }
                        arr[off++] = '"';
                        arr[off] = '\0';
                }
        }
        snprintf(arr + off, arrsize - off, "}");
        return 0;
}

static void drop_phase(run_t *r, int64_t now_ms)
{
        char err[512], keep[4096];
        const char *params[1] = {TBL};
        PGresult *res = sl__hist_q(r->pg, PARTS_SQL, 1, params, err, sizeof(err));

        if (!res) {
                sl__hist_failure(r, TBL, "listing partitions: %s", err);
                return;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                const char *part = PQgetvalue(res, i, 0), *why;
                sl_history_item_t it = {0};
                long long rows;
                char *drop;

                it.lo_ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
                it.hi_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
                it.live = true;
                /* Only a day past the default can be kept longer by a type. */
                if (it.hi_ms <=
                        now_ms - (int64_t)r->o->pol.events_days * SL_HISTORY_DAY_MS &&
                    sl__hist_keep_present(r, part, &it, keep, sizeof(keep), err,
                                          sizeof(err)) != 0) {
                        sl__hist_failure(r, part, "looking for kept types: %s", err);
                        continue;
                }
                if (sl_history_decide(&r->o->pol, &it, now_ms, &why) != SL_HIST_DROP) {
                        if (sl_history_keep_days(&r->o->pol, &it) > r->o->pol.events_days)
                                sl__hist_say(r, "keep", part, it.lo_ms, -1, why);
                        continue;
                }
                rows = sl__hist_count_rows(r->pg, part, err, sizeof(err));
                if (r->dry) {
                        sl__hist_say(r, "drop", part, it.lo_ms, rows, why);
                        continue;
                }
                drop = sl__hist_with_ident(r->pg, "DROP TABLE %s", part);
                if (!drop ||
                    !sl__hist_ok(r->pg, "SET lock_timeout = '10s'", 0, NULL, err,
                                 sizeof(err)) ||
                    !sl__hist_ok(r->pg, drop, 0, NULL, err, sizeof(err))) {
                        sl__hist_failure(r, part, "dropping it: %s",
                                         drop ? err : "out of memory");
                } else {
                        sl__hist_say(r, "drop", part, it.lo_ms, rows, why);
                }
                sl__hist_ok(r->pg, "RESET lock_timeout", 0, NULL, err, sizeof(err));
                free(drop);
        }
        PQclear(res);
}

/* Tables that cannot be partitioned by time without losing their key, and the
 * rollups, too small to be worth it (see docs/history.md): deleted in batches by age,
 * outside any hot path.  rows: which rows, for the report ("" all of them). */
static void delete_phase(run_t *r, const char *table, const char *rows,
                         const char *count_sql, const char *delete_sql, int days)
{
        char err[512], days_s[16], batch[16];
        const char *params[2] = {days_s, batch};
        long long total = 0;
        PGresult *res;

        snprintf(days_s, sizeof(days_s), "%d", days);
        snprintf(batch, sizeof(batch), "%d", r->o->batch_rows);
        if (r->dry) {
                res = sl__hist_q(r->pg, count_sql, 1, params, err, sizeof(err));
                if (!res) {
                        sl__hist_failure(r, table, "counting: %s", err);
                        return;
                }
                total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                PQclear(res);
        } else {
                for (;;) {
                        long long n;
                        res = sl__hist_q(r->pg, delete_sql, 2, params, err, sizeof(err));
                        if (!res) {
                                sl__hist_failure(r, table, "deleting: %s", err);
                                return;
                        }
                        n = strtoll(PQcmdTuples(res), NULL, 10);
                        PQclear(res);
                        total += n;
                        if (n < r->o->batch_rows)
                                break;
                }
        }
        if (total > 0) {
                char why[96];
                snprintf(why, sizeof(why), "%s%solder than %d days", rows,
                         *rows ? " " : "", days);
                sl__hist_say(r, "delete", table, 0, total, why);
        }
}

#define DL_WHERE "received_at < now() - $1::int * interval '1 day'"
#define TD_WHERE                                                                         \
        "decided_at < now() - $1::int * interval '1 day' AND outcome <> 'deferred' "     \
        "AND NOT (outcome = 'launched' AND result IS NULL)"

/* Rollup rows by width: a minute row goes with its whole hour (the cutoff is an
 * hour's start), the hours rollup.c's recompute leaves alone, by the same expression. */
#define RU_WHERE(w)                                                                      \
        "width = '" w "' AND bucket < date_trunc('hour', now() - $1::int * "             \
        "interval '1 day')"
#define RU_DELETE(t, keys, w)                                                            \
        "DELETE FROM " t " WHERE (" keys ") IN (SELECT " keys " FROM " t                 \
        " WHERE " RU_WHERE(w) " LIMIT $2::int)"
#define ER_KEYS "width, bucket, type, source, status"
#define DR_KEYS "width, bucket, trigger_id, outcome"

static void rollup_phase(run_t *r)
{
        static const struct {
                const char *table, *width, *count_sql, *delete_sql;
        } ru[] = {
            {"event_rollups", "minute",
             "SELECT count(*) FROM event_rollups WHERE " RU_WHERE("minute"),
             RU_DELETE("event_rollups", ER_KEYS, "minute")},
            {"event_rollups", "hour",
             "SELECT count(*) FROM event_rollups WHERE " RU_WHERE("hour"),
             RU_DELETE("event_rollups", ER_KEYS, "hour")},
            {"delivery_rollups", "minute",
             "SELECT count(*) FROM delivery_rollups WHERE " RU_WHERE("minute"),
             RU_DELETE("delivery_rollups", DR_KEYS, "minute")},
            {"delivery_rollups", "hour",
             "SELECT count(*) FROM delivery_rollups WHERE " RU_WHERE("hour"),
             RU_DELETE("delivery_rollups", DR_KEYS, "hour")},
        };

        for (size_t i = 0; i < sizeof(ru) / sizeof(ru[0]); i++) {
                bool minute = strcmp(ru[i].width, "minute") == 0;
                delete_phase(r, ru[i].table, minute ? "minute rows" : "hour rows",
                             ru[i].count_sql, ru[i].delete_sql,
                             minute ? r->o->rollup_minute_days : r->o->rollup_hour_days);
        }
}

/* Start a maintenance_runs row; its id into id. */
static bool run_start(run_t *r, const char *kind, char *id, size_t idsize)
{
        char err[512];
        const char *params[2] = {kind, r->o->runner};
        PGresult *res;

        if (r->dry)
                return true;
        res = sl__hist_q(
            r->pg,
            "INSERT INTO maintenance_runs (kind, runner) VALUES ($1, $2) RETURNING id", 2,
            params, err, sizeof(err));
        if (!res) {
                sl__hist_failure(r, kind, "recording the run: %s", err);
                return false;
        }
        snprintf(id, idsize, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return true;
}

static void run_finish(run_t *r, const char *id, int failed_before)
{
        char err[512], *js;
        const char *params[3];

        if (r->dry || !*id)
                return;
        js = json_dumps(r->details, JSON_COMPACT);
        params[0] = id;
        params[1] = r->failed == failed_before ? "true" : "false";
        params[2] = js ? js : "{}";
        if (!sl__hist_ok(
                r->pg,
                "UPDATE maintenance_runs SET finished_at = now(), ok = $2, details = $3 "
                "WHERE id = $1",
                3, params, err, sizeof(err)))
                sl_log_error("history maintenance: recording the run's end: %s", err);
        free(js);
}

static void details_reset(run_t *r)
{
        json_decref(r->details);
        r->details = json_pack("{s:[], s:[]}", "actions", "errors");
}

int sl_history_maintain(PGconn *pg, const sl_history_opts_t *o, bool dry_run,
                        sl_history_report_fn report, void *opaque, char *errstr,
                        size_t errstr_size)
{
        run_t r = {pg, o, dry_run, report, opaque, NULL, 0};
        const char *lk[2] = {SL_HISTORY_LOCK_KEY1, SL_HISTORY_LOCK_KEY2};
        char err[512], id[24] = "";
        PGresult *res;
        int64_t now_ms;
        int before;

        res = sl__hist_q(pg,
                         "SELECT pg_try_advisory_lock($1::int, $2::int), "
                         "(extract(epoch FROM now()) * 1000)::bigint",
                         2, lk, err, sizeof(err));
        if (!res) {
                snprintf(errstr, errstr_size, "taking the maintenance lock: %s", err);
                return -1;
        }
        if (PQgetvalue(res, 0, 0)[0] != 't') {
                PQclear(res);
                snprintf(errstr, errstr_size,
                         "another maintenance run holds the lock (advisory lock %s, %s)",
                         SL_HISTORY_LOCK_KEY1, SL_HISTORY_LOCK_KEY2);
                return SL_HISTORY_BUSY;
        }
        now_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);

        if (o->dir[0]) {
                details_reset(&r);
                before = r.failed;
                if (run_start(&r, "archive", id, sizeof(id))) {
                        sl__hist_archive_phase(&r, now_ms);
                        run_finish(&r, id, before);
                }
        }
        details_reset(&r);
        before = r.failed;
        id[0] = '\0';
        if (run_start(&r, "retention", id, sizeof(id))) {
                if (!o->dir[0])
                        drop_phase(&r, now_ms);
                delete_phase(&r, "dead_letters", "",
                             "SELECT count(*) FROM dead_letters WHERE " DL_WHERE,
                             "DELETE FROM dead_letters WHERE id IN (SELECT id FROM "
                             "dead_letters WHERE " DL_WHERE " LIMIT $2::int)",
                             o->dead_letters_days);
                delete_phase(&r, "trigger_deliveries", "",
                             "SELECT count(*) FROM trigger_deliveries WHERE " TD_WHERE,
                             "DELETE FROM trigger_deliveries WHERE launch_id IN (SELECT "
                             "launch_id FROM trigger_deliveries WHERE " TD_WHERE
                             " LIMIT $2::int)",
                             o->deliveries_days);
                rollup_phase(&r);
                run_finish(&r, id, before);
        }
        json_decref(r.details);
        if (!sl__hist_ok(pg, "SELECT pg_advisory_unlock($1::int, $2::int)", 2, lk, err,
                         sizeof(err)))
                sl_log_warn("history maintenance: unlock: %s", err);
        if (r.failed) {
                snprintf(errstr, errstr_size, "%d action%s failed (see the report)",
                         r.failed, r.failed == 1 ? "" : "s");
                return -1;
        }
        return 0;
}

int sl_history_opts_from_conf(const sl_conf_t *conf, sl_history_opts_t *o,
                              const char *runner, char *errstr, size_t errstr_size)
{
        const char *dir = sl_conf_get(conf, "archive.dir");
        int back = (int)sl_conf_get_int(conf, "events.partitions.days.back");
        struct stat st;

        memset(o, 0, sizeof(*o));
        o->pol.events_days = (int)sl_conf_get_int(conf, "retention.events.days");
        o->pol.after_days = (int)sl_conf_get_int(conf, "archive.after.days");
        o->level = (int)sl_conf_get_int(conf, "archive.zstd.level");
        o->dead_letters_days = (int)sl_conf_get_int(conf, "retention.dead_letters.days");
        o->deliveries_days = (int)sl_conf_get_int(conf, "retention.deliveries.days");
        o->rollup_minute_days =
            (int)sl_conf_get_int(conf, "retention.rollups.minute.days");
        o->rollup_hour_days = (int)sl_conf_get_int(conf, "retention.rollups.hour.days");
        o->batch_rows = (int)sl_conf_get_int(conf, "retention.delete.batch.rows");
        snprintf(o->runner, sizeof(o->runner), "%s", runner);
        if (sl_history_parse_keep(&o->pol, "retention.event_types",
                                  sl_conf_get(conf, "retention.event_types"), errstr,
                                  errstr_size) != 0)
                return -1;
        if (!dir || !*dir) {
                o->pol.after_days = 0;
                return 0;
        }
        if (strlen(dir) >= 900 || dir[0] != '/') {
                snprintf(errstr, errstr_size,
                         "archive.dir: must be an absolute path shorter than 900 bytes");
                return -1;
        }
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
            access(dir, W_OK | X_OK) != 0) {
                snprintf(errstr, errstr_size,
                         "archive.dir: %s is not a folder this process can write", dir);
                return -1;
        }
        if (o->pol.after_days > o->pol.events_days) {
                snprintf(
                    errstr, errstr_size,
                    "archive.after.days: %d is more than retention.events.days (%d): "
                    "a day must be archived before its retention drops it",
                    o->pol.after_days, o->pol.events_days);
                return -1;
        }
        if (o->pol.after_days <= back) {
                snprintf(errstr, errstr_size,
                         "archive.after.days: %d must be more than "
                         "events.partitions.days.back (%d), or ingress would make an "
                         "archived day's partition again",
                         o->pol.after_days, back);
                return -1;
        }
        snprintf(o->dir, sizeof(o->dir), "%s", dir);
        return 0;
}
