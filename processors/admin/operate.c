/*
 * The operate scope: pause and resume a source or a trigger, cancel a retry, replay
 * events.  Each change and its admin_audit row (naming the token) are one
 * transaction; the pause statements are the ones sluicectl runs (src/pg/operate.h),
 * so source pauses land in pauses/pause_history and trigger changes in trigger_audit
 * (through sluice.actor) exactly as from the CLI.
 *
 * A replay re-publishes stored events to events.in as new deliveries: a new event id,
 * the original's type, source, occurred_at, payload and correlation id, its metadata
 * plus sluice.replay_of (the original id) and sluice.replayed_by (the token's name),
 * and the Kafka header sluice.replay.of.  It carries no sluice.attempt header, so
 * ingress validates and admits it like any new event (rate limits, pauses); its
 * ttl_ms is dropped (an operator replays on purpose, after the fact).  Selecting,
 * building and publishing the replays is src/history/replay.c's, shared with replay
 * jobs (replays.c) and sluicectl replay.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "history/replay.h"
#include "log/log.h"
#include "pg/operate.h"
#include "sluice/err.h"
#include "util/uuid.h"

static int bad(sl_adm_req_t *req, const char *what)
{
        return sl__adm_problem(req, 400, "invalid-body", "Bad Request", NULL, "%s", what);
}

/* RFC 3339 text (checked) to ms since the epoch. */
static int64_t rfc3339_ms(const char *s)
{
        struct tm tm = {0};
        int64_t ms = 0, off = 0;
        const char *p = s + 19;

        tm.tm_year = atoi(s) - 1900;
        tm.tm_mon = atoi(s + 5) - 1;
        tm.tm_mday = atoi(s + 8);
        tm.tm_hour = atoi(s + 11);
        tm.tm_min = atoi(s + 14);
        tm.tm_sec = atoi(s + 17);
        if (*p == '.') {
                int64_t scale = 100;
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        ms += (*p - '0') * scale;
        }
        if (*p == '+' || *p == '-')
                off = (*p == '-' ? -1 : 1) * (atoi(p + 1) * 60 + atoi(p + 4)) * 60000LL;
        return (int64_t)timegm(&tm) * 1000 + ms - off;
}

/* The body, optional for routes whose fields are all optional: {} when empty. */
static int body_of(sl_adm_req_t *req, bool optional, json_t **out)
{
        const struct mg_request_info *ri = mg_get_request_info(req->conn);

        if (optional && ri->content_length <= 0 &&
            !mg_get_header(req->conn, "Transfer-Encoding")) {
                *out = json_object();
                return 0;
        }
        return sl__adm_body_json(req, out);
}

/* Only keys from allowed (NULL-terminated) in obj: 0 or the 400 sent. */
static int keys_check(sl_adm_req_t *req, json_t *obj, const char *const *allowed)
{
        const char *k;
        json_t *v;

        json_object_foreach(obj, k, v)
        {
                bool ok = false;
                (void)v;
                for (const char *const *a = allowed; *a && !ok; a++)
                        ok = strcmp(*a, k) == 0;
                if (!ok)
                        return sl__adm_problem(req, 400, "invalid-body", "Bad Request",
                                               NULL, "unknown field '%s'",
                                               sl__adm_is_text(k, 64) ? k : "?");
        }
        return 0;
}

/* A text field: NULL when absent; *bad set when present but not text of 1..max. */
static const char *text_field(json_t *obj, const char *key, size_t max, bool *bad_out)
{
        json_t *v = json_object_get(obj, key);
        const char *s;

        if (!v || json_is_null(v))
                return NULL;
        s = json_string_value(v);
        if (!s || strlen(s) != json_string_length(v) || !sl__adm_is_text(s, max)) {
                *bad_out = true;
                return NULL;
        }
        return s;
}

int sl__adm_audit(sl_pg_session_t *ses, const char *by, const char *action,
                  const char *target, const char *detail, char *errstr, size_t size,
                  PGresult **res)
{
        const char *params[4] = {by, action, target, detail};

        *res = sl__adm_exec(ses,
                            "INSERT INTO admin_audit (by, action, target, detail) "
                            "VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'))",
                            4, params, errstr, size);
        return *res && PQresultStatus(*res) == PGRES_COMMAND_OK ? 0 : -1;
}

