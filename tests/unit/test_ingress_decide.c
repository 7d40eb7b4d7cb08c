/* Unit tests for processors/ingress/decide.c: what sluice-ingress does with a
 * re-injected attempt given its retry row, how the row moves on by the transition
 * table, and what becomes of an event whose id Postgres already holds.  No Kafka, no
 * Postgres: the rows are written here as the lookups would read them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decide.h"
#include "sluice/err.h"

/* A retry row waiting on attempt n in state st, with no decision recorded for it. */
static sl_ingress_retried_t row(sl_retry_state_t st, int32_t n)
{
        sl_ingress_retried_t r = {.retry_attempt = n,
                                  .state_known = true,
                                  .state = st,
                                  .event_attempt = n - 1,
                                  .decision = SL_DECISION_THROTTLED,
                                  .reason = SL_ADMIT_WINDOW_FULL,
                                  .decided_at = 1000};
        strcpy(r.id, "0b7e3c4a-1f5d-4e2a-9c3b-8d7f6e5a4b3c");
        return r;
}

static void attempt_counts_when_its_open_row_waits_on_it(void **state)
{
        (void)state;
        /* 'due', or still waiting when the 'due' mark has not landed. */
        static const sl_retry_state_t open[] = {SL_RETRY_DUE, SL_RETRY_SCHEDULED,
                                                SL_RETRY_RESCHEDULED};
        for (size_t i = 0; i < 3; i++) {
                sl_ingress_retried_t r = row(open[i], 2);
                assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_DECIDE);
        }
}

static void stale_attempts_are_dropped(void **state)
{
        sl_ingress_retried_t r;
        (void)state;

        assert_int_equal(sl_ingress_retried_step(NULL, 1), SL_RETRIED_STALE); /* no row */
        /* The row waits on attempt 3 and no decision of attempt 2 is recorded: a late
         * wake-up of 2 is stale. */
        r = row(SL_RETRY_DUE, 3);
        r.event_attempt = 1;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_STALE);
        assert_int_equal(sl_ingress_retried_step(&r, 4), SL_RETRIED_STALE);
        static const sl_retry_state_t final[] = {SL_RETRY_COMPLETED, SL_RETRY_CANCELLED,
                                                 SL_RETRY_EXHAUSTED};
        for (size_t i = 0; i < 3; i++) {
                r = row(final[i], 2);
                assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_STALE);
        }
        r = row(SL_RETRY_DUE, 2);
        r.state_known = false; /* a state this build does not know */
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_STALE);
        /* A second copy of the attempt in the same batch: a duplicate wake-up. */
        r = row(SL_RETRY_DUE, 2);
        r.taken = true;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_STALE);
}

static void recorded_decision_is_reused(void **state)
{
        sl_ingress_retried_t r = row(SL_RETRY_RESCHEDULED, 3);
        (void)state;

        /* Attempt 2 was decided (held back again: the row waits on 3) and is read again
         * after a crash: the recorded decision stands, whatever the row says now. */
        r.event_attempt = 2;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_RECORDED);
        r.taken = true;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_RECORDED);
        r = row(SL_RETRY_COMPLETED, 2);
        r.event_attempt = 2;
        r.decision = SL_DECISION_ACCEPTED;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_RECORDED);
        /* Exhausted: dead-lettered again. */
        r = row(SL_RETRY_EXHAUSTED, 5);
        r.event_attempt = 5;
        assert_int_equal(sl_ingress_retried_step(&r, 5), SL_RETRIED_EXHAUSTED);
        /* No decision recorded (the event's row still at attempt 2): decide. */
        r = row(SL_RETRY_DUE, 2);
        r.event_attempt = 2;
        r.decision = SL_DECISION_NONE;
        assert_int_equal(sl_ingress_retried_step(&r, 2), SL_RETRIED_DECIDE);
}

