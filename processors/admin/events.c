/*
 * The event routes: GET /admin/events (filters, keyset pagination newest first),
 * GET /admin/events/{id} (the event's whole story) and GET /admin/dlq.
 *
 * Pagination is keyset, never OFFSET: a page is the rows strictly older than the
 * cursor's (time, key) in (time DESC, key DESC) order, so rows that arrive while a
 * client pages through are never repeated or skipped among those that were there
 * (a newer row sorts before the first page; an older one, a late arrival, is in the
 * pages still to come).  The cursor is opaque to clients (base64url text).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX     1000

/* A WHERE clause and its parameters, all text. */
typedef struct where_s {
        char sql[2048];
        const char *params[16];
        int n;
} where_t;

/* Adds " AND <fmt with $N>" where fmt holds one %d per use of the parameter. */
static void where_add(where_t *w, const char *fmt, const char *val)
{
        size_t used = strlen(w->sql);
        int n = ++w->n;

        w->params[n - 1] = val;
        snprintf(w->sql + used, sizeof(w->sql) - used, " AND ");
        used = strlen(w->sql);
        snprintf(w->sql + used, sizeof(w->sql) - used, fmt, n, n, n);
}

static int bad(sl_adm_req_t *req, const char *what)
{
        return sl__adm_problem(req, 400, "invalid-parameter", "Bad Request", NULL, "%s",
                               what);
}

/* The time range filters (from, to: RFC 3339) on col. */
static int time_range(sl_adm_req_t *req, where_t *w, const char *col)
{
        const char *from = sl__adm_param(req, "from"), *to = sl__adm_param(req, "to");
        char fmt[128];

        if (from && !sl__adm_is_rfc3339(from))
                return bad(req, "from must be an RFC 3339 timestamp");
        if (to && !sl__adm_is_rfc3339(to))
                return bad(req, "to must be an RFC 3339 timestamp");
        if (from) {
                snprintf(fmt, sizeof(fmt), "%s >= $%%d::timestamptz", col);
                where_add(w, fmt, from);
        }
        if (to) {
                snprintf(fmt, sizeof(fmt), "%s < $%%d::timestamptz", col);
                where_add(w, fmt, to);
        }
        return 0;
}

/* Runs "SELECT row_json, micros, key FROM ... LIMIT limit+1" and answers
 * {"<name>": [...], "next_cursor": ...}. */
static int page(sl_adm_req_t *req, const char *name, const char *select, where_t *w,
                const char *order, int limit)
{
        char sql[6144], lim[16], cursor[256];
        json_t *items = json_array(), *body;
        PGresult *res;
        int status, rows;

        snprintf(lim, sizeof(lim), "%d", limit + 1);
        w->params[w->n] = lim;
        snprintf(sql, sizeof(sql), "%s WHERE true%s ORDER BY %s LIMIT $%d", select,
                 w->sql, order, w->n + 1);
        status = sl__adm_query(req, sql, w->n + 1, w->params, &res);
        if (status) {
                json_decref(items);
                return status;
        }
        rows = PQntuples(res);
        for (int r = 0; r < rows && r < limit; r++) {
                json_error_t jerr;
                json_t *it = json_loads(PQgetvalue(res, r, 0), 0, &jerr);
                if (it)
                        json_array_append_new(items, it);
        }
        body = json_object();
        json_object_set_new(body, name, items);
        if (rows > limit) {
                sl__adm_cursor_encode(PQgetvalue(res, limit - 1, 1),
                                      PQgetvalue(res, limit - 1, 2), cursor,
                                      sizeof(cursor));
                json_object_set_new(body, "next_cursor", json_string(cursor));
        } else {
                json_object_set_new(body, "next_cursor", json_null());
        }
        PQclear(res);
        return sl__adm_json(req, 200, body);
}

/* Equality filters: each query parameter given adds its condition ("col = $%d"). */
typedef struct eq_filter_s {
        const char *param, *cond;
} eq_filter_t;

static void where_eq(sl_adm_req_t *req, where_t *w, const eq_filter_t *f)
{
        const char *v;

        for (; f->param; f++)
                if ((v = sl__adm_param(req, f->param)))
                        where_add(w, f->cond, v);
}

static bool is_bigint_key(const char *key)
{
        size_t n = strlen(key);

        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char)key[i]))
                        return false;
        return n > 0 && n <= 18;
}

/* Keyset pagination: with a cursor (the last row's time in microseconds and its key),
 * only the rows after it in the listing's order (time_col DESC, id DESC).  0, or the
 * status of the problem answered. */