/* Run steps in one transaction on a pooled session, the last step's result (it must
 * return a row) kept in *out, then the audit row.  0, or the status of the problem
 * sent; *out NULL then. */
typedef struct step_s {
        const char *sql;
        int n;
        const char *const *params;
} step_t;

static int transact(sl_adm_req_t *req, const step_t *steps, size_t nsteps,
                    const char *action, const char *target, const char *detail,
                    PGresult **out)
{
        sl_pg_session_t *ses = sl__adm_session_get(req);
        char errstr[1024] = "";
        PGresult *res = NULL;
        int status = 0;

        *out = NULL;
        if (!ses)
                return req->status;
        res = sl__adm_exec(ses, "BEGIN", 0, NULL, errstr, sizeof(errstr));
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                goto fail;
        for (size_t i = 0; i < nsteps; i++) {
                PQclear(res);
                res = sl__adm_exec(ses, steps[i].sql, steps[i].n, steps[i].params, errstr,
                                   sizeof(errstr));
                if (!res || (PQresultStatus(res) != PGRES_TUPLES_OK &&
                             PQresultStatus(res) != PGRES_COMMAND_OK))
                        goto fail;
        }
        *out = res;
        res = NULL;
        if (PQntuples(*out) == 0) { /* nothing changed: nothing to audit */
                PQclear(sl__adm_exec(ses, "ROLLBACK", 0, NULL, errstr, sizeof(errstr)));
                sl__adm_session_put(req->adm, ses);
                return 0;
        }
        if (sl__adm_audit(ses, req->tok->name, action, target, detail, errstr,
                          sizeof(errstr), &res))
                goto fail;
        PQclear(res);
        res = sl__adm_exec(ses, "COMMIT", 0, NULL, errstr, sizeof(errstr));
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                goto fail;
        PQclear(res);
        sl__adm_session_put(req->adm, ses);
        return 0;
fail:
        status = sl__adm_pg_problem(req, res, errstr);
        PQclear(res);
        PQclear(*out);
        *out = NULL;
        PQclear(sl__adm_exec(ses, "ROLLBACK", 0, NULL, errstr, sizeof(errstr)));
        sl__adm_session_put(req->adm, ses);
        return status;
}

// clang-format off
#define PAUSE_JSON(at, until, reason, by)                                                \
        "json_build_object('paused_at', " SL_ADM_TS(at) ", 'until', " SL_ADM_TS(         \
            until) ", 'reason', " reason ", 'paused_by', " by ")::text"
// clang-format on

