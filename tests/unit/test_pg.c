/* Unit tests for src/pg that need no server: password redaction in error words, a
 * failed connect that says why without the password, and argument checks.  The
 * server-side behaviour (migrations, partitions, types, LISTEN/NOTIFY) is covered by
 * tests/integration/test_pg.sh and test_types_reload.sh against a real Postgres. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"
#include "pg/types_registry.h"
#include "sluice/err.h"

static void redact_masks_every_occurrence(void **state)
{
        char msg[256] = "auth for hunter2-long-secret failed (hunter2-long-secret)";
        (void)state;

        sl__pg_redact(msg, "host=127.0.0.1 password=hunter2-long-secret");
        assert_string_equal(msg, "auth for [redacted] failed ([redacted])");
}

static void redact_short_and_odd_passwords(void **state)
{
        char msg[64] = "pw=ab;";
        char stars[64] = "x**y**";
        (void)state;

        sl__pg_redact(msg, "password=ab");
        assert_string_equal(msg, "pw=**;");
        /* a password of '*' characters must not loop forever */
        sl__pg_redact(stars, "password='**'");
        assert_string_equal(stars, "x**y**");
}

static void redact_without_password_is_a_no_op(void **state)
{
        char msg[64] = "connection refused";
        (void)state;

        sl__pg_redact(msg, "host=127.0.0.1 port=5432");
        assert_string_equal(msg, "connection refused");
        sl__pg_redact(msg, "this is = not a conninfo '");
        assert_string_equal(msg, "connection refused");
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

static void connect_failure_has_words_not_password(void **state)
{
        char errstr[512], port[16];
        sl_conf_t *conf = sl_conf_new();
        PGconn *pg;
        (void)state;

        snprintf(port, sizeof(port), "%d", closed_port());
        assert_int_equal(sl_conf_set(conf, "pg.port", port, errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(
            sl_conf_set(conf, "pg.password", "Sup3r-s3cret-pw", errstr, sizeof(errstr)),
            SL_OK);
        assert_int_equal(
            sl_conf_set(conf, "pg.connect_timeout", "2", errstr, sizeof(errstr)), SL_OK);
        errstr[0] = '\0';
        pg = sl_pg_connect(conf, errstr, sizeof(errstr));
        assert_null(pg);
        assert_non_null(strstr(errstr, "Postgres connect:"));
        assert_non_null(strstr(errstr, port));
        assert_null(strstr(errstr, "Sup3r-s3cret-pw"));
        assert_null(strchr(errstr, '\n'));
        sl_conf_destroy(conf);
}

static void bad_arguments_are_refused(void **state)
{
        char errstr[256];
        int applied = 7;
        (void)state;

        assert_int_equal(sl_pg_exec(NULL, "SELECT 1", 0, NULL, errstr, sizeof(errstr)),
                         SL_ERR_INVALID);
        assert_int_equal(sl_pg_ensure_partitions(NULL, 7, 14, errstr, sizeof(errstr)),
                         SL_ERR_INVALID);
        assert_int_equal(
            sl_pg_migrate(NULL, "migrations", &applied, errstr, sizeof(errstr)),
            SL_ERR_INVALID);
        assert_int_equal(applied, 0);
        assert_null(sl_types_load(NULL, errstr, sizeof(errstr)));
        assert_true(strlen(errstr) > 0);
        assert_string_equal(sl_pg_sqlstate(NULL).s, "");
        assert_true(sl_sqlstate_is(sl_pg_sqlstate(NULL), ""));
        sl_types_watch_destroy(NULL); /* NULL-safe */
}

static void watch_new_fails_cleanly_without_server(void **state)
{
        char errstr[512], port[16];
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        snprintf(port, sizeof(port), "%d", closed_port());
        assert_int_equal(sl_conf_set(conf, "pg.port", port, errstr, sizeof(errstr)),
                         SL_OK);
        errstr[0] = '\0';
        assert_null(sl_types_watch_new(conf, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "Postgres connect:"));
        sl_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(redact_masks_every_occurrence),
            cmocka_unit_test(redact_short_and_odd_passwords),
            cmocka_unit_test(redact_without_password_is_a_no_op),
            cmocka_unit_test(connect_failure_has_words_not_password),
            cmocka_unit_test(bad_arguments_are_refused),
            cmocka_unit_test(watch_new_fails_cleanly_without_server),
        };

        sl_log_init("test_pg", "error");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
