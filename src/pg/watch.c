/*
 * The LISTEN + reload machinery behind every config watch (watch.h): one connection,
 * driven entirely with libpq's asynchronous API.  Connecting
 * (PQconnectStartParams/PQconnectPoll), LISTEN, and the reload query
 * (PQsendQueryParams) each advance a step per poll call and never wait.  A
 * notification, a fresh connection, or reload_ms passing schedules a reload; the new
 * snapshot replaces the old one only when the query and the build both succeeded.  A
 * broken connection is dropped and re-attempted at most once a second (backing off to
 * 5 s), and a full reload follows every reconnect.
 *
 * What a snapshot holds is the user's business (build/destroy callbacks); this file
 * knows nothing of event types or sources.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"
#include "pg/watch.h"
#include "util/clock.h"

#define SL_WATCH_BACKOFF_MIN_MS     1000
#define SL_WATCH_BACKOFF_MAX_MS     5000
#define SL_WATCH_CONNECT_TIMEOUT_MS 10000
#define SL_WATCH_QUERY_TIMEOUT_MS   30000

typedef enum {
        W_DOWN,       /* no connection; next attempt at next_connect_ms */
        W_CONNECTING, /* PQconnectPoll in progress */
        W_LISTENING,  /* LISTEN sent, waiting for its result */
        W_IDLE,       /* connected, listening, nothing in flight */
        W_LOADING,    /* reload query in flight */
} w_state_t;

struct sl_pg_watch_s {
        sl_pg_watch_conf_t wc;
        char *listen_sql; /* "LISTEN <channel>" */
        char *conninfo;
        PGconn *pg;
        w_state_t state;
        void *snap; /* current snapshot, never NULL once created */
        uint64_t loads;
        int64_t next_reload_ms; /* monotonic */
        int64_t next_connect_ms;
        int64_t backoff_ms;
        int64_t phase_started_ms; /* when the current connect / query began */
        PostgresPollingStatusType connect_want; /* what PQconnectPoll waits for */
        bool reload_wanted;
        bool down_logged; /* connection loss logged for this outage */
        bool reload_err_logged;
};

static size_t snap_count(const sl_pg_watch_t *w)
{
        return w->wc.count && w->snap ? w->wc.count(w->snap) : 0;
}

void *sl_pg_watch_load(PGconn *pg, const char *name, const char *sql,
                       sl_pg_watch_build_cb *build, void *opaque, char *errstr,
                       size_t errstr_size)
{
        PGresult *res;
        void *snap;
        char msg[768];

        if (!pg) {
                snprintf(errstr, errstr_size, "loading %s: no connection", name);
                return NULL;
        }
        res = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__pg_errstr(pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "loading %s: %s", name, msg);
                PQclear(res);
                return NULL;
        }
        snap = build(res, opaque, errstr, errstr_size);
        PQclear(res);
        return snap;
}

/* Drop the connection; the next attempt waits for the backoff. */
static void w_disconnect(sl_pg_watch_t *w, const char *why)
{
        int64_t now = sl_mono_ms();

        if (!w->down_logged) {
                char msg[768];
                snprintf(msg, sizeof(msg), "%s", why ? why : "");
                sl__pg_redact(msg, w->conninfo);
                sl_log_warn("%s watch: connection lost (%s); keeping %zu %s, "
                            "reconnecting",
                            w->wc.name, msg, snap_count(w), w->wc.name);
                w->down_logged = true;
        }
        if (w->pg)
                PQfinish(w->pg);
        w->pg = NULL;
        w->state = W_DOWN;
        w->next_connect_ms = now + w->backoff_ms;
        w->backoff_ms *= 2;
        if (w->backoff_ms > SL_WATCH_BACKOFF_MAX_MS)
                w->backoff_ms = SL_WATCH_BACKOFF_MAX_MS;
}

static void w_conn_error(sl_pg_watch_t *w)
{
        char msg[768];
        sl__pg_errstr(w->pg, NULL, msg, sizeof(msg));
        w_disconnect(w, msg);
}

static void w_start_connect(sl_pg_watch_t *w)
{
        const char *keys[3], *vals[3];
        int expand = sl__pg_conn_params(w->conninfo, keys, vals);

        w->pg = PQconnectStartParams(keys, vals, expand);
        w->phase_started_ms = sl_mono_ms();
        if (!w->pg) {
                w_disconnect(w, "out of memory");
                return;
        }
        if (PQstatus(w->pg) == CONNECTION_BAD) {
                w_conn_error(w);
                return;
        }
        sl__pg_log_notices(w->pg);
        w->state = W_CONNECTING;
        w->connect_want = PGRES_POLLING_WRITING; /* as libpq documents for the start */
}

