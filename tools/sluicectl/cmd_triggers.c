/*
 * sluicectl triggers: the triggers table (migration 0008) from the command line.
 *
 *   triggers create FILE|- [--by WHO]         a new trigger from a JSON definition
 *   triggers update NAME FILE|- [--by WHO]    change the keys the JSON gives
 *   triggers list [--json]                    one line per trigger
 *   triggers show NAME [--json]               one trigger, every column
 *   triggers delete NAME [--by WHO]
 *   triggers enable|disable NAME [--by WHO]
 *   triggers pause NAME [--until T | --for D] --reason TEXT [--by WHO]
 *   triggers resume NAME [--by WHO]
 *   triggers audit NAME|ID [--json]           the trail of changes, oldest first
 *   triggers test [--since ..] FILE|-         shadow evaluation (cmd_shadow.c)
 *
 * A definition is a JSON object whose keys are the table's columns (cmd_triggers_def.c);
 * types and ranges are checked here, and the filter and the parameters template are
 * parsed with the stage's own parsers (src/trigger/filter.h, template.h), so a
 * definition the trigger stage cannot load is refused at save time, with the
 * parser's position.  The table's CHECK constraints are the second line.
 *
 * Every change runs in a transaction that first sets sluice.actor to --by (default
 * $USER): the table's own trigger writes the audit row (who, when, before/after) and
 * notifies sluice_triggers, so a change made with psql is audited too.  Column names
 * in statements come from the definition's columns only; every value is a parameter.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cmd_triggers_def.h"
#include "cmd_util.h"
#include "cmds.h"
#include "pg/pg.h"

#define SL_TRIGGER_REASON_MAX 1000

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char triggers_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... triggers COMMAND\n"
    "\n"
    "  create FILE|- [--by WHO]\n"
    "                 a new trigger from a JSON definition (a file, or - for stdin)\n"
    "  update NAME FILE|- [--by WHO]\n"
    "                 set the columns the JSON object gives (null clears description,\n"
    "                 source, filter, rate_limit); \"name\" renames\n"
    "  list [--json]  NAME, ID, ENABLED, PAUSED, EVENT_TYPE, SOURCE, WORKFLOW, LIMIT,\n"
    "                 WINDOW_MS, ON_LIMIT, UPDATED_AT, UPDATED_BY, tab-separated after "
    "a\n"
    "                 header line; --json: one JSON object per line\n"
    "  show NAME [--json]\n"
    "                 every column as key<TAB>value lines, or one JSON object\n"
    "  delete NAME [--by WHO]\n"
    "  enable NAME [--by WHO] / disable NAME [--by WHO]\n"
    "                 a disabled trigger's matches are recorded as 'paused'\n"
    "  pause NAME [--until TIME | --for DURATION] --reason TEXT [--by WHO]\n"
    "                 its matches are decided 'paused' until TIME (RFC 3339), for\n"
    "                 DURATION (90s, 5m, 2h, 1d, 1h30m), or until resumed\n"
    "  resume NAME [--by WHO]\n"
    "  audit NAME|ID [--json]\n"
    "                 every change: ID, AT, TRIGGER_ID, BY, ACTION, CHANGES; --json "
    "adds\n"
    "                 the whole row before and after\n"
    "  replay-shed NAME [--since T] [--until T] [--dry-run]\n"
    "                 send the matches NAME throttled, paused or shed while open\n"
    "                 (decided in [since, until): RFC 3339 or a duration ago, 7d) to\n"
    "                 the launch stage again: each is launched once, under its own\n"
    "                 launch id, through the trigger's current limit\n"
    "  test [--since D|T] [--until T] [--window D] [--json] FILE|-\n"
    "                 shadow evaluation: a definition not saved, filter and limit\n"
    "                 included, decided by the stages' own code on the accepted\n"
    "                 events of workflow_events from --since (default 7d ago) to\n"
    "                 --until (now), in occurred_at order (the events' times are\n"
    "                 the clock); per --window (1h): CONSIDERED, MATCHED, LAUNCHED,\n"
    "                 THROTTLED (and DEFERRED, RELEASED for on_limit defer)\n"
    "\n"
    "Definition keys (JSON object):\n"
    "  name, event_type (exact, or a glob with * and ?), workflow    required by create\n"
    "  description, enabled (true), source (any), filter (none),\n"
    "  params_template (object, {}), rate_limit (launches per window; null or <= 0:\n"
    "  unlimited), window_ms (1000), on_limit (\"skip\" or \"defer\"),\n"
    "  failure_window_ms (60000), failure_rate (percent, 0 = off; 50),\n"
    "  min_results (10), failure_count (0 = off), open_ms (30000), open_max_ms\n"
    "  (600000), probes (3), result_timeout_ms (300000); id (a UUID; create only)\n"
    "--by defaults to $USER and is recorded in the audit trail.\n";

static int usage_error(const char *fmt, const char *arg)
{
        fputs("sluicectl triggers: ", stderr);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", triggers_usage);
        return 2;
}

static void change_error(PGconn *pg, PGresult *res, const char *what)
{
        const char *constraint =
            res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

        if (sl_sqlstate_is(sl_pg_sqlstate(res), "23505") && constraint &&
            strcmp(constraint, "triggers_name_key") == 0) {
                fprintf(stderr, "sluicectl triggers: %s: that name is taken\n", what);
                return;
        }
        sl__ctl_pg_error("triggers", pg, res, what);
}

/* Parse "[NAME] [FILE] [--by WHO]" style arguments from argv[2] on: npos positional
 * arguments into pos[], the flags' values into vals[].  0 or a usage error's 2. */