static int keyset_after(sl_adm_req_t *req, where_t *w, const char *time_col,
                        const char *key_type, bool (*key_ok)(const char *), char *micros,
                        size_t micros_size, char *key, size_t key_size)
{
        const char *cur = sl__adm_param(req, "cursor");

        if (!cur)
                return 0;
        if (!sl__adm_cursor_decode(cur, micros, micros_size, key, key_size) ||
            !key_ok(key))
                return bad(req, "cursor is not one this server made");
        w->params[w->n++] = micros;
        w->params[w->n++] = key;
        snprintf(w->sql + strlen(w->sql), sizeof(w->sql) - strlen(w->sql),
                 " AND (%s, id) < ('epoch'::timestamptz + $%d::bigint * "
                 "interval '1 microsecond', $%d::%s)",
                 time_col, w->n - 1, w->n, key_type);
        return 0;
}

// clang-format off
#define EVENT_ROW                                                                        \
        "json_build_object('id', id, 'type', type, 'source', source, 'occurred_at', "    \
        SL_ADM_TS("occurred_at") ", 'received_at', " SL_ADM_TS("received_at")            \
        ", 'status', status, 'reason', reason, 'attempt', attempt, 'decided_at', "       \
        SL_ADM_TS("decided_at") ", 'correlation_id', correlation_id, 'replay_of', "      \
        "metadata->>'sluice.replay_of', 'kafka', json_build_object('partition', "        \
        "kafka_partition, 'offset', kafka_offset))"
// clang-format on

int sl__adm_events_list(sl_adm_req_t *req)
{
        static const char *const allowed[] = {"type",           "source", "status",
                                              "correlation_id", "from",   "to",
                                              "limit",          "cursor", NULL};
        static const eq_filter_t eq[] = {{"type", "type = $%d"},
                                         {"source", "source = $%d"},
                                         {"correlation_id", "correlation_id = $%d"},
                                         {NULL, NULL}};
        where_t w = {.n = 0};
        const char *v;
        char micros[32], key[64];
        int limit, status;

        if ((status = sl__adm_params_check(req, allowed)) ||
            (status = sl__adm_param_limit(req, LIMIT_DEFAULT, LIMIT_MAX, &limit)))
                return status;
        where_eq(req, &w, eq);
        if ((v = sl__adm_param(req, "status"))) {
                if (strcmp(v, "accepted") && strcmp(v, "throttled") &&
                    strcmp(v, "paused"))
                        return bad(req, "status must be accepted, throttled or paused");
                where_add(&w, "status = $%d", v);
        }
        if ((status = time_range(req, &w, "occurred_at")) ||
            (status = keyset_after(req, &w, "occurred_at", "uuid", sl__adm_is_uuid,
                                   micros, sizeof(micros), key, sizeof(key))))
                return status;
        return page(req, "events",
                    "SELECT " EVENT_ROW "::text, "
                    "(extract(epoch FROM occurred_at) * 1000000)::bigint::text, id::text "
                    "FROM workflow_events",
                    &w, "occurred_at DESC, id DESC", limit);
}

// clang-format off
#define DLQ_ROW                                                                          \
        "json_build_object('id', id, 'reason', reason, 'message', message, "             \
        "'event_id', event_id, 'event_type', event_type, 'source', source, "             \
        "'received_at', " SL_ADM_TS("received_at")                                       \
        ", 'headers', headers, 'kafka', json_build_object('topic', topic, "              \
        "'partition', kafka_partition, 'offset', kafka_offset), 'raw_bytes', "           \
        "length(raw), 'raw_base64', translate(encode(raw, 'base64'), E'\\n', ''))"
// clang-format on

int sl__adm_dlq_list(sl_adm_req_t *req)
{
        static const char *const allowed[] = {"reason",   "source", "type",
                                              "event_id", "from",   "to",
                                              "limit",    "cursor", NULL};
        static const eq_filter_t eq[] = {{"reason", "reason = $%d"},
                                         {"source", "source = $%d"},
                                         {"type", "event_type = $%d"},
                                         {"event_id", "event_id = $%d"},
                                         {NULL, NULL}};
        where_t w = {.n = 0};
        char micros[32], key[64];
        int limit, status;

        if ((status = sl__adm_params_check(req, allowed)) ||
            (status = sl__adm_param_limit(req, LIMIT_DEFAULT, LIMIT_MAX, &limit)))
                return status;
        where_eq(req, &w, eq);
        if ((status = time_range(req, &w, "received_at")) ||
            (status = keyset_after(req, &w, "received_at", "bigint", is_bigint_key,
                                   micros, sizeof(micros), key, sizeof(key))))
                return status;
        return page(req, "dead_letters",
                    "SELECT " DLQ_ROW "::text, "
                    "(extract(epoch FROM received_at) * 1000000)::bigint::text, id::text "
                    "FROM dead_letters",
                    &w, "received_at DESC, id DESC", limit);
}

