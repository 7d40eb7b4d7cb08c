/*
 * Replay jobs through the admin API (src/history/replay.h does the work):
 *
 *   POST /admin/replay-jobs               {ids | filter, rate?, reason?, dry_run?}
 *        dry_run: 200 with how many events the selection holds and, per enabled
 *        trigger, how many would match; else 202 with the new job (state pending)
 *   GET  /admin/replay-jobs               the latest jobs (limit, default 100)
 *   GET  /admin/replay-jobs/{id}          one job with its progress
 *   POST /admin/replay-jobs/{id}/cancel   stop it (its runner stops after the batch in
 *                                         hand)
 *
 * A job created here runs on this process's runner thread: it polls for pending jobs
 * (and is woken at once by a create), and also takes over jobs a sluice-admin that
 * died left running (their advisory lock is free again); a job another runner holds
 * is left alone.  `sluicectl replay resume ID` can take over any job.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_int.h"
#include "history/replay.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"

#define POLL_MS     1000
#define RUNNER_HEAD "sluice-admin "

struct sl_adm_replays_s {
        sl_admin_t *adm;
        pthread_t thr;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        volatile sig_atomic_t stop;
        bool wake, started;
        char runner[300];
};

static void run_jobs(sl_adm_replays_t *rp, PGconn *pg)
{
        static const char sql[] =
            "SELECT id FROM replay_jobs WHERE state = 'pending' OR (state = 'running' "
            "AND runner LIKE 'sluice-admin %') ORDER BY id LIMIT 20";
        sl_admin_t *adm = rp->adm;
        sl_replay_out_t out = {adm->producer, adm->codec, adm->topic_in,
                               adm->kafka_timeout_ms};
        PGresult *res = PQexec(pg, sql);
        char errstr[512];

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl_log_warn("replay jobs: %s", PQresultErrorMessage(res));
                PQclear(res);
                return;
        }
        for (int r = 0; r < PQntuples(res) && !rp->stop; r++) {
                int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
                int err = sl_replay_job_run(pg, &out, id, rp->runner, &rp->stop, errstr,
                                            sizeof(errstr));
                if (err == SL_OK)
                        sl_log_info("replay job %lld: run ended", (long long)id);
                else if (err != SL_ERR_STATE && err != SL_ERR_NOTFOUND &&
                         err != SL_ERR_DUPLICATE)
                        sl_log_warn("replay job %lld: %s", (long long)id, errstr);
        }
        PQclear(res);
}

static void *runner_main(void *opaque)
{
        sl_adm_replays_t *rp = opaque;
        PGconn *pg = NULL;
        char errstr[512];

        pthread_mutex_lock(&rp->mu);
        while (!rp->stop) {
                struct timespec ts;
                rp->wake = false;
                pthread_mutex_unlock(&rp->mu);
                if (!pg || PQstatus(pg) != CONNECTION_OK) {
                        if (pg)
                                PQfinish(pg);
                        pg = sl_pg_connect(rp->adm->conf, errstr, sizeof(errstr));
                }
                if (pg)
                        run_jobs(rp, pg);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += POLL_MS / 1000;
                pthread_mutex_lock(&rp->mu);
                while (!rp->stop && !rp->wake &&
                       pthread_cond_timedwait(&rp->cv, &rp->mu, &ts) == 0)
                        ;
        }
        pthread_mutex_unlock(&rp->mu);
        if (pg)
                PQfinish(pg);
        return NULL;
}

sl_adm_replays_t *sl__adm_replays_start(sl_admin_t *adm, char *errstr, size_t errstr_size)
{
        sl_adm_replays_t *rp = calloc(1, sizeof(*rp));
        char host[256] = "";

        if (!rp) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rp->adm = adm;
        gethostname(host, sizeof(host) - 1);
        snprintf(rp->runner, sizeof(rp->runner), RUNNER_HEAD "%s:%d", host,
                 (int)getpid());
        pthread_mutex_init(&rp->mu, NULL);
        pthread_cond_init(&rp->cv, NULL);
        if (pthread_create(&rp->thr, NULL, runner_main, rp) != 0) {
                snprintf(errstr, errstr_size, "cannot start the replay job thread");
                sl__adm_replays_stop(rp);
                return NULL;
        }
        rp->started = true;
        return rp;
}

void sl__adm_replays_stop(sl_adm_replays_t *rp)
{
        if (!rp)
                return;
        pthread_mutex_lock(&rp->mu);
        rp->stop = 1;
        pthread_cond_broadcast(&rp->cv);
        pthread_mutex_unlock(&rp->mu);
        if (rp->started)
                pthread_join(rp->thr, NULL);
        pthread_mutex_destroy(&rp->mu);
        pthread_cond_destroy(&rp->cv);
        free(rp);
}

static int bad(sl_adm_req_t *req, const char *what)
{
        return sl__adm_problem(req, 400, "invalid-body", "Bad Request", NULL, "%s", what);
}

/* One job's JSON, or NULL (none); 0 or the status of the problem sent. */
static int job_json(sl_adm_req_t *req, const char *id, json_t **job)
{
        const char *params[2] = {id, "1"};
        json_t *arr = NULL;
        int status = sl__adm_query_json(req, sl_replay_jobs_json_sql, 2, params, &arr);

        *job = NULL;
        if (status)
                return status;
        if (json_array_size(arr))
                *job = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        return 0;
}

