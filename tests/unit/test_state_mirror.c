/*
 * test_state_mirror: the scheduler_state mirror (src/pg/state_mirror.c) without
 * Postgres: when it is due on an injected clock and the interval a rate is computed
 * over, bad arguments refused with words, and a failed write that says why and
 * leaves an empty queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pg/state_mirror.h"
#include "sluice/err.h"

static void due_every_interval(void **state)
{
        char errstr[256];
        sl_state_mirror_t *m =
            sl_state_mirror_new("ingress", 1000, errstr, sizeof(errstr));
        double secs = 0;

        (void)state;
        assert_non_null(m);
        /* The first call is due and covers one second. */
        assert_true(sl_state_mirror_due(m, 50000, false, &secs));
        assert_true(secs == 1.0);
        assert_false(sl_state_mirror_due(m, 50999, false, &secs));
        /* Late by half a second: the span covers 1.5 s. */
        assert_true(sl_state_mirror_due(m, 51500, false, &secs));
        assert_true(secs > 1.499 && secs < 1.501);
        assert_false(sl_state_mirror_due(m, 52000, false, &secs));
        /* force: due at once, over the time since the previous due time. */
        assert_true(sl_state_mirror_due(m, 52000, true, &secs));
        assert_true(secs > 0.499 && secs < 0.501);
        assert_false(sl_state_mirror_due(m, 52999, false, NULL));
        assert_true(sl_state_mirror_due(m, 53000, false, NULL));
        sl_state_mirror_destroy(m);
        sl_state_mirror_destroy(NULL); /* NULL-safe */
}

static void bad_arguments_are_refused(void **state)
{
        char errstr[256] = "";
        char longname[100];

        (void)state;
        assert_null(sl_state_mirror_new("", 1000, errstr, sizeof(errstr)));
        assert_true(strlen(errstr) > 0);
        assert_null(sl_state_mirror_new(NULL, 1000, errstr, sizeof(errstr)));
        assert_null(sl_state_mirror_new("trigger", -1, errstr, sizeof(errstr)));
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_null(sl_state_mirror_new(longname, 1000, errstr, sizeof(errstr)));
}

static void write_without_connection_fails_and_clears(void **state)
{
        char errstr[256] = "";
        sl_state_mirror_t *m =
            sl_state_mirror_new("trigger", 1000, errstr, sizeof(errstr));
        sl_state_mirror_row_t row = {.key = "t-1\"x",
                                     .partition = 3,
                                     .window_start = 1000,
                                     .window_count = 2,
                                     .updated_at = 1500};

        (void)state;
        assert_non_null(m);
        /* Nothing queued: nothing to do, no connection needed. */
        assert_int_equal(sl_state_mirror_write(m, NULL, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(sl_state_mirror_add(m, &row), SL_OK);
        row.key = "t-2";
        assert_int_equal(sl_state_mirror_add(m, &row), SL_OK);
        assert_int_equal(sl_state_mirror_pending(m), 2);
        assert_int_equal(sl_state_mirror_write(m, NULL, errstr, sizeof(errstr)),
                         SL_ERR_PG);
        assert_non_null(strstr(errstr, "2 trigger rows"));
        assert_int_equal(sl_state_mirror_pending(m), 0);
        assert_int_equal(sl_state_mirror_write(m, NULL, errstr, sizeof(errstr)), SL_OK);
        sl_state_mirror_destroy(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(due_every_interval),
            cmocka_unit_test(bad_arguments_are_refused),
            cmocka_unit_test(write_without_connection_fails_and_clears),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
