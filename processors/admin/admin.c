/*
 * The admin server: construction, the route table, authentication and the request's
 * life (admin_int.h).  Every /admin answer is JSON; every error an RFC 9457 problem.
 *
 * A request is matched to a route first (404 when none), then to the route's method
 * (405 with Allow), then authenticated: no Authorization header or a token that is
 * not configured is 401 with an RFC 6750 WWW-Authenticate challenge, a token without
 * the route's scope 403 (error="insufficient_scope").  Tokens are compared in
 * constant time (src/admin/tokens.c) and never logged; a request log line names the
 * token's NAME.  /metrics, /healthz and /readyz take no token (scrapers and probes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"

#define REALM "sluice-admin"

typedef int (*route_fn)(sl_adm_req_t *req, const char *arg, const char *arg2);

typedef struct route_s {
        const char *method;
        const char *prefix; /* the path, or its part before {arg} */
        const char *suffix; /* NULL: exact path; else the part after {arg} */
        unsigned scope;
        route_fn fn;
        const char *arg2; /* a constant the handler gets */
} route_t;

static int r_events(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_events_list(req);
}
static int r_event(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)b;
        return sl__adm_event_get(req, a);
}
static int r_dlq(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_dlq_list(req);
}
static int r_sources(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_sources_list(req);
}
static int r_triggers(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_triggers_list(req);
}
static int r_health(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_health(req);
}
static int r_pause(sl_adm_req_t *req, const char *a, const char *b)
{
        return sl__adm_pause(req, b[0] == 't', a, b[1] == 'r');
}
static int r_cancel(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)b;
        return sl__adm_retry_cancel(req, a);
}
static int r_replay(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_replay(req);
}
static int r_stream(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_stream_plain(req);
}
static int r_rollups(sl_adm_req_t *req, const char *a, const char *b)
{
        (void)a, (void)b;
        return sl__adm_rollups(req);
}
static int r_replay_jobs(sl_adm_req_t *req, const char *a, const char *b)
{
        return sl__adm_replay_jobs(req, a, b);
}

