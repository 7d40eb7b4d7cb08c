/*
 * sluicectl types: the event-type registry (event_types) from the command line.
 *
 *   types set TYPE FILE.avsc [--description TEXT]   register or replace a payload schema
 *   types get TYPE                                  print the stored schema
 *   types list                                      one line per type (tab-separated)
 *   types rm TYPE                                   remove a type
 *
 * A schema is compiled with sl_payload_schema_new() before it is stored, so a schema
 * ingress cannot use never reaches the table.  Every change fires the event_types
 * trigger, which notifies running processors.  All statements are parameterised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmd_util.h"
#include "cmds.h"
#include "envelope/validate.h"
#include "pg/pg.h"
#include "sluice/err.h"

#define SL_TYPES_SCHEMA_MAX (1024 * 1024)
#define SL_TYPES_NAME_MAX   255

static const char types_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... types COMMAND\n"
    "\n"
    "  set TYPE FILE.avsc [--description TEXT]\n"
    "                 register TYPE with the Avro payload schema in FILE (checked\n"
    "                 before it is stored; replaces an existing schema)\n"
    "  get TYPE       print TYPE's payload schema\n"
    "  list           TYPE, SCHEMA (yes/no), UPDATED_AT, UPDATED_BY, DESCRIPTION,\n"
    "                 tab-separated, one line per type after a header line\n"
    "  rm TYPE        remove TYPE\n";

static int usage_error(const char *fmt, const char *arg)
{
        fputs("sluicectl types: ", stderr);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", types_usage);
        return 2;
}

static int check_type_name(const char *type)
{
        size_t len = strlen(type);

        if (len == 0 || len > SL_TYPES_NAME_MAX) {
                fprintf(stderr, "sluicectl types: event type must be 1..%d characters\n",
                        SL_TYPES_NAME_MAX);
                return -1;
        }
        for (const unsigned char *c = (const unsigned char *)type; *c; c++) {
                if (*c < 0x20 || *c == 0x7f) {
                        fprintf(stderr, "sluicectl types: event type contains a control "
                                        "character\n");
                        return -1;
                }
        }
        return 0;
}

static int types_set(const sl_conf_t *conf, int argc, char **argv)
{
        const char *type = NULL, *file = NULL, *desc = NULL, *user = getenv("USER");
        char errstr[1024];
        char *schema;
        sl_payload_schema_t *ps;
        PGconn *pg;
        PGresult *res;
        int rc = 1;

        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--description") == 0) {
                        if (i + 1 >= argc)
                                return usage_error("%s needs a value", argv[i]);
                        desc = argv[++i];
                } else if (strncmp(argv[i], "--description=", 14) == 0) {
                        desc = argv[i] + 14;
                } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
                        return usage_error("unknown option '%s'", argv[i]);
                } else if (!type) {
                        type = argv[i];
                } else if (!file) {
                        file = argv[i];
                } else {
                        return usage_error("unexpected argument '%s'", argv[i]);
                }
        }
        if (!type || !file)
                return usage_error("%s", "set needs TYPE and FILE.avsc");
        if (check_type_name(type))
                return 2;

        schema = sl__ctl_slurp("types", file, SL_TYPES_SCHEMA_MAX);
        if (!schema)
                return 1;
        errstr[0] = '\0';
        ps = sl_payload_schema_new(schema, errstr, sizeof(errstr));
        if (!ps) {
                fprintf(stderr,
                        "sluicectl types: %s is not a usable payload schema: %s\n", file,
                        errstr[0] ? errstr : "invalid schema");
                free(schema);
                return 1;
        }
        sl_payload_schema_destroy(ps);

        pg = sl__ctl_connect("types", conf);
        if (!pg) {
                free(schema);
                return 1;
        }
        {
                const char *params[4] = {type, schema, desc,
                                         user && *user ? user : "sluicectl"};
                res = PQexecParams(
                    pg,
                    "INSERT INTO event_types (type, payload_schema, description, "
                    "updated_at, updated_by) VALUES ($1, $2, $3, now(), $4) "
                    "ON CONFLICT (type) DO UPDATE SET "
                    "payload_schema = EXCLUDED.payload_schema, "
                    "description = COALESCE(EXCLUDED.description, "
                    "event_types.description), "
                    "updated_at = now(), updated_by = EXCLUDED.updated_by",
                    4, NULL, params, NULL, NULL, 0);
        }
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                sl__ctl_pg_error("types", pg, res, "storing the schema");
        } else {
                printf("event type %s: payload schema set from %s\n", type, file);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        free(schema);
        return rc;
}

static int types_get(const sl_conf_t *conf, const char *type)
{
        const char *params[1] = {type};
        PGconn *pg = sl__ctl_connect("types", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, "SELECT payload_schema FROM event_types WHERE type = $1",
                           1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("types", pg, res, "reading event_types");
        } else if (PQntuples(res) == 0) {
                fprintf(stderr, "sluicectl types: no event type '%s'\n", type);
        } else if (PQgetisnull(res, 0, 0)) {
                fprintf(stderr,
                        "sluicectl types: event type '%s' has no payload schema\n", type);
                rc = 0;
        } else {
                const char *s = PQgetvalue(res, 0, 0);
                size_t len = strlen(s);
                fputs(s, stdout);
                if (len == 0 || s[len - 1] != '\n')
                        fputc('\n', stdout);
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

static int types_list(const sl_conf_t *conf)
{
        PGconn *pg = sl__ctl_connect("types", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg,
                           "SELECT type, CASE WHEN payload_schema IS NULL THEN 'no' "
                           "ELSE 'yes' END, "
                           "to_char(updated_at AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                           "coalesce(updated_by, ''), coalesce(description, '') "
                           "FROM event_types ORDER BY type",
                           0, NULL, NULL, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("types", pg, res, "reading event_types");
        } else {
                printf("TYPE\tSCHEMA\tUPDATED_AT\tUPDATED_BY\tDESCRIPTION\n");
                for (int r = 0; r < PQntuples(res); r++) {
                        for (int c = 0; c < 5; c++) {
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

int sl_cmd_types(sl_conf_t *conf, int argc, char **argv)
{
        const char *action = argc > 1 ? argv[1] : NULL;
        int rc;

        if (!action)
                return usage_error("%s", "missing command");
        if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
                fputs(types_usage, stdout);
                return 0;
        }
        if (strcmp(action, "set") == 0) {
                rc = types_set(conf, argc, argv);
        } else if (strcmp(action, "get") == 0 || strcmp(action, "rm") == 0) {
                if (argc != 3)
                        return usage_error("%s needs exactly one TYPE", action);
                if (check_type_name(argv[2]))
                        return 2;
                if (action[0] == 'g')
                        rc = types_get(conf, argv[2]);
                else
                        rc = sl__ctl_delete_one(
                            "types", conf, "DELETE FROM event_types WHERE type = $1",
                            argv[2], "event type", "event type %s removed");
        } else if (strcmp(action, "list") == 0) {
                if (argc != 2)
                        return usage_error("unexpected argument '%s'", argv[2]);
                rc = types_list(conf);
        } else {
                return usage_error("unknown command '%s'", action);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl types: stdout");
                return 1;
        }
        return rc;
}
