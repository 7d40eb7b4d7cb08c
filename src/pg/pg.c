/*
 * Postgres plumbing shared by every stage and tool: connecting from the pg.* keys
 * (application_name defaulted to the executable's name, the password never in an error
 * message), running one parameterised statement, creating the daily workflow_events
 * partitions, and translating libpq results into sluice errors with words.
 *
 * The migration runner lives in migrate.c; the event-type registry in
 * types_registry.c.  Nothing here keeps state between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"
#include "sluice/err.h"

extern char *program_invocation_short_name;

void sl__pg_redact(char *msg, const char *conninfo)
{
        static const char mask[] = "[redacted]";
        PQconninfoOption *opts, *o;
        const char *pw = NULL;
        size_t pwlen, masklen = sizeof(mask) - 1;
        char *hit, *from;

        if (!msg || !conninfo)
                return;
        opts = PQconninfoParse(conninfo, NULL);
        if (!opts)
                return;
        for (o = opts; o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
                        pw = o->val;
        if (pw) {
                pwlen = strlen(pw);
                from = msg;
                while ((hit = strstr(from, pw)) != NULL) {
                        size_t tail = strlen(hit + pwlen);
                        if (masklen <= pwlen) {
                                memcpy(hit, mask, masklen);
                                memmove(hit + masklen, hit + pwlen, tail + 1);
                                from = hit + masklen;
                        } else {
                                /* No room to grow in place: blank it out instead. */
                                memset(hit, '*', pwlen);
                                from = hit + pwlen;
                        }
                }
        }
        PQconninfoFree(opts);
}

/* Copy s into errstr as one line: newlines become "; ", trailing space dropped. */
static void one_line(char *errstr, size_t errstr_size, const char *s)
{
        size_t n = 0;

        if (!errstr_size)
                return;
        for (; *s && n + 1 < errstr_size; s++) {
                if (*s == '\n') {
                        if (s[1] == '\0')
                                break;
                        if (n + 3 >= errstr_size)
                                break;
                        errstr[n++] = ';';
                        errstr[n++] = ' ';
                        while (s[1] == ' ' || s[1] == '\t')
                                s++;
                        continue;
                }
                errstr[n++] = *s;
        }
        while (n > 0 && (errstr[n - 1] == ' ' || errstr[n - 1] == '\t'))
                n--;
        errstr[n] = '\0';
}

void sl__pg_errstr(PGconn *pg, const PGresult *res, char *errstr, size_t errstr_size)
{
        const char *primary =
            res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *detail, *state;
        char buf[1024];

        if (!primary) {
                const char *m = res ? PQresultErrorMessage(res) : "";
                if (!m || !*m)
                        m = pg ? PQerrorMessage(pg) : "no connection";
                if (!m || !*m)
                        m = "unknown Postgres error";
                one_line(errstr, errstr_size, m);
                return;
        }
        detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(buf, sizeof(buf), "%s%s%s%s [SQLSTATE %s]", primary, detail ? " (" : "",
                 detail ? detail : "", detail ? ")" : "", state ? state : "?????");
        one_line(errstr, errstr_size, buf);
}

static void log_notice(void *arg, const char *message)
{
        char line[768];

        (void)arg;
        one_line(line, sizeof(line), message);
        sl_log_info("postgres: %s", line);
}

void sl__pg_log_notices(PGconn *pg)
{
        if (pg)
                PQsetNoticeProcessor(pg, log_notice, NULL);
}

int sl__pg_conn_params(const char *conninfo, const char **keys, const char **vals)
{
        keys[0] = "dbname"; /* expanded as a conninfo string (expand_dbname = 1) */
        vals[0] = conninfo;
        keys[1] = "fallback_application_name";
        vals[1] = program_invocation_short_name;
        keys[2] = NULL;
        vals[2] = NULL;
        return 1;
}

PGconn *sl_pg_connect(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        const char *keys[3], *vals[3];
        char *conninfo = sl_conf_pg_conninfo(conf);
        PGconn *pg;
        int expand;

        if (!conninfo) {
                snprintf(errstr, errstr_size,
                         "Postgres: out of memory building conninfo");
                return NULL;
        }
        expand = sl__pg_conn_params(conninfo, keys, vals);
        pg = PQconnectdbParams(keys, vals, expand);
        if (!pg) {
                snprintf(errstr, errstr_size, "Postgres: out of memory connecting");
                free(conninfo);
                return NULL;
        }
        if (PQstatus(pg) != CONNECTION_OK) {
                char msg[1024];
                one_line(msg, sizeof(msg), PQerrorMessage(pg));
                sl__pg_redact(msg, conninfo);
                snprintf(errstr, errstr_size, "Postgres connect: %s", msg);
                PQfinish(pg);
                free(conninfo);
                return NULL;
        }
        free(conninfo);
        sl__pg_log_notices(pg);
        return pg;
}

int sl_pg_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
               char *errstr, size_t errstr_size)
{
        PGresult *res;
        ExecStatusType st;

        if (!pg || !sql || nparams < 0 || (nparams > 0 && !params)) {
                snprintf(errstr, errstr_size, "sl_pg_exec: bad arguments");
                return SL_ERR_INVALID;
        }
        res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
                PQclear(res);
                return SL_OK;
        }
        sl__pg_errstr(pg, res, errstr, errstr_size);
        PQclear(res);
        return SL_ERR_PG;
}

int sl_pg_ensure_partitions(PGconn *pg, int days_back, int days_ahead, char *errstr,
                            size_t errstr_size)
{
        char back[16], ahead[16], msg[768];
        const char *params[2] = {back, ahead};
        PGresult *res;
        int created;

        if (!pg || days_back < 0 || days_ahead < 0) {
                snprintf(errstr, errstr_size,
                         "event partitions: days back/ahead must be >= 0 (got %d, %d)",
                         days_back, days_ahead);
                return SL_ERR_INVALID;
        }
        snprintf(back, sizeof(back), "%d", days_back);
        snprintf(ahead, sizeof(ahead), "%d", days_ahead);
        res = PQexecParams(pg, "SELECT sluice_ensure_event_partitions($1::int, $2::int)",
                           2, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                sl__pg_errstr(pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size,
                         "sluice_ensure_event_partitions(%d, %d): %s", days_back,
                         days_ahead, msg);
                PQclear(res);
                return SL_ERR_PG;
        }
        created = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (created > 0)
                sl_log_info("created %d daily workflow_events partitions", created);
        return SL_OK;
}

sl_sqlstate_t sl_pg_sqlstate(const PGresult *res)
{
        sl_sqlstate_t st = {{0}};
        const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        if (s)
                snprintf(st.s, sizeof(st.s), "%s", s);
        return st;
}

bool sl_sqlstate_is(sl_sqlstate_t st, const char *code)
{
        return strcmp(st.s, code) == 0;
}