/* arg2 of the pause routes: [0] s(ource)/t(rigger), [1] p(ause)/r(esume). */
static const route_t routes[] = {
    {"GET", "/admin/events", NULL, SL_ADMIN_SCOPE_READ, r_events, NULL},
    {"GET", "/admin/events/", "", SL_ADMIN_SCOPE_READ, r_event, NULL},
    {"GET", "/admin/dlq", NULL, SL_ADMIN_SCOPE_READ, r_dlq, NULL},
    {"GET", "/admin/sources", NULL, SL_ADMIN_SCOPE_READ, r_sources, NULL},
    {"GET", "/admin/triggers", NULL, SL_ADMIN_SCOPE_READ, r_triggers, NULL},
    {"GET", "/admin/event-health", NULL, SL_ADMIN_SCOPE_READ, r_health, NULL},
    {"GET", "/admin/stream", NULL, SL_ADMIN_SCOPE_READ, r_stream, NULL},
    {"POST", "/admin/sources/", "/pause", SL_ADMIN_SCOPE_OPERATE, r_pause, "sp"},
    {"POST", "/admin/sources/", "/resume", SL_ADMIN_SCOPE_OPERATE, r_pause, "sr"},
    {"POST", "/admin/triggers/", "/pause", SL_ADMIN_SCOPE_OPERATE, r_pause, "tp"},
    {"POST", "/admin/triggers/", "/resume", SL_ADMIN_SCOPE_OPERATE, r_pause, "tr"},
    {"POST", "/admin/retries/", "/cancel", SL_ADMIN_SCOPE_OPERATE, r_cancel, NULL},
    {"POST", "/admin/replay", NULL, SL_ADMIN_SCOPE_OPERATE, r_replay, NULL},
    {"GET", "/admin/rollups", NULL, SL_ADMIN_SCOPE_READ, r_rollups, NULL},
    {"GET", "/admin/replay-jobs", NULL, SL_ADMIN_SCOPE_READ, r_replay_jobs, "list"},
    {"POST", "/admin/replay-jobs", NULL, SL_ADMIN_SCOPE_OPERATE, r_replay_jobs, "create"},
    {"GET", "/admin/replay-jobs/", "", SL_ADMIN_SCOPE_READ, r_replay_jobs, "show"},
    {"POST", "/admin/replay-jobs/", "/cancel", SL_ADMIN_SCOPE_OPERATE, r_replay_jobs,
     "cancel"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Whether path matches r; *arg (malloc'ed, caller frees) gets {arg}. */
static bool route_match(const route_t *r, const char *path, char **arg)
{
        size_t plen = strlen(r->prefix), len = strlen(path), slen;

        *arg = NULL;
        if (!r->suffix)
                return strcmp(path, r->prefix) == 0;
        if (strncmp(path, r->prefix, plen) != 0)
                return false;
        slen = strlen(r->suffix);
        if (len < plen + slen + 1 || strcmp(path + len - slen, r->suffix) != 0)
                return false;
        /* {arg} of a route without suffix ("") is the rest: it must not be a prefix of
         * a route with one (events/{id} has none). */
        *arg = strndup(path + plen, len - plen - slen);
        return *arg != NULL;
}

void sl__adm_count_status(sl_admin_t *adm, int status)
{
        int cls = status / 100;

        if (cls >= 1 && cls <= 5)
                sl_metrics_add(adm->m_requests[cls], 1);
}

int sl__adm_json(sl_adm_req_t *req, int status, json_t *body)
{
        char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t len;

        json_decref(body);
        if (!text)
                return sl__adm_problem(req, 500, "internal", "Internal Server Error",
                                       NULL, "the answer could not be encoded");
        len = strlen(text);
        mg_printf(req->conn,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n\r\n",
                  status, mg_get_response_code_text(req->conn, status), len + 1);
        mg_write(req->conn, text, len);
        mg_write(req->conn, "\n", 1);
        free(text);
        req->status = status;
        return status;
}

int sl__adm_problem(sl_adm_req_t *req, int status, const char *slug, const char *title,
                    const char *extra_header, const char *fmt, ...)
{
        char detail[1024], type[128];
        va_list ap;
        json_t *body;
        char *text;
        size_t len;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        snprintf(type, sizeof(type), "urn:sluice:problem:%s", slug);
        body = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status",
                         status, "detail", detail);
        /* The path may hold bytes that are not UTF-8 (an injection): left out then. */
        if (body && req->path)
                json_object_set_new(body, "instance", json_string(req->path));
        text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        len = text ? strlen(text) : 0;
        mg_printf(req->conn,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: application/problem+json\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "%s%s"
                  "Connection: close\r\n\r\n",
                  status, mg_get_response_code_text(req->conn, status), len + 1,
                  extra_header ? extra_header : "", extra_header ? "\r\n" : "");
        if (text)
                mg_write(req->conn, text, len);
        mg_write(req->conn, "\n", 1);
        free(text);
        req->status = status;
        return status;
}

/* "Bearer <token>": the token's bytes, or NULL when the header is not that. */
static const char *bearer(const char *h, size_t *len)
{
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return NULL;
        h += 7;
        while (*h == ' ')
                h++;
        *len = strlen(h);
        while (*len && h[*len - 1] == ' ')
                (*len)--;
        return *len ? h : NULL;
}

/* A WebSocket client's token offered as the subprotocol "bearer.<base64url(token)>"
 * (browsers cannot set Authorization on a WebSocket): decoded into buf, or NULL. */
static const char *subprotocol_token(sl_adm_req_t *req, char *buf, size_t size,
                                     size_t *len)
{
        const struct mg_request_info *ri = mg_get_request_info(req->conn);

        for (int i = 0; i < ri->num_headers; i++) {
                const char *p = ri->http_headers[i].value;

                if (strcasecmp(ri->http_headers[i].name, "Sec-WebSocket-Protocol") != 0)
                        continue;
                while (p && *p) {
                        const char *end = strchr(p, ',');
                        size_t n = end ? (size_t)(end - p) : strlen(p);
                        long dn;

                        while (n && *p == ' ')
                                p++, n--;
                        while (n && p[n - 1] == ' ')
                                n--;
                        if (n > 7 && strncmp(p, "bearer.", 7) == 0 &&
                            (dn = sl__adm_b64url_decode(p + 7, n - 7, buf, size)) > 0 &&
                            strlen(buf) == (size_t)dn) {
                                *len = (size_t)dn;
                                return buf;
                        }
                        p = end ? end + 1 : NULL;
                }
        }
        return NULL;
}

int sl__adm_authenticate(sl_adm_req_t *req, unsigned scope)
{
        const char *h = mg_get_header(req->conn, "Authorization"), *tok;
        char sub[SL_ADMIN_TOKEN_SECRET_MAX + 2];
        size_t len = 0;

        if (!h && req->ws && (tok = subprotocol_token(req, sub, sizeof(sub), &len))) {
                req->tok = sl_admin_tokens_find(&req->adm->toks, tok, len);
                explicit_bzero(sub, sizeof(sub));
                h = "";
        } else if (h) {
                tok = bearer(h, &len);
                req->tok = tok ? sl_admin_tokens_find(&req->adm->toks, tok, len) : NULL;
        }
        if (!h) {
                sl_metrics_add(req->adm->m_auth_failures, 1);
                return sl__adm_problem(req, 401, "unauthorized", "Unauthorized",
                                       "WWW-Authenticate: Bearer realm=\"" REALM "\"",
                                       "this route needs a bearer token");
        }
        if (!req->tok) {
                sl_metrics_add(req->adm->m_auth_failures, 1);
                return sl__adm_problem(req, 401, "invalid-token", "Unauthorized",
                                       "WWW-Authenticate: Bearer realm=\"" REALM
                                       "\", error=\"invalid_token\", "
                                       "error_description=\"the token is not valid\"",
                                       "the bearer token is not one this server knows");
        }
        if (!(req->tok->scopes & scope)) {
                const char *name = scope == SL_ADMIN_SCOPE_OPERATE ? "operate" : "read";
                char hdr[200];

                sl_metrics_add(req->adm->m_auth_failures, 1);
                snprintf(hdr, sizeof(hdr),
                         "WWW-Authenticate: Bearer realm=\"" REALM
                         "\", error=\"insufficient_scope\", scope=\"%s\"",
                         name);
                return sl__adm_problem(req, 403, "insufficient-scope", "Forbidden", hdr,
                                       "token '%s' lacks the '%s' scope this route needs",
                                       req->tok->name, name);
        }
        return 0;
}

/* Parse the query string into req->params: 0, or the status of the 400 sent. */
int sl__adm_parse_query(sl_adm_req_t *req, const char *qs)
{
        const char *p = qs;

        while (p && *p) {
                const char *amp = strchr(p, '&'), *eq;
                size_t len = amp ? (size_t)(amp - p) : strlen(p);
                char *key, *val;
                int klen, vlen;

                if (len == 0) {
                        p = amp ? amp + 1 : NULL;
                        continue;
                }
                if (req->nparams == SL_ADM_PARAMS_MAX)
                        return sl__adm_problem(req, 400, "invalid-parameter",
                                               "Bad Request", NULL,
                                               "too many query parameters");
                eq = memchr(p, '=', len);
                key = malloc(len + 1);
                val = malloc(len + 1);
                if (!key || !val) {
                        free(key);
                        free(val);
                        return sl__adm_problem(req, 500, "internal",
                                               "Internal Server Error", NULL,
                                               "out of memory");
                }
                klen = mg_url_decode(p, (int)(eq ? (size_t)(eq - p) : len), key,
                                     (int)len + 1, 1);
                vlen = eq ? mg_url_decode(eq + 1, (int)(len - (size_t)(eq + 1 - p)), val,
                                          (int)len + 1, 1)
                          : 0;
                if (!eq)
                        val[0] = '\0';
                req->params[req->nparams].key = key;
                req->params[req->nparams].val = val;
                req->nparams++;
                if (klen < 0 || vlen < 0 || strlen(key) != (size_t)klen ||
                    strlen(val) != (size_t)vlen || !sl__adm_is_text(key, 64) ||
                    (vlen && !sl__adm_is_text(val, SL_ADM_TEXT_MAX)))
                        return sl__adm_problem(
                            req, 400, "invalid-parameter", "Bad Request", NULL,
                            "a query parameter is not valid text (UTF-8, no control "
                            "characters, values at most %d bytes)",
                            SL_ADM_TEXT_MAX);
                p = amp ? amp + 1 : NULL;
        }
        return 0;
}

void sl__adm_params_free(sl_adm_req_t *req)
{
        for (size_t i = 0; i < req->nparams; i++) {
                free(req->params[i].key);
                free(req->params[i].val);
        }
        req->nparams = 0;
}

static int admin_handler(struct mg_connection *conn, void *cbdata)
{
        const struct mg_request_info *ri = mg_get_request_info(conn);
        sl_adm_req_t req = {.conn = conn, .adm = cbdata, .method = ri->request_method};
        const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
        const route_t *match = NULL;
        char allow[64] = "", *arg = NULL, *marg = NULL;
        struct timespec t0, t1;
        int status;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        req.path = path && !sl__adm_is_text(path, 4096) ? NULL : path;
        if (!path)
                path = "";
        for (size_t i = 0; i < NROUTES; i++) {
                if (!route_match(&routes[i], path, &arg))
                        continue;
                if (strcmp(routes[i].method, req.method) == 0 && !match) {
                        match = &routes[i];
                        marg = arg;
                        arg = NULL;
                } else if (!strstr(allow, routes[i].method)) {
                        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow),
                                 "%s%s", *allow ? ", " : "", routes[i].method);
                }
                free(arg);
                arg = NULL;
        }
        if (!match && !*allow) {
                status = sl__adm_problem(&req, 404, "not-found", "Not Found", NULL,
                                         "no such route");
        } else if (!match) {
                char hdr[96];
                snprintf(hdr, sizeof(hdr), "Allow: %s", allow);
                status = sl__adm_problem(
                    &req, 405, "method-not-allowed", "Method Not Allowed", hdr,
                    "this route does not take %s",
                    sl__adm_is_text(req.method, 32) ? req.method : "that method");
        } else if ((status = sl__adm_authenticate(&req, match->scope)) == 0 &&
                   (status = sl__adm_parse_query(&req, ri->query_string)) == 0) {
                if (marg && !sl__adm_is_text(marg, SL_ADM_TEXT_MAX))
                        status = sl__adm_problem(&req, 404, "not-found", "Not Found",
                                                 NULL, "no such resource");
                else
                        status = match->fn(&req, marg, match->arg2);
        }
        free(marg);
        sl__adm_params_free(&req);
        sl__adm_count_status(req.adm, status);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        sl_metrics_observe(req.adm->m_latency,
                           (double)(t1.tv_sec - t0.tv_sec) +
                               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (status >= 500 || (req.tok && match && match->scope == SL_ADMIN_SCOPE_OPERATE))
                sl_log(status >= 500 ? SL_LOG_WARN : SL_LOG_INFO, NULL,
                       "%s %s -> %d (token %s)", req.method,
                       req.path ? req.path : "(not text)", status,
                       req.tok ? req.tok->name : "none");
        return status;
}

static int readyz_handler(struct mg_connection *conn, void *cbdata)
{
        const struct mg_request_info *ri = mg_get_request_info(conn);
        sl_adm_req_t req = {
            .conn = conn, .adm = cbdata, .method = ri->request_method, .path = "/readyz"};
        bool pg, kafka;

        if (strcmp(ri->local_uri, "/readyz") != 0)
                return sl__adm_problem(&req, 404, "not-found", "Not Found", NULL,
                                       "no such route");
        if (strcmp(req.method, "GET") != 0)
                return sl__adm_problem(&req, 405, "method-not-allowed",
                                       "Method Not Allowed", "Allow: GET",
                                       "this route takes GET only");
        pg = sl__adm_pg_ready(req.adm);
        kafka = sl__adm_kafka_ready(req.adm);
        if (!pg || !kafka)
                return sl__adm_problem(
                    &req, 503, "not-ready", "Service Unavailable", NULL, "%s%s%s",
                    pg ? "" : "Postgres is unreachable", !pg && !kafka ? "; " : "",
                    kafka ? "" : "Kafka is unreachable");
        return sl__adm_json(
            &req, 200,
            json_pack("{s:s, s:b, s:b}", "status", "ready", "postgres", 1, "kafka", 1));
}

/* Everything else: the status page's files (page.c), or (what CivetWeb's path cleaning
 * made of "/admin/../x" included) a 404 problem rather than CivetWeb's text page. */
static int notfound_handler(struct mg_connection *conn, void *cbdata)
{
        const struct mg_request_info *ri = mg_get_request_info(conn);
        sl_adm_req_t req = {.conn = conn, .adm = cbdata, .method = ri->request_method};
        int status;

        req.path =
            ri->local_uri && sl__adm_is_text(ri->local_uri, 4096) ? ri->local_uri : NULL;
        status = req.path ? sl__adm_page(&req, req.path) : 0;
        if (!status)
                status = sl__adm_problem(&req, 404, "not-found", "Not Found", NULL,
                                         "no such route");
        sl__adm_count_status(req.adm, status);
        return status;
}

/* CivetWeb's own errors (a request line or headers too large or malformed to reach a
 * handler) as problem bodies too. */
static int http_error(struct mg_connection *conn, int status, const char *msg)
{
        sl_adm_req_t req = {.conn = conn}; /* no route, no token: nothing to count */

        (void)msg;
        if (status < 400)
                return 1;
        sl__adm_problem(&req, status, status == 404 ? "not-found" : "bad-request",
                        mg_get_response_code_text(conn, status), NULL,
                        "the request could not be read (too large or malformed)");
        return 0;
}

static int pool_init(sl_admin_t *adm, char *errstr, size_t errstr_size)
{
        sl_adm_pool_t *p = &adm->pool;

        p->n = (size_t)sl_conf_get_int(adm->conf, "admin.pg.connections");
        p->ses = calloc(p->n, sizeof(*p->ses));
        p->busy = calloc(p->n, sizeof(*p->busy));
        if (!p->ses || !p->busy) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        snprintf(p->setup, sizeof(p->setup),
                 "SET statement_timeout = %lld; SET application_name = 'sluice-admin'",
                 (long long)adm->query_timeout_ms);
        p->opts.setup_sql = p->setup;
        return SL_OK;
}

static void pool_close(sl_adm_pool_t *p)
{
        for (size_t i = 0; i < p->n && p->ses; i++)
                sl_pg_session_destroy(p->ses[i]);
        free(p->ses);
        free(p->busy);
        if (p->n) {
                pthread_mutex_destroy(&p->mu);
                pthread_cond_destroy(&p->cv);
        }
}

static int kafka_init(sl_admin_t *adm, char *errstr, size_t errstr_size)
{
        const sl_conf_t *conf = adm->conf;
        static const char *const keys[] = {"ingress.group.id", "retry.group.id",
                                           "trigger.match.group.id",
                                           "trigger.launch.group.id"};

        adm->producer =
            sl_kafka_producer_new(conf, sl__adm_replay_dr, NULL, errstr, errstr_size);
        if (!adm->producer)
                return SL_ERR_KAFKA;
        adm->meta = sl_kafka_admin_new(conf, errstr, errstr_size);
        if (!adm->meta)
                return SL_ERR_KAFKA;
        adm->ngroups = sizeof(keys) / sizeof(keys[0]);
        adm->groups = calloc(adm->ngroups, sizeof(*adm->groups));
        adm->group_ids = calloc(adm->ngroups, sizeof(*adm->group_ids));
        if (!adm->groups || !adm->group_ids) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        for (size_t i = 0; i < adm->ngroups; i++) {
                snprintf(adm->group_ids[i], sizeof(adm->group_ids[i]), "%s",
                         sl_conf_get(conf, keys[i]));
                /* Never subscribes nor commits: it only fetches the group's committed
                 * offsets (OffsetFetch), so the group's members are not disturbed. */
                adm->groups[i] = sl_kafka_consumer_new(conf, adm->group_ids[i], NULL,
                                                       NULL, errstr, errstr_size);
                if (!adm->groups[i])
                        return SL_ERR_KAFKA;
        }
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, adm->topic_in,
                            sizeof(adm->topic_in));
        return SL_OK;
}

