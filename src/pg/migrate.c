/*
 * The migration runner: applies migrations/NNNN_name.sql files in numeric order, each
 * in its own transaction together with its schema_migrations row, skipping versions
 * already recorded.  A transaction-level advisory lock serialises concurrent
 * migrators (two processes starting at once), and the "already applied?" check is made
 * under that lock.
 *
 * Migration files are our own SQL, so their text runs with PQexec (several statements
 * per file); every value the runner itself sends is a parameter.  Files must not
 * contain BEGIN/COMMIT: the runner checks the transaction is still open afterwards.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"
#include "sluice/err.h"
#include "util/array.h"

/* pg_advisory_xact_lock(SL_PG_LOCK_NS, SL_PG_LOCK_MIGRATE): 'sluc', 1. */
#define SL_PG_LOCK_SQL      "SELECT pg_advisory_xact_lock(1936487779, 1)"
#define SL_PG_MIGRATION_MAX (16 * 1024 * 1024)

typedef struct migration_s {
        int version;
        char *name; /* file name, e.g. 0001_workflow_events.sql */
} migration_t;

static int cmp_migration(const void *a, const void *b)
{
        const migration_t *x = a, *y = b;
        return (x->version > y->version) - (x->version < y->version);
}

static void free_migrations(migration_t *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(m[i].name);
        free(m);
}

/* NNNN_name.sql: returns the version, or -1 when the name is not a migration. */
static int migration_version(const char *name)
{
        const char *p = name;
        long v = 0;
        size_t len = strlen(name);

        if (!isdigit((unsigned char)*p))
                return -1;
        while (isdigit((unsigned char)*p)) {
                v = v * 10 + (*p - '0');
                if (v > INT_MAX)
                        return -1;
                p++;
        }
        if (*p != '_' || len < 5 || strcmp(name + len - 4, ".sql") != 0)
                return -1;
        return (int)v;
}

static int scan_dir(const char *dir, migration_t **out, size_t *count, char *errstr,
                    size_t errstr_size)
{
        DIR *dp = opendir(dir);
        struct dirent *de;
        migration_t *m = NULL, *tmp;
        size_t n = 0, cap = 0;

        if (!dp) {
                snprintf(errstr, errstr_size, "migrations dir %s: %s", dir,
                         strerror(errno));
                return SL_ERR_IO;
        }
        while ((de = readdir(dp)) != NULL) {
                int v = migration_version(de->d_name);
                if (v < 0)
                        continue;
                if (!(tmp = sl_array_grow(m, &cap, n + 1, sizeof(*m), 16)))
                        goto fail_nomem;
                m = tmp;
                m[n].version = v;
                m[n].name = strdup(de->d_name);
                if (!m[n].name)
                        goto fail_nomem;
                n++;
        }
        closedir(dp);
        if (n > 0)
                qsort(m, n, sizeof(*m), cmp_migration);
        for (size_t i = 1; i < n; i++) {
                if (m[i].version == m[i - 1].version) {
                        snprintf(errstr, errstr_size,
                                 "migrations dir %s: %s and %s have the same number %d",
                                 dir, m[i - 1].name, m[i].name, m[i].version);
                        free_migrations(m, n);
                        return SL_ERR_INVALID;
                }
        }
        *out = m;
        *count = n;
        return SL_OK;

fail_nomem:
        closedir(dp);
        free_migrations(m, n);
        snprintf(errstr, errstr_size, "migrations: out of memory");
        return SL_ERR_NOMEM;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
        FILE *fp = fopen(path, "rb");
        char *buf = NULL;
        long size;

        if (!fp) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return NULL;
        }
        if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
            fseek(fp, 0, SEEK_SET) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto fail;
        }
        if (size > SL_PG_MIGRATION_MAX) {
                snprintf(errstr, errstr_size, "%s: larger than %d bytes", path,
                         SL_PG_MIGRATION_MAX);
                goto fail;
        }
        buf = malloc((size_t)size + 1);
        if (!buf) {
                snprintf(errstr, errstr_size, "%s: out of memory", path);
                goto fail;
        }
        if (fread(buf, 1, (size_t)size, fp) != (size_t)size) {
                snprintf(errstr, errstr_size, "%s: read error", path);
                goto fail;
        }
        buf[size] = '\0';
        if (strlen(buf) != (size_t)size) {
                snprintf(errstr, errstr_size, "%s: contains a NUL byte", path);
                goto fail;
        }
        fclose(fp);
        return buf;

fail:
        free(buf);
        fclose(fp);
        return NULL;
}

/* Run sql (no parameters), expecting success; errstr prefixed with what. */
static int run(PGconn *pg, const char *what, const char *sql, int nparams,
               const char *const *params, char *errstr, size_t errstr_size)
{
        char msg[768];

        if (sl_pg_exec(pg, sql, nparams, params, msg, sizeof(msg)) != SL_OK) {
                snprintf(errstr, errstr_size, "%s: %s", what, msg);
                return SL_ERR_PG;
        }
        return SL_OK;
}

/* Server notices during migrations ("already exists, skipping") are not news. */
static void quiet_notice(void *arg, const char *message)
{
        (void)arg;
        sl_log_debug("migrate: %.*s", (int)strcspn(message, "\n"), message);
}