int sl__adm_pause(sl_adm_req_t *req, bool trigger, const char *id, bool resume)
{
        static const char *const allowed[] = {NULL};
        static const char *const fields[] = {"reason", "until", "for_ms", NULL};
        const char *kind = trigger ? "trigger" : "source";
        const char *reason = NULL, *until = NULL, *by = req->tok->name;
        char until_ms[24], for_ms[24], action[32];
        bool invalid = false, has_until = false, has_for = false;
        json_t *body = NULL, *fv;
        PGresult *res = NULL;
        int status;

        if ((status = sl__adm_params_check(req, allowed)))
                return status;
        if ((status = body_of(req, resume, &body)))
                return status;
        if ((status = keys_check(
                 req, body, resume ? (const char *const[]){"reason", NULL} : fields)))
                goto out;
        reason = text_field(body, "reason", SL_ADM_TEXT_MAX, &invalid);
        until = text_field(body, "until", 64, &invalid);
        fv = json_object_get(body, "for_ms");
        if (invalid) {
                status =
                    bad(req, "reason and until must be non-empty text (reason at most "
                             "1000 bytes)");
                goto out;
        }
        if (!resume) {
                if (!reason) {
                        status = bad(req, "reason is required");
                        goto out;
                }
                if (until) {
                        int64_t ms;
                        if (!sl__adm_is_rfc3339(until) ||
                            (ms = rfc3339_ms(until)) <= (int64_t)time(NULL) * 1000 ||
                            ms > 253402300799000LL) {
                                status = bad(req, "until must be an RFC 3339 time in the "
                                                  "future");
                                goto out;
                        }
                        snprintf(until_ms, sizeof(until_ms), "%lld", (long long)ms);
                        has_until = true;
                }
                if (fv && !json_is_null(fv)) {
                        if (!json_is_integer(fv) || json_integer_value(fv) < 1 ||
                            json_integer_value(fv) > 315360000000LL || has_until) {
                                status =
                                    bad(req, "for_ms must be a positive integer of at "
                                             "most ten years, and excludes until");
                                goto out;
                        }
                        snprintf(for_ms, sizeof(for_ms), "%lld",
                                 (long long)json_integer_value(fv));
                        has_for = true;
                }
        }
        snprintf(action, sizeof(action), "%s_%s", resume ? "resume" : "pause", kind);
        {
                const char *p_hist[2] = {id, by};
                const char *p_ins[5] = {id, has_until ? until_ms : NULL,
                                        has_for ? for_ms : NULL, reason, by};
                const char *p_actor[1] = {by};
                const char *p_res[1] = {id};
                json_t *jdetail = json_pack("{s:s?}", "reason", reason);
                char *dtext = jdetail ? json_dumps(jdetail, JSON_COMPACT) : NULL;
                step_t steps[2];
                size_t n = 0;

                json_decref(jdetail);
                if (!trigger && !resume) {
                        steps[n++] = (step_t){SL_PG_SOURCE_PAUSE_REPLACE, 2, p_hist};
                        steps[n++] =
                            (step_t){SL_PG_SOURCE_PAUSE_INSERT " RETURNING " PAUSE_JSON(
                                         "paused_at", "until", "reason", "paused_by"),
                                     5, p_ins};
                } else if (!trigger) {
                        steps[n++] = (step_t){SL_PG_SOURCE_RESUME, 2, p_hist};
                } else if (!resume) {
                        steps[n++] = (step_t){
                            "SELECT set_config('sluice.actor', $1, true)", 1, p_actor};
                        steps[n++] = (step_t){
                            SL_PG_TRIGGER_PAUSE
                            " RETURNING " PAUSE_JSON("paused_at", "paused_until",
                                                     "paused_reason", "paused_by"),
                            5, p_ins};
                } else {
                        steps[n++] = (step_t){
                            "SELECT set_config('sluice.actor', $1, true)", 1, p_actor};
                        steps[n++] = (step_t){SL_PG_TRIGGER_RESUME, 1, p_res};
                }
                status = transact(req, steps, n, action, id, dtext, &res);
                free(dtext);
        }
        if (status)
                goto out;
        if (PQntuples(res) == 0) {
                status = trigger ? sl__adm_problem(req, 404, "not-found", "Not Found",
                                                   NULL, "no trigger with that name")
                                 : sl__adm_problem(req, 409, "not-paused", "Conflict",
                                                   NULL, "the source is not paused");
                goto out;
        }
        if (trigger && resume && strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
                /* Nothing changed, yet the statement ran: the audit row says so. */
                status = sl__adm_problem(req, 409, "not-paused", "Conflict", NULL,
                                         "the trigger is not paused");
                goto out;
        }
        {
                json_error_t jerr;
                json_t *pause =
                    resume ? json_null() : json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
                status = sl__adm_json(req, 200,
                                      json_pack("{s:s, s:s, s:s, s:o*, s:s}", "kind",
                                                kind, "id", id, "action",
                                                resume ? "resumed" : "paused", "pause",
                                                pause, "by", by));
        }
out:
        PQclear(res);
        json_decref(body);
        return status;
}

