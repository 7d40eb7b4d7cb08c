/*
 * sluice-it-pg_session_probe: a test helper for test_pg_session.sh.  Against the
 * Postgres on 127.0.0.1:PORT (argv[1]) it puts a session (src/pg/session.c) through
 * what Postgres does to sessions, printing one "ok: ..." line per check and exiting 1
 * at the first that fails:
 *   - its backend is terminated: the next statement reconnects, sets the session up
 *     again (the prepared statement exists on the new backend) and succeeds;
 *   - a statement that fails for good (no such table) is SL_ERR_PG at once;
 *   - its transaction is chosen as a deadlock victim: run again as a whole, it commits;
 *   - the server is gone for good: SL_ERR_PG_TRANSIENT after the session's retries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/session.h"
#include "sluice/err.h"

static const char *port;

#define CHECK(cond, ...)                                                                 \
        do {                                                                             \
                if (!(cond)) {                                                           \
                        fprintf(stderr, "FAIL: " __VA_ARGS__);                           \
                        fprintf(stderr, "\n");                                           \
                        exit(1);                                                         \
                }                                                                        \
                printf("ok: " __VA_ARGS__);                                              \
                printf("\n");                                                            \
                fflush(stdout);                                                          \
        } while (0)

/* A plain connection beside the session, to act on it. */
static PGconn *other(void)
{
        char conninfo[256];
        snprintf(conninfo, sizeof(conninfo),
                 "host=127.0.0.1 port=%s user=sluice dbname=sluice", port);
        PGconn *pg = PQconnectdb(conninfo);
        if (PQstatus(pg) != CONNECTION_OK) {
                fprintf(stderr, "FAIL: connect: %s", PQerrorMessage(pg));
                exit(1);
        }
        return pg;
}

static void run(PGconn *pg, const char *sql)
{
        PGresult *res = PQexec(pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK &&
            PQresultStatus(res) != PGRES_TUPLES_OK) {
                fprintf(stderr, "FAIL: %s: %s", sql, PQresultErrorMessage(res));
                exit(1);
        }
        PQclear(res);
}

static long value(sl_pg_session_t *ses, const char *sql)
{
        PGresult *res;
        char errstr[512];
        int err = sl_pg_session_exec(ses, sql, 0, NULL, &res, errstr, sizeof(errstr));
        if (err != SL_OK) {
                fprintf(stderr, "FAIL: %s: %s (%s)\n", sql, errstr, sl_err2str(err));
                exit(1);
        }
        long v = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        return v;
}

int main(int argc, char **argv)
{
        static const sl_pg_stmt_t stmts[] = {
            {"plus_one", "SELECT $1::int + 1", 1, "plus one"}};
        /* This session waits on locks for less than the other one: it is the one a
         * deadlock check picks as the victim. */
        sl_pg_session_opts_t opts = {
            .setup_sql = "SET deadlock_timeout = '100ms'", .stmts = stmts, .nstmts = 1};
        char errstr[512];
        sl_conf_t *conf = sl_conf_new();
        sl_pg_session_t *ses;
        PGconn *b;
        int err;

        if (argc != 2)
                return 2;
        port = argv[1];
        sl_log_init("pg_session_probe", "warn");
        if (sl_conf_set(conf, "pg.port", port, errstr, sizeof(errstr)) != SL_OK)
                return 2;
        ses = sl_pg_session_new(conf, &opts, errstr, sizeof(errstr));
        CHECK(ses != NULL, "session connects and prepares (%s)", ses ? "" : errstr);
        b = other();

        /* Connection lost. */
        long pid = value(ses, "SELECT pg_backend_pid()");
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%ld)", pid);
        run(b, sql);
        long pid2 = value(ses, "SELECT pg_backend_pid()");
        CHECK(pid2 != pid, "a terminated backend is replaced (%ld -> %ld)", pid, pid2);
        PGresult *res = PQexecPrepared(sl_pg_session_conn(ses), "plus_one", 1,
                                       (const char *const[]){"41"}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_TUPLES_OK &&
                  strcmp(PQgetvalue(res, 0, 0), "42") == 0,
              "the new backend has the prepared statement");
        PQclear(res);

        /* A failure for good. */
        err = sl_pg_session_exec(ses, "SELECT * FROM no_such_table", 0, NULL, NULL,
                                 errstr, sizeof(errstr));
        CHECK(err == SL_ERR_PG && strstr(errstr, "42P01"),
              "no such table is SL_ERR_PG (%s)", errstr);

        /* A deadlock: b holds row 2 and asks for row 1, which the session's
         * transaction holds; then that transaction asks for row 2.  Its deadlock check
         * comes first (100 ms against 10 s): it is the victim. */
        run(b, "DROP TABLE IF EXISTS probe_locks");
        run(b, "CREATE TABLE probe_locks (id int PRIMARY KEY, v int)");
        run(b, "INSERT INTO probe_locks VALUES (1, 0), (2, 0)");
        run(b, "SET deadlock_timeout = '10s'");
        run(b, "BEGIN");
        run(b, "UPDATE probe_locks SET v = 2 WHERE id = 2");
        if (!PQsendQuery(
                b, "SELECT pg_sleep(0.2); UPDATE probe_locks SET v = 2 WHERE id = 1; "
                   "COMMIT")) {
                fprintf(stderr, "FAIL: send: %s", PQerrorMessage(b));
                return 1;
        }
        const sl_pg_step_t steps[] = {
            {"UPDATE probe_locks SET v = 1 WHERE id = 1", 0, NULL},
            {"SELECT pg_sleep(0.5)", 0, NULL},
            {"UPDATE probe_locks SET v = 1 WHERE id = 2", 0, NULL}};
        err = sl_pg_session_tx(ses, steps, 3, errstr, sizeof(errstr));
        CHECK(err == SL_OK,
              "a deadlock victim's transaction is run again and commits (%s)",
              err == SL_OK ? "" : errstr);
        while ((res = PQgetResult(b)) != NULL) {
                if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
                        fprintf(stderr, "FAIL: the other transaction: %s",
                                PQresultErrorMessage(res));
                        return 1;
                }
                PQclear(res);
        }
        CHECK(value(ses, "SELECT count(*) FROM probe_locks WHERE v = 1") == 2,
              "the session's transaction committed after the other one");
        run(b, "DROP TABLE probe_locks");

        /* The server goes away for good: every backend terminated, then connections
         * refused (the test stops Postgres when the probe says so). */
        printf("stop postgres\n");
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof(line), stdin))
                return 1;
        err = sl_pg_session_exec(ses, "SELECT 1", 0, NULL, NULL, errstr, sizeof(errstr));
        CHECK(err == SL_ERR_PG_TRANSIENT, "a server gone is SL_ERR_PG_TRANSIENT (%s)",
              errstr);

        PQfinish(b);
        sl_pg_session_destroy(ses);
        sl_conf_destroy(conf);
        return 0;
}
