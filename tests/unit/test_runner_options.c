/* Unit tests for tools/runner/options.c: each option's values and refusals, the
 * control file's text (comments, blanks, all or nothing, errors naming line and key),
 * and the failure rule (known vectors, the bounds, the share it fails, the same answer
 * every time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"
#include "sluice/err.h"

static void option_values(void **state)
{
        sl_runner_opts_t o;
        char err[256];
        (void)state;

        sl_runner_opts_init(&o);
        assert_true(o.fail_rate == 0 && o.latency_ms == 0 && !o.silent);
        assert_int_equal(sl_runner_opt_set(&o, "fail_rate", "0.25", err, sizeof(err)),
                         SL_OK);
        assert_true(o.fail_rate == 0.25);
        assert_int_equal(sl_runner_opt_set(&o, "fail_rate", "1", err, sizeof(err)),
                         SL_OK);
        assert_int_equal(sl_runner_opt_set(&o, "latency_ms", "50", err, sizeof(err)),
                         SL_OK);
        assert_int_equal(o.latency_ms, 50);
        assert_int_equal(sl_runner_opt_set(&o, "silent", "1", err, sizeof(err)), SL_OK);
        assert_true(o.silent);
        assert_int_equal(sl_runner_opt_set(&o, "silent", "false", err, sizeof(err)),
                         SL_OK);
        assert_false(o.silent);

        /* Refused, and o unchanged. */
        static const char *const bad[][2] = {
            {"fail_rate", "1.5"},  {"fail_rate", "-0.1"},
            {"fail_rate", "nan"},  {"fail_rate", ""},
            {"fail_rate", "0.5x"}, {"latency_ms", "-1"},
            {"latency_ms", "1.5"}, {"latency_ms", "3600001"},
            {"latency_ms", ""},    {"silent", "yes"},
            {"silent", ""},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sl_runner_opts_t before = o;
                err[0] = '\0';
                assert_int_equal(
                    sl_runner_opt_set(&o, bad[i][0], bad[i][1], err, sizeof(err)),
                    SL_ERR_INVALID);
                assert_non_null(strstr(err, bad[i][1]));
                assert_memory_equal(&o, &before, sizeof(o));
        }
        assert_int_equal(sl_runner_opt_set(&o, "fail-rate", "0", err, sizeof(err)),
                         SL_ERR_NOTFOUND);
}

static void control_text(void **state)
{
        sl_runner_opts_t o, before;
        char err[256];
        (void)state;

        sl_runner_opts_init(&o);
        assert_int_equal(sl_runner_opts_parse(&o,
                                              "# make it fail\n"
                                              "\n"
                                              "  fail_rate = 1  \r\n"
                                              "latency_ms=20\n"
                                              "silent=0",
                                              err, sizeof(err)),
                         SL_OK);
        assert_true(o.fail_rate == 1);
        assert_int_equal(o.latency_ms, 20);
        assert_false(o.silent);

        /* Keys not named keep what o had; an empty text changes nothing. */
        assert_int_equal(sl_runner_opts_parse(&o, "silent=1\n", err, sizeof(err)), SL_OK);
        assert_true(o.fail_rate == 1 && o.latency_ms == 20 && o.silent);
        before = o;
        assert_int_equal(sl_runner_opts_parse(&o, "", err, sizeof(err)), SL_OK);
        assert_memory_equal(&o, &before, sizeof(o));

        /* All or nothing: a bad fourth line leaves the first three unapplied. */
        assert_int_equal(sl_runner_opts_parse(&o,
                                              "fail_rate=0\n\nlatency_ms=5\n"
                                              "latency_ms=soon\n",
                                              err, sizeof(err)),
                         SL_ERR_CONFIG);
        assert_memory_equal(&o, &before, sizeof(o));
        assert_non_null(strstr(err, "line 4"));
        assert_non_null(strstr(err, "latency_ms"));
        assert_int_equal(sl_runner_opts_parse(&o, "fail_rate\n", err, sizeof(err)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(err, "line 1"));
        assert_int_equal(sl_runner_opts_parse(&o, "x=1\n", err, sizeof(err)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(err, "x:"));
        assert_memory_equal(&o, &before, sizeof(o));
}

/* u = (fmix64(FNV-1a 64) >> 11) / 2^53, computed independently (Python):
 *   6ba7b810-9dad-51d1-80b4-00c04fd430c8 -> 0.26272340...
 *   886313e1-3b8a-5372-9b90-0c9aee199e5d -> 0.01494507... */
static void failure_rule(void **state)
{
        const char *a = "6ba7b810-9dad-51d1-80b4-00c04fd430c8";
        const char *b = "886313e1-3b8a-5372-9b90-0c9aee199e5d";
        char id[40];
        int fails = 0;
        (void)state;

        assert_false(sl_runner_fails(a, 0.2627));
        assert_true(sl_runner_fails(a, 0.2628));
        assert_false(sl_runner_fails(b, 0.0149));
        assert_true(sl_runner_fails(b, 0.0150));
        assert_false(sl_runner_fails(a, 0));
        assert_true(sl_runner_fails(b, 1));

        /* About the share asked for, even for ids in a sequence (2,976 of 10,000 in
         * Python), and the same ids every time. */
        for (int i = 0; i < 10000; i++) {
                snprintf(id, sizeof(id), "00000000-0000-5000-8000-%012d", i);
                bool f = sl_runner_fails(id, 0.3);
                assert_int_equal(f, sl_runner_fails(id, 0.3));
                if (f) {
                        assert_true(sl_runner_fails(id, 0.31)); /* monotone in the rate */
                        fails++;
                }
        }
        assert_in_range(fails, 2800, 3200);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(option_values),
            cmocka_unit_test(control_text),
            cmocka_unit_test(failure_rule),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