int sl__adm_retry_cancel(sl_adm_req_t *req, const char *event_id)
{
        static const char *const allowed[] = {NULL};
        const char *reason;
        bool invalid = false;
        json_t *body = NULL;
        PGresult *res = NULL;
        int status;

        if ((status = sl__adm_params_check(req, allowed)))
                return status;
        if (!sl__adm_is_uuid(event_id))
                return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                       "no retry for that event (ids are UUIDs)");
        if ((status = body_of(req, true, &body)))
                return status;
        if ((status = keys_check(req, body, (const char *const[]){"reason", NULL})))
                goto out;
        reason = text_field(body, "reason", SL_ADM_TEXT_MAX, &invalid);
        if (invalid) {
                status = bad(req, "reason must be non-empty text of at most 1000 bytes");
                goto out;
        }
        {
                const char *params[3] = {event_id, req->tok->name, reason};
                json_t *jd = json_pack("{s:s?}", "reason", reason);
                char *dtext = jd ? json_dumps(jd, JSON_COMPACT) : NULL;
                step_t step = {SL_PG_RETRY_CANCEL, 3, params};

                json_decref(jd);
                status = transact(req, &step, 1, "cancel_retry", event_id, dtext, &res);
                free(dtext);
        }
        if (status)
                goto out;
        if (PQntuples(res) == 0) {
                PGresult *r2;
                const char *p1[1] = {event_id};
                status = sl__adm_query(req,
                                       "SELECT state FROM event_ingress_retries "
                                       "WHERE event_id = $1::uuid",
                                       1, p1, &r2);
                if (status)
                        goto out;
                status = PQntuples(r2) == 0
                             ? sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                               "no retry for that event")
                             : sl__adm_problem(req, 409, "not-open", "Conflict", NULL,
                                               "the retry is %s, not open",
                                               PQgetvalue(r2, 0, 0));
                PQclear(r2);
                goto out;
        }
        status = sl__adm_json(
            req, 200,
            json_pack("{s:s, s:s, s:s, s:i, s:s}", "event_id", event_id, "state",
                      "cancelled", "source", PQgetvalue(res, 0, 0), "attempt",
                      atoi(PQgetvalue(res, 0, 1)), "by", req->tok->name));
out:
        PQclear(res);
        json_decref(body);
        return status;
}

/* The replay producer's delivery reports: src/history/replay.c counts them. */
void sl__adm_replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        sl_replay_dr(rk, m, opaque);
}

/* The selection of a replay body ({"ids"} or {"filter"}), checked as this route always
 * has (text without control characters, RFC 3339 times), as replay.h's selection
 * object: *sel (caller json_decref()s).  0 or the status of the 400 sent. */
int sl__adm_replay_selection(sl_adm_req_t *req, json_t *body, json_t **sel)
{
        static const char *const ffields[] = {
            "type", "source", "status", "correlation_id", "from", "to", NULL};
        json_t *ids = json_object_get(body, "ids"),
               *filter = json_object_get(body, "filter");
        bool invalid = false;
        char why[256];
        int status;

        *sel = NULL;
        if ((ids && filter) || (!ids && !filter))
                return bad(req, "give either ids or filter");
        if (ids) {
                size_t cnt = json_array_size(ids);
                if (!json_is_array(ids) || cnt == 0 ||
                    (int64_t)cnt > req->adm->replay_max)
                        return bad(req, "ids must be a non-empty array of event ids");
                for (size_t i = 0; i < cnt; i++) {
                        const char *s = json_string_value(json_array_get(ids, i));
                        if (!s || !sl__adm_is_uuid(s))
                                return bad(req, "ids must be a non-empty array of event "
                                                "ids (UUIDs)");
                }
                *sel = json_pack("{s:O}", "ids", ids);
                return 0;
        }
        if (!json_is_object(filter) || (status = keys_check(req, filter, ffields))) {
                if (!json_is_object(filter))
                        return bad(req, "filter must be an object");
                return status;
        }
        for (const char *const *f = ffields; *f; f++) {
                const char *v = text_field(filter, *f, SL_ADM_TEXT_MAX, &invalid);
                if (invalid)
                        return bad(req, "filter values must be non-empty text");
                if (v && (*f)[0] != 'f' && strcmp(*f, "to") != 0)
                        continue;
                if (v && !sl__adm_is_rfc3339(v))
                        return bad(req, "filter.from and filter.to must be RFC 3339 "
                                        "timestamps");
        }
        if (!json_object_get(filter, "from") || !json_object_get(filter, "to"))
                return bad(req, "a replay by filter needs filter.from and filter.to");
        if (sl_replay_filter_check(filter, why, sizeof(why)) != SL_OK)
                return bad(req, why);
        *sel = json_deep_copy(filter);
        return 0;
}

