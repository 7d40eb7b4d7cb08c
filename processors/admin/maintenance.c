/*
 * sluice-admin's history maintenance (docs/history.md): a thread that runs
 * sl_history_maintain() every history.maintenance.interval.ms on a connection of its
 * own (the advisory lock makes sure one copy of sluice-admin, or one sluicectl, works
 * at a time), and refreshes the storage metrics (SL_HISTORY_STATS_SQL) every minute
 * and after each run.  Its options are checked at start: a bad retention.* or
 * archive.* key stops sluice-admin naming the key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_int.h"
#include "history/maintain.h"
#include "history/stats.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/clock.h"

#define STATS_EVERY_MS 60000

static const char *const kinds[2] = {"archive", "retention"};

typedef struct sl__adm_maint_s {
        const sl_conf_t *conf;
        sl_history_opts_t opts;
        int64_t interval_ms;
        pthread_t thr;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop, started;
        sl_metric_t *m_bytes[4], *m_dead[4], *m_parts, *m_oldest, *m_backlog,
            *m_archive_bytes, *m_last_ok[2], *m_last_dur[2], *m_last_result[2],
            *m_runs[3], *m_up;
} maint_t;

static const char *const tables[4] = {"workflow_events", "dead_letters",
                                      "trigger_deliveries", "archives"};

void sl__adm_last_run_gauges(const char *kind, sl_metric_t **ok, sl_metric_t **dur,
                             sl_metric_t **result)
{
        char l[128];

        snprintf(l, sizeof(l), "kind=\"%s\"", kind);
        *ok = sl_metrics_gauge("sluice_history_last_success_timestamp_seconds", l,
                               "When the newest successful maintenance run of a kind "
                               "finished (0: never).");
        *dur = sl_metrics_gauge("sluice_history_last_run_duration_seconds", l,
                                "How long the newest maintenance run of a kind took.");
        *result = sl_metrics_gauge(
            "sluice_history_last_run_ok", l,
            "1 when the newest maintenance run of a kind succeeded, 0 when not.");
}

static void register_metrics(maint_t *mt)
{
        char l[128];

        for (int i = 0; i < 4; i++) {
                snprintf(l, sizeof(l), "table=\"%s\"", tables[i]);
                mt->m_bytes[i] = sl_metrics_gauge("sluice_history_table_bytes", l,
                                                  "Size of a history table with its "
                                                  "indexes and TOAST (all partitions).");
                mt->m_dead[i] = sl_metrics_gauge("sluice_history_dead_tuples", l,
                                                 "Dead tuples of a history table.");
        }
        mt->m_parts = sl_metrics_gauge("sluice_history_partitions", NULL,
                                       "Daily partitions of workflow_events.");
        mt->m_oldest = sl_metrics_gauge(
            "sluice_history_oldest_partition_age_seconds", NULL,
            "Age of the start of the oldest daily partition of workflow_events.");
        mt->m_backlog = sl_metrics_gauge(
            "sluice_history_archive_backlog_partitions", NULL,
            "Daily partitions past archive.after.days still in the live table.");
        mt->m_archive_bytes = sl_metrics_gauge("sluice_history_archive_bytes", NULL,
                                               "Bytes of the archive files in force.");
        for (int k = 0; k < 2; k++)
                sl__adm_last_run_gauges(kinds[k], &mt->m_last_ok[k], &mt->m_last_dur[k],
                                        &mt->m_last_result[k]);
        mt->m_runs[0] = sl_metrics_counter("sluice_history_runs_total", "result=\"ok\"",
                                           "Maintenance runs this process started.");
        mt->m_runs[1] =
            sl_metrics_counter("sluice_history_runs_total", "result=\"failed\"",
                               "Maintenance runs this process started.");
        mt->m_runs[2] = sl_metrics_counter("sluice_history_runs_total", "result=\"busy\"",
                                           "Maintenance runs this process started.");
        mt->m_up =
            sl_metrics_gauge("sluice_history_stats_up", NULL,
                             "1 when the last read of the storage statistics succeeded.");
}

static double num(json_t *o, const char *a, const char *b)
{
        json_t *v = json_object_get(o, a);
        if (b)
                v = json_object_get(v, b);
        return json_is_number(v) ? json_number_value(v) : 0;
}

static void refresh_stats(maint_t *mt, PGconn *pg)
{
        char after[16];
        const char *params[1] = {after};
        PGresult *res;
        json_t *js;
        json_error_t jerr;

        snprintf(after, sizeof(after), "%d",
                 mt->opts.dir[0] ? mt->opts.pol.after_days : 0);
        res = PQexecParams(pg, SL_HISTORY_STATS_SQL, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                sl_log_warn("history statistics: %s", PQerrorMessage(pg));
                PQclear(res);
                sl_metrics_set(mt->m_up, 0);
                return;
        }
        js = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        PQclear(res);
        if (!js) {
                sl_metrics_set(mt->m_up, 0);
                return;
        }
        for (int i = 0; i < 4; i++) {
                json_t *t = json_object_get(json_object_get(js, "tables"), tables[i]);
                sl_metrics_set(mt->m_bytes[i], num(t, "bytes", NULL));
                sl_metrics_set(mt->m_dead[i], num(t, "dead_tuples", NULL));
        }
        sl_metrics_set(mt->m_parts, num(js, "partitions", NULL));
        sl_metrics_set(mt->m_oldest, num(js, "oldest_partition_age_s", NULL));
        sl_metrics_set(mt->m_backlog, num(js, "archive_backlog", NULL));
        sl_metrics_set(mt->m_archive_bytes, num(js, "archive_bytes", NULL));
        for (int k = 0; k < 2; k++) {
                json_t *r = json_object_get(json_object_get(js, "runs"), kinds[k]);
                sl_metrics_set(mt->m_last_ok[k], num(r, "last_ok_at_s", NULL));
                sl_metrics_set(mt->m_last_dur[k], num(r, "last_duration_s", NULL));
                sl_metrics_set(mt->m_last_result[k],
                               json_is_false(json_object_get(r, "last_ok")) ? 0 : 1);
        }
        sl_metrics_set(mt->m_up, 1);
        json_decref(js);
}

static void *run(void *arg)
{
        maint_t *mt = arg;
        PGconn *pg = NULL;
        int64_t next_run = sl_mono_ms() + mt->interval_ms, next_stats = 0;
        char errstr[1024];

        pthread_mutex_lock(&mt->mu);
        while (!mt->stop) {
                int64_t now = sl_mono_ms(), wake;
                bool do_run = mt->interval_ms > 0 && now >= next_run,
                     do_stats = now >= next_stats;

                if (do_run || do_stats) {
                        pthread_mutex_unlock(&mt->mu);
                        if (!pg || PQstatus(pg) != CONNECTION_OK) {
                                PQfinish(pg);
                                pg = sl_pg_connect(mt->conf, errstr, sizeof(errstr));
                                if (!pg)
                                        sl_log_warn("history maintenance: %s", errstr);
                        }
                        if (pg && do_run) {
                                int64_t t0 = sl_mono_ms();
                                int rc =
                                    sl_history_maintain(pg, &mt->opts, false, NULL, NULL,
                                                        errstr, sizeof(errstr));
                                if (rc == 0)
                                        sl_log_info("history maintenance done in %" PRId64
                                                    " ms",
                                                    sl_mono_ms() - t0);
                                else if (rc == SL_HISTORY_BUSY)
                                        sl_log_info("history maintenance: %s", errstr);
                                else
                                        sl_log_error("history maintenance: %s", errstr);
                                sl_metrics_add(mt->m_runs[rc == 0                 ? 0
                                                          : rc == SL_HISTORY_BUSY ? 2
                                                                                  : 1],
                                               1);
                        }
                        if (pg)
                                refresh_stats(mt, pg);
                        pthread_mutex_lock(&mt->mu);
                        now = sl_mono_ms();
                        if (do_run)
                                next_run = now + mt->interval_ms;
                        next_stats = now + STATS_EVERY_MS;
                }
                wake = next_stats;
                if (mt->interval_ms > 0 && next_run < wake)
                        wake = next_run;
                {
                        struct timespec ts;
                        int64_t wall = sl_wall_ms() + (wake - sl_mono_ms());
                        ts.tv_sec = wall / 1000;
                        ts.tv_nsec = (wall % 1000) * 1000000;
                        if (!mt->stop)
                                pthread_cond_timedwait(&mt->cv, &mt->mu, &ts);
                }
        }
        pthread_mutex_unlock(&mt->mu);
        PQfinish(pg);
        return NULL;
}

sl__adm_maint_t *sl__adm_maint_new(const sl_conf_t *conf, char *errstr,
                                   size_t errstr_size)
{
        maint_t *mt = calloc(1, sizeof(*mt));
        char runner[128], host[64] = "?";

        if (!mt) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        gethostname(host, sizeof(host) - 1);
        snprintf(runner, sizeof(runner), "sluice-admin@%.60s:%d", host, (int)getpid());
        if (sl_history_opts_from_conf(conf, &mt->opts, runner, errstr, errstr_size) !=
            0) {
                free(mt);
                return NULL;
        }
        mt->conf = conf;
        mt->interval_ms = sl_conf_get_int(conf, "history.maintenance.interval.ms");
        pthread_mutex_init(&mt->mu, NULL);
        pthread_cond_init(&mt->cv, NULL);
        register_metrics(mt);
        if (pthread_create(&mt->thr, NULL, run, mt) != 0) {
                snprintf(errstr, errstr_size, "history maintenance thread: %s",
                         strerror(errno));
                sl__adm_maint_destroy(mt);
                return NULL;
        }
        mt->started = true;
        return mt;
}

void sl__adm_maint_destroy(sl__adm_maint_t *mt)
{
        if (!mt)
                return;
        pthread_mutex_lock(&mt->mu);
        mt->stop = true;
        pthread_cond_signal(&mt->cv);
        pthread_mutex_unlock(&mt->mu);
        if (mt->started)
                pthread_join(mt->thr, NULL);
        pthread_mutex_destroy(&mt->mu);
        pthread_cond_destroy(&mt->cv);
        free(mt);
}

int sl__adm_maint_after_days(const sl__adm_maint_t *mt)
{
        return mt && mt->opts.dir[0] ? mt->opts.pol.after_days : 0;
}
