/*
 * src/pg/copy_pipe.c's writer threads against a real Postgres, with no Kafka client in
 * the process, so that the TSan build can run it (scripts/test.sh, step tsan-threads:
 * ThreadSanitizer crashes as soon as librdkafka resolves a broker address).  Needs a
 * server: SLUICE_TEST_PG_PORT (a private instance of scripts/pg.sh on 127.0.0.1, role
 * and database sluice); skipped without it.  Checked: rows spread over three writers
 * all land, a batch replayed in full is skipped as duplicates (the writers' dedup
 * path), and a half-new batch writes exactly its new half.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/copy_pipe.h"
#include "pg/pg.h"
#include "sluice/err.h"

#define ROWS 20000 /* several chunks per writer */

typedef struct fixture_s {
        sl_conf_t *conf;
        PGconn *pg;
} fixture_t;

static int setup(void **state)
{
        static fixture_t fx;
        const char *port = getenv("SLUICE_TEST_PG_PORT");
        char errstr[512];

        sl_log_init("test", "error");
        *state = &fx;
        if (!port || !*port)
                return 0;
        fx.conf = sl_conf_new();
        if (sl_conf_set(fx.conf, "pg.port", port, errstr, sizeof(errstr)) != SL_OK) {
                fprintf(stderr, "pg.port: %s\n", errstr);
                return -1;
        }
        fx.pg = sl_pg_connect(fx.conf, errstr, sizeof(errstr));
        if (!fx.pg) {
                fprintf(stderr, "connect: %s\n", errstr);
                return -1;
        }
        PQclear(PQexec(fx.pg, "DROP TABLE IF EXISTS t_copy_pipe"));
        PGresult *res = PQexec(fx.pg, "CREATE TABLE t_copy_pipe (id int8 PRIMARY KEY, "
                                      "body text NOT NULL, at timestamptz)");
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        return ok ? 0 : -1;
}

static int teardown(void **state)
{
        fixture_t *fx = *state;
        if (fx->pg) {
                PQclear(PQexec(fx->pg, "DROP TABLE IF EXISTS t_copy_pipe"));
                PQfinish(fx->pg);
        }
        sl_conf_destroy(fx->conf);
        return 0;
}

static long long count_rows(fixture_t *fx)
{
        PGresult *res = PQexec(fx->pg, "SELECT count(*) FROM t_copy_pipe");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return n;
}

/* Rows from..to-1 through cp; returns sl_copy_pipe_finish()'s result. */
static int write_rows(sl_copy_pipe_t *cp, int64_t from, int64_t to, uint64_t *rows,
                      uint64_t *dups)
{
        char body[64], errstr[512];

        for (int64_t id = from; id < to; id++) {
                int n = snprintf(body, sizeof(body), "row %lld", (long long)id);
                sl_copy_row_begin(cp, 3);
                sl_copy_field_int8(cp, id);
                sl_copy_field(cp, body, (size_t)n);
                sl_copy_field_timestamp_ms(cp, 1700000000000LL + id);
                sl_copy_row_end(cp);
        }
        int err = sl_copy_pipe_finish(cp, rows, dups, errstr, sizeof(errstr));
        if (err != SL_OK)
                fprintf(stderr, "finish: %s\n", errstr);
        return err;
}

static void writers_land_every_row_once(void **state)
{
        fixture_t *fx = *state;
        char errstr[512];
        uint64_t rows = 0, dups = 0;

        if (!fx->pg)
                skip();
        sl_copy_pipe_t *cp = sl_copy_pipe_new(fx->conf, "t_copy_pipe", "(id, body, at)",
                                              3, errstr, sizeof(errstr));
        if (!cp)
                fail_msg("sl_copy_pipe_new: %s", errstr);
        assert_int_equal(write_rows(cp, 0, ROWS, &rows, &dups), SL_OK);
        assert_int_equal(rows, ROWS);
        assert_int_equal(dups, 0);
        assert_int_equal(count_rows(fx), ROWS);

        /* The same batch again (a replay after a restart): every row a duplicate. */
        assert_int_equal(write_rows(cp, 0, ROWS, &rows, &dups), SL_OK);
        assert_int_equal(rows, 0);
        assert_int_equal(dups, ROWS);

        /* Half old, half new. */
        assert_int_equal(write_rows(cp, ROWS / 2, ROWS + ROWS / 2, &rows, &dups), SL_OK);
        assert_int_equal(rows, ROWS / 2);
        assert_int_equal(dups, ROWS / 2);
        assert_int_equal(count_rows(fx), ROWS + ROWS / 2);
        sl_copy_pipe_destroy(cp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(writers_land_every_row_once),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
