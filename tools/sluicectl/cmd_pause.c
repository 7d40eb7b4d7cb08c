/*
 * sluicectl pause / resume: manual pauses of a source (the pauses table, one current
 * pause per source) and their audit trail (pause_history).
 *
 *   pause source ID [--until RFC3339 | --for DURATION] --reason TEXT [--by WHO]
 *   pause list                         current pauses (tab-separated)
 *   pause history [ID]                 ended pauses, newest first
 *   resume source ID [--by WHO]        end ID's pause
 *
 * A new pause of a source already paused replaces it; the old one goes to
 * pause_history with resumed_by "replaced by WHO", in the same transaction.  Resume
 * moves the row to pause_history in one statement (DELETE ... RETURNING feeding the
 * INSERT), so a pause is never in both tables or in neither.  Every change fires the
 * pauses trigger, which notifies running processors on sluice_config.  All
 * statements are parameterised.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmd_util.h"
#include "cmds.h"
#include "pg/pg.h"

#define SL_SOURCE_ID_MAX 255
#define SL_REASON_MAX    1000

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char pause_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... pause COMMAND\n"
    "       sluicectl [-c FILE] [-X key=value]... resume source ID [--by WHO]\n"
    "\n"
    "  pause source ID [--until TIME | --for DURATION] --reason TEXT [--by WHO]\n"
    "                 pause source ID: its events are decided 'paused' until TIME\n"
    "                 (RFC 3339, e.g. 2030-01-02T15:04:05Z), for DURATION (e.g. 90s,\n"
    "                 5m, 2h, 1d, 1h30m), or until resumed when neither is given.\n"
    "                 Replaces a current pause (kept in the history).  --by defaults\n"
    "                 to $USER\n"
    "  pause list     SOURCE, ACTIVE, PAUSED_AT, UNTIL, PAUSED_BY, REASON of current\n"
    "                 pauses, tab-separated after a header line\n"
    "  pause history [ID]\n"
    "                 ended pauses (resumed or replaced), newest first\n"
    "  resume source ID [--by WHO]\n"
    "                 end ID's pause (moved to the history); exits 1 when ID is not\n"
    "                 paused\n";

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
        fprintf(stderr, "sluicectl %s: ", cmd);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", pause_usage);
        return 2;
}

static void print_rows(PGresult *res)
{
        for (int r = 0; r < PQntuples(res); r++) {
                for (int c = 0; c < PQnfields(res); c++) {
                        if (c)
                                fputc('\t', stdout);
                        sl__ctl_put_field(PQgetvalue(res, r, c));
                }
                fputc('\n', stdout);
        }
}

/* Parse "source ID [options]" from argv[1] on, for pause (flags: --until, --for,
 * --reason, --by) or resume (--by only).  vals gets the flags' values in that order. */
static int parse_source_args(const char *cmd, int argc, char **argv,
                             const char *const *flags, size_t nflags, const char **id,
                             const char **vals)
{
        if (argc < 2 || strcmp(argv[1], "source") != 0)
                return usage_error(cmd, "%s", "expected 'source ID'");
        *id = NULL;
        for (int i = 2; i < argc; i++) {
                bool matched = false, missing = false;

                for (size_t f = 0; f < nflags && !matched; f++) {
                        const char *v =
                            sl__ctl_opt_value(argc, argv, &i, flags[f], &missing);
                        if (missing)
                                return usage_error(cmd, "%s needs a value", flags[f]);
                        if (v) {
                                vals[f] = v;
                                matched = true;
                        }
                }
                if (matched)
                        continue;
                if (argv[i][0] == '-' && argv[i][1] != '\0')
                        return usage_error(cmd, "unknown option '%s'", argv[i]);
                if (*id)
                        return usage_error(cmd, "unexpected argument '%s'", argv[i]);
                *id = argv[i];
        }
        if (!*id)
                return usage_error(cmd, "%s", "missing source ID");
        if (sl__ctl_check_text(cmd, "source ID", *id, SL_SOURCE_ID_MAX))
                return 2;
        return 0;
}

