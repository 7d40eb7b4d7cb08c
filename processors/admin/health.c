/*
 * GET /admin/event-health: one cluster-wide snapshot, stamped with the time it was
 * taken: consumer lag per group and partition (committed offsets against high
 * watermarks, read through handles that never join the groups), processor heartbeats
 * (newest event time per stage and instance, restores in progress), pauses, open and
 * half-open breakers, dead letters of the last hour and day, scheduled and overdue
 * retries, and decision counts per source and trigger over the last minutes, counted
 * from Postgres rows so they survive any restart.
 *
 * status is the worst of the checks (ok < degraded < critical) whose thresholds are
 * the admin.health.* keys; each check is listed with its value, threshold and status,
 * and "flipped" names those that are not ok.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin_int.h"
#include "history/stats.h"
#include "kafka/kafka.h"
#include "sluice/err.h"

enum { OK, DEGRADED, CRITICAL };
static const char *const level_str[] = {"ok", "degraded", "critical"};

/* The topics group i (admin.c's order: ingress, retry, match, launch) consumes. */
static size_t group_topics(sl_admin_t *adm, size_t i, char (*out)[256], size_t cap)
{
        const sl_conf_t *conf = adm->conf;
        int64_t delays[16];

        switch (i) {
        case 0:
                sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, out[0], 256);
                return 1;
        case 1:
                return sl_kafka_retry_topics(conf, out, delays, cap < 16 ? cap : 16);
        case 2:
                sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, out[0], 256);
                return 1;
        default:
                sl_kafka_topic_name(conf, SL_TOPIC_TRIGGER_MATCHES, out[0], 256);
                sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_RESULTS, out[1], 256);
                return 2;
        }
}

json_t *sl__adm_lag(sl_admin_t *adm, char *errstr, size_t errstr_size)
{
        int tmo = (int)adm->kafka_timeout_ms;
        json_t *groups = json_array();

        pthread_mutex_lock(&adm->lag_mu);
        for (size_t g = 0; g < adm->ngroups; g++) {
                char topics[16][256];
                size_t nt = group_topics(adm, g, topics, 16);
                rd_kafka_topic_partition_list_t *parts =
                    rd_kafka_topic_partition_list_new(16);
                rd_kafka_resp_err_t err;
                json_t *jparts = json_array(), *jg;
                int64_t total = 0;
                bool active = false;

                for (size_t t = 0; t < nt; t++) {
                        int32_t np = sl_kafka_partition_count(adm->meta, topics[t], tmo,
                                                              errstr, errstr_size);
                        if (np < 0)
                                continue; /* a topic not created (a tier never used) */
                        for (int32_t p = 0; p < np; p++)
                                rd_kafka_topic_partition_list_add(parts, topics[t], p);
                }
                /* OffsetFetch only: the handle never subscribed, so this joins nothing.
                 */
                err = rd_kafka_committed(adm->groups[g], parts, tmo);
                if (err) {
                        snprintf(errstr, errstr_size, "committed offsets of %s: %s",
                                 adm->group_ids[g], rd_kafka_err2str(err));
                        rd_kafka_topic_partition_list_destroy(parts);
                        json_decref(jparts);
                        json_decref(groups);
                        pthread_mutex_unlock(&adm->lag_mu);
                        return NULL;
                }
                for (int i = 0; i < parts->cnt; i++) {
                        rd_kafka_topic_partition_t *tp = &parts->elems[i];
                        int64_t lo = 0, hi = 0, lag;
                        err = rd_kafka_query_watermark_offsets(
                            adm->meta, tp->topic, tp->partition, &lo, &hi, tmo);
                        if (err) {
                                snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s",
                                         tp->topic, (int)tp->partition,
                                         rd_kafka_err2str(err));
                                rd_kafka_topic_partition_list_destroy(parts);
                                json_decref(jparts);
                                json_decref(groups);
                                pthread_mutex_unlock(&adm->lag_mu);
                                return NULL;
                        }
                        if (tp->offset >= 0)
                                active = true;
                        /* No commit yet: all that is retained is unread. */
                        lag = tp->offset >= 0 ? hi - tp->offset : hi - lo;
                        if (lag < 0)
                                lag = 0;
                        total += lag;
                        json_array_append_new(
                            jparts, json_pack("{s:s, s:i, s:o, s:I, s:I, s:I}", "topic",
                                              tp->topic, "partition", (int)tp->partition,
                                              "committed",
                                              tp->offset >= 0 ? json_integer(tp->offset)
                                                              : json_null(),
                                              "low", (json_int_t)lo, "high",
                                              (json_int_t)hi, "lag", (json_int_t)lag));
                }
                rd_kafka_topic_partition_list_destroy(parts);
                jg = json_pack("{s:s, s:b, s:I, s:o}", "group", adm->group_ids[g],
                               "active", active, "lag", (json_int_t)total, "partitions",
                               jparts);
                json_array_append_new(groups, jg);
        }
        pthread_mutex_unlock(&adm->lag_mu);
        return groups;
}