static int parse_args(int argc, char **argv, const char *const *flags, size_t nflags,
                      const char **vals, const char **pos, int npos, const char *need)
{
        int got = 0;

        for (int i = 2; i < argc; i++) {
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
                if (got == npos)
                        return usage_error("unexpected argument '%s'", argv[i]);
                pos[got++] = argv[i];
        }
        if (got < npos)
                return usage_error("%s", need);
        return 0;
}

/* --by checked and defaulted; NULL after a usage error. */
static const char *get_by(const char *by)
{
        if (by && sl__ctl_check_text("triggers", "--by", by, SL_TRIGGER_TEXT_MAX))
                return NULL;
        return sl__ctl_by(by);
}

/* Run a change (BEGIN as by, the statement, COMMIT).  *res gets the statement's
 * result (caller clears) when it succeeded.  false after the words. */
static bool change(PGconn *pg, const char *by, const char *sql, int nparams,
                   const char *const *params, const char *what, PGresult **res)
{
        *res = NULL;
        if (!sl__ctl_begin_as("triggers", pg, by))
                goto fail;
        *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
        if (!*res || (PQresultStatus(*res) != PGRES_TUPLES_OK &&
                      PQresultStatus(*res) != PGRES_COMMAND_OK)) {
                change_error(pg, *res, what);
                goto fail;
        }
        if (!sl__ctl_exec("triggers", pg, "COMMIT", 0, NULL, "committing"))
                goto fail;
        return true;
fail:
        PQclear(*res);
        *res = NULL;
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
}

static int triggers_create(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--by"};
        const char *vals[1] = {NULL}, *pos[1], *by, *params[SL_TRIGGER_NCOLS];
        char sql[2048];
        size_t used;
        def_t d;
        PGconn *pg;
        PGresult *res;
        int rc;

        rc = parse_args(argc, argv, flags, 1, vals, pos, 1, "create needs FILE (or -)");
        if (rc)
                return rc;
        if (!(by = get_by(vals[0])))
                return 2;
        if (sl__ctl_trigger_def_read(&d, pos[0], true)) {
                sl__ctl_trigger_def_clear(&d);
                return 1;
        }
        used = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO triggers (");
        for (size_t i = 0; i < d.n; i++) {
                used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s%s",
                                         i ? ", " : "", d.col[i]->name);
                params[i] = d.val[i];
        }
        used += (size_t)snprintf(sql + used, sizeof(sql) - used, ") VALUES (");
        for (size_t i = 0; i < d.n; i++)
                used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s$%zu",
                                         i ? ", " : "", i + 1);
        snprintf(sql + used, sizeof(sql) - used, ") RETURNING id, name");

        rc = 1;
        pg = sl__ctl_connect("triggers", conf);
        if (pg && change(pg, by, sql, (int)d.n, params, "creating the trigger", &res)) {
                printf("trigger %s created (id %s, by %s)\n", PQgetvalue(res, 0, 1),
                       PQgetvalue(res, 0, 0), by);
                PQclear(res);
                rc = 0;
        }
        PQfinish(pg);
        sl__ctl_trigger_def_clear(&d);
        return rc;
}

