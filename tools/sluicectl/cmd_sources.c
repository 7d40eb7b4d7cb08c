/*
 * sluicectl sources: per-source admission limits (the sources table) from the command
 * line.
 *
 *   sources list                       one line per source (tab-separated)
 *   sources get ID                     one source, key<TAB>value lines
 *   sources set ID --limit N --window-ms MS [--pause-after N] [--pause-ms MS]
 *               [--dlq-rate PCT] [--dlq-min N] [--dlq-window-ms MS] [--dlq-pause-ms MS]
 *               [--description TEXT] [--by WHO]      insert or replace
 *   sources rm ID                      remove (the source falls back to the defaults)
 *   sources test ID [--since ..] FILE  limits not saved, against history (cmd_shadow.c)
 *
 * Numbers are checked here, before anything is sent, with errors that name the flag;
 * the table's CHECK constraints are the second line.  Every change fires the sources
 * trigger, which notifies running processors on sluice_config.  All statements are
 * parameterised.
 */
#include <errno.h>
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

static const char sources_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... sources COMMAND\n"
    "\n"
    "  list           ID, LIMIT, WINDOW_MS, PAUSE_AFTER, PAUSE_MS, DLQ_RATE, DLQ_MIN,\n"
    "                 DLQ_WINDOW_MS, DLQ_PAUSE_MS, PAUSED, UPDATED_AT, UPDATED_BY,\n"
    "                 DESCRIPTION, tab-separated after a header line\n"
    "  get ID         one source as key<TAB>value lines (and its manual pause, if any)\n"
    "  set ID --limit N --window-ms MS [--pause-after N] [--pause-ms MS]\n"
    "         [--dlq-rate PCT] [--dlq-min N] [--dlq-window-ms MS] [--dlq-pause-ms MS]\n"
    "         [--description TEXT] [--by WHO]\n"
    "                 insert or replace ID's limits: at most N admissions per MS\n"
    "                 milliseconds (N = 0: unlimited); after --pause-after throttled\n"
    "                 events in one window (0: never) pause it for --pause-ms ms.\n"
    "                 Source breaker: when --dlq-rate percent (0..100, 0: off) of\n"
    "                 at least --dlq-min of its events in one --dlq-window-ms window\n"
    "                 were dead-lettered, pause it for --dlq-pause-ms ms.\n"
    "                 Options left out keep their stored value (new rows: 0, 60000,\n"
    "                 0, 20, 60000, 60000); --by defaults to $USER\n"
    "  rm ID          remove ID (its events get the admission.default.* limits)\n"
    "  test ID [--since D|T] [--until T] [--window D] [--json] FILE|-\n"
    "                 shadow evaluation: limits not saved (a JSON object with the\n"
    "                 keys rate_limit, window_ms, pause_after, pause_ms) decided by\n"
    "                 admission's own code on ID's events in workflow_events from\n"
    "                 --since (default 7d ago) to --until (now), in occurred_at\n"
    "                 order; per --window (1h): EVENTS, ACCEPTED, THROTTLED, PAUSED\n"
    "                 (docs/history.md)\n";

static int usage_error(const char *fmt, const char *arg)
{
        fputs("sluicectl sources: ", stderr);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", sources_usage);
        return 2;
}

static int check_id(const char *id)
{
        size_t len = strlen(id);

        if (len == 0 || len > SL_SOURCE_ID_MAX) {
                fprintf(stderr, "sluicectl sources: source ID must be 1..%d characters\n",
                        SL_SOURCE_ID_MAX);
                return -1;
        }
        for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
                if (*c < 0x20 || *c == 0x7f) {
                        fprintf(stderr, "sluicectl sources: source ID contains a control "
                                        "character\n");
                        return -1;
                }
        }
        return 0;
}

