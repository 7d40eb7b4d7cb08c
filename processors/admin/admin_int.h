/*
 * Private to sluice-admin: the server object, the request in hand and the helpers
 * every route uses (replies, problem bodies, query parameters, Postgres).
 *
 * Threads: each request runs on one of CivetWeb's worker threads; the server object
 * is read-only after start except the session pool (mutex) and the producer
 * (librdkafka is thread-safe).
 */
#ifndef SL_ADMIN_INT_H
#define SL_ADMIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <civetweb.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "admin.h"
#include "admin/tokens.h"
#include "envelope/envelope.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "pg/session.h"

/* RFC 3339 UTC text of a timestamptz column, in SQL. */
// clang-format off
#define SL_ADM_TS(col)                                                                   \
        "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
// clang-format on

#define SL_ADM_PARAMS_MAX 16
#define SL_ADM_TEXT_MAX   1000 /* longest filter value, reason, ... */

typedef struct sl_adm_pool_s {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        sl_pg_session_t **ses; /* NULL until first used */
        bool *busy;
        size_t n;
        char setup[128];
        sl_pg_session_opts_t opts;
} sl_adm_pool_t;

/* History maintenance (maintenance.c): a thread of its own, started by sl_admin_new. */
typedef struct sl__adm_maint_s sl__adm_maint_t;
/* NULL with errstr naming the key of a bad retention.* or archive.* setting. */
sl__adm_maint_t *sl__adm_maint_new(const sl_conf_t *conf, char *errstr,
                                   size_t errstr_size);
void sl__adm_maint_destroy(sl__adm_maint_t *mt); /* stops and joins; NULL-safe */
/* archive.after.days when archiving is on, else 0 (the stats' parameter). */
int sl__adm_maint_after_days(const sl__adm_maint_t *mt);
/* The sluice_history_last_* gauges (success timestamp, duration, ok) of
 * kind="<kind>": maintenance.c's run kinds and rollups.c's rollups report through the
 * same three metrics, so one place names them and says what they mean. */
void sl__adm_last_run_gauges(const char *kind, sl_metric_t **ok, sl_metric_t **dur,
                             sl_metric_t **result);

typedef struct sl_adm_rollups_s sl_adm_rollups_t; /* rollups.c */
typedef struct sl_adm_replays_s sl_adm_replays_t; /* replays.c */

struct sl_admin_s {
        const sl_conf_t *conf;
        sl__adm_maint_t *maint;    /* the thread running history maintenance */
        sl_adm_rollups_t *rollups; /* the thread advancing the rollups */
        sl_adm_replays_t *replays; /* the thread running replay jobs */
        sl_admin_tokens_t toks;
        sl_http_t *http;
        sl_adm_pool_t pool;
        rd_kafka_t *producer; /* replays */
        rd_kafka_t *meta;     /* watermarks and metadata */
        rd_kafka_t **groups;  /* one never-subscribing consumer per group */
        char (*group_ids)[256];
        size_t ngroups;
        pthread_mutex_t lag_mu; /* one lag snapshot at a time */
        sl_codec_t *codec;
        char topic_in[256];
        int64_t max_body, kafka_timeout_ms, query_timeout_ms, replay_max;
        sl_metric_t *m_requests[6]; /* by status class 1xx..5xx, [0] unused */
        sl_metric_t *m_auth_failures, *m_replayed, *m_latency;
        struct sl_adm_stream_s *stream; /* the live stream (stream.c) */
};

/* One parsed query parameter (decoded, NUL-free UTF-8). */
typedef struct sl_adm_param_s {
        char *key, *val;
} sl_adm_param_t;

typedef struct sl_adm_req_s {
        struct mg_connection *conn;
        sl_admin_t *adm;
        const sl_admin_token_t *tok; /* after authentication */
        const char *method;
        const char *path; /* the raw request path (problem "instance") */
        sl_adm_param_t params[SL_ADM_PARAMS_MAX];
        size_t nparams;
        int status; /* what was answered */
        bool ws;    /* a WebSocket upgrade: the token may come as a subprotocol */
} sl_adm_req_t;

