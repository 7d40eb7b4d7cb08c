/* Unit tests for src/limits/admission.c: windows, auto-pause, manual pause, expiry,
 * replayed decisions and the source breaker, all on an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
        assert_int_equal(st.pause_cause, SL_PAUSE_CAUSE_FLOOD);
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

/* --- the source breaker ----------------------------------------------------------- */

/* 50% of at least 20 events in a 10 s window pauses for 30 s. */
static const sl_limits_t brk = {.limit = 0,
                                .window_ms = 1000,
                                .dlq_rate = 50,
                                .dlq_min = 20,
                                .dlq_window_ms = 10000,
                                .dlq_pause_ms = 30000};

/* Observe events at now: valid ones first, then dead letters.  Returns how many of
 * the observations started a pause. */
static int observe_n(const sl_limits_t *l, sl_source_state_t *st, int64_t now, int dead,
                     int valid)
{
        int started = 0;
        for (int i = 0; i < valid; i++)
                started += sl_admission_observe(l, NULL, st, now, false, NULL);
        for (int i = 0; i < dead; i++)
                started += sl_admission_observe(l, NULL, st, now, true, NULL);
        return started;
}

static void breaker_below_threshold_does_not_pause(void **state)
{
        sl_source_state_t st = {0};
        (void)state;

        /* 49 of 100 dead-lettered: under 50%. */
        assert_int_equal(observe_n(&brk, &st, 50000, 49, 51), 0);
        assert_int_equal(st.dlq_seen, 100);
        assert_int_equal(st.dlq_dead, 49);
        assert_int_equal(st.dlq_window_start, 50000);
        assert_int_equal(st.paused_until, 0);
        assert_int_equal(decide(&brk, NULL, &st, 50001, NULL), SL_DECISION_ACCEPTED);
}

static void breaker_at_threshold_pauses_like_a_flood(void **state)
{
        sl_source_state_t st = {0};
        sl_dlq_trip_t trip = {0};
        sl_admit_reason_t why;
        (void)state;

        /* 10 valid, then dead letters: the 20th event makes 10 of 20 = 50%. */
        assert_int_equal(observe_n(&brk, &st, 50000, 0, 10), 0);
        assert_int_equal(observe_n(&brk, &st, 50100, 9, 0), 0);
        assert_true(sl_admission_observe(&brk, NULL, &st, 50200, true, &trip));
        assert_int_equal(trip.seen, 20);
        assert_int_equal(trip.dead, 10);
        assert_int_equal(st.paused_until, 80200);
        assert_int_equal(st.pause_cause, SL_PAUSE_CAUSE_DLQ_RATE);
        /* the breaker measures afresh after the pause */
        assert_int_equal(st.dlq_seen, 0);
        assert_int_equal(st.dlq_dead, 0);
        /* The same pause as a flood's: paused / auto_paused until paused_until. */
        assert_true(sl_admission_paused(NULL, &st, 80199));
        assert_int_equal(decide(&brk, NULL, &st, 60000, &why), SL_DECISION_PAUSED);
        assert_int_equal(why, SL_ADMIT_AUTO_PAUSED);
        assert_int_equal(decide(&brk, NULL, &st, 80199, &why), SL_DECISION_PAUSED);
        assert_int_equal(decide(&brk, NULL, &st, 80200, &why), SL_DECISION_ACCEPTED);
        assert_int_equal(why, SL_ADMIT_OK);
}

static void breaker_trips_on_a_valid_event_reaching_dlq_min(void **state)
{
        sl_source_state_t st = {0};
        (void)state;

        /* 15 dead letters of 19 events: under dlq_min; the 20th, valid, makes 15 of
         * 20 = 75% with dlq_min reached. */
        assert_int_equal(observe_n(&brk, &st, 50000, 15, 4), 0);
        assert_int_equal(observe_n(&brk, &st, 50000, 0, 1), 1);
        assert_int_equal(st.paused_until, 80000);
}

static void breaker_waits_for_dlq_min(void **state)
{
        sl_source_state_t st = {0};
        sl_limits_t l = brk;
        (void)state;

        /* Every event dead-lettered, but only 19 of them: no pause. */
        assert_int_equal(observe_n(&brk, &st, 50000, 19, 0), 0);
        assert_int_equal(st.paused_until, 0);
        assert_int_equal(observe_n(&brk, &st, 50000, 1, 0), 1);
        /* dlq_min 0 counts as 1: the first dead letter at 100% pauses. */
        memset(&st, 0, sizeof(st));
        l.dlq_min = 0;
        assert_int_equal(observe_n(&l, &st, 50000, 0, 1), 0);
        memset(&st, 0, sizeof(st));
        assert_int_equal(observe_n(&l, &st, 50000, 1, 0), 1);
}