/* A whole decimal number in [min, max]; on error prints words naming flag. */
static int parse_count(const char *flag, const char *val, int64_t min, int64_t max,
                       int64_t *out)
{
        char *end;
        long long n;

        errno = 0;
        if (!*val || !((*val >= '0' && *val <= '9') || *val == '-'))
                goto bad;
        n = strtoll(val, &end, 10);
        if (errno == ERANGE) {
                fprintf(stderr, "sluicectl sources: %s: '%s' is too large\n", flag, val);
                return -1;
        }
        if (*end)
                goto bad;
        if (n < min && max == INT64_MAX) {
                fprintf(stderr,
                        "sluicectl sources: %s: %s is out of range (must be >= %lld)\n",
                        flag, val, (long long)min);
                return -1;
        }
        if (n < min || n > max) {
                fprintf(
                    stderr,
                    "sluicectl sources: %s: %s is out of range (must be %lld..%lld)\n",
                    flag, val, (long long)min, (long long)max);
                return -1;
        }
        *out = n;
        return 0;
bad:
        fprintf(stderr, "sluicectl sources: %s: '%s' is not a whole number\n", flag, val);
        return -1;
}

/* The numeric options of set, in the order of their parameters ($2..$9), with the
 * ranges of the table's CHECK constraints. */
static const struct num_opt_s {
        const char *flag;
        int64_t min, max;
} num_opts[] = {
    {"--limit", 0, INT64_MAX},
    {"--window-ms", 1, INT64_MAX},
    {"--pause-after", 0, INT64_MAX},
    {"--pause-ms", 0, INT64_MAX},
    {"--dlq-rate", 0, 100},
    {"--dlq-min", 0, INT64_MAX},
    {"--dlq-window-ms", 1, INT64_MAX},
    {"--dlq-pause-ms", 0, INT64_MAX},
};
#define NUM_OPTS  (sizeof(num_opts) / sizeof(num_opts[0]))
#define OPT_DESCR NUM_OPTS       /* --description */
#define OPT_BY    (NUM_OPTS + 1) /* --by */

/* Options left out keep the stored value; a new row gets the table's defaults (the
 * literals below, as migrations 0004 and 0010 set them). */
static const char set_sql[] =
    "INSERT INTO sources (id, rate_limit, window_ms, pause_after, pause_ms, dlq_rate, "
    "dlq_min, dlq_window_ms, dlq_pause_ms, description, updated_at, updated_by) "
    "VALUES ($1, $2::bigint, $3::bigint, coalesce($4::bigint, 0), "
    "coalesce($5::bigint, 60000), coalesce($6::bigint, 0), coalesce($7::bigint, 20), "
    "coalesce($8::bigint, 60000), coalesce($9::bigint, 60000), $10, now(), $11) "
    "ON CONFLICT (id) DO UPDATE SET "
    "rate_limit = EXCLUDED.rate_limit, window_ms = EXCLUDED.window_ms, "
    "pause_after = coalesce($4::bigint, sources.pause_after), "
    "pause_ms = coalesce($5::bigint, sources.pause_ms), "
    "dlq_rate = coalesce($6::bigint, sources.dlq_rate), "
    "dlq_min = coalesce($7::bigint, sources.dlq_min), "
    "dlq_window_ms = coalesce($8::bigint, sources.dlq_window_ms), "
    "dlq_pause_ms = coalesce($9::bigint, sources.dlq_pause_ms), "
    "description = coalesce(EXCLUDED.description, sources.description), "
    "updated_at = now(), updated_by = EXCLUDED.updated_by "
    "RETURNING rate_limit, window_ms, pause_after, pause_ms, dlq_rate, dlq_min, "
    "dlq_window_ms, dlq_pause_ms";

