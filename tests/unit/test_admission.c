/* Unit tests for src/limits/admission.c: windows, auto-pause, manual pause, expiry and
 * replayed decisions, all on an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limits/admission.h"

static const sl_limits_t lim = {
    .limit = 3, .window_ms = 1000, .pause_after = 0, .pause_ms = 0};

static sl_decision_t decide(const sl_limits_t *l, const sl_manual_pause_t *p,
                            sl_source_state_t *st, int64_t now, sl_admit_reason_t *why)
{
        return sl_admission_decide(l, p, st, now, why, NULL);
}

static void window_admits_limit_then_throttles(void **state)
{
        sl_source_state_t st = {0};
        sl_admit_reason_t why;
        (void)state;

        for (int i = 0; i < 3; i++)
                assert_int_equal(decide(&lim, NULL, &st, 10000 + i, &why),
                                 SL_DECISION_ACCEPTED);
        assert_int_equal(decide(&lim, NULL, &st, 10500, &why), SL_DECISION_THROTTLED);
        assert_int_equal(why, SL_ADMIT_WINDOW_FULL);
        assert_string_equal(sl_admit_reason_str(why), "window_full");
        assert_int_equal(st.count, 3);
        assert_int_equal(st.throttled, 1);
        assert_int_equal(st.window_start, 10000);
}

static void next_window_starts_empty(void **state)
{
        sl_source_state_t st = {0};
        (void)state;

        for (int i = 0; i < 4; i++)
                decide(&lim, NULL, &st, 10999, NULL);
        assert_int_equal(decide(&lim, NULL, &st, 11000, NULL), SL_DECISION_ACCEPTED);
        assert_int_equal(st.window_start, 11000);
        assert_int_equal(st.count, 1);
        assert_int_equal(st.throttled, 0);
}

static void windows_are_aligned_to_the_epoch(void **state)
{
        sl_source_state_t a = {0}, b = {0};
        (void)state;
        /* Two workers seeing the same source at different times agree on the window. */
        decide(&lim, NULL, &a, 123456, NULL);
        decide(&lim, NULL, &b, 123999, NULL);
        assert_int_equal(a.window_start, 123000);
        assert_int_equal(b.window_start, a.window_start);
}

static void unlimited_when_limit_is_zero(void **state)
{
        sl_limits_t l = {.limit = 0, .window_ms = 1000};
        sl_source_state_t st = {0};
        (void)state;
        for (int i = 0; i < 10000; i++)
                assert_int_equal(decide(&l, NULL, &st, 5000, NULL), SL_DECISION_ACCEPTED);
}

static void auto_pause_after_n_throttles(void **state)
{
        sl_limits_t l = {
            .limit = 2, .window_ms = 1000, .pause_after = 3, .pause_ms = 5000};
        sl_source_state_t st = {0};
        sl_admit_reason_t why;
        bool started;
        (void)state;

        decide(&l, NULL, &st, 1000, NULL);
        decide(&l, NULL, &st, 1001, NULL);
        assert_int_equal(sl_admission_decide(&l, NULL, &st, 1002, &why, &started),
                         SL_DECISION_THROTTLED);
        assert_false(started);
        sl_admission_decide(&l, NULL, &st, 1003, &why, &started);
        assert_false(started);
        assert_int_equal(sl_admission_decide(&l, NULL, &st, 1004, &why, &started),
                         SL_DECISION_THROTTLED);
        assert_true(started);
        assert_int_equal(st.paused_until, 6004);
        /* Paused even in a new window, until the pause expires. */
        assert_int_equal(decide(&l, NULL, &st, 2500, &why), SL_DECISION_PAUSED);
        assert_int_equal(why, SL_ADMIT_AUTO_PAUSED);
        assert_true(sl_admission_paused(NULL, &st, 6003));
        assert_int_equal(decide(&l, NULL, &st, 6003, &why), SL_DECISION_PAUSED);
        /* Expiry: at paused_until the source is admitted again. */
        assert_false(sl_admission_paused(NULL, &st, 6004));
        assert_int_equal(decide(&l, NULL, &st, 6004, &why), SL_DECISION_ACCEPTED);
        assert_int_equal(why, SL_ADMIT_OK);
}

