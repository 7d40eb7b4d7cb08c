/*
 * The event-type registry: event_types rows with a payload schema, compiled into an
 * sl_types_t (sl_types_load), and a watch that keeps one current without ever
 * blocking its caller on the network (sl_types_watch_*).
 *
 * The watch owns one connection, driven entirely with libpq's asynchronous API:
 * connecting (PQconnectStartParams/PQconnectPoll), LISTEN sluice_event_types, and the
 * reload query (PQsendQueryParams) all advance a step per poll call.  A notification,
 * a fresh connection, or types.reload.ms passing schedules a reload; the new registry
 * replaces the old one only when the query succeeded.  A broken connection is
 * dropped and re-attempted at most once a second (backing off to 5 s), and a full
 * reload follows every reconnect, since notifications sent while disconnected are lost.
 *
 * Not thread-safe: one stage thread polls.  Rows whose schema does not compile are
 * skipped and logged once per (type, schema text).
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
#include "pg/types_registry.h"
#include "sluice/err.h"

#define SL_TYPES_CHANNEL "sluice_event_types"
#define SL_TYPES_SQL                                                                     \
        "SELECT type, payload_schema FROM event_types WHERE payload_schema IS NOT NULL " \
        "ORDER BY type"
#define SL_TYPES_BACKOFF_MIN_MS     1000
#define SL_TYPES_BACKOFF_MAX_MS     5000
#define SL_TYPES_CONNECT_TIMEOUT_MS 10000
#define SL_TYPES_QUERY_TIMEOUT_MS   30000

typedef enum {
        TW_DOWN,       /* no connection; next attempt at next_connect_ms */
        TW_CONNECTING, /* PQconnectPoll in progress */
        TW_LISTENING,  /* LISTEN sent, waiting for its result */
        TW_IDLE,       /* connected, listening, nothing in flight */
        TW_LOADING,    /* reload query in flight */
} tw_state_t;

/* A (type, schema) whose compile failure was already logged. */
typedef struct bad_row_s {
        char *type;
        uint64_t hash;
} bad_row_t;