static void fresh_decision_moves_the_row_by_the_table(void **state)
{
        sl_retry_event_t ev;
        sl_retry_state_t to;
        (void)state;

        static const sl_retry_state_t open[] = {SL_RETRY_DUE, SL_RETRY_SCHEDULED,
                                                SL_RETRY_RESCHEDULED};
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(sl_ingress_retried_next(open[i], SL_DECISION_ACCEPTED, 2,
                                                         5, &ev, &to),
                                 SL_OK);
                assert_int_equal(ev, SL_RETRY_EV_ADMIT);
                assert_int_equal(to, SL_RETRY_COMPLETED);
                assert_int_equal(sl_ingress_retried_next(open[i], SL_DECISION_THROTTLED,
                                                         2, 5, &ev, &to),
                                 SL_OK);
                assert_int_equal(ev, SL_RETRY_EV_HOLD);
                assert_int_equal(to, SL_RETRY_RESCHEDULED);
                assert_int_equal(
                    sl_ingress_retried_next(open[i], SL_DECISION_PAUSED, 5, 5, &ev, &to),
                    SL_OK);
                assert_int_equal(ev, SL_RETRY_EV_EXHAUST);
                assert_int_equal(to, SL_RETRY_EXHAUSTED);
        }
        /* The last attempt allowed is still held back, not exhausted. */
        assert_int_equal(
            sl_ingress_retried_next(SL_RETRY_DUE, SL_DECISION_THROTTLED, 4, 5, &ev, &to),
            SL_OK);
        assert_int_equal(ev, SL_RETRY_EV_HOLD);
        /* From a final state the table refuses. */
        assert_int_equal(sl_ingress_retried_next(SL_RETRY_CANCELLED, SL_DECISION_ACCEPTED,
                                                 2, 5, &ev, &to),
                         SL_ERR_STATE);
}

static sl_ingress_recorded_t recorded(int32_t partition, int64_t offset, int32_t attempt,
                                      sl_decision_t d)
{
        sl_ingress_recorded_t r = {.partition = partition,
                                   .offset = offset,
                                   .attempt = attempt,
                                   .decision = d,
                                   .reason = SL_ADMIT_OK,
                                   .decided_at = 500};
        strcpy(r.id, "0b7e3c4a-1f5d-4e2a-9c3b-8d7f6e5a4b3c");
        return r;
}

static void no_row_or_own_row_is_no_duplicate(void **state)
{
        sl_ingress_recorded_t r = recorded(3, 42, 0, SL_DECISION_ACCEPTED);
        sl_dup_outcome_t o;
        (void)state;

        o = sl_ingress_duplicate(NULL, 3, 42, SL_DECISION_ACCEPTED);
        assert_int_equal(o.action, SL_DUP_NONE);
        assert_false(o.unapply);
        assert_false(o.drop_intent);
        o = sl_ingress_duplicate(&r, 3, 42, SL_DECISION_THROTTLED); /* this very record */
        assert_int_equal(o.action, SL_DUP_NONE);
        assert_false(o.unapply);
        assert_false(o.drop_intent);
}

static void duplicate_keeps_the_recorded_decision(void **state)
{
        sl_ingress_recorded_t r = recorded(3, 42, 0, SL_DECISION_ACCEPTED);
        sl_dup_outcome_t o;
        (void)state;

        /* A resend at another offset, or the same offset of another partition. */
        o = sl_ingress_duplicate(&r, 3, 50, SL_DECISION_ACCEPTED);
        assert_int_equal(o.action, SL_DUP_REUSE);
        assert_true(o.unapply);
        assert_false(o.drop_intent);
        o = sl_ingress_duplicate(&r, 1, 42, SL_DECISION_ACCEPTED);
        assert_int_equal(o.action, SL_DUP_REUSE);
        /* Held back this time, accepted before: the retry intent written is wrong. */
        o = sl_ingress_duplicate(&r, 3, 50, SL_DECISION_THROTTLED);
        assert_int_equal(o.action, SL_DUP_REUSE);
        assert_true(o.unapply);
        assert_true(o.drop_intent);
        /* Held back both times: the first intent stands (the COPY skipped this one). */
        r = recorded(3, 42, 0, SL_DECISION_PAUSED);
        o = sl_ingress_duplicate(&r, 3, 50, SL_DECISION_THROTTLED);
        assert_int_equal(o.action, SL_DUP_REUSE);
        assert_false(o.drop_intent);
}

static void duplicate_of_a_retried_event_is_dropped(void **state)
{
        sl_ingress_recorded_t r = recorded(3, 42, 2, SL_DECISION_ACCEPTED);
        sl_dup_outcome_t o;
        (void)state;

        o = sl_ingress_duplicate(&r, 3, 50, SL_DECISION_THROTTLED);
        assert_int_equal(o.action, SL_DUP_STALE);
        assert_true(o.unapply);
        assert_false(o.drop_intent); /* only a first decision's intent is dropped */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(attempt_counts_when_its_open_row_waits_on_it),
            cmocka_unit_test(stale_attempts_are_dropped),
            cmocka_unit_test(recorded_decision_is_reused),
            cmocka_unit_test(fresh_decision_moves_the_row_by_the_table),
            cmocka_unit_test(no_row_or_own_row_is_no_duplicate),
            cmocka_unit_test(duplicate_keeps_the_recorded_decision),
            cmocka_unit_test(duplicate_of_a_retried_event_is_dropped),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