int sl__adm_replay(sl_adm_req_t *req)
{
        static const char *const allowed[] = {NULL};
        static const char *const fields[] = {"ids",     "filter", "limit",
                                             "dry_run", "reason", NULL};
        sl_admin_t *adm = req->adm;
        json_t *body = NULL, *sel = NULL, *out_events = NULL;
        char *sel_text = NULL;
        int64_t limit = adm->replay_max, published = 0, failed = 0;
        bool dry_run = false, invalid = false;
        const char *reason;
        PGresult *res = NULL;
        sl_pg_session_t *ses = NULL;
        int status;

        if ((status = sl__adm_params_check(req, allowed)))
                return status;
        if ((status = body_of(req, false, &body)))
                return status;
        if ((status = keys_check(req, body, fields)))
                goto out;
        reason = text_field(body, "reason", SL_ADM_TEXT_MAX, &invalid);
        if (invalid) {
                status = bad(req, "reason must be non-empty text of at most 1000 bytes");
                goto out;
        }
        if (json_object_get(body, "dry_run")) {
                if (!json_is_boolean(json_object_get(body, "dry_run"))) {
                        status = bad(req, "dry_run must be true or false");
                        goto out;
                }
                dry_run = json_is_true(json_object_get(body, "dry_run"));
        }
        if (json_object_get(body, "limit")) {
                json_t *l = json_object_get(body, "limit");
                if (!json_is_integer(l) || json_integer_value(l) < 1 ||
                    json_integer_value(l) > adm->replay_max) {
                        status =
                            sl__adm_problem(req, 400, "invalid-body", "Bad Request", NULL,
                                            "limit must be an integer from 1 to %lld",
                                            (long long)adm->replay_max);
                        goto out;
                }
                limit = json_integer_value(l);
        }
        if ((status = sl__adm_replay_selection(req, body, &sel)))
                goto out;
        sel_text = json_dumps(sel, JSON_COMPACT);
        if (!sel_text || !(ses = sl__adm_session_get(req))) {
                status = sel_text ? req->status
                                  : sl__adm_problem(req, 500, "internal",
                                                    "Internal Server Error", NULL,
                                                    "out of memory");
                goto out;
        }
        {
                char errstr[512];
                if (sl_replay_fetch(sl_pg_session_conn(ses), sel_text, req->tok->name,
                                    "now", NULL, NULL, limit, &res, errstr,
                                    sizeof(errstr)) != SL_OK) {
                        status = sl__adm_pg_problem(req, NULL, errstr);
                        goto out;
                }
        }
        out_events = json_array();
        if (dry_run) {
                for (int r = 0; r < PQntuples(res); r++) {
                        char id[37];
                        sl_uuid_random(id);
                        json_array_append_new(out_events,
                                              json_pack("{s:s, s:s}", "original_id",
                                                        PQgetvalue(res, r, 0), "id", id));
                }
        } else {
                sl_replay_out_t ro = {adm->producer, adm->codec, adm->topic_in,
                                      adm->kafka_timeout_ms};
                char errstr[256];
                sl_replay_publish(&ro, res, 0, NULL, NULL, out_events, &published,
                                  &failed, errstr, sizeof(errstr));
        }
        {
                size_t cnt = json_array_size(out_events);
                json_t *jd = json_pack(
                    "{s:I, s:b, s:i, s:s?, s:O?, s:O?}", "count", (json_int_t)cnt,
                    "dry_run", dry_run, "failed", (int)failed, "reason", reason, "filter",
                    json_object_get(body, "filter"), "ids", json_object_get(body, "ids"));
                char *dtext = jd ? json_dumps(jd, JSON_COMPACT) : NULL;
                PGresult *ares = NULL;

                json_decref(jd);
                if (!dry_run) {
                        char errstr[512];
                        if (sl__adm_audit(ses, req->tok->name, "replay", NULL, dtext,
                                          errstr, sizeof(errstr), &ares))
                                sl_log_warn("replay not audited: %s", errstr);
                        PQclear(ares);
                        sl_metrics_add(adm->m_replayed, (uint64_t)published);
                }
                free(dtext);
                if (failed) {
                        status = sl__adm_problem(req, 503, "unavailable",
                                                 "Service Unavailable", NULL,
                                                 "%lld of %zu replays were not delivered "
                                                 "to Kafka",
                                                 (long long)failed, cnt);
                        goto out;
                }
                status =
                    sl__adm_json(req, 200,
                                 json_pack("{s:b, s:I, s:O}", "dry_run", dry_run, "count",
                                           (json_int_t)cnt, "events", out_events));
        }
out:
        if (ses)
                sl__adm_session_put(adm, ses);
        json_decref(out_events);
        PQclear(res);
        free(sel_text);
        json_decref(sel);
        json_decref(body);
        return status;
}