struct sl_types_watch_s {
        char *conninfo;
        PGconn *pg;
        tw_state_t state;
        sl_types_t *types;      /* current registry, never NULL */
        int64_t reload_ms;      /* periodic reload interval; <= 0: off */
        int64_t next_reload_ms; /* monotonic */
        int64_t next_connect_ms;
        int64_t backoff_ms;
        int64_t phase_started_ms; /* when the current connect / query began */
        PostgresPollingStatusType connect_want; /* what PQconnectPoll waits for */
        bool reload_wanted;
        bool down_logged; /* connection loss logged for this outage */
        bool reload_err_logged;
        bad_row_t *bad;
        size_t nbad, capbad;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

/* True when this bad row was logged before; otherwise remembers it. */
static bool bad_seen(sl_types_watch_t *tw, const char *type, const char *schema)
{
        uint64_t h = fnv1a(schema);
        bad_row_t *tmp;

        for (size_t i = 0; i < tw->nbad; i++)
                if (tw->bad[i].hash == h && strcmp(tw->bad[i].type, type) == 0)
                        return true;
        if (tw->nbad == tw->capbad) {
                size_t cap = tw->capbad ? tw->capbad * 2 : 8;
                tmp = realloc(tw->bad, cap * sizeof(*tmp));
                if (!tmp)
                        return false;
                tw->bad = tmp;
                tw->capbad = cap;
        }
        tw->bad[tw->nbad].type = strdup(type);
        if (!tw->bad[tw->nbad].type)
                return false;
        tw->bad[tw->nbad].hash = h;
        tw->nbad++;
        return false;
}

/* Build a registry from the rows of SL_TYPES_SQL.  tw (may be NULL) dedups logs. */
static sl_types_t *types_from_result(sl_types_watch_t *tw, const PGresult *res,
                                     char *errstr, size_t errstr_size)
{
        sl_types_t *types = sl_types_new();
        int rows = PQntuples(res);
        char perr[512];

        if (!types) {
                snprintf(errstr, errstr_size, "event types: out of memory");
                return NULL;
        }
        for (int i = 0; i < rows; i++) {
                const char *type = PQgetvalue(res, i, 0);
                const char *schema = PQgetvalue(res, i, 1);
                sl_payload_schema_t *ps;
                int err;

                perr[0] = '\0';
                ps = sl_payload_schema_new(schema, perr, sizeof(perr));
                if (!ps) {
                        if (!tw || !bad_seen(tw, type, schema))
                                sl_log_warn("event type '%s': payload schema does not "
                                            "compile; skipped (its events are not "
                                            "schema-checked): %s",
                                            type, perr);
                        continue;
                }
                err = sl_types_put(types, type, ps);
                if (err != SL_OK) {
                        snprintf(errstr, errstr_size, "event type '%s': %s", type,
                                 sl_err2str(err));
                        sl_types_destroy(types);
                        return NULL;
                }
        }
        return types;
}

/* Blocking load on pg; tw (may be NULL) dedups the logs of bad rows. */
static sl_types_t *load_blocking(sl_types_watch_t *tw, PGconn *pg, char *errstr,
                                 size_t errstr_size)
{
        PGresult *res;
        sl_types_t *types;
        char msg[768];

        if (!pg) {
                snprintf(errstr, errstr_size, "event types: no connection");
                return NULL;
        }
        res = PQexecParams(pg, SL_TYPES_SQL, 0, NULL, NULL, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__pg_errstr(pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "loading event_types: %s", msg);
                PQclear(res);
                return NULL;
        }
        types = types_from_result(tw, res, errstr, errstr_size);
        PQclear(res);
        return types;
}

sl_types_t *sl_types_load(PGconn *pg, char *errstr, size_t errstr_size)
{
        return load_blocking(NULL, pg, errstr, errstr_size);
}

/* Drop the connection; the next attempt waits for the backoff. */
static void tw_disconnect(sl_types_watch_t *tw, const char *why)
{
        int64_t now = mono_ms();

        if (!tw->down_logged) {
                char msg[768];
                snprintf(msg, sizeof(msg), "%s", why ? why : "");
                sl__pg_redact(msg, tw->conninfo);
                sl_log_warn("event types watch: connection lost (%s); keeping %zu types, "
                            "reconnecting",
                            msg, sl_types_count(tw->types));
                tw->down_logged = true;
        }
        if (tw->pg)
                PQfinish(tw->pg);
        tw->pg = NULL;
        tw->state = TW_DOWN;
        tw->next_connect_ms = now + tw->backoff_ms;
        tw->backoff_ms *= 2;
        if (tw->backoff_ms > SL_TYPES_BACKOFF_MAX_MS)
                tw->backoff_ms = SL_TYPES_BACKOFF_MAX_MS;
}

static void tw_conn_error(sl_types_watch_t *tw)
{
        char msg[768];
        sl__pg_errstr(tw->pg, NULL, msg, sizeof(msg));
        tw_disconnect(tw, msg);
}

static void tw_start_connect(sl_types_watch_t *tw)
{
        const char *keys[3], *vals[3];
        int expand = sl__pg_conn_params(tw->conninfo, keys, vals);

        tw->pg = PQconnectStartParams(keys, vals, expand);
        tw->phase_started_ms = mono_ms();
        if (!tw->pg) {
                tw_disconnect(tw, "out of memory");
                return;
        }
        if (PQstatus(tw->pg) == CONNECTION_BAD) {
                tw_conn_error(tw);
                return;
        }
        sl__pg_log_notices(tw->pg);
        tw->state = TW_CONNECTING;
        tw->connect_want = PGRES_POLLING_WRITING; /* as libpq documents for the start */
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

static void tw_step_connect(sl_types_watch_t *tw)
{
        /* A few steps per call, each only when the socket is ready for it. */
        for (int i = 0; i < 8 && sock_ready(tw->pg, tw->connect_want); i++) {
                PostgresPollingStatusType ps = PQconnectPoll(tw->pg);

                if (ps == PGRES_POLLING_OK) {
                        if (PQsetnonblocking(tw->pg, 1) != 0 ||
                            !PQsendQuery(tw->pg, "LISTEN " SL_TYPES_CHANNEL)) {
                                tw_conn_error(tw);
                                return;
                        }
                        tw->state = TW_LISTENING;
                        tw->phase_started_ms = mono_ms();
                        return;
                }
                if (ps == PGRES_POLLING_FAILED) {
                        tw_conn_error(tw);
                        return;
                }
                tw->connect_want = ps;
        }
        if (mono_ms() - tw->phase_started_ms > SL_TYPES_CONNECT_TIMEOUT_MS)
                tw_disconnect(tw, "connect timed out");
}

/* Read what arrived; false when the connection broke (already handled). */
static bool tw_consume(sl_types_watch_t *tw)
{
        PGnotify *n;

        /* Non-blocking connection: a sent query may still sit in libpq's buffer. */
        if (PQflush(tw->pg) < 0 || !PQconsumeInput(tw->pg) ||
            PQstatus(tw->pg) != CONNECTION_OK) {
                tw_conn_error(tw);
                return false;
        }
        while ((n = PQnotifies(tw->pg)) != NULL) {
                sl_log_debug("event types: change to '%s'", n->extra);
                tw->reload_wanted = true;
                PQfreemem(n);
        }
        return true;
}

/* Collect the results of the query in flight once all have arrived.  Returns true
 * when the query finished; *res_out gets its first result (caller clears) or NULL. */
static bool tw_take_result(sl_types_watch_t *tw, PGresult **res_out)
{
        PGresult *res, *first = NULL;

        *res_out = NULL;
        if (PQisBusy(tw->pg)) {
                if (mono_ms() - tw->phase_started_ms > SL_TYPES_QUERY_TIMEOUT_MS)
                        tw_disconnect(tw, "query timed out");
                return false;
        }
        while ((res = PQgetResult(tw->pg)) != NULL) {
                if (!first)
                        first = res;
                else
                        PQclear(res);
                if (PQisBusy(
                        tw->pg)) { /* rest not here yet; cannot happen for one query */
                        PQclear(first);
                        tw_disconnect(tw, "unexpected partial result");
                        return false;
                }
        }
        *res_out = first;
        return true;
}

static void tw_finish_load(sl_types_watch_t *tw, PGresult *res)
{
        char errstr[768];
        sl_types_t *types = NULL;

        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
                types = types_from_result(tw, res, errstr, sizeof(errstr));
        } else {
                char msg[512];
                sl__pg_errstr(tw->pg, res, msg, sizeof(msg));
                snprintf(errstr, sizeof(errstr), "loading event_types: %s", msg);
        }
        if (!types) {
                if (!tw->reload_err_logged)
                        sl_log_warn("event types: reload failed, keeping the %zu types "
                                    "loaded before: %s",
                                    sl_types_count(tw->types), errstr);
                tw->reload_err_logged = true;
                return;
        }
        if (tw->reload_err_logged)
                sl_log_info("event types: reload works again");
        tw->reload_err_logged = false;
        if (sl_types_count(types) != sl_types_count(tw->types))
                sl_log_info("event types: %zu with a payload schema",
                            sl_types_count(types));
        sl_types_destroy(tw->types);
        tw->types = types;
}

static void tw_send_load(sl_types_watch_t *tw)
{
        int64_t now = mono_ms();

        tw->reload_wanted = false;
        tw->next_reload_ms = tw->reload_ms > 0 ? now + tw->reload_ms : INT64_MAX;
        if (!PQsendQueryParams(tw->pg, SL_TYPES_SQL, 0, NULL, NULL, NULL, NULL, 0)) {
                tw_conn_error(tw);
                return;
        }
        tw->state = TW_LOADING;
        tw->phase_started_ms = now;
}

const sl_types_t *sl_types_watch_poll(sl_types_watch_t *tw)
{
        PGresult *res;

        switch (tw->state) {
        case TW_DOWN:
                if (mono_ms() < tw->next_connect_ms)
                        break;
                tw_start_connect(tw);
                if (tw->state == TW_CONNECTING)
                        tw_step_connect(tw);
                break;
        case TW_CONNECTING:
                tw_step_connect(tw);
                break;
        case TW_LISTENING:
                if (!tw_consume(tw) || !tw_take_result(tw, &res))
                        break;
                if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                        char msg[512];
                        sl__pg_errstr(tw->pg, res, msg, sizeof(msg));
                        PQclear(res);
                        tw_disconnect(tw, msg);
                        break;
                }
                PQclear(res);
                if (tw->down_logged)
                        sl_log_info("event types watch: reconnected; reloading");
                tw->down_logged = false;
                tw->backoff_ms = SL_TYPES_BACKOFF_MIN_MS;
                tw->state = TW_IDLE;
                tw_send_load(tw); /* full reload: changes while away were not notified */
                break;
        case TW_IDLE:
                if (!tw_consume(tw))
                        break;
                if (tw->reload_wanted || mono_ms() >= tw->next_reload_ms)
                        tw_send_load(tw);
                break;
        case TW_LOADING:
                if (!tw_consume(tw) || !tw_take_result(tw, &res))
                        break;
                tw_finish_load(tw, res);
                PQclear(res);
                tw->state = TW_IDLE;
                if (tw->reload_wanted) /* changed while loading */
                        tw_send_load(tw);
                break;
        }
        return tw->types;
}