static void register_metrics(sl_admin_t *adm)
{
        static const char *const cls[] = {"",
                                          "class=\"1xx\"",
                                          "class=\"2xx\"",
                                          "class=\"3xx\"",
                                          "class=\"4xx\"",
                                          "class=\"5xx\""};
        static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,  1,     2.5,  5};

        for (int i = 1; i <= 5; i++)
                adm->m_requests[i] =
                    sl_metrics_counter("sluice_admin_requests_total", cls[i],
                                       "Admin API requests answered, by status class.");
        adm->m_auth_failures =
            sl_metrics_counter("sluice_admin_auth_failures_total", NULL,
                               "Admin API requests refused 401 or 403.");
        adm->m_replayed =
            sl_metrics_counter("sluice_admin_replayed_events_total", NULL,
                               "Events re-published by POST /admin/replay.");
        adm->m_latency = sl_metrics_histogram("sluice_admin_request_seconds", NULL,
                                              "Time to answer an admin API request.",
                                              bounds, sizeof(bounds) / sizeof(bounds[0]));
}

static bool admin_healthy(void *opaque)
{
        (void)opaque;
        return true; /* the process serves; /readyz says whether its backends answer */
}

sl_admin_t *sl_admin_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        sl_admin_t *adm = calloc(1, sizeof(*adm));
        sl_http_opts_t opts = {0};
        char why[256];

        if (!adm) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        adm->conf = conf;
        pthread_mutex_init(&adm->lag_mu, NULL);
        adm->max_body = sl_conf_get_int(conf, "admin.max.body.bytes");
        adm->kafka_timeout_ms = sl_conf_get_int(conf, "admin.kafka.timeout.ms");
        adm->query_timeout_ms = sl_conf_get_int(conf, "admin.query.timeout.ms");
        adm->replay_max = sl_conf_get_int(conf, "admin.replay.max");
        if (sl_admin_tokens_parse(sl_conf_get(conf, "admin.tokens"), &adm->toks, why,
                                  sizeof(why))) {
                snprintf(errstr, errstr_size, "admin.tokens: %s", why);
                goto fail;
        }
        if (adm->toks.cnt == 0) {
                snprintf(errstr, errstr_size,
                         "admin.tokens: no token configured (every /admin route needs "
                         "one): set NAME:SCOPES:SECRET entries");
                goto fail;
        }
        if (pool_init(adm, errstr, errstr_size) != SL_OK)
                goto fail;
        if (kafka_init(adm, errstr, errstr_size) != SL_OK)
                goto fail;
        adm->codec = sl_codec_new(errstr, errstr_size);
        if (!adm->codec)
                goto fail;
        register_metrics(adm);
        adm->stream = sl__adm_stream_new(adm, errstr, errstr_size);
        if (!adm->stream)
                goto fail;
        opts.websocket_ping_ms = (int)sl_conf_get_int(conf, "admin.stream.ping.ms");
        if (!(adm->rollups = sl__adm_rollups_start(conf, errstr, errstr_size)) ||
            !(adm->replays = sl__adm_replays_start(adm, errstr, errstr_size)) ||
            !(adm->maint = sl__adm_maint_new(conf, errstr, errstr_size)))
                goto fail;
        opts.threads = (int)sl_conf_get_int(conf, "admin.max.connections");
        opts.request_timeout_ms = (int)sl_conf_get_int(conf, "admin.idle.timeout.ms");
        opts.http_error = http_error;
        adm->http = sl_http_new_opts(sl_conf_get(conf, "http.bind"),
                                     (int)sl_conf_get_int(conf, "http.port"), &opts,
                                     admin_healthy, adm, errstr, errstr_size);
        if (!adm->http)
                goto fail;
        if (sl_http_handle(adm->http, "/admin", admin_handler, adm) != SL_OK ||
            sl_http_handle(adm->http, "/readyz", readyz_handler, adm) != SL_OK ||
            sl_http_handle(adm->http, "/", notfound_handler, adm) != SL_OK ||
            sl__adm_stream_register(adm->stream) != SL_OK) {
                snprintf(errstr, errstr_size,
                         "http.port: 0 disables the server, and "
                         "sluice-admin is nothing else");
                goto fail;
        }
        return adm;