static int triggers_update(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--by"};
        const char *vals[1] = {NULL}, *pos[2], *by, *params[SL_TRIGGER_NCOLS + 1];
        char sql[2048];
        size_t used;
        def_t d;
        PGconn *pg;
        PGresult *res;
        int rc;

        rc = parse_args(argc, argv, flags, 1, vals, pos, 2,
                        "update needs NAME and FILE (or -)");
        if (rc)
                return rc;
        if (sl__ctl_check_text("triggers", "NAME", pos[0], SL_TRIGGER_TEXT_MAX))
                return 2;
        if (!(by = get_by(vals[0])))
                return 2;
        if (sl__ctl_trigger_def_read(&d, pos[1], false)) {
                sl__ctl_trigger_def_clear(&d);
                return 1;
        }
        params[0] = pos[0];
        used = (size_t)snprintf(sql, sizeof(sql), "UPDATE triggers SET ");
        for (size_t i = 0; i < d.n; i++) {
                used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s%s = $%zu",
                                         i ? ", " : "", d.col[i]->name, i + 2);
                params[i + 1] = d.val[i];
        }
        snprintf(sql + used, sizeof(sql) - used, " WHERE name = $1 RETURNING id, name");

        rc = 1;
        pg = sl__ctl_connect("triggers", conf);
        if (pg &&
            change(pg, by, sql, (int)d.n + 1, params, "updating the trigger", &res)) {
                if (PQntuples(res) == 0) {
                        fprintf(stderr, "sluicectl triggers: no trigger '%s'\n", pos[0]);
                } else {
                        printf("trigger %s updated (id %s, by %s)\n",
                               PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0), by);
                        rc = 0;
                }
                PQclear(res);
        }
        PQfinish(pg);
        sl__ctl_trigger_def_clear(&d);
        return rc;
}

/* delete, enable, disable, resume: one statement on NAME. */
static int triggers_simple(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--by"};
        const char *action = argv[1], *vals[1] = {NULL}, *pos[1], *by, *sql, *done;
        char need[64];
        PGconn *pg;
        PGresult *res;
        int rc;

        snprintf(need, sizeof(need), "%s needs NAME", action);
        rc = parse_args(argc, argv, flags, 1, vals, pos, 1, need);
        if (rc)
                return rc;
        if (sl__ctl_check_text("triggers", "NAME", pos[0], SL_TRIGGER_TEXT_MAX))
                return 2;
        if (!(by = get_by(vals[0])))
                return 2;
        /* Each returns one row per named trigger: whether it changed anything. */
        if (strcmp(action, "delete") == 0) {
                sql = "DELETE FROM triggers WHERE name = $1 RETURNING true";
                done = "deleted";
        } else if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
                sql = action[0] == 'e'
                          ? "UPDATE triggers SET enabled = true WHERE name = $1 "
                            "RETURNING true"
                          : "UPDATE triggers SET enabled = false WHERE name = $1 "
                            "RETURNING true";
                done = action[0] == 'e' ? "enabled" : "disabled";
        } else {
                sql = SL_PG_TRIGGER_RESUME;
                done = "resumed";
        }
        rc = 1;
        pg = sl__ctl_connect("triggers", conf);
        if (pg && change(pg, by, sql, 1, pos, action, &res)) {
                if (PQntuples(res) == 0) {
                        fprintf(stderr, "sluicectl triggers: no trigger '%s'\n", pos[0]);
                } else if (strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
                        fprintf(stderr,
                                "sluicectl triggers: trigger '%s' is not paused\n",
                                pos[0]);
                } else {
                        printf("trigger %s %s by %s\n", pos[0], done, by);
                        rc = 0;
                }
                PQclear(res);
        }
        PQfinish(pg);
        return rc;
}

static int triggers_pause(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {"--until", "--for", "--reason", "--by"};
        const char *vals[4] = {NULL}, *pos[1], *by, *params[5];
        sl__ctl_span_t span;
        PGconn *pg;
        PGresult *res;
        int rc;

        rc = parse_args(argc, argv, flags, 4, vals, pos, 1, "pause needs NAME");
        if (rc)
                return rc;
        if (sl__ctl_check_text("triggers", "NAME", pos[0], SL_TRIGGER_TEXT_MAX))
                return 2;
        if (vals[0] && vals[1])
                return usage_error("%s", "--until and --for exclude each other");
        if (!vals[2])
                return usage_error("%s", "--reason TEXT is required");
        if (sl__ctl_check_text("triggers", "--reason", vals[2], SL_TRIGGER_REASON_MAX))
                return 2;
        if (!(by = get_by(vals[3])))
                return 2;
        if (sl__ctl_span("triggers", vals[0], vals[1], &span))
                return 2;
        params[0] = pos[0];
        params[1] = span.until_ms;
        params[2] = span.for_ms;
        params[3] = vals[2];
        params[4] = by;
        rc = 1;
        pg = sl__ctl_connect("triggers", conf);
        if (pg && change(pg, by,
                         SL_PG_TRIGGER_PAUSE
                         " RETURNING coalesce(" TS("paused_until") ", 'resumed')",
                         5, params, "pausing the trigger", &res)) {
                if (PQntuples(res) == 0) {
                        fprintf(stderr, "sluicectl triggers: no trigger '%s'\n", pos[0]);
                } else {
                        printf("trigger %s paused until %s (by %s: %s)\n", pos[0],
                               PQgetvalue(res, 0, 0), by, vals[2]);
                        rc = 0;
                }
                PQclear(res);
        }
        PQfinish(pg);
        return rc;
}

