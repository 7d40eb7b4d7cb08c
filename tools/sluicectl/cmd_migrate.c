/*
 * sluicectl migrate: apply the numbered SQL migrations (migrations.dir, or --dir) to
 * the pg.* database, each in its own transaction, and say how many ran.  Safe to run
 * again and from several hosts at once (sl_pg_migrate serialises on an advisory lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmds.h"
#include "pg/pg.h"
#include "sluice/err.h"

static const char migrate_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... migrate [--dir DIR]\n"
    "\n"
    "Apply every DIR/NNNN_name.sql not yet recorded in schema_migrations, in order,\n"
    "each in its own transaction.  DIR defaults to the migrations.dir key.\n"
    "Prints: applied N migrations (M already applied)\n";

int sl_cmd_migrate(sl_conf_t *conf, int argc, char **argv)
{
        const char *dir = sl_conf_get(conf, "migrations.dir");
        char errstr[1024];
        PGconn *pg;
        PGresult *res;
        int applied = 0, total = -1;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        fputs(migrate_usage, stdout);
                        return 0;
                } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
                        dir = argv[++i];
                } else if (strncmp(argv[i], "--dir=", 6) == 0) {
                        dir = argv[i] + 6;
                } else {
                        fprintf(stderr,
                                "sluicectl migrate: unexpected argument '%s'\n\n%s",
                                argv[i], migrate_usage);
                        return 2;
                }
        }
        if (!dir || !*dir) {
                fprintf(stderr, "sluicectl migrate: no migrations directory (set "
                                "migrations.dir or pass --dir)\n");
                return 2;
        }

        pg = sl_pg_connect(conf, errstr, sizeof(errstr));
        if (!pg) {
                fprintf(stderr, "sluicectl migrate: %s\n", errstr);
                return 1;
        }
        if (sl_pg_migrate(pg, dir, &applied, errstr, sizeof(errstr)) != SL_OK) {
                fprintf(stderr, "sluicectl migrate: %s (%d applied before the failure)\n",
                        errstr, applied);
                PQfinish(pg);
                return 1;
        }
        res = PQexecParams(pg, "SELECT count(*) FROM schema_migrations", 0, NULL, NULL,
                           NULL, NULL, 0);
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
                total = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(pg);
        if (total >= applied)
                printf("applied %d migrations (%d already applied)\n", applied,
                       total - applied);
        else
                printf("applied %d migrations\n", applied);
        return 0;
}
