/*
 * What every admin route shares besides the replies: query parameters and their
 * checks, the keyset cursor, the request body, and Postgres through the session pool.
 * Nothing a client sends reaches SQL except as a parameter of PQexecParams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/clock.h"
#include "util/utf8.h"

int sl__adm_params_check(sl_adm_req_t *req, const char *const *allowed)
{
        for (size_t i = 0; i < req->nparams; i++) {
                bool ok = false;

                for (const char *const *a = allowed; *a && !ok; a++)
                        ok = strcmp(*a, req->params[i].key) == 0;
                if (!ok)
                        return sl__adm_problem(
                            req, 400, "invalid-parameter", "Bad Request", NULL,
                            "unknown query parameter '%s'", req->params[i].key);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(req->params[j].key, req->params[i].key) == 0)
                                return sl__adm_problem(req, 400, "invalid-parameter",
                                                       "Bad Request", NULL,
                                                       "query parameter '%s' given twice",
                                                       req->params[i].key);
        }
        return 0;
}

const char *sl__adm_param(const sl_adm_req_t *req, const char *key)
{
        for (size_t i = 0; i < req->nparams; i++)
                if (strcmp(req->params[i].key, key) == 0)
                        return req->params[i].val;
        return NULL;
}

int sl__adm_param_limit(sl_adm_req_t *req, int def, int max, int *out)
{
        const char *v = sl__adm_param(req, "limit");
        long n = 0;

        *out = def;
        if (!v)
                return 0;
        for (const char *c = v; *c; c++)
                if (*c < '0' || *c > '9' || c - v > 6)
                        goto bad;
        n = strtol(v, NULL, 10);
        if (!*v || n < 1 || n > max)
                goto bad;
        *out = (int)n;
        return 0;
bad:
        return sl__adm_problem(req, 400, "invalid-parameter", "Bad Request", NULL,
                               "limit must be an integer from 1 to %d", max);
}

static bool digits(const char *s, int n)
{
        for (int i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

bool sl__adm_is_rfc3339(const char *s)
{
        size_t len = strlen(s), i = 19;

        /* YYYY-MM-DDTHH:MM:SS */
        if (len < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
            s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
            !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
            !digits(s + 17, 2))
                return false;
        if (s[i] == '.') {
                size_t f = ++i;
                while (i < len && s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == f || i - f > 9)
                        return false;
        }
        if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
                return true;
        return (s[i] == '+' || s[i] == '-') && i + 6 == len && digits(s + i + 1, 2) &&
               s[i + 3] == ':' && digits(s + i + 4, 2);
}

bool sl__adm_is_uuid(const char *s)
{
        if (strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                char c = s[i];
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                             (c >= 'A' && c <= 'F'))) {
                        return false;
                }
        }
        return true;
}