bool sl__adm_kafka_ready(sl_admin_t *adm)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(adm->meta, 0, NULL, &md, (int)adm->kafka_timeout_ms);

        if (md)
                rd_kafka_metadata_destroy(md);
        return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

// clang-format off
#define HEALTH_SQL                                                                       \
        "SELECT json_build_object('stages', (SELECT "                                    \
        "coalesce(json_agg(json_build_object('stage', stage,   'newest_beat_at', "       \
        SL_ADM_TS("mb")                                                                  \
        ",   'beat_age_ms', (extract(epoch FROM now() - mb) * 1000)::bigint,   "         \
        "'running', running, 'newest_event_at', " SL_ADM_TS("ne")                        \
        ",   'restoring', restoring) ORDER BY stage), '[]') FROM (  SELECT stage, "      \
        "max(beat_at) mb, max(newest_event_at) ne,   sum(restoring)::int restoring,  "   \
        " count(*) FILTER (WHERE stopped_at IS NULL)::int running   FROM "               \
        "processor_heartbeats WHERE beat_at > now() - interval '1 hour'   GROUP BY "     \
        "stage) s), 'instances', (SELECT "                                               \
        "coalesce(json_agg(json_build_object('stage', stage,   'instance', instance, "   \
        "'group_id', group_id,   'started_at', " SL_ADM_TS("started_at")                 \
        ",   'beat_at', " SL_ADM_TS("beat_at") ", 'stopped_at', "                        \
        SL_ADM_TS("stopped_at") "  , 'newest_event_at', " SL_ADM_TS("newest_event_at")   \
        ",   'records_total', records_total, 'assigned', assigned,   'restore', "        \
        "json_build_object('partitions', restoring,     'started_at', "                  \
        SL_ADM_TS("restore_started")                                                     \
        ",     'last_ms', last_restore_ms)) ORDER BY stage, instance), '[]')   FROM "    \
        "processor_heartbeats WHERE beat_at > now() - interval '1 hour'), "              \
        "'paused_sources', (SELECT coalesce(json_agg(x ORDER BY x->>'id'), '[]') "       \
        "FROM (  SELECT json_build_object('id', source, 'kind', 'manual',   'until', "   \
        SL_ADM_TS("until")                                                               \
        ", 'reason', reason, 'by', paused_by) x   FROM pauses WHERE until IS NULL OR "   \
        "until > now() UNION ALL   SELECT json_build_object('id', key, 'kind', "         \
        "'auto',   'until', " SL_ADM_TS("paused_until")                                  \
        ", 'reason', detail->>'pause_cause',   'by', NULL) FROM scheduler_state "        \
        "WHERE stage = 'ingress'   AND paused_until > now()) p), 'paused_triggers', "    \
        "(SELECT coalesce(json_agg(json_build_object('id', id,   'name', name, "         \
        "'kind', 'manual', 'until', " SL_ADM_TS("paused_until")                          \
        ",   'reason', paused_reason, 'by', paused_by) ORDER BY name), '[]')   FROM "    \
        "triggers WHERE paused AND (paused_until IS NULL OR paused_until > now())), "    \
        "'breakers', (SELECT coalesce(json_agg(json_build_object('trigger_id', "         \
        "st.key,   'name', t.name, 'state', st.detail->>'breaker',   'open_until', "     \
        SL_ADM_TS("st.paused_until") ", 'detail', st.detail,   'mirrored_at', "          \
        SL_ADM_TS("st.mirrored_at")                                                      \
        ") ORDER BY t.name), '[]')   FROM scheduler_state st LEFT JOIN triggers t ON "   \
        "t.id::text = st.key   WHERE st.stage = 'trigger' AND st.detail->>'breaker' "    \
        "IN ('open', 'half_open')), 'dlq', (SELECT json_build_object(  'last_hour', "    \
        "count(*) FILTER (WHERE received_at > now() - interval '1 hour'),   "            \
        "'last_day', count(*)) FROM dead_letters   WHERE received_at > now() - "         \
        "interval '1 day'), 'retries', (SELECT json_build_object('scheduled', "          \
        "count(*),   'overdue', count(*) FILTER (WHERE next_attempt_at < now() -   "     \
        "$1::bigint * interval '1 millisecond')) FROM event_ingress_retries   WHERE "    \
        "open), 'decisions', json_build_object('window_minutes', $2::int,   'since', "   \
        SL_ADM_TS("now() - $2::int * interval '1 minute'")                               \
        ",   'sources', (SELECT coalesce(json_agg(json_build_object('source', "          \
        "source,     'status', status, 'count', n) ORDER BY source, status), '[]') "     \
        "FROM (    SELECT source, status, count(*) n FROM workflow_events     WHERE "    \
        "decided_at >= now() - $2::int * interval '1 minute'     GROUP BY source, "      \
        "status) d),   'triggers', (SELECT "                                             \
        "coalesce(json_agg(json_build_object('trigger_id',     trigger_id, 'name', "     \
        "name, 'outcome', outcome, 'count', n)     ORDER BY name, outcome), '[]') "      \
        "FROM (    SELECT trigger_id, max(trigger_name) name, outcome, count(*) n    "   \
        " FROM trigger_deliveries     WHERE decided_at >= now() - $2::int * interval "   \
        "'1 minute'     GROUP BY trigger_id, outcome) d)))::text"
