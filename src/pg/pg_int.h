/*
 * Internals of src/pg shared between its files (pg.c, migrate.c, types_registry.c).
 * Not for other modules: they use pg.h.
 */
#ifndef SL_PG_INT_H
#define SL_PG_INT_H

#include <stddef.h>

#include <libpq-fe.h>

/* One-line error words for a failed result (or the connection's last error when res
 * is NULL): primary message, detail, SQLSTATE.  Never contains query parameters. */
void sl__pg_errstr(PGconn *pg, const PGresult *res, char *errstr, size_t errstr_size);

/* Mask the password of conninfo wherever it occurs in msg (in place). */
void sl__pg_redact(char *msg, const char *conninfo);

/* Fill keys/vals (room for 3) for PQconnectdbParams/PQconnectStartParams from a
 * conninfo string, with fallback_application_name set to the executable's name.
 * Returns the expand_dbname argument to pass.  vals borrow conninfo. */
int sl__pg_conn_params(const char *conninfo, const char **keys, const char **vals);

/* Route the server's notices and asynchronous errors (e.g. "terminating connection
 * due to administrator command") to the JSON log instead of libpq's raw stderr. */
void sl__pg_log_notices(PGconn *pg);

#endif