static bool job_id_ok(const char *id)
{
        size_t n = strlen(id);

        if (n == 0 || n > 18)
                return false;
        for (const char *c = id; *c; c++)
                if (*c < '0' || *c > '9')
                        return false;
        return true;
}

static int create(sl_adm_req_t *req)
{
        static const char *const fields[] = {"ids",    "filter",  "rate",
                                             "reason", "dry_run", NULL};
        sl_admin_t *adm = req->adm;
        json_t *body = NULL, *sel = NULL, *v, *job = NULL;
        int64_t rate = sl_conf_get_int(adm->conf, "replay.rate"), id = 0;
        const char *reason = NULL, *k;
        sl_pg_session_t *ses = NULL;
        char *sel_text = NULL, errstr[512];
        bool dry_run = false;
        int status;

        if ((status = sl__adm_body_json(req, &body)))
                return status;
        json_object_foreach(body, k, v)
        {
                bool ok = false;
                for (const char *const *f = fields; *f && !ok; f++)
                        ok = strcmp(*f, k) == 0;
                if (!ok) {
                        status = sl__adm_problem(req, 400, "invalid-body", "Bad Request",
                                                 NULL, "unknown field '%s'",
                                                 sl__adm_is_text(k, 64) ? k : "?");
                        goto out;
                }
        }
        if ((v = json_object_get(body, "reason"))) {
                reason = json_string_value(v);
                if (!reason || !sl__adm_is_text(reason, SL_ADM_TEXT_MAX) ||
                    strlen(reason) != json_string_length(v)) {
                        status = bad(req, "reason must be non-empty text of at most 1000 "
                                          "bytes");
                        goto out;
                }
        }
        if ((v = json_object_get(body, "rate"))) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                    json_integer_value(v) > 1000000) {
                        status = bad(req, "rate must be an integer from 1 to 1000000 "
                                          "(events per second)");
                        goto out;
                }
                rate = json_integer_value(v);
        }
        if ((v = json_object_get(body, "dry_run"))) {
                if (!json_is_boolean(v)) {
                        status = bad(req, "dry_run must be true or false");
                        goto out;
                }
                dry_run = json_is_true(v);
        }
        if ((status = sl__adm_replay_selection(req, body, &sel)))
                goto out;
        if (!(sel_text = json_dumps(sel, JSON_COMPACT)) ||
            !(ses = sl__adm_session_get(req))) {
                status = sel_text ? req->status
                                  : sl__adm_problem(req, 500, "internal",
                                                    "Internal Server Error", NULL,
                                                    "out of memory");
                goto out;
        }
        if (dry_run) {
                json_t *dr = NULL;
                if (sl_replay_dry_run(sl_pg_session_conn(ses), sel_text, "now", &dr,
                                      errstr, sizeof(errstr)) != SL_OK) {
                        status = sl__adm_pg_problem(req, NULL, errstr);
                        goto out;
                }
                json_object_set_new(dr, "dry_run", json_true());
                status = sl__adm_json(req, 200, dr);
                goto out;
        }
        {
                PGresult *ares = NULL;
                char idtxt[24], *dtext;
                json_t *jd;
                if (sl_replay_job_create(sl_pg_session_conn(ses), sel_text,
                                         req->tok->name, reason, rate, &id, errstr,
                                         sizeof(errstr)) != SL_OK) {
                        status = sl__adm_pg_problem(req, NULL, errstr);
                        goto out;
                }
                snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
                jd =
                    json_pack("{s:I, s:O, s:I, s:s?}", "job", (json_int_t)id, "selection",
                              sel, "rate", (json_int_t)rate, "reason", reason);
                dtext = jd ? json_dumps(jd, JSON_COMPACT) : NULL;
                json_decref(jd);
                if (sl__adm_audit(ses, req->tok->name, "replay", idtxt, dtext, errstr,
                                  sizeof(errstr), &ares))
                        sl_log_warn("replay job %s not audited: %s", idtxt, errstr);
                PQclear(ares);
                free(dtext);
                sl__adm_session_put(adm, ses);
                ses = NULL;
                pthread_mutex_lock(&adm->replays->mu);
                adm->replays->wake = true;
                pthread_cond_broadcast(&adm->replays->cv);
                pthread_mutex_unlock(&adm->replays->mu);
                if ((status = job_json(req, idtxt, &job)))
                        goto out;
                status = sl__adm_json(req, 202, json_pack("{s:o}", "job", job));
        }
