/*
 * Replay (replay.h): the selection as one parameterised statement per kind (ids or a
 * filter, the selection JSON itself a parameter), the replay's envelope built in SQL,
 * the publish loop with its delivery accounting, the dry run on the triggers snapshot,
 * and the job loop (claim, batches, cursor, cancellation).
 */
#include "history/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg/triggers_watch.h"
#include "sluice/err.h"
#include "trigger/filter.h"
#include "trigger/launch_id.h"
#include "util/clock.h"
#include "util/uuid.h"

#define BATCH_MAX  200 /* events a job publishes between cursor updates */
#define DRY_BATCH  1000
#define LOCK_CLASS "1936487780" /* 'sluc' + 1: replay jobs, by id */

/* The namespace of job replay ids: UUIDv5(ns, "<job id>/<original id>"). */
static const uint8_t replay_ns[16] = {0x6e, 0x1f, 0x4a, 0x52, 0x8b, 0x3c, 0x4d, 0x0e,
                                      0x9a, 0x51, 0x2f, 0x7c, 0x31, 0xd2, 0xe8, 0x44};

// clang-format off
#define SELECT_ROWS                                                                      \
        "SELECT id::text, source, json_build_object('type', type, 'source', source, "    \
        "'occurred_at', (extract(epoch FROM occurred_at) * 1000)::bigint, 'payload', "   \
        "payload, 'correlation_id', correlation_id, 'metadata', metadata || "            \
        "jsonb_build_object('sluice.replay_of', id::text, 'sluice.replayed_by', "        \
        "$2::text))::text, occurred_at::text FROM workflow_events "
/* $1 selection, $3 asof, $4 cursor_at, $5 cursor_id, $6 limit */
#define WHERE_IDS                                                                        \
        "WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb -> 'ids'))"     \
        "::uuid[]) "
#define WHERE_FILTER                                                                     \
        "WHERE occurred_at >= ($1::jsonb ->> 'from')::timestamptz "                      \
        "AND occurred_at < ($1::jsonb ->> 'to')::timestamptz "                           \
        "AND ($1::jsonb ->> 'type' IS NULL OR type = $1::jsonb ->> 'type') "             \
        "AND ($1::jsonb ->> 'source' IS NULL OR source = $1::jsonb ->> 'source') "       \
        "AND ($1::jsonb ->> 'status' IS NULL OR status = $1::jsonb ->> 'status') "       \
        "AND ($1::jsonb ->> 'correlation_id' IS NULL "                                   \
        "     OR correlation_id = $1::jsonb ->> 'correlation_id') "
#define WHERE_REST                                                                       \
        "AND received_at < $3::timestamptz "                                             \
        "AND ($4::timestamptz IS NULL OR (occurred_at, id) > ($4::timestamptz, "         \
        "$5::uuid)) ORDER BY occurred_at, id LIMIT $6"
// clang-format on

static const char *const fetch_sql[2] = {SELECT_ROWS WHERE_FILTER WHERE_REST,
                                         SELECT_ROWS WHERE_IDS WHERE_REST};

#define COUNT_WHERE_REST "AND received_at < $2::timestamptz"
static const char *const count_sql[2] = {
    "SELECT count(*) FROM workflow_events " WHERE_FILTER COUNT_WHERE_REST,
    "SELECT count(*) FROM workflow_events " WHERE_IDS COUNT_WHERE_REST};

// clang-format off
#define TSZ(col, fmt) "to_char(" col " AT TIME ZONE 'UTC', '" fmt "')"
#define MS "YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\""
const char sl_replay_jobs_json_sql[] =
    "SELECT coalesce(json_agg(json_build_object('id', id, 'state', state, "
    "'created_at', " TSZ("created_at", MS) ", 'created_by', created_by, "
    "'reason', reason, 'filter', filter, 'rate', rate, 'selected', selected, "
    "'published', published, 'failed', failed, "
    "'cursor', CASE WHEN cursor_at IS NULL THEN NULL ELSE json_build_object("
    "'occurred_at', " TSZ("cursor_at", "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"") ", "
    "'id', cursor_id) END, 'runner', runner, 'error', error, "
    "'started_at', " TSZ("started_at", MS) ", "
    "'finished_at', " TSZ("finished_at", MS) ") ORDER BY id DESC), '[]')::text "
    "FROM (SELECT * FROM replay_jobs WHERE ($1::bigint IS NULL OR id = $1::bigint) "
    "ORDER BY id DESC LIMIT $2::int) j";
// clang-format on

/* Delivery accounting of one batch (each message's opaque). */
typedef struct batch_dr_s {
        atomic_int pending, failed;
} batch_dr_t;

void sl_replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        batch_dr_t *dr = m->_private;

        (void)rk, (void)opaque;
        if (!dr)
                return;
        if (m->err)
                atomic_fetch_add(&dr->failed, 1);
        atomic_fetch_sub(&dr->pending, 1);
}