/* Is the socket ready for the direction PQconnectPoll asked for?  Never waits. */
static bool sock_ready(PGconn *pg, PostgresPollingStatusType want)
{
        struct pollfd pfd = {.fd = PQsocket(pg), .events = 0};

        if (pfd.fd < 0)
                return true; /* let PQconnectPoll report the problem */
        pfd.events = want == PGRES_POLLING_WRITING ? POLLOUT : POLLIN;
        return poll(&pfd, 1, 0) != 0;
}

static void w_step_connect(sl_pg_watch_t *w)
{
        /* A few steps per call, each only when the socket is ready for it. */
        for (int i = 0; i < 8 && sock_ready(w->pg, w->connect_want); i++) {
                PostgresPollingStatusType ps = PQconnectPoll(w->pg);

                if (ps == PGRES_POLLING_OK) {
                        if (PQsetnonblocking(w->pg, 1) != 0 ||
                            !PQsendQuery(w->pg, w->listen_sql)) {
                                w_conn_error(w);
                                return;
                        }
                        w->state = W_LISTENING;
                        w->phase_started_ms = sl_mono_ms();
                        return;
                }
                if (ps == PGRES_POLLING_FAILED) {
                        w_conn_error(w);
                        return;
                }
                w->connect_want = ps;
        }
        if (sl_mono_ms() - w->phase_started_ms > SL_WATCH_CONNECT_TIMEOUT_MS)
                w_disconnect(w, "connect timed out");
}

/* Read what arrived; false when the connection broke (already handled). */
static bool w_consume(sl_pg_watch_t *w)
{
        PGnotify *n;

        /* Non-blocking connection: a sent query may still sit in libpq's buffer. */
        if (PQflush(w->pg) < 0 || !PQconsumeInput(w->pg) ||
            PQstatus(w->pg) != CONNECTION_OK) {
                w_conn_error(w);
                return false;
        }
        while ((n = PQnotifies(w->pg)) != NULL) {
                sl_log_debug("%s: change to '%s'", w->wc.name, n->extra);
                w->reload_wanted = true;
                PQfreemem(n);
        }
        return true;
}

/* Collect the results of the query in flight once all have arrived.  Returns true
 * when the query finished; *res_out gets its first result (caller clears) or NULL. */
static bool w_take_result(sl_pg_watch_t *w, PGresult **res_out)
{
        PGresult *res, *first = NULL;

        *res_out = NULL;
        if (PQisBusy(w->pg)) {
                if (sl_mono_ms() - w->phase_started_ms > SL_WATCH_QUERY_TIMEOUT_MS)
                        w_disconnect(w, "query timed out");
                return false;
        }
        while ((res = PQgetResult(w->pg)) != NULL) {
                if (!first)
                        first = res;
                else
                        PQclear(res);
                /* The rest not here yet: cannot happen for one statement. */
                if (PQisBusy(w->pg)) {
                        PQclear(first);
                        w_disconnect(w, "unexpected partial result");
                        return false;
                }
        }
        *res_out = first;
        return true;
}

static void w_finish_load(sl_pg_watch_t *w, PGresult *res)
{
        char errstr[768];
        void *snap = NULL;

        errstr[0] = '\0';
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
                snap = w->wc.build(res, w->wc.opaque, errstr, sizeof(errstr));
        } else {
                char msg[512];
                sl__pg_errstr(w->pg, res, msg, sizeof(msg));
                snprintf(errstr, sizeof(errstr), "loading %s: %s", w->wc.name, msg);
        }
        if (!snap) {
                if (!w->reload_err_logged)
                        sl_log_warn("%s: reload failed, keeping the %zu loaded before: "
                                    "%s",
                                    w->wc.name, snap_count(w), errstr);
                w->reload_err_logged = true;
                return;
        }
        if (w->reload_err_logged)
                sl_log_info("%s: reload works again", w->wc.name);
        w->reload_err_logged = false;
        w->wc.destroy(w->snap);
        w->snap = snap;
        w->loads++;
}

static void w_send_load(sl_pg_watch_t *w)
{
        int64_t now = sl_mono_ms();

        w->reload_wanted = false;
        w->next_reload_ms = w->wc.reload_ms > 0 ? now + w->wc.reload_ms : INT64_MAX;
        if (!PQsendQueryParams(w->pg, w->wc.sql, 0, NULL, NULL, NULL, NULL, 0)) {
                w_conn_error(w);
                return;
        }
        w->state = W_LOADING;
        w->phase_started_ms = now;
}