static int pause_source(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--until", "--for", "--reason", "--by"};
        const char *vals[4] = {NULL}, *id, *by;
        sl__ctl_span_t span;
        PGconn *pg;
        PGresult *res = NULL;
        int rc;

        rc = parse_source_args("pause", argc, argv, flags, 4, &id, vals);
        if (rc)
                return rc;
        if (vals[0] && vals[1])
                return usage_error("pause", "%s", "--until and --for exclude each other");
        if (!vals[2])
                return usage_error("pause", "%s", "--reason TEXT is required");
        if (sl__ctl_check_text("pause", "--reason", vals[2], SL_REASON_MAX))
                return 2;
        if (vals[3] && sl__ctl_check_text("pause", "--by", vals[3], SL_SOURCE_ID_MAX))
                return 2;
        by = sl__ctl_by(vals[3]);
        if (sl__ctl_span("pause", vals[0], vals[1], &span))
                return 2;

        pg = sl__ctl_connect("pause", conf);
        if (!pg)
                return 1;
        rc = 1;
        {
                const char *hist[2] = {id, by};
                const char *ins[5] = {id, span.until_ms, span.for_ms, vals[2], by};

                if (!sl__ctl_exec("pause", pg, "BEGIN", 0, NULL,
                                  "starting a transaction"))
                        goto out;
                /* A current pause is replaced: record it as ended by this one. */
                if (!sl__ctl_exec("pause", pg, SL_PG_SOURCE_PAUSE_REPLACE, 2, hist,
                                  "recording the pause it replaces"))
                        goto rollback;
                res = PQexecParams(pg,
                                   SL_PG_SOURCE_PAUSE_INSERT
                                   " RETURNING coalesce(" TS("until") ", 'resumed')",
                                   5, NULL, ins, NULL, NULL, 0);
                if (!res || PQresultStatus(res) != PGRES_TUPLES_OK ||
                    PQntuples(res) != 1) {
                        sl__ctl_pg_error("pause", pg, res, "storing the pause");
                        goto rollback;
                }
                if (!sl__ctl_exec("pause", pg, "COMMIT", 0, NULL, "committing the pause"))
                        goto out;
                printf("source %s paused until %s (by %s: %s)\n", id,
                       PQgetvalue(res, 0, 0), by, vals[2]);
                rc = 0;
                goto out;
        }
rollback:
        PQclear(PQexec(pg, "ROLLBACK"));
out:
        PQclear(res);
        PQfinish(pg);
        return rc;
}

static int pause_list(const sl_conf_t *conf)
{
        PGconn *pg = sl__ctl_connect("pause", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(
            pg,
            "SELECT source, CASE WHEN until IS NOT NULL AND until <= now() "
            "THEN 'expired' ELSE 'yes' END, " TS(
                "paused_at") ", "
                             "coalesce(" TS("until") ", 'resumed'), paused_by, reason "
                                                     "FROM pauses ORDER BY source",
            0, NULL, NULL, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("pause", pg, res, "reading pauses");
        } else {
                printf("SOURCE\tACTIVE\tPAUSED_AT\tUNTIL\tPAUSED_BY\tREASON\n");
                print_rows(res);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

static int pause_history(const sl_conf_t *conf, const char *id)
{
        const char *params[1] = {id};
        PGconn *pg = sl__ctl_connect("pause", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(
            pg,
            "SELECT source, " TS("paused_at") ", coalesce(" TS(
                "until") ", 'resumed'), "
                         "paused_by, reason, coalesce(" TS(
                             "resumed_at") ", ''), "
                                           "coalesce(resumed_by, '') FROM pause_history "
                                           "WHERE $1::text IS NULL OR source = $1 ORDER "
                                           "BY id DESC",
            1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("pause", pg, res, "reading pause_history");
        } else {
                printf("SOURCE\tPAUSED_AT\tUNTIL\tPAUSED_BY\tREASON\tRESUMED_AT\t"
                       "RESUMED_BY\n");
                print_rows(res);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

int sl_cmd_pause(sl_conf_t *conf, int argc, char **argv)
{
        const char *action = argc > 1 ? argv[1] : NULL;
        int rc;

        if (!action)
                return usage_error("pause", "%s", "missing command");
        if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
                fputs(pause_usage, stdout);
                return 0;
        }
        if (strcmp(action, "source") == 0) {
                rc = pause_source(conf, argc, argv);
        } else if (strcmp(action, "list") == 0) {
                if (argc != 2)
                        return usage_error("pause", "unexpected argument '%s'", argv[2]);
                rc = pause_list(conf);
        } else if (strcmp(action, "history") == 0) {
                if (argc > 3)
                        return usage_error("pause", "unexpected argument '%s'", argv[3]);
                if (argc == 3 &&
                    sl__ctl_check_text("pause", "source ID", argv[2], SL_SOURCE_ID_MAX))
                        return 2;
                rc = pause_history(conf, argc == 3 ? argv[2] : NULL);
        } else {
                return usage_error("pause", "unknown command '%s'", action);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl pause: stdout");
                return 1;
        }
        return rc;
}

int sl_cmd_resume(sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--by"};
        const char *vals[1] = {NULL}, *id, *by, *params[2];
        PGconn *pg;
        PGresult *res;
        int rc;

        if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                fputs(pause_usage, stdout);
                return 0;
        }
        rc = parse_source_args("resume", argc, argv, flags, 1, &id, vals);
        if (rc)
                return rc;
        if (vals[0] && sl__ctl_check_text("resume", "--by", vals[0], SL_SOURCE_ID_MAX))
                return 2;
        by = sl__ctl_by(vals[0]);
        params[0] = id;
        params[1] = by;
        pg = sl__ctl_connect("resume", conf);
        if (!pg)
                return 1;
        rc = 1;
        res = PQexecParams(pg, SL_PG_SOURCE_RESUME, 2, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("resume", pg, res, "resuming");
        } else if (PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl resume: source '%s' is not paused\n", id);
        } else {
                printf("source %s resumed by %s (was paused by %s: %s)\n", id, by,
                       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl resume: stdout");
                return 1;
        }
        return rc;
}