static void breaker_window_rollover_resets_the_counts(void **state)
{
        sl_source_state_t st = {0};
        (void)state;

        /* 19 dead letters at the end of one window, 1 at the start of the next: never
         * 20 events in one window. */
        assert_int_equal(observe_n(&brk, &st, 59999, 19, 0), 0);
        assert_int_equal(st.dlq_window_start, 50000);
        assert_int_equal(observe_n(&brk, &st, 60000, 1, 0), 0);
        assert_int_equal(st.dlq_window_start, 60000);
        assert_int_equal(st.dlq_seen, 1);
        assert_int_equal(st.dlq_dead, 1);
        /* windows are epoch-aligned: another worker would agree */
        assert_int_equal(observe_n(&brk, &st, 69999, 0, 0), 0);
        assert_int_equal(observe_n(&brk, &st, 65000, 19, 0), 1);
        /* an event of an older window (a replayed decision) is not counted */
        memset(&st, 0, sizeof(st));
        assert_int_equal(observe_n(&brk, &st, 60000, 1, 0), 0);
        assert_int_equal(observe_n(&brk, &st, 59999, 30, 0), 0);
        assert_int_equal(st.dlq_seen, 1);
}

static void breaker_off_when_rate_or_pause_is_zero(void **state)
{
        sl_limits_t off = brk;
        sl_source_state_t st = {0}, zero = {0};
        (void)state;

        off.dlq_rate = 0;
        assert_false(sl_admission_breaker_on(&off));
        assert_int_equal(observe_n(&off, &st, 50000, 100, 0), 0);
        assert_memory_equal(&st, &zero, sizeof(st)); /* nothing kept: no state record */
        off = brk;
        off.dlq_pause_ms = 0;
        assert_false(sl_admission_breaker_on(&off));
        assert_int_equal(observe_n(&off, &st, 50000, 100, 0), 0);
        assert_memory_equal(&st, &zero, sizeof(st));
        assert_true(sl_admission_breaker_on(&brk));
        /* the defaults of a limits struct (as unit tests and old rows make it) */
        assert_false(sl_admission_breaker_on(&lim));
}

static void breaker_does_not_count_while_paused(void **state)
{
        sl_source_state_t st = {0};
        sl_manual_pause_t p = {.paused = true};
        (void)state;

        /* Manually paused: nothing counted. */
        assert_int_equal(sl_admission_observe(&brk, &p, &st, 50000, true, NULL) ? 1 : 0,
                         0);
        assert_int_equal(st.dlq_seen, 0);
        /* Auto-paused (a flood's pause): nothing counted, the pause not extended. */
        st.paused_until = 55000;
        st.pause_cause = SL_PAUSE_CAUSE_FLOOD;
        assert_int_equal(observe_n(&brk, &st, 50000, 40, 0), 0);
        assert_int_equal(st.dlq_seen, 0);
        assert_int_equal(st.paused_until, 55000);
        assert_int_equal(st.pause_cause, SL_PAUSE_CAUSE_FLOOD);
        /* After it, counted again. */
        assert_int_equal(observe_n(&brk, &st, 55000, 20, 0), 1);
        assert_int_equal(st.paused_until, 85000);
        assert_int_equal(st.pause_cause, SL_PAUSE_CAUSE_DLQ_RATE);
}

static void breaker_rate_100_needs_every_event_dead(void **state)
{
        sl_limits_t l = brk;
        sl_source_state_t st = {0};
        (void)state;

        l.dlq_rate = 100;
        assert_int_equal(observe_n(&l, &st, 50000, 99, 1), 0);
        memset(&st, 0, sizeof(st));
        assert_int_equal(observe_n(&l, &st, 50000, 20, 0), 1);
}

static void pause_cause_strings(void **state)
{
        (void)state;
        assert_string_equal(sl_pause_cause_str(SL_PAUSE_CAUSE_NONE), "none");
        assert_string_equal(sl_pause_cause_str(SL_PAUSE_CAUSE_FLOOD), "flood");
        assert_string_equal(sl_pause_cause_str(SL_PAUSE_CAUSE_DLQ_RATE), "dlq_rate");
        assert_string_equal(sl_pause_cause_str((sl_pause_cause_t)42), "none");
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
            cmocka_unit_test(breaker_below_threshold_does_not_pause),
            cmocka_unit_test(breaker_at_threshold_pauses_like_a_flood),
            cmocka_unit_test(breaker_trips_on_a_valid_event_reaching_dlq_min),
            cmocka_unit_test(breaker_waits_for_dlq_min),
            cmocka_unit_test(breaker_window_rollover_resets_the_counts),
            cmocka_unit_test(breaker_off_when_rate_or_pause_is_zero),
            cmocka_unit_test(breaker_does_not_count_while_paused),
            cmocka_unit_test(breaker_rate_100_needs_every_event_dead),
            cmocka_unit_test(pause_cause_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