static void print_set(const char *id, const PGresult *res)
{
        printf("source %s: limit %s per %s ms, auto-pause after %s throttled for %s ms",
               id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
               PQgetvalue(res, 0, 3));
        if (strcmp(PQgetvalue(res, 0, 4), "0") == 0 ||
            strcmp(PQgetvalue(res, 0, 7), "0") == 0)
                printf("; source breaker off\n");
        else
                printf("; source breaker: auto-pause for %s ms when %s%% of at least %s "
                       "events in a %s ms window are dead-lettered\n",
                       PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 4),
                       PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6));
}

static int sources_set(const sl_conf_t *conf, int argc, char **argv)
{
        const char *vals[NUM_OPTS + 2] = {NULL};
        const char *id = NULL, *user = getenv("USER");
        char num[NUM_OPTS][24];
        const char *params[NUM_OPTS + 3];
        int64_t n;
        PGconn *pg;
        PGresult *res;
        int rc = 1;

        for (int i = 2; i < argc; i++) {
                bool matched = false, missing = false;

                for (size_t f = 0; f < NUM_OPTS + 2 && !matched; f++) {
                        const char *flag = f < NUM_OPTS     ? num_opts[f].flag
                                           : f == OPT_DESCR ? "--description"
                                                            : "--by";
                        const char *v = sl__ctl_opt_value(argc, argv, &i, flag, &missing);
                        if (missing)
                                return usage_error("%s needs a value", flag);
                        if (v) {
                                vals[f] = v;
                                matched = true;
                        }
                }
                if (matched)
                        continue;
                if (argv[i][0] == '-' && argv[i][1] != '\0')
                        return usage_error("unknown option '%s'", argv[i]);
                if (id)
                        return usage_error("unexpected argument '%s'", argv[i]);
                id = argv[i];
        }
        if (!id)
                return usage_error("%s", "set needs a source ID");
        if (check_id(id))
                return 2;
        if (!vals[0])
                return usage_error("%s", "set needs --limit N (0: unlimited)");
        if (!vals[1])
                return usage_error("%s", "set needs --window-ms MS");
        for (size_t f = 0; f < NUM_OPTS; f++) {
                if (!vals[f]) {
                        params[1 + f] = NULL;
                        continue;
                }
                if (parse_count(num_opts[f].flag, vals[f], num_opts[f].min,
                                num_opts[f].max, &n))
                        return 2;
                snprintf(num[f], sizeof(num[f]), "%lld", (long long)n);
                params[1 + f] = num[f];
        }
        if (vals[OPT_BY] && !*vals[OPT_BY])
                return usage_error("%s", "--by must not be empty");
        params[0] = id;
        params[1 + NUM_OPTS] = vals[OPT_DESCR];
        params[2 + NUM_OPTS] = vals[OPT_BY]    ? vals[OPT_BY]
                               : user && *user ? user
                                               : "sluicectl";

        pg = sl__ctl_connect("sources", conf);
        if (!pg)
                return 1;
        res = PQexecParams(pg, set_sql, (int)NUM_OPTS + 3, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                sl__ctl_pg_error("sources", pg, res, "storing the source");
        } else {
                print_set(id, res);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* clang-format off */
static const char get_sql[] =
    "SELECT s.id, s.rate_limit, s.window_ms, s.pause_after, s.pause_ms, s.dlq_rate, "
    "s.dlq_min, s.dlq_window_ms, s.dlq_pause_ms, coalesce(s.description, ''), "
    TS("s.updated_at") ", s.updated_by, "
    "CASE WHEN p.source IS NULL THEN 'no' "
    "WHEN p.until IS NOT NULL AND p.until <= now() THEN 'expired' ELSE 'yes' END, "
    TS("p.paused_at") ", "
    "coalesce(" TS("p.until") ", CASE WHEN p.source IS NULL THEN NULL ELSE 'resumed' END), "
    "p.paused_by, p.reason "
    "FROM sources s LEFT JOIN pauses p ON p.source = s.id WHERE s.id = $1";
/* clang-format on */

static int sources_get(const sl_conf_t *conf, const char *id)
{
        static const char *const keys[] = {
            "id",         "rate_limit",  "window_ms",     "pause_after",  "pause_ms",
            "dlq_rate",   "dlq_min",     "dlq_window_ms", "dlq_pause_ms", "description",
            "updated_at", "updated_by",  "paused",        "paused_at",    "paused_until",
            "paused_by",  "pause_reason"};
        const char *params[1] = {id};
        PGconn *pg = sl__ctl_connect("sources", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, get_sql, 1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("sources", pg, res, "reading sources");
        } else if (PQntuples(res) == 0) {
                fprintf(stderr,
                        "sluicectl sources: no source '%s' (its events get the "
                        "admission.default.* limits)\n",
                        id);
        } else {
                for (int c = 0; c < (int)(sizeof(keys) / sizeof(keys[0])); c++) {
                        if (PQgetisnull(res, 0, c))
                                continue;
                        printf("%s\t", keys[c]);
                        sl__ctl_put_field(PQgetvalue(res, 0, c));
                        fputc('\n', stdout);
                }
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

/* clang-format off */
static const char list_sql[] =
    "SELECT s.id, s.rate_limit, s.window_ms, s.pause_after, s.pause_ms, s.dlq_rate, "
    "s.dlq_min, s.dlq_window_ms, s.dlq_pause_ms, "
    "CASE WHEN p.source IS NULL THEN 'no' "
    "WHEN p.until IS NOT NULL AND p.until <= now() THEN 'expired' ELSE 'yes' END, "
    TS("s.updated_at") ", s.updated_by, coalesce(s.description, '') "
    "FROM sources s LEFT JOIN pauses p ON p.source = s.id ORDER BY s.id";
/* clang-format on */
#define LIST_COLS 13

static int sources_list(const sl_conf_t *conf)
{
        PGconn *pg = sl__ctl_connect("sources", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, list_sql, 0, NULL, NULL, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("sources", pg, res, "reading sources");
        } else {
                printf("ID\tLIMIT\tWINDOW_MS\tPAUSE_AFTER\tPAUSE_MS\tDLQ_RATE\tDLQ_MIN\t"
                       "DLQ_WINDOW_MS\tDLQ_PAUSE_MS\tPAUSED\tUPDATED_AT\tUPDATED_BY\t"
                       "DESCRIPTION\n");
                for (int r = 0; r < PQntuples(res); r++) {
                        for (int c = 0; c < LIST_COLS; c++) {
                                if (c)
                                        fputc('\t', stdout);
                                sl__ctl_put_field(PQgetvalue(res, r, c));
                        }
                        fputc('\n', stdout);
                }
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

int sl_cmd_sources(sl_conf_t *conf, int argc, char **argv)
{
        const char *action = argc > 1 ? argv[1] : NULL;
        int rc;

        if (!action)
                return usage_error("%s", "missing command");
        if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
                fputs(sources_usage, stdout);
                return 0;
        }
        if (strcmp(action, "set") == 0) {
                rc = sources_set(conf, argc, argv);
        } else if (strcmp(action, "get") == 0 || strcmp(action, "rm") == 0) {
                if (argc != 3)
                        return usage_error("%s needs exactly one source ID", action);
                if (check_id(argv[2]))
                        return 2;
                if (action[0] == 'g')
                        rc = sources_get(conf, argv[2]);
                else
                        rc = sl__ctl_delete_one(
                            "sources", conf, "DELETE FROM sources WHERE id = $1", argv[2],
                            "source",
                            "source %s removed (admission.default.* limits apply)");
        } else if (strcmp(action, "test") == 0) {
                rc = sl__ctl_sources_test(conf, argc, argv);
        } else if (strcmp(action, "list") == 0) {
                if (argc != 2)
                        return usage_error("unexpected argument '%s'", argv[2]);
                rc = sources_list(conf);
        } else {
                return usage_error("unknown command '%s'", action);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl sources: stdout");
                return 1;
        }
        return rc;
}
