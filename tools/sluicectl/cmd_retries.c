/*
 * sluicectl retries: what the retry lifecycle holds in event_ingress_retries (see
 * docs/retries.md), and cancellation.
 *
 *   retries list [--state S] [--source X] [--limit N]   tab-separated, a header line
 *   retries show EVENT_ID                                one "key: value" per line
 *   retries cancel EVENT_ID [--by WHO] [--reason TEXT]
 *
 * Cancel is one guarded UPDATE (state IN scheduled/rescheduled/due -> cancelled), so it
 * races safely with sluice-retry and ingress: whichever UPDATE comes second finds the
 * row in a state it does not move from.  All statements are parameterised.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmd_util.h"
#include "cmds.h"
#include "pg/pg.h"
#include "retry/due.h"
#include "retry/state.h"
#include "util/uuid.h"

#define SL_TEXT_MAX 1000

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char retries_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... retries COMMAND\n"
    "\n"
    "  retries list [--state S] [--source X] [--limit N]\n"
    "                 EVENT_ID, SOURCE, STATE, ATTEMPT, NEXT_ATTEMPT_AT, REASON,\n"
    "                 UPDATED_AT of retries, soonest next attempt first, tab-separated\n"
    "                 after a header line.  S: scheduled, due, completed,\n"
    "                 rescheduled, cancelled or exhausted; N defaults to 100\n"
    "  retries show EVENT_ID\n"
    "                 every column of one event's retry, one 'key: value' per line;\n"
    "                 exits 1 when the event has none\n"
    "  retries cancel EVENT_ID [--by WHO] [--reason TEXT]\n"
    "                 cancel a scheduled, rescheduled or due retry: the event never\n"
    "                 comes back.  Exits 1 (saying why) when the retry is missing or\n"
    "                 already completed, cancelled or exhausted.  --by defaults to "
    "$USER\n";

static int usage_error(const char *fmt, const char *arg)
{
        fprintf(stderr, "sluicectl retries: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", retries_usage);
        return 2;
}

/* Parse argv[1..] into at most one positional (*pos) and the flags' values. */
static int parse_args(int argc, char **argv, const char *const *flags, size_t nflags,
                      const char **pos, const char **vals)
{
        for (int i = 1; i < argc; i++) {
                bool matched = false, missing = false;

                for (size_t f = 0; f < nflags && !matched; f++) {
                        const char *v =
                            sl__ctl_opt_value(argc, argv, &i, flags[f], &missing);
                        if (missing)
                                return usage_error("%s needs a value", flags[f]);
                        if (v) {
                                vals[f] = v;
                                matched = true;
                        }
                }
                if (matched)
                        continue;
                if (argv[i][0] == '-' && argv[i][1] != '\0')
                        return usage_error("unknown option '%s'", argv[i]);
                if (!pos || *pos)
                        return usage_error("unexpected argument '%s'", argv[i]);
                *pos = argv[i];
        }
        return 0;
}

/* The result of sql, or NULL after saying what failed. */
static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *params,
                       const char *what)
{
        PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);

        if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
                return res;
        const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        fprintf(stderr, "sluicectl retries: %s: %s%s", what,
                msg ? msg : PQerrorMessage(pg), msg ? "\n" : "");
        if (sl_sqlstate_is(sl_pg_sqlstate(res), "42P01") ||
            sl_sqlstate_is(sl_pg_sqlstate(res), "42703"))
                fprintf(stderr, "sluicectl retries: run 'sluicectl migrate' first\n");
        PQclear(res);
        return NULL;
}

static int check_event_id(const char *id)
{
        if (!id)
                return usage_error("%s", "missing EVENT_ID");
        if (!sl_uuid_valid(id)) {
                fprintf(stderr, "sluicectl retries: EVENT_ID '%.64s' is not a UUID\n",
                        id);
                return 2;
        }
        return 0;
}

static int retries_list(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--state", "--source", "--limit"};
        const char *vals[3] = {NULL, NULL, NULL};
        char limit[24] = "100";
        sl_retry_state_t st;
        PGconn *pg;
        PGresult *res;
        int rc = parse_args(argc, argv, flags, 3, NULL, vals);

        if (rc)
                return rc;
        if (vals[0] && sl_retry_state_parse(vals[0], &st) != 0)
                return usage_error(
                    "--state: '%s' is not one of scheduled, due, completed, "
                    "rescheduled, cancelled, exhausted",
                    vals[0]);
        if (vals[1] && sl__ctl_check_text("retries", "--source", vals[1], SL_TEXT_MAX))
                return 2;
        if (vals[2]) {
                char *end;
                long n = strtol(vals[2], &end, 10);
                if (*vals[2] == '\0' || *end || n < 1 || n > 1000000)
                        return usage_error("--limit: '%s' is not a number in 1..1000000",
                                           vals[2]);
                snprintf(limit, sizeof(limit), "%ld", n);
        }
        pg = sl__ctl_connect("retries", conf);
        if (!pg)
                return 1;
        {
                const char *params[3] = {vals[0], vals[1], limit};
                // clang-format off
                res = query(pg,
                            "SELECT event_id::text, source, state, attempt, " TS(
                                    "next_attempt_at") ", reason, " TS("updated_at")
                            " FROM event_ingress_retries"
                            " WHERE ($1::text IS NULL OR state = $1)"
                            "   AND ($2::text IS NULL OR source = $2)"
                            " ORDER BY next_attempt_at, event_id LIMIT $3::bigint",
                            3, params, "listing retries");
                // clang-format on
        }
        if (!res) {
                PQfinish(pg);
                return 1;
        }
        printf("EVENT_ID\tSOURCE\tSTATE\tATTEMPT\tNEXT_ATTEMPT_AT\tREASON\tUPDATED_AT\n");
        for (int r = 0; r < PQntuples(res); r++) {
                for (int c = 0; c < PQnfields(res); c++) {
                        if (c)
                                fputc('\t', stdout);
                        sl__ctl_put_field(PQgetvalue(res, r, c));
                }
                fputc('\n', stdout);
        }
        PQclear(res);
        PQfinish(pg);
        return 0;
}

