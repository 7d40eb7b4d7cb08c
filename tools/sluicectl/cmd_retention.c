/*
 * sluicectl history retention and archive: history maintenance by hand and the archive
 * files of workflow_events (docs/history.md).  The work is src/history's, the same code
 * sluice-admin runs on its schedule.
 *
 *   history retention [--dry-run]     one maintenance run (archive when archive.dir
 *                                     is set, retention), a report line per action
 *   archive list                      every archive, newest day first
 *   archive verify [RANGE]            re-read files: checksum and row count
 *   archive restore RANGE [--into T]  the day back into workflow_events, or into a
 *                                     new table T for a look
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_util.h"
#include "cmds.h"
#include "history/archive.h"
#include "history/maintain.h"

static const char history_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... history retention [--dry-run]\n"
    "\n"
    "  One history maintenance run, as sluice-admin does every\n"
    "  history.maintenance.interval.ms, under the same advisory lock (exit 3, nothing\n"
    "  done, when another run holds it).  With archive.dir set, days of\n"
    "  workflow_events past archive.after.days are archived, verified and dropped, and\n"
    "  archives past retention deleted; otherwise days past retention.events.days (or a\n"
    "  longer retention.event_types entry) are dropped.  dead_letters and\n"
    "  trigger_deliveries rows past their retention are deleted.  One line per action:\n"
    "  ACTION, WHAT, DAY, ROWS, WHY (tab-separated).  --dry-run decides and prints\n"
    "  ('would-ACTION'), changes and records nothing.  Exit 1 when an action failed.\n";

static const char archive_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... archive COMMAND\n"
    "\n"
    "  archive list        ID, STATE, PARTITION, DAY, ROWS, BYTES, SHA256, PATH of\n"
    "                      every archive of workflow_events, newest day first\n"
    "  archive verify [RANGE]\n"
    "                      re-read the file of each archive in force (or of day\n"
    "                      RANGE): SHA-256, size, row count.  Exit 1 when one fails; an\n"
    "                      archive whose day is still live is marked failed then, so\n"
    "                      maintenance writes it again instead of dropping the day\n"
    "  archive restore RANGE [--into TABLE]\n"
    "                      the archived day RANGE (YYYY-MM-DD, UTC) back into\n"
    "                      workflow_events, once: a second restore adds nothing and\n"
    "                      says so.  --into: into a new table instead, for a look\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
        fprintf(stderr, "sluicectl: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", usage);
        return 2;
}

static void print_line(void *opaque, const char *line)
{
        (void)opaque;
        puts(line);
        fflush(stdout);
}

/* `history retention` (argv[1]), dispatched by sl_cmd_history (cmd_history.c). */
int sl__ctl_history_retention(sl_conf_t *conf, int argc, char **argv)
{
        sl_history_opts_t o;
        char errstr[1024], runner[128], host[64] = "?";
        bool dry = false;
        PGconn *pg;
        int rc;

        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                fputs(history_usage, stdout);
                return 0;
        }
        if (argc < 2 || strcmp(argv[1], "retention") != 0)
                return usage_error(history_usage, "%s", "expected 'history retention'");
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--dry-run") == 0)
                        dry = true;
                else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        fputs(history_usage, stdout);
                        return 0;
                } else
                        return usage_error(history_usage, "unexpected argument '%s'",
                                           argv[i]);
        }
        gethostname(host, sizeof(host) - 1);
        snprintf(runner, sizeof(runner), "sluicectl@%.60s:%d", host, (int)getpid());
        if (sl_history_opts_from_conf(conf, &o, runner, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "sluicectl history: %s\n", errstr);
                return 2;
        }
        pg = sl__ctl_connect("history", conf);
        if (!pg)
                return 1;
        rc = sl_history_maintain(pg, &o, dry, print_line, NULL, errstr, sizeof(errstr));
        PQfinish(pg);
        if (rc == SL_HISTORY_BUSY) {
                fprintf(stderr, "sluicectl history: %s; nothing done\n", errstr);
                return 3;
        }
        if (rc != 0) {
                fprintf(stderr, "sluicectl history: %s\n", errstr);
                return 1;
        }
        return 0;
}

#define ARCHIVE_COLS                                                                     \
        "id, state, partition, to_char(range_lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "     \
        "coalesce(rows, -1), coalesce(bytes, -1), coalesce(sha256, ''), path, "          \
        "coalesce(raw_bytes, -1)"

static int archive_list(PGconn *pg)
{
        PGresult *res = PQexecParams(pg,
                                     "SELECT " ARCHIVE_COLS " FROM archives "
                                     "WHERE tbl = 'workflow_events' "
                                     "ORDER BY range_lo DESC, id DESC",
                                     0, NULL, NULL, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("archive", pg, res, "listing archives");
                PQclear(res);
                return 1;
        }
        puts("ID\tSTATE\tPARTITION\tDAY\tROWS\tBYTES\tSHA256\tPATH");
        for (int i = 0; i < PQntuples(res); i++) {
                for (int c = 0; c < 8; c++) {
                        if (c)
                                putchar('\t');
                        sl__ctl_put_field(PQgetvalue(res, i, c));
                }
                putchar('\n');
        }
        PQclear(res);
        return 0;
}

