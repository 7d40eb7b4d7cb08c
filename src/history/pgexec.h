/*
 * The one statement helper of src/history's maintenance and restore: a parameterised
 * statement run at once, its error message (first line) copied into errstr.
 */
#ifndef SL_HISTORY_PGEXEC_H
#define SL_HISTORY_PGEXEC_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* The result of sql with params when it succeeded (caller clears it), else NULL with
 * errstr set. */
PGresult *sl__hist_q(PGconn *pg, const char *sql, int n, const char *const *params,
                     char *errstr, size_t errstr_size);
/* sl__hist_q() whose result is not needed: whether it succeeded. */
bool sl__hist_ok(PGconn *pg, const char *sql, int n, const char *const *params,
                 char *errstr, size_t errstr_size);

#endif