// clang-format on

static int add_check(json_t *checks, json_t *flipped, const char *name, int level,
                     json_int_t value, json_int_t threshold, const char *msg)
{
        json_array_append_new(checks,
                              json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", name,
                                        "status", level_str[level], "value", value,
                                        "threshold", threshold, "message", msg));
        if (level != OK)
                json_array_append_new(flipped, json_string(name));
        return level;
}

static json_int_t int_at(json_t *o, const char *a, const char *b)
{
        json_t *v = json_object_get(o, a);
        return json_integer_value(b ? json_object_get(v, b) : v);
}

int sl__adm_health(sl_adm_req_t *req)
{
        static const char *const allowed[] = {NULL};
        sl_admin_t *adm = req->adm;
        const sl_conf_t *conf = adm->conf;
        char errstr[512], ms[24], mins[16], msg[256], name[300];
        const char *params[2] = {ms, mins};
        json_t *pgsnap = NULL, *storage = NULL, *lag, *checks = json_array(),
               *flipped = json_array(), *body;
        int worst = OK, status, l;
        sl_pg_session_t *ses;
        time_t now = time(NULL);
        struct tm tm;
        char taken[32];

        if ((status = sl__adm_params_check(req, allowed)))
                return status;
        gmtime_r(&now, &tm);
        strftime(taken, sizeof(taken), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(ms, sizeof(ms), "%" PRId64,
                 sl_conf_get_int(conf, "admin.health.retries.overdue.ms"));
        snprintf(mins, sizeof(mins), "%" PRId64,
                 sl_conf_get_int(conf, "admin.health.window.minutes"));

        /* Postgres: its failure is a check of its own, not an error of the route. */
        errstr[0] = '\0';
        {
                char perr[512] = "";
                ses = NULL;
                /* sl__adm_session_get() would answer 503 itself: take the pool's slot
                 * through a query of our own instead. */
                if (sl__adm_pg_ready(adm)) {
                        ses = sl__adm_session_get(req);
                        if (ses) {
                                PGresult *res = sl__adm_exec(ses, HEALTH_SQL, 2, params,
                                                             perr, sizeof(perr));
                                json_error_t jerr;
                                if (res && PQresultStatus(res) == PGRES_TUPLES_OK &&
                                    PQntuples(res) == 1)
                                        pgsnap =
                                            json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
                                PQclear(res);
                                if (pgsnap) { /* storage health (docs/history.md) */
                                        char after[16];
                                        const char *sp[1] = {after};
                                        snprintf(after, sizeof(after), "%d",
                                                 sl__adm_maint_after_days(adm->maint));
                                        res = sl__adm_exec(ses, SL_HISTORY_STATS_SQL, 1,
                                                           sp, perr, sizeof(perr));
                                        if (res &&
                                            PQresultStatus(res) == PGRES_TUPLES_OK &&
                                            PQntuples(res) == 1)
                                                storage = json_loads(
                                                    PQgetvalue(res, 0, 0), 0, &jerr);
                                        PQclear(res);
                                }
                                sl__adm_session_put(adm, ses);
                        } else {
                                return req->status;
                        }
                }
        }
        worst = add_check(checks, flipped, "postgres", pgsnap ? OK : CRITICAL, 0, 0,
                          pgsnap ? "Postgres answers" : "Postgres is unreachable");

        lag = sl__adm_lag(adm, errstr, sizeof(errstr));
        l = add_check(checks, flipped, "kafka", lag ? OK : CRITICAL, 0, 0,
                      lag ? "the broker answers" : errstr);
        worst = l > worst ? l : worst;
        if (lag) {
                int64_t deg = sl_conf_get_int(conf, "admin.health.lag.degraded"),
                        crit = sl_conf_get_int(conf, "admin.health.lag.critical");
                size_t i;
                json_t *g;
                json_array_foreach(lag, i, g)
                {
                        json_int_t v = json_integer_value(json_object_get(g, "lag"));
                        const char *gid = json_string_value(json_object_get(g, "group"));
                        if (!json_is_true(json_object_get(g, "active")))
                                continue; /* never committed: not deployed */
                        l = crit && v >= crit ? CRITICAL
                            : deg && v >= deg ? DEGRADED
                                              : OK;
                        snprintf(name, sizeof(name), "lag:%s", gid);
                        snprintf(msg, sizeof(msg), "%lld records behind", (long long)v);
                        l = add_check(checks, flipped, name, l, v,
                                      l == CRITICAL ? crit : deg, msg);
                        worst = l > worst ? l : worst;
                }
        }
        if (pgsnap) {
                int64_t stale = sl_conf_get_int(conf, "admin.health.heartbeat.stale.ms"),
                        dlqd = sl_conf_get_int(conf, "admin.health.dlq.hour.degraded"),
                        ovd = sl_conf_get_int(conf,
                                              "admin.health.retries.overdue.degraded"),
                        brk =
                            sl_conf_get_int(conf, "admin.health.breakers.open.degraded");
                size_t i;
                json_t *s;
                json_int_t v;

                json_array_foreach(json_object_get(pgsnap, "stages"), i, s)
                {
                        if (!stale)
                                break;
                        v = json_integer_value(json_object_get(s, "beat_age_ms"));
                        snprintf(name, sizeof(name), "heartbeat:%s",
                                 json_string_value(json_object_get(s, "stage")));
                        snprintf(msg, sizeof(msg), "newest heartbeat %lld ms ago",
                                 (long long)v);
                        l = add_check(checks, flipped, name, v >= stale ? DEGRADED : OK,
                                      v, stale, msg);
                        worst = l > worst ? l : worst;
                }
                if (dlqd) {
                        v = int_at(pgsnap, "dlq", "last_hour");
                        snprintf(msg, sizeof(msg), "%lld dead letters in the last hour",
                                 (long long)v);
                        l = add_check(checks, flipped, "dlq_last_hour",
                                      v >= dlqd ? DEGRADED : OK, v, dlqd, msg);
                        worst = l > worst ? l : worst;
                }
                if (ovd) {
                        v = int_at(pgsnap, "retries", "overdue");
                        snprintf(msg, sizeof(msg), "%lld retries overdue", (long long)v);
                        l = add_check(checks, flipped, "retries_overdue",
                                      v >= ovd ? DEGRADED : OK, v, ovd, msg);
                        worst = l > worst ? l : worst;
                }
                if (brk) {
                        json_t *b;
                        v = 0;
                        json_array_foreach(json_object_get(pgsnap, "breakers"), i, b)
                        {
                                const char *st =
                                    json_string_value(json_object_get(b, "state"));
                                v += st && strcmp(st, "open") == 0;
                        }
                        snprintf(msg, sizeof(msg), "%lld trigger breakers open",
                                 (long long)v);
                        l = add_check(checks, flipped, "breakers_open",
                                      v >= brk ? DEGRADED : OK, v, brk, msg);
                        worst = l > worst ? l : worst;
                }
        }
        if (storage) {
                int64_t stale =
                            sl_conf_get_int(conf, "admin.health.maintenance.stale.ms"),
                        bl = sl_conf_get_int(conf,
                                             "admin.health.archive.backlog.degraded");
                json_t *runs = json_object_get(storage, "runs");
                json_int_t v;

                for (int k = 0; k < 2 && stale; k++) {
                        const char *kind = k ? "retention" : "archive";
                        json_t *age =
                            json_object_get(json_object_get(runs, kind), "last_ok_age_s");
                        if (k == 0 && sl__adm_maint_after_days(adm->maint) == 0)
                                continue; /* archiving off */
                        snprintf(name, sizeof(name), "maintenance:%s", kind);
                        if (!json_is_integer(age)) {
                                l = add_check(checks, flipped, name, OK, -1, stale,
                                              "no successful run recorded yet");
                        } else {
                                v = json_integer_value(age) * 1000;
                                snprintf(msg, sizeof(msg),
                                         "newest successful %s run %lld s ago", kind,
                                         (long long)(v / 1000));
                                l = add_check(checks, flipped, name,
                                              v >= stale ? DEGRADED : OK, v, stale, msg);
                        }
                        worst = l > worst ? l : worst;
                }
                /* The rollups, when sluice-admin advances them: the newest advance
                 * that did its work (any instance), against the same threshold. */
                for (int k = 0;
                     k < 2 && stale && sl_conf_get_int(conf, "rollup.interval.ms"); k++) {
                        const char *rk = k ? "deliveries" : "events";
                        json_t *age = json_object_get(
                            json_object_get(json_object_get(storage, "rollups"), rk),
                            "last_ok_age_s");
                        snprintf(name, sizeof(name), "rollup:%s", rk);
                        v = json_is_integer(age) ? json_integer_value(age) * 1000 : -1;
                        snprintf(msg, sizeof(msg), "newest %s rollup advance %lld s ago",
                                 rk, (long long)(v / 1000));
                        l = add_check(checks, flipped, name, v >= stale ? DEGRADED : OK,
                                      v, stale, msg);
                        worst = l > worst ? l : worst;
                }
                if (bl && sl__adm_maint_after_days(adm->maint) > 0) {
                        v = json_integer_value(
                            json_object_get(storage, "archive_backlog"));
                        snprintf(msg, sizeof(msg),
                                 "%lld days past archive.after.days still live",
                                 (long long)v);
                        l = add_check(checks, flipped, "archive_backlog",
                                      v >= bl ? DEGRADED : OK, v, bl, msg);
                        worst = l > worst ? l : worst;
                }
        }
        body = json_pack("{s:s, s:s, s:o, s:o}", "status", level_str[worst], "taken_at",
                         taken, "flipped", flipped, "checks", checks);
        json_object_set_new(body, "lag", lag ? lag : json_null());
        json_object_set_new(body, "storage", storage ? storage : json_null());
        if (pgsnap) {
                const char *k;
                json_t *v;
                json_object_foreach(pgsnap, k, v)
                {
                        json_object_set(body, k, v);
                }
                json_decref(pgsnap);
        }
        return sl__adm_json(req, 200, body);
}
