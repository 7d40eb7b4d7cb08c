/*
 * A Postgres session with its own retries (see session.h): connect, set up (settings,
 * prepared statements), run statements and transactions, and on a transient failure
 * reconnect when the connection was lost and run the work again.  The one place that
 * decides which Postgres failures are worth another try; stages never look at
 * SQLSTATEs themselves.
 */
#include "pg/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"
#include "sluice/err.h"

struct sl_pg_session_s {
        PGconn *pg;
        sl_pg_session_opts_t opts;
};

bool sl_pg_sqlstate_transient(const char *sqlstate)
{
        if (!sqlstate || !*sqlstate)
                return false;
        return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "40001") == 0 ||
               strcmp(sqlstate, "40P01") == 0;
}

static bool result_ok(const PGresult *res)
{
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY;
}

/* A failed res (NULL: none came) on pg: its words into errstr; true when transient.
 * The SQLSTATE is copied before the caller clears res. */
static bool failure(PGconn *pg, const PGresult *res, char *errstr, size_t errstr_size)
{
        sl_sqlstate_t state = sl_pg_sqlstate(res);

        sl__pg_errstr(pg, res, errstr, errstr_size);
        return PQstatus(pg) == CONNECTION_BAD || sl_pg_sqlstate_transient(state.s);
}

static int setup(sl_pg_session_t *ses, char *errstr, size_t errstr_size)
{
        PGresult *res;
        char msg[512];

        if (PQstatus(ses->pg) != CONNECTION_OK) {
                sl__pg_errstr(ses->pg, NULL, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "Postgres: %s", msg);
                return SL_ERR_PG_TRANSIENT;
        }
        if (ses->opts.setup_sql) {
                res = PQexec(ses->pg, ses->opts.setup_sql);
                if (!result_ok(res)) {
                        bool transient = failure(ses->pg, res, msg, sizeof(msg));
                        snprintf(errstr, errstr_size, "Postgres: %s: %s",
                                 ses->opts.setup_sql, msg);
                        PQclear(res);
                        return transient ? SL_ERR_PG_TRANSIENT : SL_ERR_PG;
                }
                PQclear(res);
        }
        /* Parsed and planned once per session, not once per use. */
        for (size_t i = 0; i < ses->opts.nstmts; i++) {
                const sl_pg_stmt_t *st = &ses->opts.stmts[i];
                res = PQprepare(ses->pg, st->name, st->sql, st->nparams, NULL);
                if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                        bool transient = failure(ses->pg, res, msg, sizeof(msg));
                        snprintf(errstr, errstr_size,
                                 "Postgres: preparing %s: %s (is the schema migrated? "
                                 "sluicectl migrate)",
                                 st->what, msg);
                        PQclear(res);
                        return transient ? SL_ERR_PG_TRANSIENT : SL_ERR_PG;
                }
                PQclear(res);
        }
        return SL_OK;
}

sl_pg_session_t *sl_pg_session_new(const sl_conf_t *conf,
                                   const sl_pg_session_opts_t *opts, char *errstr,
                                   size_t errstr_size)
{
        sl_pg_session_t *ses = calloc(1, sizeof(*ses));

        if (!ses) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (opts)
                ses->opts = *opts;
        ses->pg = sl_pg_connect(conf, errstr, errstr_size);
        if (!ses->pg)
                goto fail_connect;
        if (setup(ses, errstr, errstr_size) != SL_OK)
                goto fail_setup;
        return ses;

fail_setup:
        PQfinish(ses->pg);
fail_connect:
        free(ses);
        return NULL;
}

void sl_pg_session_destroy(sl_pg_session_t *ses)
{
        if (!ses)
                return;
        PQfinish(ses->pg);
        free(ses);
}

PGconn *sl_pg_session_conn(sl_pg_session_t *ses)
{
        return ses->pg;
}

int sl_pg_session_reset(sl_pg_session_t *ses, char *errstr, size_t errstr_size)
{
        sl_log_warn("Postgres connection lost: reconnecting");
        PQreset(ses->pg);
        return setup(ses, errstr, errstr_size);
}

/* After a transient failure: reconnect when the connection is gone.  false when the
 * work should not be tried again (the reconnect failed; errstr says why). */
static bool recover(sl_pg_session_t *ses, char *errstr, size_t errstr_size)
{
        char msg[512];
        int err;

        if (PQstatus(ses->pg) == CONNECTION_OK) {
                sl_log_warn("Postgres: %s: running it again", errstr);
                return true;
        }
        if ((err = sl_pg_session_reset(ses, msg, sizeof(msg))) != SL_OK) {
                snprintf(errstr, errstr_size, "%s", msg);
                return false;
        }
        return true;
}

int sl_pg_session_settle(sl_pg_session_t *ses, PGresult *res, const char *sql,
                         int nparams, const char *const *params, PGresult **out,
                         char *errstr, size_t errstr_size)
{
        bool transient = false;

        if (out)
                *out = NULL;
        for (int run = 0;; run++) {
                if (run > 0 || !res)
                        res = PQexecParams(ses->pg, sql, nparams, NULL, params, NULL,
                                           NULL, 0);
                if (result_ok(res)) {
                        if (out)
                                *out = res;
                        else
                                PQclear(res);
                        return SL_OK;
                }
                transient = failure(ses->pg, res, errstr, errstr_size);
                PQclear(res);
                res = NULL;
                if (!transient || run + 1 >= SL_PG_SESSION_TRIES ||
                    !recover(ses, errstr, errstr_size))
                        break;
        }
        return transient ? SL_ERR_PG_TRANSIENT : SL_ERR_PG;
}

int sl_pg_session_exec(sl_pg_session_t *ses, const char *sql, int nparams,
                       const char *const *params, PGresult **out, char *errstr,
                       size_t errstr_size)
{
        return sl_pg_session_settle(ses, NULL, sql, nparams, params, out, errstr,
                                    errstr_size);
}

/* One run of a transaction: true when committed; else *transient says of what kind
 * the failure was (rolled back). */
static bool tx_once(sl_pg_session_t *ses, const sl_pg_step_t *steps, size_t nsteps,
                    bool *transient, char *errstr, size_t errstr_size)
{
        PGresult *res = PQexec(ses->pg, "BEGIN");

        for (size_t i = 0; result_ok(res) && i <= nsteps; i++) {
                PQclear(res);
                res = i < nsteps ? PQexecParams(ses->pg, steps[i].sql, steps[i].nparams,
                                                NULL, steps[i].params, NULL, NULL, 0)
                                 : PQexec(ses->pg, "COMMIT");
        }
        if (result_ok(res)) {
                PQclear(res);
                return true;
        }
        *transient = failure(ses->pg, res, errstr, errstr_size);
        PQclear(res);
        if (PQstatus(ses->pg) == CONNECTION_OK)
                PQclear(PQexec(ses->pg, "ROLLBACK"));
        return false;
}

int sl_pg_session_tx(sl_pg_session_t *ses, const sl_pg_step_t *steps, size_t nsteps,
                     char *errstr, size_t errstr_size)
{
        bool transient = false;

        for (int run = 0;; run++) {
                if (tx_once(ses, steps, nsteps, &transient, errstr, errstr_size))
                        return SL_OK;
                if (!transient || run + 1 >= SL_PG_SESSION_TRIES ||
                    !recover(ses, errstr, errstr_size))
                        break;
        }
        return transient ? SL_ERR_PG_TRANSIENT : SL_ERR_PG;
}