static void manual_pause_until_resumed_and_until_time(void **state)
{
        sl_source_state_t st = {0};
        sl_manual_pause_t forever = {.paused = true, .until = 0};
        sl_manual_pause_t until = {.paused = true, .until = 20000};
        sl_manual_pause_t resumed = {.paused = false};
        sl_admit_reason_t why;
        (void)state;

        assert_int_equal(decide(&lim, &forever, &st, 10000, &why), SL_DECISION_PAUSED);
        assert_int_equal(why, SL_ADMIT_MANUALLY_PAUSED);
        assert_int_equal(decide(&lim, &forever, &st, 99999999, &why), SL_DECISION_PAUSED);
        assert_int_equal(decide(&lim, &until, &st, 19999, &why), SL_DECISION_PAUSED);
        assert_int_equal(decide(&lim, &until, &st, 20000, &why), SL_DECISION_ACCEPTED);
        assert_int_equal(decide(&lim, &resumed, &st, 20001, &why), SL_DECISION_ACCEPTED);
        /* Paused events do not use up the window. */
        assert_int_equal(st.count, 2);
}

static void manual_pause_wins_over_window(void **state)
{
        sl_source_state_t st = {0};
        sl_manual_pause_t p = {.paused = true};
        sl_admit_reason_t why;
        (void)state;
        for (int i = 0; i < 5; i++)
                decide(&lim, NULL, &st, 3000, NULL);
        assert_int_equal(decide(&lim, &p, &st, 3001, &why), SL_DECISION_PAUSED);
        assert_int_equal(why, SL_ADMIT_MANUALLY_PAUSED);
}

static void replayed_decision_counts_once_in_its_window(void **state)
{
        sl_source_state_t st = {0};
        (void)state;
        /* A recorded decision re-applied after a crash counts, without a new decision. */
        sl_admission_apply(&lim, &st, SL_DECISION_ACCEPTED, 4100);
        sl_admission_apply(&lim, &st, SL_DECISION_ACCEPTED, 4200);
        sl_admission_apply(&lim, &st, SL_DECISION_THROTTLED, 4300);
        assert_int_equal(st.window_start, 4000);
        assert_int_equal(st.count, 2);
        assert_int_equal(st.throttled, 1);
        /* one admission left in this window */
        assert_int_equal(decide(&lim, NULL, &st, 4400, NULL), SL_DECISION_ACCEPTED);
        assert_int_equal(decide(&lim, NULL, &st, 4401, NULL), SL_DECISION_THROTTLED);
        /* a decision from an older window changes nothing */
        sl_admission_apply(&lim, &st, SL_DECISION_ACCEPTED, 3999);
        assert_int_equal(st.count, 3);
}

static void decision_strings_round_trip(void **state)
{
        (void)state;
        for (int d = SL_DECISION_ACCEPTED; d <= SL_DECISION_PAUSED; d++)
                assert_int_equal(sl_decision_parse(sl_decision_str((sl_decision_t)d)), d);
        assert_int_equal(sl_decision_parse("nonsense"), SL_DECISION_NONE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(window_admits_limit_then_throttles),
            cmocka_unit_test(next_window_starts_empty),
            cmocka_unit_test(windows_are_aligned_to_the_epoch),
            cmocka_unit_test(unlimited_when_limit_is_zero),
            cmocka_unit_test(auto_pause_after_n_throttles),
            cmocka_unit_test(manual_pause_until_resumed_and_until_time),
            cmocka_unit_test(manual_pause_wins_over_window),
            cmocka_unit_test(replayed_decision_counts_once_in_its_window),
            cmocka_unit_test(decision_strings_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
