/* Unit tests for src/limits/window.c: the epoch-aligned rate window shared by
 * admission and triggers, on an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limits/window.h"

static void start_is_aligned_to_the_epoch(void **state)
{
        (void)state;
        assert_int_equal(sl_window_start_of(1000, 123456), 123000);
        assert_int_equal(sl_window_start_of(1000, 123000), 123000);
        assert_int_equal(sl_window_start_of(1000, 122999), 122000);
        assert_int_equal(sl_window_start_of(0, 123456), 0);
        assert_int_equal(sl_window_start_of(-5, 123456), 0);
}

static void take_until_full_then_refuse(void **state)
{
        sl_window_t w = {0};
        (void)state;

        for (int i = 0; i < 3; i++) {
                assert_true(sl_window_has_room(&w, 3, 1000, 10000 + i));
                assert_true(sl_window_take(&w, 3, 1000, 10000 + i));
        }
        assert_int_equal(w.start, 10000);
        assert_int_equal(w.count, 3);
        assert_false(sl_window_has_room(&w, 3, 1000, 10500));
        assert_false(sl_window_take(&w, 3, 1000, 10500));
        assert_int_equal(w.count, 3); /* a refusal takes nothing */
}

static void next_window_starts_empty(void **state)
{
        sl_window_t w = {0};
        (void)state;

        for (int i = 0; i < 3; i++)
                sl_window_take(&w, 3, 1000, 10999);
        /* has_room looks at now's window without changing w */
        assert_true(sl_window_has_room(&w, 3, 1000, 11000));
        assert_int_equal(w.start, 10000);
        assert_true(sl_window_take(&w, 3, 1000, 11000));
        assert_int_equal(w.start, 11000);
        assert_int_equal(w.count, 1);
}

static void roll_reports_a_move_and_never_goes_back(void **state)
{
        sl_window_t w = {.start = 5000, .count = 2};
        (void)state;

        assert_false(sl_window_roll(&w, 1000, 5999));
        assert_int_equal(w.count, 2);
        assert_false(sl_window_roll(&w, 1000, 4200)); /* older: stays */
        assert_int_equal(w.start, 5000);
        assert_int_equal(w.count, 2);
        assert_true(sl_window_roll(&w, 1000, 7300));
        assert_int_equal(w.start, 7000);
        assert_int_equal(w.count, 0);
}

static void an_older_now_counts_in_the_current_window(void **state)
{
        sl_window_t w = {.start = 5000, .count = 1};
        (void)state;

        assert_true(sl_window_take(&w, 2, 1000, 3000));
        assert_int_equal(w.start, 5000);
        assert_int_equal(w.count, 2);
        assert_false(sl_window_take(&w, 2, 1000, 3000));
        /* full: room again when the current (not the older now's) window ends */
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 3000), 6000);
}

static void next_room_is_now_or_the_next_window_start(void **state)
{
        sl_window_t w = {0};
        (void)state;

        assert_int_equal(sl_window_next_room(&w, 2, 1000, 10100), 10100);
        sl_window_take(&w, 2, 1000, 10100);
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 10200), 10200);
        sl_window_take(&w, 2, 1000, 10200);
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 10300), 11000);
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 10999), 11000);
        /* at the next window's start there is room again */
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 11000), 11000);
        assert_int_equal(sl_window_next_room(&w, 2, 1000, 25000), 25000);
}

static void limit_zero_or_negative_is_unlimited(void **state)
{
        sl_window_t w = {0};
        (void)state;

        for (int i = 0; i < 1000; i++)
                assert_true(sl_window_take(&w, 0, 1000, 10000));
        assert_int_equal(w.count, 1000); /* still counted */
        assert_true(sl_window_has_room(&w, -1, 1000, 10000));
        assert_true(sl_window_take(&w, -1, 1000, 10000));
        assert_int_equal(sl_window_next_room(&w, 0, 1000, 10000), 10000);
}

static void no_window_length_never_rolls(void **state)
{
        sl_window_t w = {0};
        (void)state;

        assert_true(sl_window_take(&w, 1, 0, 10000));
        assert_false(sl_window_take(&w, 1, 0, 99999999));
        assert_int_equal(sl_window_next_room(&w, 1, 0, 99999999), INT64_MAX);
}

static void limit_one_per_window_over_a_long_run(void **state)
{
        sl_window_t w = {0};
        int64_t taken = 0;
        (void)state;

        /* one attempt every 7 ms for 10 s: exactly one per 1000 ms window */
        for (int64_t t = 1000000; t < 1010000; t += 7)
                taken += sl_window_take(&w, 1, 1000, t);
        assert_int_equal(taken, 10);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(start_is_aligned_to_the_epoch),
            cmocka_unit_test(take_until_full_then_refuse),
            cmocka_unit_test(next_window_starts_empty),
            cmocka_unit_test(roll_reports_a_move_and_never_goes_back),
            cmocka_unit_test(an_older_now_counts_in_the_current_window),
            cmocka_unit_test(next_room_is_now_or_the_next_window_start),
            cmocka_unit_test(limit_zero_or_negative_is_unlimited),
            cmocka_unit_test(no_window_length_never_rolls),
            cmocka_unit_test(limit_one_per_window_over_a_long_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
