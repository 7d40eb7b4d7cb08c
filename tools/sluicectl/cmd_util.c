/* Helpers shared by the sluicectl subcommands (see cmd_util.h). */
#include "cmd_util.h"

#include <stdio.h>
#include <string.h>

#include "pg/pg.h"

const char *sl__ctl_opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
        size_t len = strlen(name);

        *missing = false;
        if (strncmp(argv[*i], name, len) != 0)
                return NULL;
        if (argv[*i][len] == '=')
                return argv[*i] + len + 1;
        if (argv[*i][len] != '\0')
                return NULL;
        if (*i + 1 >= argc) {
                *missing = true;
                return NULL;
        }
        return argv[++*i];
}

int sl__ctl_check_text(const char *cmd, const char *what, const char *s, size_t max)
{
        size_t len = strlen(s);

        if (len == 0 || len > max) {
                fprintf(stderr, "sluicectl %s: %s must be 1..%zu characters\n", cmd, what, max);
                return -1;
        }
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                if (*c < 0x20 || *c == 0x7f) {
                        fprintf(stderr, "sluicectl %s: %s contains a control character\n",
                                cmd, what);
                        return -1;
                }
        }
        return 0;
}

void sl__ctl_put_field(const char *s)
{
        for (; *s; s++)
                fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, stdout);
}

void sl__ctl_pg_error(const char *cmd, PGconn *pg, PGresult *res, const char *what)
{
        const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        fprintf(stderr, "sluicectl %s: %s: %s", cmd, what, msg ? msg : PQerrorMessage(pg));
        if (msg)
                fputc('\n', stderr);
        if (sl_sqlstate_is(sl_pg_sqlstate(res), "42P01"))
                fprintf(stderr, "sluicectl %s: run 'sluicectl migrate' first\n", cmd);
}

PGconn *sl__ctl_connect(const char *cmd, const sl_conf_t *conf)
{
        char errstr[1024];
        PGconn *pg = sl_pg_connect(conf, errstr, sizeof(errstr));

        if (!pg)
                fprintf(stderr, "sluicectl %s: %s\n", cmd, errstr);
        return pg;
}

int sl__ctl_delete_one(const char *cmd, const sl_conf_t *conf, const char *sql,
                       const char *key, const char *noun, const char *done_msg)
{
        const char *params[1] = {key};
        char what[128];
        PGconn *pg = sl__ctl_connect(cmd, conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(what, sizeof(what), "removing the %s", noun);
                sl__ctl_pg_error(cmd, pg, res, what);
        } else if (strcmp(PQcmdTuples(res), "0") == 0) {
                fprintf(stderr, "sluicectl %s: no %s '%s'\n", cmd, noun, key);
        } else {
                printf(done_msg, key);
                putchar('\n');
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}
