/* Unit tests for src/pg/session.c that need no server: which SQLSTATEs count as
 * transient, and a session that cannot connect fails with words.  The retries
 * themselves run against a real Postgres in the retry and ingress integration tests
 * (test_retry_e2e, test_dead_letters_after_broker_restart, ...). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/session.h"
#include "sluice/err.h"

static void connection_loss_serialization_and_deadlock_are_transient(void **state)
{
        (void)state;
        assert_true(sl_pg_sqlstate_transient("08000")); /* connection_exception */
        assert_true(sl_pg_sqlstate_transient("08006")); /* connection_failure */
        assert_true(sl_pg_sqlstate_transient("08003")); /* connection_does_not_exist */
        assert_true(sl_pg_sqlstate_transient("40001")); /* serialization_failure */
        assert_true(sl_pg_sqlstate_transient("40P01")); /* deadlock_detected */
}

static void everything_else_is_not(void **state)
{
        (void)state;
        assert_false(sl_pg_sqlstate_transient(NULL));
        assert_false(sl_pg_sqlstate_transient(""));
        assert_false(sl_pg_sqlstate_transient("23505")); /* unique_violation */
        assert_false(sl_pg_sqlstate_transient("42P01")); /* undefined_table */
        assert_false(sl_pg_sqlstate_transient("40002")); /* integrity constraint (tx) */
        assert_false(sl_pg_sqlstate_transient("57014")); /* query_canceled */
        assert_false(sl_pg_sqlstate_transient("0A000"));
        assert_false(sl_pg_sqlstate_transient("8000")); /* not a class 08 code */
}

static void transient_error_has_its_own_code_and_words(void **state)
{
        (void)state;
        assert_int_equal(SL_ERR_PG_TRANSIENT, -13);
        assert_string_not_equal(sl_err2str(SL_ERR_PG_TRANSIENT), "unknown error");
        assert_string_not_equal(sl_err2str(SL_ERR_PG_TRANSIENT), sl_err2str(SL_ERR_PG));
}

/* A loopback port nobody listens on (bound, then released). */
static int closed_port(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

static void session_without_server_fails_with_words(void **state)
{
        static const sl_pg_stmt_t stmts[] = {{"one", "SELECT $1::int", 1, "one"}};
        sl_pg_session_opts_t opts = {
            .setup_sql = "SET synchronous_commit = off", .stmts = stmts, .nstmts = 1};
        char errstr[512], port[16];
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        snprintf(port, sizeof(port), "%d", closed_port());
        assert_int_equal(sl_conf_set(conf, "pg.port", port, errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(
            sl_conf_set(conf, "pg.connect_timeout", "2", errstr, sizeof(errstr)), SL_OK);
        errstr[0] = '\0';
        assert_null(sl_pg_session_new(conf, &opts, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "Postgres connect:"));
        sl_pg_session_destroy(NULL); /* NULL-safe */
        sl_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(connection_loss_serialization_and_deadlock_are_transient),
            cmocka_unit_test(everything_else_is_not),
            cmocka_unit_test(transient_error_has_its_own_code_and_words),
            cmocka_unit_test(session_without_server_fails_with_words),
        };

        sl_log_init("test_pg_session", "error");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