static int pg_fail(PGconn *pg, PGresult *res, char *errstr, size_t errstr_size)
{
        const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);

        snprintf(errstr, errstr_size, "%.*s", (int)strcspn(msg, "\n"), msg);
        PQclear(res);
        return SL_ERR_PG;
}

/* One statement that returns rows (or none): SL_OK and *out, or SL_ERR_PG. */
static int query(PGconn *pg, const char *sql, int n, const char *const *params,
                 PGresult **out, char *errstr, size_t errstr_size)
{
        PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
                return pg_fail(pg, res, errstr, errstr_size);
        if (out)
                *out = res;
        else
                PQclear(res);
        return SL_OK;
}

static bool is_ids(const char *sel_json)
{
        json_t *sel = json_loads(sel_json, 0, NULL);
        bool ids = sel && json_object_get(sel, "ids");

        json_decref(sel);
        return ids;
}

static bool rfc3339(const char *s)
{
        int y, mo, d, h, mi, se, n = 0;

        if (!s ||
            sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
            n != 19)
                return false;
        s += 19;
        if (*s == '.')
                for (s++; *s >= '0' && *s <= '9'; s++)
                        ;
        if (*s == 'Z')
                return s[1] == '\0';
        return (*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':';
}

int sl_replay_filter_check(const json_t *sel, char *errstr, size_t errstr_size)
{
        static const char *const fkeys[] = {"from",   "to",     "type",
                                            "source", "status", "correlation_id"};
        json_t *ids = json_object_get(sel, "ids");
        const char *k;
        json_t *v;

        if (!json_is_object(sel)) {
                snprintf(errstr, errstr_size, "the selection must be an object");
                return SL_ERR_INVALID;
        }
        if (ids) {
                size_t i;
                if (json_object_size(sel) != 1 || !json_is_array(ids) ||
                    json_array_size(ids) == 0) {
                        snprintf(errstr, errstr_size,
                                 "ids must be a non-empty array of event ids, alone");
                        return SL_ERR_INVALID;
                }
                json_array_foreach(ids, i, v)
                {
                        if (!json_is_string(v) || !sl_uuid_valid(json_string_value(v))) {
                                snprintf(errstr, errstr_size,
                                         "ids must be event ids (UUIDs)");
                                return SL_ERR_INVALID;
                        }
                }
                return SL_OK;
        }
        json_object_foreach((json_t *)sel, k, v)
        {
                bool known = false;
                for (size_t i = 0; i < sizeof(fkeys) / sizeof(fkeys[0]); i++)
                        known = known || strcmp(k, fkeys[i]) == 0;
                if (!known) {
                        snprintf(errstr, errstr_size, "unknown filter field '%.64s'", k);
                        return SL_ERR_INVALID;
                }
                if (!json_is_string(v) || json_string_length(v) == 0 ||
                    json_string_length(v) > 1000 ||
                    strlen(json_string_value(v)) != json_string_length(v)) {
                        snprintf(errstr, errstr_size,
                                 "filter.%s must be non-empty text of at most 1000 bytes",
                                 k);
                        return SL_ERR_INVALID;
                }
        }
        if (!rfc3339(json_string_value(json_object_get(sel, "from"))) ||
            !rfc3339(json_string_value(json_object_get(sel, "to")))) {
                snprintf(errstr, errstr_size,
                         "a replay by filter needs filter.from and filter.to, RFC 3339 "
                         "timestamps");
                return SL_ERR_INVALID;
        }
        return SL_OK;
}

int sl_replay_fetch(PGconn *pg, const char *sel_json, const char *by, const char *asof,
                    const char *cursor_at, const char *cursor_id, int64_t limit,
                    PGresult **out, char *errstr, size_t errstr_size)
{
        char lim[24];
        const char *params[6] = {sel_json, by, asof, cursor_at, cursor_id, lim};

        snprintf(lim, sizeof(lim), "%lld", (long long)limit);
        return query(pg, fetch_sql[is_ids(sel_json)], 6, params, out, errstr,
                     errstr_size);
}

int sl_replay_publish(const sl_replay_out_t *out, PGresult *rows, int64_t job_id,
                      void (*pace)(void *opaque, int64_t i), void *pace_opaque,
                      json_t *new_ids, int64_t *published, int64_t *failed, char *errstr,
                      size_t errstr_size)
{
        batch_dr_t dr;
        int64_t bad = 0, start;
        int n = PQntuples(rows);

        atomic_init(&dr.pending, 0);
        atomic_init(&dr.failed, 0);
        for (int r = 0; r < n; r++) {
                const char *orig = PQgetvalue(rows, r, 0), *src = PQgetvalue(rows, r, 1);
                const char *js = PQgetvalue(rows, r, 2);
                sl_envelope_t env;
                rd_kafka_headers_t *hdrs;
                rd_kafka_resp_err_t kerr;
                char why[256];
                void *buf = NULL;
                size_t len = 0;

                if (pace)
                        pace(pace_opaque, r);
                sl_envelope_init(&env);
                if (sl_envelope_from_json(js, strlen(js), &env, why, sizeof(why)) !=
                    SL_OK) {
                        bad++;
                        continue;
                }
                if (job_id > 0) {
                        char name[64];
                        uint8_t u[16];
                        int len2 = snprintf(name, sizeof(name), "%lld/%s",
                                            (long long)job_id, orig);
                        sl_uuid_v5(replay_ns, name, (size_t)len2, u);
                        sl_uuid_format(u, env.id);
                }
                if (new_ids)
                        json_array_append_new(
                            new_ids,
                            json_pack("{s:s, s:s}", "original_id", orig, "id", env.id));
                if (sl_envelope_encode(out->codec, &env, &buf, &len) != SL_OK) {
                        sl_envelope_clear(&env);
                        bad++;
                        continue;
                }
                sl_envelope_clear(&env);
                hdrs = rd_kafka_headers_new(1);
                rd_kafka_header_add(hdrs, SL_REPLAY_HDR, -1, orig, -1);
                atomic_fetch_add(&dr.pending, 1);
                for (;;) {
                        kerr = rd_kafka_producev(
                            out->producer, RD_KAFKA_V_TOPIC(out->topic),
                            RD_KAFKA_V_KEY(src, strlen(src)), RD_KAFKA_V_VALUE(buf, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&dr),
                            RD_KAFKA_V_END);
                        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                break;
                        rd_kafka_poll(out->producer, 100);
                }
                if (kerr) {
                        atomic_fetch_sub(&dr.pending, 1);
                        atomic_fetch_add(&dr.failed, 1);
                        rd_kafka_headers_destroy(hdrs);
                        free(buf);
                }
        }
        start = sl_mono_ms();
        while (atomic_load(&dr.pending) > 0 &&
               sl_mono_ms() - start < out->flush_timeout_ms)
                rd_kafka_flush(out->producer, 100);
        /* Still pending at the deadline: the reports must not outlive dr, so wait them
         * out (librdkafka times messages out itself). */
        while (atomic_load(&dr.pending) > 0)
                rd_kafka_flush(out->producer, 100);
        *failed = bad + atomic_load(&dr.failed);
        *published = n - *failed;
        (void)errstr, (void)errstr_size;
        return SL_OK;
}

int sl_replay_dry_run(PGconn *pg, const char *sel_json, const char *asof, json_t **out,
                      char *errstr, size_t errstr_size)
{
        sl_triggers_t *ts = NULL;
        const sl_trigger_t **cand = NULL;
        int64_t *matched = NULL, count = 0;
        char cat[64] = "", cid[40] = "";
        PGresult *res = NULL;
        size_t nt, cap;
        int err = SL_OK;

        *out = NULL;
        ts = sl_triggers_load(pg, errstr, errstr_size);
        if (!ts)
                return SL_ERR_PG;
        nt = sl_triggers_count(ts);
        cap = sl_triggers_max_candidates(ts) + 1;
        cand = calloc(cap, sizeof(*cand));
        matched = calloc(nt + 1, sizeof(*matched));
        if (!cand || !matched) {
                snprintf(errstr, errstr_size, "out of memory");
                err = SL_ERR_NOMEM;
                goto out;
        }
        for (;;) {
                int n;
                if ((err = sl_replay_fetch(pg, sel_json, "dry-run", asof,
                                           *cat ? cat : NULL, *cid ? cid : NULL,
                                           DRY_BATCH, &res, errstr, errstr_size)))
                        goto out;
                n = PQntuples(res);
                for (int r = 0; r < n; r++) {
                        const char *js = PQgetvalue(res, r, 2);
                        sl_envelope_t env;
                        json_t *payload = NULL;
                        bool parsed = false;
                        char why[256];
                        size_t nc;

                        count++;
                        sl_envelope_init(&env);
                        if (sl_envelope_from_json(js, strlen(js), &env, why,
                                                  sizeof(why)) != SL_OK)
                                continue;
                        nc = sl_triggers_candidates(ts, env.type, env.source, cand, cap);
                        for (size_t c = 0; c < nc && c < cap; c++) {
                                const sl_trigger_t *t = cand[c];
                                if (!t->def.enabled)
                                        continue;
                                if (t->filter && sl_filter_uses_payload(t->filter) &&
                                    !parsed) {
                                        payload = json_loadb(env.payload, env.payload_len,
                                                             0, NULL);
                                        parsed = true;
                                }
                                /* As the match stage: a payload that does not parse
                                 * matches no filter that reads it. */
                                if (t->filter && sl_filter_uses_payload(t->filter) &&
                                    !payload)
                                        continue;
                                if (!t->filter ||
                                    sl_filter_eval(t->filter, &env, payload))
                                        matched[sl_triggers_index(ts, t)]++;
                        }
                        json_decref(payload);
                        sl_envelope_clear(&env);
                }
                if (n > 0) {
                        snprintf(cat, sizeof(cat), "%s", PQgetvalue(res, n - 1, 3));
                        snprintf(cid, sizeof(cid), "%s", PQgetvalue(res, n - 1, 0));
                }
                PQclear(res);
                res = NULL;
                if (n < DRY_BATCH)
                        break;
        }
        {
                json_t *arr = json_array();
                for (size_t i = 0; i < nt; i++) {
                        const sl_trigger_t *t = sl_triggers_at(ts, i);
                        if (!t->def.enabled)
                                continue;
                        json_array_append_new(
                            arr, json_pack("{s:s, s:s, s:I}", "name", t->def.name, "id",
                                           t->def.id, "matched", (json_int_t)matched[i]));
                }
                *out =
                    json_pack("{s:I, s:o}", "count", (json_int_t)count, "triggers", arr);
        }
out:
        PQclear(res);
        free(cand);
        free(matched);
        sl_triggers_destroy(ts);
        return err;
}

int sl_replay_job_create(PGconn *pg, const char *sel_json, const char *by,
                         const char *reason, int64_t rate, int64_t *id, char *errstr,
                         size_t errstr_size)
{
        char r[24];
        const char *params[4] = {sel_json, by, reason, r};
        PGresult *res = NULL;
        int err;

        snprintf(r, sizeof(r), "%lld", (long long)rate);
        err = query(pg,
                    "INSERT INTO replay_jobs (filter, created_by, reason, rate) "
                    "VALUES ($1::jsonb, $2, $3, $4::int) RETURNING id",
                    4, params, &res, errstr, errstr_size);
        if (err)
                return err;
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return SL_OK;
}

/* Pacing: event i of the job (counting from the run's start) is not sent before
 * t0 + i * 1000 / rate ms. */
typedef struct pacer_s {
        int64_t t0, base, rate;
        volatile sig_atomic_t *stop;
} pacer_t;

static void pace(void *opaque, int64_t i)
{
        pacer_t *p = opaque;
        int64_t due = p->t0 + (p->base + i) * 1000 / p->rate;

        for (int64_t now = sl_mono_ms(); now < due && !(p->stop && *p->stop);
             now = sl_mono_ms()) {
                int64_t w = due - now < 100 ? due - now : 100;
                struct timespec ts = {w / 1000, (w % 1000) * 1000000};
                nanosleep(&ts, NULL);
        }
}

static void set_error(PGconn *pg, const char *idtxt, const char *what)
{
        const char *params[2] = {idtxt, what};
        PQclear(PQexecParams(pg,
                             "UPDATE replay_jobs SET error = $2, updated_at = now() "
                             "WHERE id = $1::bigint",
                             2, NULL, params, NULL, NULL, 0));
}

int sl_replay_job_run(PGconn *pg, const sl_replay_out_t *out, int64_t id,
                      const char *runner, volatile sig_atomic_t *stop, char *errstr,
                      size_t errstr_size)
{
        char idtxt[24], cat[64] = "", cid[40] = "", asof[64], *sel = NULL, *by = NULL;
        const char *p_id[1] = {idtxt};
        PGresult *res = NULL;
        pacer_t pc = {0};
        int err = SL_OK;
        bool locked = false;

        snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
        if ((err = query(pg, "SELECT pg_try_advisory_lock(" LOCK_CLASS ", $1::int)", 1,
                         p_id, &res, errstr, errstr_size)))
                return err;
        locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        res = NULL;
        if (!locked) {
                snprintf(errstr, errstr_size,
                         "replay job %lld is being run by another runner", (long long)id);
                return SL_ERR_DUPLICATE;
        }
        {
                const char *p_claim[2] = {idtxt, runner};
                if ((err =
                         query(pg,
                               "UPDATE replay_jobs SET state = 'running', runner = $2, "
                               "error = NULL, started_at = coalesce(started_at, now()), "
                               "updated_at = now() WHERE id = $1::bigint "
                               "AND state IN ('pending', 'running') RETURNING "
                               "filter::text, created_by, created_at::text, rate, "
                               "cursor_at::text, cursor_id::text, published, "
                               "selected IS NULL",
                               2, p_claim, &res, errstr, errstr_size)))
                        goto out;
        }
        if (PQntuples(res) == 0) {
                PGresult *r2 = NULL;
                err = query(pg, "SELECT state FROM replay_jobs WHERE id = $1::bigint", 1,
                            p_id, &r2, errstr, errstr_size);
                if (!err) {
                        if (PQntuples(r2))
                                snprintf(errstr, errstr_size, "replay job %lld is %s",
                                         (long long)id, PQgetvalue(r2, 0, 0));
                        else
                                snprintf(errstr, errstr_size, "no replay job %lld",
                                         (long long)id);
                        err = PQntuples(r2) ? SL_ERR_STATE : SL_ERR_NOTFOUND;
                }
                PQclear(r2);
                goto out;
        }
        sel = strdup(PQgetvalue(res, 0, 0));
        by = strdup(PQgetvalue(res, 0, 1));
        snprintf(asof, sizeof(asof), "%s", PQgetvalue(res, 0, 2));
        pc.rate = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        if (!PQgetisnull(res, 0, 4)) {
                snprintf(cat, sizeof(cat), "%s", PQgetvalue(res, 0, 4));
                snprintf(cid, sizeof(cid), "%s", PQgetvalue(res, 0, 5));
        }
        if (strcmp(PQgetvalue(res, 0, 7), "t") == 0) {
                const char *p_cnt[2] = {sel, asof};
                PGresult *r2 = NULL;
                if (!sel || !by) {
                        snprintf(errstr, errstr_size, "out of memory");
                        err = SL_ERR_NOMEM;
                        goto out;
                }
                if ((err = query(pg, count_sql[is_ids(sel)], 2, p_cnt, &r2, errstr,
                                 errstr_size)))
                        goto out;
                {
                        const char *p_sel[2] = {idtxt, PQgetvalue(r2, 0, 0)};
                        err = query(pg,
                                    "UPDATE replay_jobs SET selected = $2::bigint "
                                    "WHERE id = $1::bigint",
                                    2, p_sel, NULL, errstr, errstr_size);
                }
                PQclear(r2);
                if (err)
                        goto out;
        }
        PQclear(res);
        res = NULL;
        pc.t0 = sl_mono_ms();
        pc.stop = stop;
        while (!(stop && *stop)) {
                int64_t lim = pc.rate < BATCH_MAX ? pc.rate : BATCH_MAX, pub = 0, bad = 0;
                int n;
                if ((err = sl_replay_fetch(pg, sel, by, asof, *cat ? cat : NULL,
                                           *cid ? cid : NULL, lim, &res, errstr,
                                           errstr_size)))
                        goto out;
                n = PQntuples(res);
                if (n == 0) {
                        const char *p_done[1] = {idtxt};
                        err = query(pg,
                                    "UPDATE replay_jobs SET state = 'done', runner = "
                                    "NULL, finished_at = now(), updated_at = now() "
                                    "WHERE id = $1::bigint AND state = 'running'",
                                    1, p_done, NULL, errstr, errstr_size);
                        goto out;
                }
                if ((err = sl_replay_publish(out, res, id, pace, &pc, NULL, &pub, &bad,
                                             errstr, errstr_size)))
                        goto out;
                pc.base += n;
                snprintf(cat, sizeof(cat), "%s", PQgetvalue(res, n - 1, 3));
                snprintf(cid, sizeof(cid), "%s", PQgetvalue(res, n - 1, 0));
                PQclear(res);
                res = NULL;
                if (bad) {
                        /* Not delivered: the cursor stays, the job stops (resumable). */
                        snprintf(errstr, errstr_size,
                                 "%lld of %d replays were not delivered to Kafka",
                                 (long long)bad, n);
                        set_error(pg, idtxt, errstr);
                        err = SL_ERR_KAFKA;
                        goto out;
                }
                {
                        char np[24];
                        const char *p_up[4] = {idtxt, cat, cid, np};
                        snprintf(np, sizeof(np), "%lld", (long long)pub);
                        if ((err = query(pg,
                                         "UPDATE replay_jobs SET cursor_at = "
                                         "$2::timestamptz, cursor_id = $3::uuid, "
                                         "published = published + $4::bigint, "
                                         "updated_at = now() WHERE id = $1::bigint "
                                         "RETURNING state = 'running'",
                                         4, p_up, &res, errstr, errstr_size)))
                                goto out;
                }
                /* The batch is counted even when the job was cancelled meanwhile: its
                 * events went out. */
                n = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
                PQclear(res);
                res = NULL;
                if (!n) /* cancelled meanwhile */
                        break;
        }
out:
        if (err && err != SL_ERR_STATE && err != SL_ERR_NOTFOUND &&
            err != SL_ERR_DUPLICATE && PQstatus(pg) == CONNECTION_OK)
                set_error(pg, idtxt, errstr);
        PQclear(res);
        free(sel);
        free(by);
        PQclear(PQexecParams(pg, "SELECT pg_advisory_unlock(" LOCK_CLASS ", $1::int)", 1,
                             NULL, p_id, NULL, NULL, 0));
        return err;
}

int sl_replay_job_cancel(PGconn *pg, int64_t id, char *errstr, size_t errstr_size)
{
        char idtxt[24];
        const char *p_id[1] = {idtxt};
        PGresult *res = NULL;
        int err;

        snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
        if ((err = query(pg,
                         "UPDATE replay_jobs SET state = 'cancelled', runner = NULL, "
                         "finished_at = now(), updated_at = now() WHERE id = $1::bigint "
                         "AND state IN ('pending', 'running') RETURNING id",
                         1, p_id, &res, errstr, errstr_size)))
                return err;
        if (PQntuples(res) == 1) {
                PQclear(res);
                return SL_OK;
        }
        PQclear(res);
        if ((err = query(pg, "SELECT state FROM replay_jobs WHERE id = $1::bigint", 1,
                         p_id, &res, errstr, errstr_size)))
                return err;
        if (PQntuples(res) == 0) {
                snprintf(errstr, errstr_size, "no replay job %lld", (long long)id);
                err = SL_ERR_NOTFOUND;
        } else {
                snprintf(errstr, errstr_size, "replay job %lld is already %s",
                         (long long)id, PQgetvalue(res, 0, 0));
                err = SL_ERR_STATE;
        }
        PQclear(res);
        return err;
}
