/*
 * Helpers the sluicectl subcommands share: option values, text checks, tab-separated
 * output fields, and Postgres errors in the subcommand's words.
 */
#ifndef SLUICECTL_CMD_UTIL_H
#define SLUICECTL_CMD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "pg/operate.h"

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

/* The whole of path ("-": stdin) as a NUL-terminated string of at most max bytes;
 * NULL after "sluicectl CMD: PATH: why" on stderr.  Caller frees with free(). */
char *sl__ctl_slurp(const char *cmd, const char *path, size_t max);

/* Who a change is recorded as: by when given, else $USER, else "sluicectl". */
const char *sl__ctl_by(const char *by);

/* Run one statement (result not needed); false after the error on stderr. */
bool sl__ctl_exec(const char *cmd, PGconn *pg, const char *sql, int nparams,
                  const char *const *params, const char *what);

/* BEGIN, then record by as the transaction's actor (set_config('sluice.actor', by,
 * true): the audit triggers read it).  false after the error on stderr. */
bool sl__ctl_begin_as(const char *cmd, PGconn *pg, const char *by);

/* RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)) to ms since the
 * epoch.  -1 when s is not one. */
int sl__ctl_parse_rfc3339(const char *s, int64_t *out_ms);

/* ms since the epoch as RFC 3339 UTC text with milliseconds into out (at least
 * SL_CTL_TIME_MAX bytes). */
#define SL_CTL_TIME_MAX 80
void sl__ctl_format_ms(int64_t ms, char *out, size_t size);

/* "90s", "5m", "2h", "1d", "250ms", "1h30m" to ms.  -1 when not one, not > 0 or more
 * than ten years. */
int sl__ctl_parse_duration(const char *s, int64_t *out_ms);

/* The end of a pause from --until TIME / --for DURATION (either may be NULL; the
 * caller refuses both at once): until_ms (ms since the epoch) and for_ms (a length),
 * decimal text for a bigint parameter, NULL when absent. */
typedef struct sl__ctl_span_s {
        const char *until_ms;
        const char *for_ms;
        char buf_[2][24];
} sl__ctl_span_t;

/* Checks and converts; returns 0, or 2 after "sluicectl CMD: --until: ..." words. */
int sl__ctl_span(const char *cmd, const char *until, const char *for_,
                 sl__ctl_span_t *span);

/* SQL for the end of a pause from a span's two parameters (e.g. "$2", "$3"): NULL
 * (until resumed) when both are NULL.  One copy, in src/pg/operate.h. */
#define SL_CTL_UNTIL_SQL(until_ms, for_ms) SL_PG_UNTIL_SQL(until_ms, for_ms)

/* `sluicectl triggers replay-shed` (cmd_triggers_replay.c). */
int sl__ctl_triggers_replay_shed(const sl_conf_t *conf, int argc, char **argv);

/* `sluicectl triggers test` and `sluicectl sources test`: shadow evaluation
 * (cmd_shadow.c). */
int sl__ctl_triggers_test(const sl_conf_t *conf, int argc, char **argv);
int sl__ctl_sources_test(const sl_conf_t *conf, int argc, char **argv);

#endif
