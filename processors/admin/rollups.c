/*
 * GET /admin/rollups: event or delivery counts per minute or hour, finished buckets
 * from the rollup tables and the open interval from the raw rows (the real-time
 * queries of src/history/rollup.h), and the background thread that advances the
 * rollups every rollup.interval.ms (rollup.lag.ms behind the present).  Several
 * sluice-admin copies may run: the rollup's advisory lock lets one advance at a time,
 * the others find it taken and wait for their next turn.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "history/rollup.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/clock.h"

/* Up to where rollup $1's rows are finished (rollup.h). */
static const char watermark_sql[] = "SELECT " SL_ADM_TS(
    SL_ROLLUP_DONE_SQL("$1")) " FROM rollup_watermarks WHERE name = $1";

struct sl_adm_rollups_s {
        const sl_conf_t *conf;
        int64_t interval_ms, lag_ms, settle_ms;
        int minute_days; /* retention.rollups.minute.days */
        pthread_t thr;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop, started;
        /* as history maintenance's (maintenance.c), kind="rollup_events", ... */
        sl_metric_t *m_last_ok[SL_ROLLUP__CNT], *m_last_dur[SL_ROLLUP__CNT],
            *m_last_result[SL_ROLLUP__CNT];
};

static void *rollup_main(void *opaque)
{
        sl_adm_rollups_t *ru = opaque;
        PGconn *pg = NULL;
        char errstr[1024];
        bool warned = false;

        pthread_mutex_lock(&ru->mu);
        while (!ru->stop) {
                struct timespec ts;
                pthread_mutex_unlock(&ru->mu);
                if (!pg || PQstatus(pg) != CONNECTION_OK) {
                        if (pg)
                                PQfinish(pg);
                        pg = sl_pg_connect(ru->conf, errstr, sizeof(errstr));
                }
                for (int k = 0; pg && k < SL_ROLLUP__CNT; k++) {
                        sl_rollup_result_t res;
                        int64_t t0 = sl_mono_ms();
                        if (sl_rollup_advance(pg, (sl_rollup_kind_t)k, ru->lag_ms,
                                              ru->settle_ms, ru->minute_days, &res,
                                              errstr, sizeof(errstr)) != SL_OK) {
                                sl_metrics_set(ru->m_last_result[k], 0);
                                if (!warned)
                                        sl_log_warn("%s rollup: %s",
                                                    sl_rollup_kind_str(k), errstr);
                                warned = true;
                                break;
                        }
                        warned = false;
                        if (!res.busy) {
                                sl_metrics_set(ru->m_last_ok[k],
                                               (double)sl_wall_ms() / 1000.0);
                                sl_metrics_set(ru->m_last_dur[k],
                                               (double)(sl_mono_ms() - t0) / 1000.0);
                                sl_metrics_set(ru->m_last_result[k], 1);
                        }
                        if (!res.busy && res.buckets)
                                sl_log_debug("%s rollup: %lld minute buckets up to %s",
                                             sl_rollup_kind_str(k),
                                             (long long)res.buckets, res.upto);
                }
                if (!pg && !warned) {
                        sl_log_warn("rollups: %s", errstr);
                        warned = true;
                }
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += ru->interval_ms / 1000;
                ts.tv_nsec += (ru->interval_ms % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_mutex_lock(&ru->mu);
                while (!ru->stop && pthread_cond_timedwait(&ru->cv, &ru->mu, &ts) == 0)
                        ;
        }
        pthread_mutex_unlock(&ru->mu);
        if (pg)
                PQfinish(pg);
        return NULL;
}

sl_adm_rollups_t *sl__adm_rollups_start(const sl_conf_t *conf, char *errstr,
                                        size_t errstr_size)
{
        sl_adm_rollups_t *ru = calloc(1, sizeof(*ru));

        if (!ru) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ru->conf = conf;
        ru->interval_ms = sl_conf_get_int(conf, "rollup.interval.ms");
        ru->lag_ms = sl_conf_get_int(conf, "rollup.lag.ms");
        ru->settle_ms = sl_conf_get_int(conf, "rollup.settle.ms");
        ru->minute_days = (int)sl_conf_get_int(conf, "retention.rollups.minute.days");
        for (int k = 0; k < SL_ROLLUP__CNT; k++) {
                char kind[64];
                snprintf(kind, sizeof(kind), "rollup_%s", sl_rollup_kind_str(k));
                sl__adm_last_run_gauges(kind, &ru->m_last_ok[k], &ru->m_last_dur[k],
                                        &ru->m_last_result[k]);
                sl_metrics_set(ru->m_last_result[k], 1);
        }
        pthread_mutex_init(&ru->mu, NULL);
        pthread_cond_init(&ru->cv, NULL);
        if (ru->interval_ms > 0) {
                if (pthread_create(&ru->thr, NULL, rollup_main, ru) != 0) {
                        snprintf(errstr, errstr_size, "cannot start the rollup thread");
                        sl__adm_rollups_stop(ru);
                        return NULL;
                }
                ru->started = true;
        }
        return ru;
}

void sl__adm_rollups_stop(sl_adm_rollups_t *ru)
{
        if (!ru)
                return;
        pthread_mutex_lock(&ru->mu);
        ru->stop = true;
        pthread_cond_broadcast(&ru->cv);
        pthread_mutex_unlock(&ru->mu);
        if (ru->started)
                pthread_join(ru->thr, NULL);
        pthread_mutex_destroy(&ru->mu);
        pthread_cond_destroy(&ru->cv);
        free(ru);
}

static int bad_param(sl_adm_req_t *req, const char *what)
{
        return sl__adm_problem(req, 400, "invalid-parameter", "Bad Request", NULL, "%s",
                               what);
}

int sl__adm_rollups(sl_adm_req_t *req)
{
        static const char *const allowed[] = {"table",   "bucket", "from",   "to",
                                              "type",    "source", "status", "trigger",
                                              "outcome", "limit",  NULL};
        const char *table = sl__adm_param(req, "table");
        const char *bucket = sl__adm_param(req, "bucket");
        const char *from = sl__adm_param(req, "from"), *to = sl__adm_param(req, "to");
        char from_def[40], lim[16];
        bool deliveries;
        PGresult *res = NULL, *wm = NULL;
        json_t *rows;
        int status, limit;

        if ((status = sl__adm_params_check(req, allowed)) ||
            (status = sl__adm_param_limit(req, 1000, 10000, &limit)))
                return status;
        if (!table)
                table = "events";
        if (!bucket)
                bucket = "minute";
        if (strcmp(table, "events") && strcmp(table, "deliveries"))
                return bad_param(req, "table must be events or deliveries");
        if (strcmp(bucket, "minute") && strcmp(bucket, "hour"))
                return bad_param(req, "bucket must be minute or hour");
        deliveries = table[0] == 'd';
        if ((from && !sl__adm_is_rfc3339(from)) || (to && !sl__adm_is_rfc3339(to)))
                return bad_param(req, "from and to must be RFC 3339 timestamps");
        if (deliveries ? sl__adm_param(req, "type") || sl__adm_param(req, "source") ||
                             sl__adm_param(req, "status")
                       : sl__adm_param(req, "trigger") || sl__adm_param(req, "outcome"))
                return bad_param(req, "events take type, source and status; deliveries "
                                      "take trigger and outcome");
        for (const char *const *k = allowed + 4; *k; k++) {
                const char *v = sl__adm_param(req, *k);
                if (v && strcmp(*k, "limit") && !sl__adm_is_text(v, SL_ADM_TEXT_MAX))
                        return bad_param(req, "filter values must be non-empty text");
        }
        if (deliveries && sl__adm_param(req, "trigger") &&
            !sl__adm_is_uuid(sl__adm_param(req, "trigger")))
                return bad_param(req, "trigger must be a trigger id (a UUID)");
        if (!from) {
                /* The last hour of minutes, the last day of hours. */
                time_t t = time(NULL) - (bucket[0] == 'm' ? 3600 : 86400);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(from_def, sizeof(from_def), "%Y-%m-%dT%H:%M:%SZ", &tm);
                from = from_def;
        }
        snprintf(lim, sizeof(lim), "%d", limit);
        {
                const char *p_ev[7] = {bucket,
                                       from,
                                       to ? to : "infinity",
                                       sl__adm_param(req, "type"),
                                       sl__adm_param(req, "source"),
                                       sl__adm_param(req, "status"),
                                       lim};
                const char *p_dl[6] = {bucket,
                                       from,
                                       to ? to : "infinity",
                                       sl__adm_param(req, "trigger"),
                                       sl__adm_param(req, "outcome"),
                                       lim};
                const char *p_wm[1] = {table};
                if ((status = sl__adm_query(req, watermark_sql, 1, p_wm, &wm)))
                        return status;
                status = deliveries
                             ? sl__adm_query(req, sl_rollup_deliveries_sql, 6, p_dl, &res)
                             : sl__adm_query(req, sl_rollup_events_sql, 7, p_ev, &res);
                if (status) {
                        PQclear(wm);
                        return status;
                }
        }
        rows = json_array();
        for (int r = 0; r < PQntuples(res); r++) {
                int c = 0;
                json_t *row = json_object();
                json_object_set_new(row, "bucket", json_string(PQgetvalue(res, r, c++)));
                if (deliveries) {
                        json_object_set_new(row, "trigger_id",
                                            json_string(PQgetvalue(res, r, c++)));
                        json_object_set_new(row, "outcome",
                                            json_string(PQgetvalue(res, r, c++)));
                } else {
                        json_object_set_new(row, "type",
                                            json_string(PQgetvalue(res, r, c++)));
                        json_object_set_new(row, "source",
                                            json_string(PQgetvalue(res, r, c++)));
                        json_object_set_new(row, "status",
                                            json_string(PQgetvalue(res, r, c++)));
                }
                json_object_set_new(
                    row, "count",
                    json_integer(strtoll(PQgetvalue(res, r, c++), NULL, 10)));
                json_object_set_new(row, "first_at",
                                    json_string(PQgetvalue(res, r, c++)));
                json_object_set_new(row, "last_at", json_string(PQgetvalue(res, r, c++)));
                json_object_set_new(row, "finished",
                                    json_boolean(PQgetvalue(res, r, c)[0] == 't'));
                json_array_append_new(rows, row);
        }
        status = sl__adm_json(
            req, 200,
            json_pack(
                "{s:s, s:s, s:s?, s:o}", "table", table, "bucket", bucket, "watermark",
                PQntuples(wm) && !PQgetisnull(wm, 0, 0) ? PQgetvalue(wm, 0, 0) : NULL,
                "rows", rows));
        PQclear(res);
        PQclear(wm);
        return status;
}