static int retries_show(const sl_conf_t *conf, int argc, char **argv)
{
        const char *id = NULL;
        PGconn *pg;
        PGresult *res;
        int rc = parse_args(argc, argv, NULL, 0, &id, NULL);

        if (rc)
                return rc;
        if ((rc = check_event_id(id)))
                return rc;
        pg = sl__ctl_connect("retries", conf);
        if (!pg)
                return 1;
        {
                const char *params[1] = {id};
                // clang-format off
                res = query(pg,
                            "SELECT event_id::text AS event_id, source, state, attempt, "
                            TS("next_attempt_at") " AS next_attempt_at, reason, "
                            "'event-retry:' || event_id::text || ':' || attempt AS retry_id, "
                            TS("occurred_at") " AS occurred_at, "
                            TS("created_at") " AS created_at, "
                            TS("updated_at") " AS updated_at, "
                            "coalesce(updated_by, '') AS updated_by, "
                            "coalesce(cancel_reason, '') AS cancel_reason, "
                            "coalesce(length(envelope)::text, 'none') AS envelope_bytes, "
                            "coalesce(" TS("reconciled_at") ", 'never') AS reconciled_at, "
                            "reconcile_count "
                            "FROM event_ingress_retries WHERE event_id = $1::uuid",
                            1, params, "reading the retry");
                // clang-format on
        }
        if (!res) {
                PQfinish(pg);
                return 1;
        }
        if (PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl retries: no retry for event %s\n", id);
                PQclear(res);
                PQfinish(pg);
                return 1;
        }
        for (int c = 0; c < PQnfields(res); c++) {
                printf("%s: ", PQfname(res, c));
                sl__ctl_put_field(PQgetvalue(res, 0, c));
                fputc('\n', stdout);
        }
        PQclear(res);
        PQfinish(pg);
        return 0;
}

static int retries_cancel(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--by", "--reason"};
        const char *vals[2] = {NULL, NULL}, *id = NULL, *by, *user = getenv("USER");
        PGconn *pg;
        PGresult *res;
        int rc = parse_args(argc, argv, flags, 2, &id, vals);

        if (rc)
                return rc;
        if ((rc = check_event_id(id)))
                return rc;
        if (vals[0] && sl__ctl_check_text("retries", "--by", vals[0], SL_TEXT_MAX))
                return 2;
        if (vals[1] && sl__ctl_check_text("retries", "--reason", vals[1], SL_TEXT_MAX))
                return 2;
        by = vals[0] ? vals[0] : user && *user ? user : "sluicectl";
        pg = sl__ctl_connect("retries", conf);
        if (!pg)
                return 1;
        {
                const char *params[3] = {id, by, vals[1]};
                res = query(pg, SL_PG_RETRY_CANCEL, 3, params, "cancelling the retry");
        }
        if (!res) {
                PQfinish(pg);
                return 1;
        }
        if (PQntuples(res) == 1) {
                printf("retry of event %s (source %s, attempt %s) cancelled by %s\n", id,
                       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), by);
                PQclear(res);
                PQfinish(pg);
                return 0;
        }
        PQclear(res);
        {
                const char *params[1] = {id};
                res = query(pg,
                            "SELECT state, attempt FROM event_ingress_retries "
                            "WHERE event_id = $1::uuid",
                            1, params, "reading the retry");
        }
        if (res && PQntuples(res) == 0)
                fprintf(stderr, "sluicectl retries: no retry for event %s\n", id);
        else if (res)
                fprintf(
                    stderr,
                    "sluicectl retries: the retry of event %s is %s (attempt %s): only "
                    "scheduled, rescheduled or due retries can be cancelled\n",
                    id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        PQclear(res);
        PQfinish(pg);
        return 1;
}

int sl_cmd_retries(sl_conf_t *conf, int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                fputs(retries_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        fputs(retries_usage, stdout);
                        return 0;
                }
        }
        if (strcmp(argv[1], "list") == 0)
                return retries_list(conf, argc - 1, argv + 1);
        if (strcmp(argv[1], "show") == 0)
                return retries_show(conf, argc - 1, argv + 1);
        if (strcmp(argv[1], "cancel") == 0)
                return retries_cancel(conf, argc - 1, argv + 1);
        return usage_error("unknown command '%s'", argv[1]);
}