static void rollback(PGconn *pg)
{
        PGresult *res = PQexec(pg, "ROLLBACK");
        PQclear(res);
}

/* Line number (1-based) of a 1-based character position in sql. */
static int line_of(const char *sql, const char *pos)
{
        long p = pos ? atol(pos) : 0;
        int line = 1;

        for (long i = 0; sql[i] && i < p - 1; i++)
                if (sql[i] == '\n')
                        line++;
        return line;
}

/* Apply one file in its own transaction.  *applied is set to 1 when it ran, 0 when
 * another migrator had already recorded it. */
static int apply_one(PGconn *pg, const char *dir, const migration_t *m, int *applied,
                     char *errstr, size_t errstr_size)
{
        char path[PATH_MAX], version[16], msg[768];
        const char *params[2] = {version, m->name};
        char *sql = NULL;
        PGresult *res = NULL;
        ExecStatusType st;

        *applied = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, m->name);
        snprintf(version, sizeof(version), "%d", m->version);
        sql = read_file(path, errstr, errstr_size);
        if (!sql)
                return SL_ERR_IO;

        if (run(pg, m->name, "BEGIN", 0, NULL, errstr, errstr_size) != SL_OK)
                goto fail;
        if (run(pg, m->name, SL_PG_LOCK_SQL, 0, NULL, errstr, errstr_size) != SL_OK)
                goto fail_rollback;
        res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1::int",
                           1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__pg_errstr(pg, res, msg, sizeof(msg));
                snprintf(errstr, errstr_size, "%s: checking schema_migrations: %s",
                         m->name, msg);
                goto fail_rollback;
        }
        if (PQntuples(res) > 0) { /* applied meanwhile by a concurrent migrator */
                PQclear(res);
                rollback(pg);
                free(sql);
                return SL_OK;
        }
        PQclear(res);

        res = PQexec(pg, sql);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
                sl__pg_errstr(pg, res, msg, sizeof(msg));
                if (res && PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION))
                        snprintf(errstr, errstr_size, "%s line %d: %s", path,
                                 line_of(sql, PQresultErrorField(
                                                  res, PG_DIAG_STATEMENT_POSITION)),
                                 msg);
                else
                        snprintf(errstr, errstr_size, "%s: %s", path, msg);
                goto fail_rollback;
        }
        PQclear(res);
        res = NULL;
        if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
                snprintf(errstr, errstr_size,
                         "%s: ended the runner's transaction (migration files must not "
                         "contain BEGIN/COMMIT/ROLLBACK)",
                         path);
                goto fail_rollback;
        }
        if (run(pg, m->name,
                "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                params, errstr, errstr_size) != SL_OK)
                goto fail_rollback;
        if (run(pg, m->name, "COMMIT", 0, NULL, errstr, errstr_size) != SL_OK)
                goto fail_rollback;
        *applied = 1;
        free(sql);
        return SL_OK;

fail_rollback:
        PQclear(res);
        rollback(pg);
fail:
        free(sql);
        return SL_ERR_PG;
}

int sl_pg_migrate(PGconn *pg, const char *dir, int *applied, char *errstr,
                  size_t errstr_size)
{
        migration_t *m = NULL;
        size_t n = 0;
        int err, done = 0, one;
        PQnoticeProcessor prev_np;
        void *prev_arg = NULL;

        if (applied)
                *applied = 0;
        if (!pg || !dir || !*dir) {
                snprintf(errstr, errstr_size, "migrate: no connection or no directory");
                return SL_ERR_INVALID;
        }
        if (PQtransactionStatus(pg) != PQTRANS_IDLE) {
                snprintf(errstr, errstr_size,
                         "migrate: connection is busy or in a transaction");
                return SL_ERR_STATE;
        }
        err = scan_dir(dir, &m, &n, errstr, errstr_size);
        if (err != SL_OK)
                return err;
        prev_np = PQsetNoticeProcessor(pg, quiet_notice, NULL);

        /* schema_migrations, created under the lock so concurrent first runs agree. */
        if (run(pg, "schema_migrations", "BEGIN", 0, NULL, errstr, errstr_size) != SL_OK)
                goto fail;
        if (run(pg, "schema_migrations", SL_PG_LOCK_SQL, 0, NULL, errstr, errstr_size) !=
                SL_OK ||
            run(pg, "schema_migrations",
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, errstr, errstr_size) != SL_OK ||
            run(pg, "schema_migrations", "COMMIT", 0, NULL, errstr, errstr_size) !=
                SL_OK) {
                rollback(pg);
                goto fail;
        }

        for (size_t i = 0; i < n; i++) {
                err = apply_one(pg, dir, &m[i], &one, errstr, errstr_size);
                if (err != SL_OK)
                        goto fail_err;
                if (one) {
                        done++;
                        sl_log_info("applied migration %s", m[i].name);
                }
        }
        free_migrations(m, n);
        PQsetNoticeProcessor(pg, prev_np, prev_arg);
        if (applied)
                *applied = done;
        return SL_OK;

fail:
        err = SL_ERR_PG;
fail_err:
        free_migrations(m, n);
        PQsetNoticeProcessor(pg, prev_np, prev_arg);
        if (applied)
                *applied = done;
        return err;
}
