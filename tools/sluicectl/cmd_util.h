/*
 * Helpers the sluicectl subcommands share: option values, text checks, tab-separated
 * output fields, and Postgres errors in the subcommand's words.
 */
#ifndef SLUICECTL_CMD_UTIL_H
#define SLUICECTL_CMD_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config/config.h"

/* "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i past VALUE); NULL when
 * argv[*i] is not --name, or with *missing set when VALUE is absent. */
const char *sl__ctl_opt_value(int argc, char **argv, int *i, const char *name,
                              bool *missing);

/* 0 when s is 1..max characters without control characters; else -1 and a message
 * "sluicectl CMD: WHAT ..." on stderr. */
int sl__ctl_check_text(const char *cmd, const char *what, const char *s, size_t max);

/* Print s as one tab-separated output field (tabs and newlines become spaces). */
void sl__ctl_put_field(const char *s);

/* "sluicectl CMD: WHAT: <server's message>", plus a hint when the table is missing. */
void sl__ctl_pg_error(const char *cmd, PGconn *pg, PGresult *res, const char *what);

/* Connect with the pg.* keys; NULL after "sluicectl CMD: <why>" on stderr.  Caller
 * frees with PQfinish(). */
PGconn *sl__ctl_connect(const char *cmd, const sl_conf_t *conf);

/* Run "DELETE ... WHERE key = $1" for one row.  Prints done_msg (a format with one %s
 * for key) on success, "sluicectl CMD: no NOUN 'KEY'" when no row matched.  Returns
 * the exit code (0 or 1). */
int sl__ctl_delete_one(const char *cmd, const sl_conf_t *conf, const char *sql,
                       const char *key, const char *noun, const char *done_msg);

#endif
