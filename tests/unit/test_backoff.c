/* Unit tests for src/limits/backoff.c: bounds, jitter, cap, tiers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limits/backoff.h"

static const sl_backoff_t b = {.initial_ms = 1000,
                               .max_ms = 60000,
                               .multiplier = 2,
                               .jitter = 0.2,
                               .max_attempts = 8};

static void grows_exponentially_without_jitter(void **state)
{
        sl_backoff_t nj = b;
        (void)state;
        nj.jitter = 0;
        assert_int_equal(sl_backoff_delay(&nj, 1, 0.5), 1000);
        assert_int_equal(sl_backoff_delay(&nj, 2, 0.5), 2000);
        assert_int_equal(sl_backoff_delay(&nj, 3, 0.5), 4000);
        assert_int_equal(sl_backoff_delay(&nj, 6, 0.5), 32000);
}

static void capped(void **state)
{
        (void)state;
        for (int a = 7; a < 1000; a += 37)
                for (double u = 0; u < 1; u += 0.125)
                        assert_true(sl_backoff_delay(&b, a, u) <= 60000);
        assert_int_equal(sl_backoff_delay(&b, 100000, 0.999999), 60000);
}

static void jitter_stays_in_its_band(void **state)
{
        (void)state;
        for (int a = 1; a <= 5; a++) {
                int64_t base = 1000LL << (a - 1);
                int64_t lo = sl_backoff_delay(&b, a, 0.0);
                int64_t hi = sl_backoff_delay(&b, a, 0.9999999);
                assert_int_equal(lo, (int64_t)((double)base * 0.8));
                assert_true(hi >= (int64_t)((double)base * 1.19));
                assert_true(hi < (int64_t)((double)base * 1.2) + 1);
                assert_true(sl_backoff_delay(&b, a, 0.5) == base);
        }
        /* out-of-range draws are clamped, never negative or beyond the band */
        assert_int_equal(sl_backoff_delay(&b, 1, -3), 800);
        assert_true(sl_backoff_delay(&b, 1, 7) <= 1200);
        assert_int_equal(sl_backoff_delay(&b, 0, 0.5), 1000);
}

static void tiers_parse_and_choose(void **state)
{
        int64_t t[8];
        (void)state;
        assert_int_equal(sl_backoff_parse_tiers("1s,10s,1m,10m", t, 8), 4);
        assert_int_equal(t[0], 1000);
        assert_int_equal(t[1], 10000);
        assert_int_equal(t[2], 60000);
        assert_int_equal(t[3], 600000);
        assert_int_equal(sl_backoff_tier(t, 4, 0), 0);
        assert_int_equal(sl_backoff_tier(t, 4, 999), 0);
        assert_int_equal(sl_backoff_tier(t, 4, 1000), 0);
        assert_int_equal(sl_backoff_tier(t, 4, 9999), 0);
        assert_int_equal(sl_backoff_tier(t, 4, 10000), 1);
        assert_int_equal(sl_backoff_tier(t, 4, 3600000), 3);
        assert_int_equal(sl_backoff_parse_tiers("500ms, 2s", t, 8), 2);
        assert_int_equal(t[0], 500);
        assert_int_equal(sl_backoff_parse_tiers("", t, 8), 0);
        assert_int_equal(sl_backoff_parse_tiers("10s,1s", t, 8), 0);
        assert_int_equal(sl_backoff_parse_tiers("1x", t, 8), 0);
        assert_int_equal(sl_backoff_parse_tiers("1s,,2s", t, 8), 0);
        assert_int_equal(sl_backoff_parse_tiers("1s,2s,3s", t, 2), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(grows_exponentially_without_jitter),
            cmocka_unit_test(capped),
            cmocka_unit_test(jitter_stays_in_its_band),
            cmocka_unit_test(tiers_parse_and_choose),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
