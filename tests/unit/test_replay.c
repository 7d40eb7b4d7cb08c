/*
 * test_replay: the verify-mode table of a stateful stage (src/state/replay.c), the
 * pure part of admission's replay safety: which recorded decisions are reused, which
 * are counted again, and when a partition leaves verify mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "state/replay.h"

/* The table of replay.h, cell by cell. */
static void verify_mode_table(void **state)
{
        sl_replay_t r;

        (void)state;
        sl_replay_restored(&r, 100);
        assert_true(r.verify);
        assert_int_equal(r.progress, 100);
        sl_replay_begin(&r);
        /* at or before progress: the state has it */
        assert_int_equal(sl_replay_event(&r, 99, SL_REPLAY_NO_RECORD), SL_REPLAY_DECIDE);
        assert_int_equal(sl_replay_event(&r, 100, SL_REPLAY_RECORD_UNDECIDED),
                         SL_REPLAY_DECIDE);
        assert_int_equal(sl_replay_event(&r, 100, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_REUSE);
        assert_false(r.saw_new);
        /* past progress: a recorded decision is counted now */
        assert_int_equal(sl_replay_event(&r, 101, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_REUSE_COUNT);
        assert_true(r.saw_new && r.found_new);
        assert_int_equal(sl_replay_event(&r, 102, SL_REPLAY_NO_RECORD), SL_REPLAY_DECIDE);
        assert_int_equal(sl_replay_event(&r, 103, SL_REPLAY_RECORD_UNDECIDED),
                         SL_REPLAY_DECIDE);
}

/* Out of verify mode nothing is looked up: every event is decided, whatever rec says. */
static void out_of_verify_mode_everything_is_decided(void **state)
{
        sl_replay_t r;

        (void)state;
        sl_replay_restored(&r, 10);
        r.verify = false;
        sl_replay_begin(&r);
        assert_int_equal(sl_replay_event(&r, 5, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_DECIDE);
        assert_int_equal(sl_replay_event(&r, 11, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_DECIDE);
        assert_false(r.saw_new || r.found_new);
        assert_false(sl_replay_end(&r));
        assert_false(r.verify);
}

/* Verify mode ends with the first batch whose new events had no recorded decision,
 * and not before. */
static void leaves_verify_mode_on_the_first_clean_batch(void **state)
{
        sl_replay_t r;

        (void)state;
        sl_replay_restored(&r, 50);
        /* a batch entirely at or before progress proves nothing */
        sl_replay_begin(&r);
        sl_replay_event(&r, 49, SL_REPLAY_NO_RECORD);
        sl_replay_event(&r, 50, SL_REPLAY_RECORD_DECIDED);
        assert_false(sl_replay_end(&r));
        assert_true(r.verify);
        /* a new event with a recorded decision: Postgres is ahead of the changelog */
        sl_replay_begin(&r);
        sl_replay_event(&r, 51, SL_REPLAY_RECORD_DECIDED);
        sl_replay_event(&r, 52, SL_REPLAY_NO_RECORD);
        assert_false(sl_replay_end(&r));
        assert_true(r.verify);
        /* a row without a decision for a new event also keeps verify mode */
        sl_replay_begin(&r);
        sl_replay_event(&r, 53, SL_REPLAY_RECORD_UNDECIDED);
        assert_false(sl_replay_end(&r));
        assert_true(r.verify);
        /* new events, none recorded: caught up */
        sl_replay_begin(&r);
        sl_replay_event(&r, 40, SL_REPLAY_RECORD_DECIDED);
        sl_replay_event(&r, 54, SL_REPLAY_NO_RECORD);
        assert_true(sl_replay_end(&r));
        assert_false(r.verify);
        assert_false(sl_replay_end(&r)); /* only once */
}

/* A batch's bookkeeping does not leak into the next one. */
static void begin_forgets_the_previous_batch(void **state)
{
        sl_replay_t r;

        (void)state;
        sl_replay_restored(&r, -1);
        sl_replay_event(&r, 0, SL_REPLAY_RECORD_DECIDED);
        assert_true(r.found_new);
        sl_replay_begin(&r);
        assert_false(r.saw_new || r.found_new);
        sl_replay_event(&r, 1, SL_REPLAY_NO_RECORD);
        assert_true(sl_replay_end(&r));
}

/* Progress only moves forward; is_new follows it. */
static void progress_moves_forward_only(void **state)
{
        sl_replay_t r;

        (void)state;
        sl_replay_restored(&r, -7); /* no record reads as -1 */
        assert_int_equal(r.progress, -1);
        assert_true(sl_replay_is_new(&r, 0));
        assert_true(sl_replay_progress(&r, 10));
        assert_false(sl_replay_progress(&r, 10));
        assert_false(sl_replay_progress(&r, 3));
        assert_int_equal(r.progress, 10);
        assert_false(sl_replay_is_new(&r, 10));
        assert_true(sl_replay_is_new(&r, 11));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(verify_mode_table),
            cmocka_unit_test(out_of_verify_mode_everything_is_decided),
            cmocka_unit_test(leaves_verify_mode_on_the_first_clean_batch),
            cmocka_unit_test(begin_forgets_the_previous_batch),
            cmocka_unit_test(progress_moves_forward_only),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