static int archive_verify(PGconn *pg, const char *day)
{
        const char *params[1] = {day};
        PGresult *res = PQexecParams(pg,
                                     "SELECT " ARCHIVE_COLS
                                     " FROM archives WHERE tbl = 'workflow_events' "
                                     "AND state IN ('verified', 'dropped', 'restored') "
                                     "AND ($1::date IS NULL OR range_lo = "
                                     "($1::date)::timestamp AT TIME ZONE 'UTC') "
                                     "ORDER BY range_lo",
                                     1, NULL, params, NULL, NULL, 0);
        int bad = 0;

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("archive", pg, res, "listing archives");
                PQclear(res);
                return 1;
        }
        if (day && PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl archive: no archive in force of %s\n", day);
                PQclear(res);
                return 1;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                sl_history_manifest_t m = {0};
                char err[1024];
                const char *path = PQgetvalue(res, i, 7), *state = PQgetvalue(res, i, 1);

                m.rows = strtoll(PQgetvalue(res, i, 4), NULL, 10);
                m.bytes = strtoll(PQgetvalue(res, i, 5), NULL, 10);
                m.raw_bytes = strtoll(PQgetvalue(res, i, 8), NULL, 10);
                snprintf(m.sha256, sizeof(m.sha256), "%s", PQgetvalue(res, i, 6));
                if (sl_history_archive_verify(path, &m, err, sizeof(err)) == 0) {
                        printf("ok\t%s\t%s\t%lld\n", PQgetvalue(res, i, 2),
                               PQgetvalue(res, i, 3), (long long)m.rows);
                        continue;
                }
                bad++;
                printf("FAILED\t%s\t%s\t%s\n", PQgetvalue(res, i, 2),
                       PQgetvalue(res, i, 3), err);
                if (strcmp(state, "verified") == 0) {
                        /* The day is still live: maintenance must write it again,
                         * never drop it on this file. */
                        const char *p2[2] = {PQgetvalue(res, i, 0), err};
                        PQclear(PQexecParams(pg,
                                             "UPDATE archives SET state = 'failed', "
                                             "detail = $2 WHERE id = $1 "
                                             "AND state = 'verified'",
                                             2, NULL, p2, NULL, NULL, 0));
                }
        }
        PQclear(res);
        return bad ? 1 : 0;
}

int sl_cmd_archive(sl_conf_t *conf, int argc, char **argv)
{
        const char *sub = argc >= 2 ? argv[1] : NULL, *range = NULL, *into = NULL;
        char errstr[1024];
        PGconn *pg;
        int rc;

        if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
                fputs(archive_usage, sub ? stdout : stderr);
                return sub ? 0 : 2;
        }
        for (int i = 2; i < argc; i++) {
                bool missing = false;
                const char *v = sl__ctl_opt_value(argc, argv, &i, "--into", &missing);
                if (missing)
                        return usage_error(archive_usage, "%s", "--into needs a value");
                if (v)
                        into = v;
                else if (argv[i][0] == '-' || range)
                        return usage_error(archive_usage, "unexpected argument '%s'",
                                           argv[i]);
                else
                        range = argv[i];
        }
        if (strcmp(sub, "list") && strcmp(sub, "verify") && strcmp(sub, "restore"))
                return usage_error(archive_usage, "unknown command 'archive %s'", sub);
        if (!strcmp(sub, "restore") && !range)
                return usage_error(archive_usage, "%s", "archive restore needs a RANGE");
        if ((into && strcmp(sub, "restore")) || (range && !strcmp(sub, "list")))
                return usage_error(archive_usage, "%s", "too many arguments");
        pg = sl__ctl_connect("archive", conf);
        if (!pg)
                return 1;
        if (!strcmp(sub, "list")) {
                rc = archive_list(pg);
        } else if (!strcmp(sub, "verify")) {
                rc = archive_verify(pg, range);
        } else {
                long long rows = 0;
                rc = sl_history_restore(pg, range, into, &rows, errstr, sizeof(errstr));
                if (rc == 0) {
                        printf("restored %s: %lld rows into %s\n", range, rows,
                               into ? into : "workflow_events");
                } else if (rc == 1) {
                        printf("%s; nothing done\n", errstr);
                        rc = 0;
                } else {
                        fprintf(stderr, "sluicectl archive: restore %s: %s\n", range,
                                errstr);
                        rc = 1;
                }
        }
        PQfinish(pg);
        return rc;
}