/* The request's life (admin.c), for the WebSocket connect handler too: the token
 * (Authorization: Bearer, or for req->ws the subprotocol "bearer.<base64url>"), 401/403
 * problems sent; the query string into req->params (400 sent); release the params;
 * count an answer in sluice_admin_requests_total.  0 or the status sent. */
int sl__adm_authenticate(sl_adm_req_t *req, unsigned scope);
int sl__adm_parse_query(sl_adm_req_t *req, const char *qs);
void sl__adm_params_free(sl_adm_req_t *req);
void sl__adm_count_status(sl_admin_t *adm, int status);

/* Replies.  Each returns the status sent.  body is taken over. */
int sl__adm_json(sl_adm_req_t *req, int status, json_t *body);
/* An RFC 9457 problem (application/problem+json): type urn:sluice:problem:<slug>,
 * title, status, detail (printf), instance the request path.  extra_header: one more
 * header line without CRLF, or NULL. */
int sl__adm_problem(sl_adm_req_t *req, int status, const char *slug, const char *title,
                    const char *extra_header, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Query parameters.  Only the names in allowed (NULL-terminated) may appear, each at
 * most once: otherwise a 400 problem is sent and the status returned; 0 when fine. */
int sl__adm_params_check(sl_adm_req_t *req, const char *const *allowed);
const char *sl__adm_param(const sl_adm_req_t *req, const char *key); /* NULL: absent */
/* limit: 1..1000, default def; 0 or the status of the 400 sent. */
int sl__adm_param_limit(sl_adm_req_t *req, int def, int max, int *out);
/* A strict RFC 3339 timestamp (2024-01-02T03:04:05[.fff]Z or with an offset). */
bool sl__adm_is_rfc3339(const char *s);
/* A canonical UUID (any case). */
bool sl__adm_is_uuid(const char *s);
/* Plain text a filter may hold: 1..max bytes, no control characters. */
bool sl__adm_is_text(const char *s, size_t max);

/* base64url without padding: encode n bytes into out (NUL-terminated, truncated to
 * size); decode len characters into out (cap bytes with the NUL): the byte count, or
 * -1 when s is not base64url or does not fit. */
void sl__adm_b64url_encode(const void *raw, size_t n, char *out, size_t size);
long sl__adm_b64url_decode(const char *s, size_t len, char *out, size_t cap);

/* The keyset cursor: "<micros since the epoch>,<key>" in base64url.  Encode into out
 * (at least 200 bytes).  Decode: false when c is not one this server made. */
void sl__adm_cursor_encode(const char *micros, const char *key, char *out, size_t size);
bool sl__adm_cursor_decode(const char *c, char *micros, size_t msize, char *key,
                           size_t ksize);

/* The request body, at most max_body bytes (413 when larger) parsed as a JSON object
 * (400 otherwise).  *out owned by the caller (json_decref).  0 or the status sent. */
int sl__adm_body_json(sl_adm_req_t *req, json_t **out);

/* Postgres through the pool.  Runs sql; on success *out is the result (caller
 * PQclear()s it) and 0 is returned; on failure a problem is sent (400 for SQLSTATE
 * class 22, 503 when Postgres is unreachable or the statement timed out, 500
 * otherwise) and its status returned. */
int sl__adm_query(sl_adm_req_t *req, const char *sql, int nparams,
                  const char *const *params, PGresult **out);
/* The same, sql returning one row with one json column: *out the parsed value. */
int sl__adm_query_json(sl_adm_req_t *req, const char *sql, int nparams,
                       const char *const *params, json_t **out);
/* A session for several statements (a transaction): NULL and a 503 sent when none
 * could be had.  Give it back with sl__adm_session_put(). */
sl_pg_session_t *sl__adm_session_get(sl_adm_req_t *req);
void sl__adm_session_put(sl_admin_t *adm, sl_pg_session_t *ses);
/* Run one statement on ses (reconnecting once when the connection was lost): the
 * result, whatever its status (NULL when out of memory); errstr set on failure. */
PGresult *sl__adm_exec(sl_pg_session_t *ses, const char *sql, int nparams,
                       const char *const *params, char *errstr, size_t errstr_size);
/* Send the problem for a failed statement (res may be NULL), as sl__adm_query does:
 * 400 for SQLSTATE class 22, 503 when Postgres is unreachable or too slow, else 500. */
int sl__adm_pg_problem(sl_adm_req_t *req, const PGresult *res, const char *errstr);
bool sl__adm_pg_ready(sl_admin_t *adm);

/* Routes. */
int sl__adm_events_list(sl_adm_req_t *req);
int sl__adm_event_get(sl_adm_req_t *req, const char *id);
int sl__adm_dlq_list(sl_adm_req_t *req);
int sl__adm_sources_list(sl_adm_req_t *req);
int sl__adm_triggers_list(sl_adm_req_t *req);
int sl__adm_health(sl_adm_req_t *req);
int sl__adm_pause(sl_adm_req_t *req, bool trigger, const char *id, bool resume);
int sl__adm_retry_cancel(sl_adm_req_t *req, const char *event_id);
int sl__adm_replay(sl_adm_req_t *req);
int sl__adm_rollups(sl_adm_req_t *req);
/* The selection of a replay body (operate.c): *sel a src/history/replay.h selection
 * (caller json_decref()s); 0 or the status of the 400 sent. */
/* An admin_audit row on ses (operate.c): 0, or -1 with errstr set; *res the result
 * (caller PQclear()s). */
int sl__adm_audit(sl_pg_session_t *ses, const char *by, const char *action,
                  const char *target, const char *detail, char *errstr, size_t size,
                  PGresult **res);
int sl__adm_replay_selection(sl_adm_req_t *req, json_t *body, json_t **sel);
int sl__adm_replay_jobs(sl_adm_req_t *req, const char *id, const char *action);

/* The rollup thread (rollups.c): started when rollup.interval.ms > 0.  NULL with
 * errstr set.  Stop: NULL-safe, joins the thread. */
sl_adm_rollups_t *sl__adm_rollups_start(const sl_conf_t *conf, char *errstr,
                                        size_t errstr_size);
void sl__adm_rollups_stop(sl_adm_rollups_t *ru);
/* The replay job runner (replays.c): runs the jobs POST /admin/replay-jobs creates. */
sl_adm_replays_t *sl__adm_replays_start(sl_admin_t *adm, char *errstr,
                                        size_t errstr_size);
void sl__adm_replays_stop(sl_adm_replays_t *rp);

/* The live stream (stream.c): GET /admin/stream over WebSocket.  _new registers the
 * WebSocket handler on adm->http and the stream metrics; NULL with errstr set (naming
 * the key for a configuration error).  _destroy closes the Kafka consumer after the
 * server has stopped (no client left).  A plain GET (no upgrade) is answered 426. */
struct sl_adm_stream_s *sl__adm_stream_new(sl_admin_t *adm, char *errstr,
                                           size_t errstr_size);
/* The handler on adm->http, once the server runs: SL_OK or SL_ERR_STATE. */
int sl__adm_stream_register(struct sl_adm_stream_s *st);
void sl__adm_stream_destroy(struct sl_adm_stream_s *st);
int sl__adm_stream_plain(sl_adm_req_t *req);
/* Query parameters of the stream (type, source: each may repeat): 0 or the 400 sent. */
int sl__adm_stream_params(sl_adm_req_t *req);

/* The status page (page.c): GET or HEAD of / and of its script and style, embedded at
 * build time.  Answers and returns the status when path is one of them (405 for
 * another method), 0 otherwise. */
int sl__adm_page(sl_adm_req_t *req, const char *path);

/* The replay producer's delivery report callback (operate.c). */
void sl__adm_replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Consumer lag of every group: {"groups":[...]} or NULL with errstr set. */
json_t *sl__adm_lag(sl_admin_t *adm, char *errstr, size_t errstr_size);
bool sl__adm_kafka_ready(sl_admin_t *adm);

#endif