/* Print a row_to_json object as key<TAB>value lines (nulls left out). */
static int print_object(const char *text)
{
        json_error_t jerr;
        json_t *obj = json_loads(text, 0, &jerr), *v;
        const char *key;

        if (!obj) {
                fprintf(stderr, "sluicectl triggers: unexpected row: %s\n", jerr.text);
                return 1;
        }
        json_object_foreach(obj, key, v)
        {
                char *s;
                if (json_is_null(v))
                        continue;
                printf("%s\t", key);
                if (json_is_string(v)) {
                        sl__ctl_put_field(json_string_value(v));
                } else {
                        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                              JSON_PRESERVE_ORDER);
                        sl__ctl_put_field(s ? s : "");
                        free(s);
                }
                fputc('\n', stdout);
        }
        json_decref(obj);
        return 0;
}

/* A read-only query with timestamps in UTC; NULL after the words. */
static PGresult *query(PGconn *pg, const char *sql, int nparams,
                       const char *const *params, const char *what)
{
        PGresult *res;

        if (!sl__ctl_exec("triggers", pg, "SET TimeZone = 'UTC'", 0, NULL, what))
                return NULL;
        res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("triggers", pg, res, what);
                PQclear(res);
                return NULL;
        }
        return res;
}

static void print_rows(const PGresult *res)
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

/* --json as the only flag after the positional arguments. */
static int parse_json_flag(int argc, char **argv, int npos, const char **pos, bool *json,
                           const char *need)
{
        int got = 0;

        *json = false;
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        *json = true;
                else if (argv[i][0] == '-' && argv[i][1] != '\0')
                        return usage_error("unknown option '%s'", argv[i]);
                else if (got == npos)
                        return usage_error("unexpected argument '%s'", argv[i]);
                else
                        pos[got++] = argv[i];
        }
        if (got < npos)
                return usage_error("%s", need);
        for (int i = 0; i < npos; i++)
                if (sl__ctl_check_text("triggers", "NAME", pos[i], SL_TRIGGER_TEXT_MAX))
                        return 2;
        return 0;
}

static int triggers_list(const sl_conf_t *conf, int argc, char **argv)
{
        PGconn *pg;
        PGresult *res;
        bool json;
        int rc = parse_json_flag(argc, argv, 0, NULL, &json, "");

        if (rc)
                return rc;
        if (!(pg = sl__ctl_connect("triggers", conf)))
                return 1;
        res = query(pg,
                    json ? "SELECT row_to_json(t)::text FROM triggers t ORDER BY name"
                         : "SELECT name, id, CASE WHEN enabled THEN 'yes' ELSE 'no' END, "
                           "CASE WHEN NOT paused THEN 'no' WHEN paused_until IS NOT NULL "
                           "AND paused_until <= now() THEN 'expired' ELSE 'yes' END, "
                           "event_type, coalesce(source, ''), workflow, "
                           "CASE WHEN coalesce(rate_limit, 0) <= 0 THEN 'unlimited' "
                           "ELSE rate_limit::text END, window_ms, on_limit, " TS(
                               "updated_at") ", updated_by FROM triggers ORDER BY name",
                    0, NULL, "reading triggers");
        if (res) {
                if (!json)
                        printf("NAME\tID\tENABLED\tPAUSED\tEVENT_TYPE\tSOURCE\tWORKFLOW\t"
                               "LIMIT\tWINDOW_MS\tON_LIMIT\tUPDATED_AT\tUPDATED_BY\n");
                print_rows(res);
                PQclear(res);
                rc = 0;
        } else {
                rc = 1;
        }
        PQfinish(pg);
        return rc;
}