/* The whole story of one event, in one statement. */
// clang-format off
#define EVENT_STORY                                                                      \
        "WITH e AS (SELECT * FROM workflow_events WHERE id = $1::uuid ORDER BY "         \
        "occurred_at DESC LIMIT 1) SELECT json_build_object('event', (SELECT "           \
        "json_build_object('id', id, 'type', type, 'source', source,   "                 \
        "'occurred_at', " SL_ADM_TS("occurred_at") ",   'received_at', "                 \
        SL_ADM_TS("received_at")                                                         \
        ",   'correlation_id', correlation_id, 'ttl_ms', ttl_ms, 'metadata', "           \
        "metadata,   'payload', payload, 'replay_of', metadata->>'sluice.replay_of', "   \
        "  'kafka', json_build_object('partition', kafka_partition,   'offset', "        \
        "kafka_offset)) FROM e), 'admission', (SELECT json_build_object('status', "      \
        "status, 'reason', reason,   'attempt', attempt, 'decided_at', "                 \
        SL_ADM_TS("decided_at")                                                          \
        ") FROM e), 'retry', (SELECT json_build_object('state', state, 'attempt', "      \
        "attempt,   'reason', reason, 'next_attempt_at', " SL_ADM_TS("next_attempt_at")  \
        ",   'created_at', " SL_ADM_TS("created_at") ",   'updated_at', "                \
        SL_ADM_TS("updated_at")                                                          \
        ", 'updated_by', updated_by,   'cancel_reason', cancel_reason, "                 \
        "'reconcile_count', reconcile_count)   FROM event_ingress_retries WHERE "        \
        "event_id = $1::uuid), 'dead_letters', (SELECT "                                 \
        "coalesce(json_agg(json_build_object('id', id,   'reason', reason, "             \
        "'message', message,   'received_at', " SL_ADM_TS("received_at")                 \
        ") ORDER BY id), '[]')   FROM dead_letters WHERE event_id = $1::text), "         \
        "'deliveries', (SELECT coalesce(json_agg(json_build_object(  'launch_id', "      \
        "launch_id, 'trigger_id', trigger_id,   'trigger_name', trigger_name, "          \
        "'workflow', workflow, 'outcome', outcome,   'first_outcome', first_outcome, "   \
        "'reason', reason, 'probe', probe,   'matched_at', " SL_ADM_TS("matched_at")     \
        ",   'decided_at', " SL_ADM_TS("decided_at") ",   'launched_at', "               \
        SL_ADM_TS("launched_at") ",   'replayed_at', " SL_ADM_TS("replayed_at")          \
        ",   'result', result, 'error', error,   'finished_at', "                        \
        SL_ADM_TS("finished_at")                                                         \
        ") ORDER BY matched_at, launch_id),   '[]') FROM trigger_deliveries WHERE "      \
        "event_id = $1::uuid), 'replays', (SELECT "                                      \
        "coalesce(json_agg(json_build_object('id', id,   'status', status, "             \
        "'received_at', " SL_ADM_TS("received_at")                                       \
        ")   ORDER BY received_at, id), '[]') FROM workflow_events   WHERE "             \
        "metadata->>'sluice.replay_of' = $1::text))::text"
// clang-format on

int sl__adm_event_get(sl_adm_req_t *req, const char *id)
{
        static const char *const allowed[] = {NULL};
        char lid[37];
        const char *params[1] = {lid};
        json_t *story;
        int status;

        if ((status = sl__adm_params_check(req, allowed)))
                return status;
        if (!sl__adm_is_uuid(id))
                return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                       "no event with that id (ids are UUIDs)");
        for (int i = 0; i < 37; i++)
                lid[i] = (char)tolower((unsigned char)id[i]);
        if ((status = sl__adm_query_json(req, EVENT_STORY, 1, params, &story)))
                return status;
        if (json_is_null(json_object_get(story, "event")) &&
            json_array_size(json_object_get(story, "dead_letters")) == 0 &&
            json_array_size(json_object_get(story, "deliveries")) == 0) {
                json_decref(story);
                return sl__adm_problem(req, 404, "not-found", "Not Found", NULL,
                                       "no event with that id");
        }
        return sl__adm_json(req, 200, story);
}
