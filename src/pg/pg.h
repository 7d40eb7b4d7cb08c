/*
 * Postgres plumbing: connecting from sl_conf_t (pg.* keys), migrations, and helpers
 * every stage uses.  Every statement is parameterised (PQexecParams) or COPY.
 */
#ifndef SL_PG_H
#define SL_PG_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config/config.h"

/* Connect with the pg.* keys.  Returns NULL with errstr set (no password in it).
 * Caller frees with PQfinish(). */
PGconn *sl_pg_connect(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/* Apply every migrations/NNNN_name.sql in dir not yet in schema_migrations, in order,
 * each in its own transaction, recording it.  Safe to run twice.  *applied (may be
 * NULL) gets the number applied.  errstr names the file on failure. */
int sl_pg_migrate(PGconn *pg, const char *dir, int *applied, char *errstr,
                  size_t errstr_size);

/* Run a parameterised statement that returns no rows (or whose rows are ignored).
 * Returns SL_OK or SL_ERR_PG with errstr carrying the server's message. */
int sl_pg_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
               char *errstr, size_t errstr_size);

/* Make sure daily partitions of workflow_events exist from days_back days ago to
 * days_ahead days ahead (UTC).  Idempotent. */
int sl_pg_ensure_partitions(PGconn *pg, int days_back, int days_ahead, char *errstr,
                            size_t errstr_size);

/* The SQLSTATE of a failed result, copied: "" when none.  A value, not a pointer
 * into res, so it stays valid after PQclear(res) (a pointer kept past PQclear was a
 * use-after-free on the COPY replay path). */
typedef struct sl_sqlstate_s {
        char s[6];
} sl_sqlstate_t;
sl_sqlstate_t sl_pg_sqlstate(const PGresult *res);
/* True when st is the five-character code code ("23505"). */
bool sl_sqlstate_is(sl_sqlstate_t st, const char *code);

#endif
