/* The statement helper of src/history (pgexec.h). */
#include "history/pgexec.h"

#include <stdio.h>
#include <string.h>

PGresult *sl__hist_q(PGconn *pg, const char *sql, int n, const char *const *params,
                     char *errstr, size_t errstr_size)
{
        PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                return res;
        snprintf(errstr, errstr_size, "%s", PQerrorMessage(pg));
        errstr[strcspn(errstr, "\n")] = '\0';
        PQclear(res);
        return NULL;
}

bool sl__hist_ok(PGconn *pg, const char *sql, int n, const char *const *params,
                 char *errstr, size_t errstr_size)
{
        PGresult *res = sl__hist_q(pg, sql, n, params, errstr, errstr_size);
        PQclear(res);
        return res != NULL;
}