void *sl_pg_watch_poll(sl_pg_watch_t *w)
{
        PGresult *res;

        switch (w->state) {
        case W_DOWN:
                if (sl_mono_ms() < w->next_connect_ms)
                        break;
                w_start_connect(w);
                if (w->state == W_CONNECTING)
                        w_step_connect(w);
                break;
        case W_CONNECTING:
                w_step_connect(w);
                break;
        case W_LISTENING:
                if (!w_consume(w) || !w_take_result(w, &res))
                        break;
                if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                        char msg[512];
                        sl__pg_errstr(w->pg, res, msg, sizeof(msg));
                        PQclear(res);
                        w_disconnect(w, msg);
                        break;
                }
                PQclear(res);
                if (w->down_logged)
                        sl_log_info("%s watch: reconnected; reloading", w->wc.name);
                w->down_logged = false;
                w->backoff_ms = SL_WATCH_BACKOFF_MIN_MS;
                w->state = W_IDLE;
                w_send_load(w); /* full reload: changes while away were not notified */
                break;
        case W_IDLE:
                if (!w_consume(w))
                        break;
                if (w->reload_wanted || sl_mono_ms() >= w->next_reload_ms)
                        w_send_load(w);
                break;
        case W_LOADING:
                if (!w_consume(w) || !w_take_result(w, &res))
                        break;
                w_finish_load(w, res);
                PQclear(res);
                w->state = W_IDLE;
                if (w->reload_wanted) /* changed while loading */
                        w_send_load(w);
                break;
        }
        return w->snap;
}

uint64_t sl_pg_watch_loads(const sl_pg_watch_t *w)
{
        return w->loads;
}

/* A channel goes into "LISTEN <channel>" unquoted: only plain identifiers. */
static bool channel_ok(const char *ch)
{
        if (!ch || !*ch || strlen(ch) > 63)
                return false;
        for (const char *c = ch; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                        return false;
        return true;
}

sl_pg_watch_t *sl_pg_watch_new(const sl_conf_t *conf, const sl_pg_watch_conf_t *wc,
                               char *errstr, size_t errstr_size)
{
        sl_pg_watch_t *w;
        PGresult *res = NULL;
        char msg[768];

        if (!wc || !wc->name || !wc->sql || !wc->build || !wc->destroy ||
            !channel_ok(wc->channel)) {
                snprintf(errstr, errstr_size,
                         "watch: name, sql, build, destroy and a lower-case channel "
                         "name are required");
                return NULL;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(errstr, errstr_size, "%s watch: out of memory", wc->name);
                return NULL;
        }
        w->wc = *wc;
        w->backoff_ms = SL_WATCH_BACKOFF_MIN_MS;
        w->conninfo = sl_conf_pg_conninfo(conf);
        if (!w->conninfo || asprintf(&w->listen_sql, "LISTEN %s", wc->channel) < 0) {
                w->listen_sql = NULL;
                snprintf(errstr, errstr_size, "%s watch: out of memory", wc->name);
                goto fail;
        }
        /* At start, block: the caller wants a loaded snapshot or an error. */
        w->pg = sl_pg_connect(conf, errstr, errstr_size);
        if (!w->pg)
                goto fail;
        res = PQexec(w->pg, w->listen_sql);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                sl__pg_errstr(w->pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "LISTEN %s: %s", wc->channel, msg);
                goto fail;
        }
        PQclear(res);
        res = NULL;
        w->snap = sl_pg_watch_load(w->pg, wc->name, wc->sql, wc->build, wc->opaque,
                                   errstr, errstr_size);
        if (!w->snap)
                goto fail;
        w->loads = 1;
        if (PQsetnonblocking(w->pg, 1) != 0) {
                snprintf(errstr, errstr_size,
                         "%s watch: cannot make the connection non-blocking", wc->name);
                goto fail;
        }
        w->state = W_IDLE;
        w->next_reload_ms = wc->reload_ms > 0 ? sl_mono_ms() + wc->reload_ms : INT64_MAX;
        return w;

fail:
        PQclear(res);
        sl_pg_watch_destroy(w);
        return NULL;
}

void sl_pg_watch_destroy(sl_pg_watch_t *w)
{
        if (!w)
                return;
        if (w->pg)
                PQfinish(w->pg);
        if (w->snap)
                w->wc.destroy(w->snap);
        free(w->listen_sql);
        free(w->conninfo);
        free(w);
}
