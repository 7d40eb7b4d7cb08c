/*
 * A Postgres session that survives what Postgres does to it: one connection, the
 * statements it prepares and the settings it sets once per session, and statements
 * run with the session's own retries.
 *
 * A failure is transient when the connection was lost (SQLSTATE class 08, or the
 * connection is CONNECTION_BAD), or the statement lost a serialization conflict
 * (40001) or was chosen as a deadlock victim (40P01).  A transient failure is tried
 * again, up to SL_PG_SESSION_TRIES runs in all, after a reconnect (PQreset, then the
 * setup again) when the connection was lost.  What still fails returns
 * SL_ERR_PG_TRANSIENT when the last failure was transient (the caller may retry later,
 * with backoff), SL_ERR_PG otherwise; errstr says why.  A transaction (sl_pg_session_tx)
 * is tried again as a whole: a statement of an aborted transaction cannot be.
 *
 * Not thread-safe: one thread uses a session at a time.  Not here: COPY (copy_pipe.h),
 * LISTEN (watch.h).
 */
#ifndef SL_PG_SESSION_H
#define SL_PG_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config/config.h"

#define SL_PG_SESSION_TRIES 3

/* A statement prepared once per session: name, SQL, parameter count, and what it is
 * in words (for errors). */
typedef struct sl_pg_stmt_s {
        const char *name;
        const char *sql;
        int nparams;
        const char *what;
} sl_pg_stmt_t;

/* What a session sets up after each (re)connect.  Borrowed: the strings and the array
 * must outlive the session (static data in practice). */
typedef struct sl_pg_session_opts_s {
        const char *setup_sql; /* run first, e.g. "SET synchronous_commit = off"; NULL */
        const sl_pg_stmt_t *stmts;
        size_t nstmts;
} sl_pg_session_opts_t;

typedef struct sl_pg_session_s sl_pg_session_t;

/* One statement of a transaction (sl_pg_session_tx). */
typedef struct sl_pg_step_s {
        const char *sql;
        int nparams;
        const char *const *params;
} sl_pg_step_t;

/* Connect with the pg.* keys and set the session up.  opts may be NULL (nothing to set
 * up).  NULL with errstr set; caller frees with sl_pg_session_destroy(). */
sl_pg_session_t *sl_pg_session_new(const sl_conf_t *conf,
                                   const sl_pg_session_opts_t *opts, char *errstr,
                                   size_t errstr_size);
/* Closes the connection.  NULL-safe. */
void sl_pg_session_destroy(sl_pg_session_t *ses);

/* The connection, borrowed, valid until sl_pg_session_destroy(); for sending queries
 * asynchronously and for APIs that take a PGconn.  A reconnect keeps the same PGconn. */
PGconn *sl_pg_session_conn(sl_pg_session_t *ses);

/* Reconnect now and set the session up again (a lost connection noticed outside
 * sl_pg_session_exec).  SL_OK, or SL_ERR_PG_TRANSIENT with errstr set. */
int sl_pg_session_reset(sl_pg_session_t *ses, char *errstr, size_t errstr_size);

/* Run sql with params (text, all of them), with the session's retries.  SL_OK and, when
 * out is not NULL, *out the result (caller PQclear()s it); else SL_ERR_PG_TRANSIENT or
 * SL_ERR_PG with errstr set and *out NULL. */
int sl_pg_session_exec(sl_pg_session_t *ses, const char *sql, int nparams,
                       const char *const *params, PGresult **out, char *errstr,
                       size_t errstr_size);

/* Settle the result of sql sent asynchronously on the session's connection (res, taken
 * over; NULL when the send itself failed): a success is handed back as it is, a
 * transient failure is run again with sl_pg_session_exec()'s retries.  As
 * sl_pg_session_exec() otherwise. */
int sl_pg_session_settle(sl_pg_session_t *ses, PGresult *res, const char *sql,
                         int nparams, const char *const *params, PGresult **out,
                         char *errstr, size_t errstr_size);

/* Run steps in one transaction (BEGIN ... COMMIT), the whole of it tried again on a
 * transient failure; rolled back on any failure.  SL_OK, SL_ERR_PG_TRANSIENT or
 * SL_ERR_PG with errstr set. */
int sl_pg_session_tx(sl_pg_session_t *ses, const sl_pg_step_t *steps, size_t nsteps,
                     char *errstr, size_t errstr_size);

/* Whether a failure with this SQLSTATE ("" or NULL when none) is transient: class 08
 * (connection exception), 40001 (serialization failure), 40P01 (deadlock detected). */
bool sl_pg_sqlstate_transient(const char *sqlstate);

#endif