out:
        if (ses)
                sl__adm_session_put(adm, ses);
        free(sel_text);
        json_decref(sel);
        json_decref(body);
        return status;
}

static int cancel(sl_adm_req_t *req, const char *id)
{
        sl_pg_session_t *ses;
        PGresult *ares = NULL;
        char errstr[512];
        json_t *job = NULL;
        int err, status;

        if (!(ses = sl__adm_session_get(req)))
                return req->status;
        err = sl_replay_job_cancel(sl_pg_session_conn(ses), strtoll(id, NULL, 10), errstr,
                                   sizeof(errstr));
        if (err == SL_OK && sl__adm_audit(ses, req->tok->name, "replay_cancel", id, NULL,
                                          errstr, sizeof(errstr), &ares))
                sl_log_warn("replay job %s cancel not audited: %s", id, errstr);
        PQclear(ares);
        sl__adm_session_put(req->adm, ses);
        if (err == SL_ERR_NOTFOUND)
                return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                       "no replay job with that id");
        if (err == SL_ERR_STATE)
                return sl__adm_problem(req, 409, "not-running", "Conflict", NULL, "%s",
                                       errstr);
        if (err)
                return sl__adm_pg_problem(req, NULL, errstr);
        if ((status = job_json(req, id, &job)))
                return status;
        return sl__adm_json(req, 200, json_pack("{s:o}", "job", job));
}

int sl__adm_replay_jobs(sl_adm_req_t *req, const char *id, const char *action)
{
        static const char *const none[] = {NULL};
        static const char *const list_params[] = {"limit", NULL};
        int status;

        if (strcmp(action, "list") == 0) {
                char lim[16];
                const char *params[2] = {NULL, lim};
                json_t *jobs;
                int limit;
                if ((status = sl__adm_params_check(req, list_params)) ||
                    (status = sl__adm_param_limit(req, 100, 1000, &limit)))
                        return status;
                snprintf(lim, sizeof(lim), "%d", limit);
                if ((status = sl__adm_query_json(req, sl_replay_jobs_json_sql, 2, params,
                                                 &jobs)))
                        return status;
                return sl__adm_json(req, 200, json_pack("{s:o}", "jobs", jobs));
        }
        if ((status = sl__adm_params_check(req, none)))
                return status;
        if (strcmp(action, "create") == 0)
                return create(req);
        if (!job_id_ok(id))
                return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                       "no replay job with that id");
        if (strcmp(action, "cancel") == 0)
                return cancel(req, id);
        {
                json_t *job = NULL;
                if ((status = job_json(req, id, &job)))
                        return status;
                if (!job)
                        return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                               "no replay job with that id");
                return sl__adm_json(req, 200, json_pack("{s:o}", "job", job));
        }
}