static int triggers_show(const sl_conf_t *conf, int argc, char **argv)
{
        const char *pos[1];
        PGconn *pg;
        PGresult *res;
        bool json;
        int rc = parse_json_flag(argc, argv, 1, pos, &json, "show needs NAME");

        if (rc)
                return rc;
        if (!(pg = sl__ctl_connect("triggers", conf)))
                return 1;
        rc = 1;
        res = query(pg, "SELECT row_to_json(t)::text FROM triggers t WHERE name = $1", 1,
                    pos, "reading the trigger");
        if (res && PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl triggers: no trigger '%s'\n", pos[0]);
        } else if (res && json) {
                printf("%s\n", PQgetvalue(res, 0, 0));
                rc = 0;
        } else if (res) {
                rc = print_object(PQgetvalue(res, 0, 0));
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

/* The trail of every trigger that had this name (or this id), oldest first. */
#define SL_AUDIT_OF                                                                      \
        "FROM trigger_audit a WHERE a.trigger_id IN (SELECT trigger_id FROM "            \
        "trigger_audit WHERE trigger_id::text = $1 OR after ->> 'name' = $1 OR "         \
        "before ->> 'name' = $1) ORDER BY a.id"

static int triggers_audit(const sl_conf_t *conf, int argc, char **argv)
{
        const char *pos[1];
        PGconn *pg;
        PGresult *res;
        bool json;
        int rc = parse_json_flag(argc, argv, 1, pos, &json, "audit needs NAME or ID");

        if (rc)
                return rc;
        if (!(pg = sl__ctl_connect("triggers", conf)))
                return 1;
        rc = 1;
        res = query(
            pg,
            json
                ? "SELECT json_build_object('id', a.id, 'at', a.at, 'trigger_id', "
                  "a.trigger_id, 'by', a.by, 'action', a.action, 'before', a.before, "
                  "'after', a.after)::text " SL_AUDIT_OF
                : "SELECT a.id, " TS(
                      "a.at") ", a.trigger_id, a.by, a.action, "
                              "CASE WHEN a.before IS NULL OR a.after IS NULL "
                              "THEN coalesce(a.after, a.before) ->> 'name' ELSE "
                              "(SELECT string_agg(k || ': ' || coalesce(a.before -> k, "
                              "'null') || "
                              "' -> ' || coalesce(a.after -> k, 'null'), '; ' ORDER BY "
                              "k) "
                              "FROM jsonb_object_keys(a.after) k "
                              "WHERE k NOT IN ('created_at', 'updated_at', 'updated_by') "
                              "AND a.before -> k IS DISTINCT FROM a.after -> k) "
                              "END " SL_AUDIT_OF,
            1, pos, "reading trigger_audit");
        if (res && PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl triggers: no audit trail for '%s'\n", pos[0]);
        } else if (res) {
                if (!json)
                        printf("ID\tAT\tTRIGGER_ID\tBY\tACTION\tCHANGES\n");
                print_rows(res);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

int sl_cmd_triggers(sl_conf_t *conf, int argc, char **argv)
{
        const char *action = argc > 1 ? argv[1] : NULL;
        int rc;

        if (!action)
                return usage_error("%s", "missing command");
        if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
                fputs(triggers_usage, stdout);
                return 0;
        }
        if (strcmp(action, "create") == 0)
                rc = triggers_create(conf, argc, argv);
        else if (strcmp(action, "update") == 0)
                rc = triggers_update(conf, argc, argv);
        else if (strcmp(action, "list") == 0)
                rc = triggers_list(conf, argc, argv);
        else if (strcmp(action, "show") == 0)
                rc = triggers_show(conf, argc, argv);
        else if (strcmp(action, "delete") == 0 || strcmp(action, "enable") == 0 ||
                 strcmp(action, "disable") == 0 || strcmp(action, "resume") == 0)
                rc = triggers_simple(conf, argc, argv);
        else if (strcmp(action, "pause") == 0)
                rc = triggers_pause(conf, argc, argv);
        else if (strcmp(action, "audit") == 0)
                rc = triggers_audit(conf, argc, argv);
        else if (strcmp(action, "replay-shed") == 0)
                rc = sl__ctl_triggers_replay_shed(conf, argc, argv);
        else if (strcmp(action, "test") == 0)
                rc = sl__ctl_triggers_test(conf, argc, argv);
        else
                return usage_error("unknown command '%s'", action);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl triggers: stdout");
                return 1;
        }
        return rc;
}