bool sl__adm_is_text(const char *s, size_t max)
{
        size_t len = strlen(s);

        if (len == 0 || len > max || sl_utf8_check(s, len) >= 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void sl__adm_b64url_encode(const void *raw, size_t n, char *out, size_t size)
{
        const unsigned char *p = raw;
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;

        for (size_t i = 0; i < n && o + 2 < size; i++) {
                acc = (acc << 8) | p[i];
                bits += 8;
                while (bits >= 6 && o + 1 < size) {
                        bits -= 6;
                        out[o++] = b64[(acc >> bits) & 63];
                }
        }
        if (bits > 0 && o + 1 < size)
                out[o++] = b64[(acc << (6 - bits)) & 63];
        out[o] = '\0';
}

long sl__adm_b64url_decode(const char *s, size_t len, char *out, size_t cap)
{
        size_t n = 0;
        uint32_t acc = 0;
        int bits = 0;

        for (size_t i = 0; i < len; i++) {
                const char *p = s[i] ? strchr(b64, s[i]) : NULL;
                if (!p)
                        return -1;
                acc = (acc << 6) | (uint32_t)(p - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (n + 1 >= cap)
                                return -1;
                        out[n++] = (char)((acc >> bits) & 0xff);
                }
        }
        out[n] = '\0';
        return (long)n;
}

void sl__adm_cursor_encode(const char *micros, const char *key, char *out, size_t size)
{
        char raw[160];
        size_t n = (size_t)snprintf(raw, sizeof(raw), "%s,%s", micros, key);

        if (n >= sizeof(raw))
                n = sizeof(raw) - 1;
        sl__adm_b64url_encode(raw, n, out, size);
}

bool sl__adm_cursor_decode(const char *c, char *micros, size_t msize, char *key,
                           size_t ksize)
{
        char raw[160], *comma;
        size_t len = strlen(c);
        long n;

        if (len == 0 || len > 200)
                return false;
        n = sl__adm_b64url_decode(c, len, raw, sizeof(raw));
        if (n < 0)
                return false;
        comma = strchr(raw, ',');
        if (!comma || strlen(raw) != (size_t)n)
                return false;
        *comma = '\0';
        /* micros: an optional '-' and 1..19 digits; the key is checked by the caller. */
        {
                const char *m = raw[0] == '-' ? raw + 1 : raw;
                size_t ml = strlen(m);
                if (ml == 0 || ml > 18 || !digits(m, (int)ml))
                        return false;
        }
        if (strlen(raw) >= msize || strlen(comma + 1) >= ksize || !comma[1])
                return false;
        strcpy(micros, raw);
        strcpy(key, comma + 1);
        return true;
}

int sl__adm_body_json(sl_adm_req_t *req, json_t **out)
{
        const struct mg_request_info *ri = mg_get_request_info(req->conn);
        int64_t max = req->adm->max_body;
        size_t cap = 4096, len = 0;
        char *buf;
        json_error_t jerr;

        *out = NULL;
        if (ri->content_length > max)
                return sl__adm_problem(req, 413, "body-too-large", "Content Too Large",
                                       NULL, "the body is larger than %lld bytes",
                                       (long long)max);
        buf = malloc(cap);
        if (!buf)
                return sl__adm_problem(req, 500, "internal", "Internal Server Error",
                                       NULL, "out of memory");
        for (;;) {
                int got;

                if (len == cap) {
                        char *nb;
                        if ((int64_t)cap > max) {
                                free(buf);
                                return sl__adm_problem(
                                    req, 413, "body-too-large", "Content Too Large", NULL,
                                    "the body is larger than %lld bytes", (long long)max);
                        }
                        nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                return sl__adm_problem(req, 500, "internal",
                                                       "Internal Server Error", NULL,
                                                       "out of memory");
                        }
                        buf = nb;
                        cap *= 2;
                }
                got = mg_read(req->conn, buf + len, cap - len);
                if (got <= 0)
                        break;
                len += (size_t)got;
                if ((int64_t)len > max) {
                        free(buf);
                        return sl__adm_problem(
                            req, 413, "body-too-large", "Content Too Large", NULL,
                            "the body is larger than %lld bytes", (long long)max);
                }
        }
        *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        free(buf);
        if (!*out || !json_is_object(*out)) {
                json_decref(*out);
                *out = NULL;
                return sl__adm_problem(req, 400, "invalid-body", "Bad Request", NULL,
                                       "the body must be a JSON object");
        }
        return 0;
}

/* A free slot's session, connected; NULL with errstr set. */
static sl_pg_session_t *pool_get(sl_admin_t *adm, char *errstr, size_t errstr_size)
{
        sl_adm_pool_t *p = &adm->pool;
        int64_t deadline = sl_mono_ms() + adm->query_timeout_ms;
        size_t slot = p->n;
        sl_pg_session_t *ses;

        pthread_mutex_lock(&p->mu);
        for (;;) {
                for (size_t i = 0; i < p->n && slot == p->n; i++)
                        if (!p->busy[i])
                                slot = i;
                if (slot < p->n)
                        break;
                {
                        struct timespec ts;
                        int64_t left = deadline - sl_mono_ms();
                        if (left <= 0) {
                                pthread_mutex_unlock(&p->mu);
                                snprintf(errstr, errstr_size,
                                         "every Postgres session is busy");
                                return NULL;
                        }
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += left / 1000;
                        ts.tv_nsec += (left % 1000) * 1000000;
                        if (ts.tv_nsec >= 1000000000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
                }
        }
        p->busy[slot] = true;
        ses = p->ses[slot];
        pthread_mutex_unlock(&p->mu);
        if (!ses) {
                ses = sl_pg_session_new(adm->conf, &p->opts, errstr, errstr_size);
                pthread_mutex_lock(&p->mu);
                p->ses[slot] = ses;
                if (!ses) {
                        p->busy[slot] = false;
                        pthread_cond_signal(&p->cv);
                }
                pthread_mutex_unlock(&p->mu);
        }
        return ses;
}

void sl__adm_session_put(sl_admin_t *adm, sl_pg_session_t *ses)
{
        sl_adm_pool_t *p = &adm->pool;

        if (!ses)
                return;
        pthread_mutex_lock(&p->mu);
        for (size_t i = 0; i < p->n; i++)
                if (p->ses[i] == ses)
                        p->busy[i] = false;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
}

sl_pg_session_t *sl__adm_session_get(sl_adm_req_t *req)
{
        char errstr[512];
        sl_pg_session_t *ses = pool_get(req->adm, errstr, sizeof(errstr));

        if (!ses) {
                sl_log_warn("admin: no Postgres session: %s", errstr);
                sl__adm_problem(req, 503, "unavailable", "Service Unavailable", NULL,
                                "Postgres is unavailable");
        }
        return ses;
}

int sl__adm_pg_problem(sl_adm_req_t *req, const PGresult *res, const char *errstr)
{
        sl_sqlstate_t st = sl_pg_sqlstate(res);

        /* Data exceptions (class 22): a value that passed the checks here but not
         * Postgres's (a date past 9999, a number out of range). */
        if (st.s[0] == '2' && st.s[1] == '2')
                return sl__adm_problem(req, 400, "invalid-parameter", "Bad Request", NULL,
                                       "a parameter is out of range");
        sl_log_warn("admin: Postgres: %s", errstr);
        if (sl_pg_sqlstate_transient(st.s) || sl_sqlstate_is(st, "57014") ||
            sl_sqlstate_is(st, "55P03") || !*st.s)
                return sl__adm_problem(req, 503, "unavailable", "Service Unavailable",
                                       NULL, "Postgres is unavailable or too slow");
        return sl__adm_problem(req, 500, "internal", "Internal Server Error", NULL,
                               "the query failed (logged)");
}

PGresult *sl__adm_exec(sl_pg_session_t *ses, const char *sql, int nparams,
                       const char *const *params, char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;

        for (int tries = 0; tries < 2; tries++) {
                PGconn *pg = sl_pg_session_conn(ses);
                ExecStatusType rs;

                PQclear(res);
                res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
                rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
                if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
                        return res;
                snprintf(errstr, errstr_size, "%s",
                         res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
                if (PQstatus(pg) != CONNECTION_BAD)
                        break;
                if (sl_pg_session_reset(ses, errstr, errstr_size) != SL_OK)
                        break;
        }
        return res;
}

int sl__adm_query(sl_adm_req_t *req, const char *sql, int nparams,
                  const char *const *params, PGresult **out)
{
        char errstr[1024];
        sl_pg_session_t *ses = sl__adm_session_get(req);
        PGresult *res;
        int status = 0;

        *out = NULL;
        if (!ses)
                return req->status;
        res = sl__adm_exec(ses, sql, nparams, params, errstr, sizeof(errstr));
        sl__adm_session_put(req->adm, ses);
        if (res && (PQresultStatus(res) == PGRES_TUPLES_OK ||
                    PQresultStatus(res) == PGRES_COMMAND_OK)) {
                *out = res;
                return 0;
        }
        status = sl__adm_pg_problem(req, res, errstr);
        PQclear(res);
        return status;
}

int sl__adm_query_json(sl_adm_req_t *req, const char *sql, int nparams,
                       const char *const *params, json_t **out)
{
        PGresult *res;
        json_error_t jerr;
        int status = sl__adm_query(req, sql, nparams, params, &res);

        *out = NULL;
        if (status)
                return status;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
                *out = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
        PQclear(res);
        if (!*out)
                return sl__adm_problem(req, 500, "internal", "Internal Server Error",
                                       NULL, "unexpected answer from Postgres");
        return 0;
}

bool sl__adm_pg_ready(sl_admin_t *adm)
{
        char errstr[512];
        sl_pg_session_t *ses = pool_get(adm, errstr, sizeof(errstr));

        if (!ses)
                return false;
        PGresult *res = sl__adm_exec(ses, "SELECT 1", 0, NULL, errstr, sizeof(errstr));
        bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;

        PQclear(res);
        sl__adm_session_put(adm, ses);
        return ok;
}