fail:
        sl_admin_destroy(adm);
        return NULL;
}

void sl_admin_destroy(sl_admin_t *adm)
{
        if (!adm)
                return;
        sl_http_destroy(adm->http);          /* waits for the requests in flight */
        sl__adm_stream_destroy(adm->stream); /* no client left */
        sl__adm_rollups_stop(adm->rollups);
        sl__adm_replays_stop(adm->replays);
        sl__adm_maint_destroy(adm->maint);
        if (adm->producer) {
                rd_kafka_flush(adm->producer, 5000);
                rd_kafka_destroy(adm->producer);
        }
        for (size_t i = 0; adm->groups && i < adm->ngroups; i++) {
                if (!adm->groups[i])
                        continue;
                rd_kafka_consumer_close(adm->groups[i]);
                rd_kafka_destroy(adm->groups[i]);
        }
        pthread_mutex_destroy(&adm->lag_mu);
        free(adm->groups);
        free(adm->group_ids);
        if (adm->meta)
                rd_kafka_destroy(adm->meta);
        sl_codec_destroy(adm->codec);
        pool_close(&adm->pool);
        sl_admin_tokens_close(&adm->toks);
        free(adm);
}

int sl_admin_port(const sl_admin_t *adm)
{
        return sl_http_port(adm->http);
}