sl_types_watch_t *sl_types_watch_new(const sl_conf_t *conf, char *errstr,
                                     size_t errstr_size)
{
        sl_types_watch_t *tw = calloc(1, sizeof(*tw));
        PGresult *res = NULL;
        char msg[768];

        if (!tw) {
                snprintf(errstr, errstr_size, "event types watch: out of memory");
                return NULL;
        }
        tw->reload_ms = sl_conf_get_int(conf, "types.reload.ms");
        tw->backoff_ms = SL_TYPES_BACKOFF_MIN_MS;
        tw->conninfo = sl_conf_pg_conninfo(conf);
        if (!tw->conninfo) {
                snprintf(errstr, errstr_size, "event types watch: out of memory");
                goto fail;
        }
        /* At start, block: the caller wants a loaded registry or an error. */
        tw->pg = sl_pg_connect(conf, errstr, errstr_size);
        if (!tw->pg)
                goto fail;
        res = PQexec(tw->pg, "LISTEN " SL_TYPES_CHANNEL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                sl__pg_errstr(tw->pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "LISTEN %s: %s", SL_TYPES_CHANNEL, msg);
                goto fail;
        }
        PQclear(res);
        res = NULL;
        tw->types = load_blocking(tw, tw->pg, errstr, errstr_size);
        if (!tw->types)
                goto fail;
        if (PQsetnonblocking(tw->pg, 1) != 0) {
                snprintf(errstr, errstr_size,
                         "event types watch: cannot make the "
                         "connection non-blocking");
                goto fail;
        }
        tw->state = TW_IDLE;
        tw->next_reload_ms = tw->reload_ms > 0 ? mono_ms() + tw->reload_ms : INT64_MAX;
        sl_log_info("event types: %zu with a payload schema; listening on %s",
                    sl_types_count(tw->types), SL_TYPES_CHANNEL);
        return tw;

fail:
        PQclear(res);
        sl_types_watch_destroy(tw);
        return NULL;
}

void sl_types_watch_destroy(sl_types_watch_t *tw)
{
        if (!tw)
                return;
        if (tw->pg)
                PQfinish(tw->pg);
        sl_types_destroy(tw->types);
        for (size_t i = 0; i < tw->nbad; i++)
                free(tw->bad[i].type);
        free(tw->bad);
        free(tw->conninfo);
        free(tw);
}
