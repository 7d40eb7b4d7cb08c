/* Unit tests for src/retry (due.c, state.c, holds.c): due-time decisions with an
 * injected clock, the lifecycle's transitions, the paused-partition set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "limits/backoff.h"
#include "retry/due.h"
#include "retry/holds.h"
#include "retry/state.h"
#include "sluice/err.h"

static const int64_t tiers[] = {1000, 10000, 60000, 600000};
static const sl_retry_timing_t timing = {
    .tiers_ms = tiers, .ntiers = 4, .tolerance_ms = 20};

/* A fake clock: tests move it. */
static int64_t clock_now;
#define T0 1700000000000LL

static void asleep_until_timestamp_plus_tier(void **state)
{
        (void)state;
        for (size_t t = 0; t < 4; t++) {
                clock_now = T0 + tiers[t] - 1;
                sl_retry_decision_t d =
                    sl_retry_decide(&timing, t, T0, T0 + tiers[t], clock_now);
                assert_int_equal(d.action, SL_RETRY_SLEEP);
                assert_int_equal(d.wake_at, T0 + tiers[t]);
        }
}

static void due_once_awake(void **state)
{
        (void)state;
        clock_now = T0 + 1000;
        /* exactly on time, a little late, within tolerance early, very late */
        assert_int_equal(sl_retry_decide(&timing, 0, T0, T0 + 1000, clock_now).action,
                         SL_RETRY_INJECT);
        assert_int_equal(sl_retry_decide(&timing, 0, T0, T0 + 500, clock_now).action,
                         SL_RETRY_INJECT);
        assert_int_equal(sl_retry_decide(&timing, 0, T0, T0 + 1020, clock_now).action,
                         SL_RETRY_INJECT);
        assert_int_equal(sl_retry_decide(&timing, 0, T0, T0 - 3600000, clock_now).action,
                         SL_RETRY_INJECT);
}

static void hops_to_longest_tier_not_past_remaining(void **state)
{
        (void)state;
        clock_now = T0 + 1000;
        sl_retry_decision_t d =
            sl_retry_decide(&timing, 0, T0, clock_now + 45000, clock_now);
        assert_int_equal(d.action, SL_RETRY_HOP);
        assert_int_equal(d.tier, 1); /* 10 s <= 45 s < 1 m */
        d = sl_retry_decide(&timing, 0, T0, clock_now + 3600000, clock_now);
        assert_int_equal(d.action, SL_RETRY_HOP);
        assert_int_equal(d.tier, 3);
        d = sl_retry_decide(&timing, 0, T0, clock_now + 1000, clock_now);
        assert_int_equal(d.action, SL_RETRY_HOP);
        assert_int_equal(d.tier, 0);
}

static void delays_when_less_than_a_tier_remains(void **state)
{
        (void)state;
        clock_now = T0 + 1000;
        sl_retry_decision_t d =
            sl_retry_decide(&timing, 0, T0, clock_now + 300, clock_now);
        assert_int_equal(d.action, SL_RETRY_DELAY);
        assert_int_equal(d.wake_at,
                         clock_now + 300 - 20); /* never more than tolerance early */
        /* Advance the clock to the wake-up: now it is due. */
        clock_now = d.wake_at;
        assert_int_equal(sl_retry_decide(&timing, 0, T0, T0 + 1300, clock_now).action,
                         SL_RETRY_INJECT);
}

static void unknown_timestamp_counts_as_awake(void **state)
{
        (void)state;
        clock_now = T0;
        assert_int_equal(sl_retry_decide(&timing, 2, -1, T0, clock_now).action,
                         SL_RETRY_INJECT);
}

/* A wake-up walked through the tiers with the clock: it is re-injected no earlier than
 * tolerance before due_at and no later than the shortest tier after it. */
static void walk_through_tiers_with_clock(void **state)
{
        (void)state;
        int64_t delays[] = {800, 1200, 9000, 25000, 61000, 700000, 3600000};
        for (size_t k = 0; k < sizeof(delays) / sizeof(delays[0]); k++) {
                int64_t due = T0 + delays[k], ts = T0;
                size_t tier =
                    sl_backoff_tier(tiers, 4, delays[k]); /* as ingress picks it */
                int hops = 0;
                clock_now = T0;
                for (;;) {
                        sl_retry_decision_t d =
                            sl_retry_decide(&timing, tier, ts, due, clock_now);
                        if (d.action == SL_RETRY_SLEEP || d.action == SL_RETRY_DELAY) {
                                assert_true(d.wake_at > clock_now);
                                clock_now = d.wake_at;
                                continue;
                        }
                        if (d.action == SL_RETRY_HOP) {
                                ts = clock_now; /* re-produced now */
                                tier = d.tier;
                                assert_true(++hops < 50);
                                continue;
                        }
                        break;
                }
                assert_true(clock_now >= due - 20);
                assert_true(clock_now < due + 1000);
        }
}

static void transitions(void **state)
{
        sl_retry_state_t to;
        (void)state;
        assert_int_equal(sl_retry_transition(SL_RETRY_SCHEDULED, SL_RETRY_EV_WAKE, &to),
                         SL_OK);
        assert_int_equal(to, SL_RETRY_DUE);
        assert_int_equal(sl_retry_transition(SL_RETRY_RESCHEDULED, SL_RETRY_EV_WAKE, &to),
                         SL_OK);
        assert_int_equal(to, SL_RETRY_DUE);
        assert_int_equal(sl_retry_transition(SL_RETRY_DUE, SL_RETRY_EV_REDRIVE, &to),
                         SL_OK);
        assert_int_equal(to, SL_RETRY_SCHEDULED);
        /* Ingress decides a re-injected attempt from 'due', or from the waiting state
         * when it meets the re-injection before its 'due' mark lands. */
        static const sl_retry_state_t from[] = {SL_RETRY_DUE, SL_RETRY_SCHEDULED,
                                                SL_RETRY_RESCHEDULED};
        static const struct {
                sl_retry_event_t ev;
                sl_retry_state_t to;
        } decided[] = {{SL_RETRY_EV_ADMIT, SL_RETRY_COMPLETED},
                       {SL_RETRY_EV_HOLD, SL_RETRY_RESCHEDULED},
                       {SL_RETRY_EV_EXHAUST, SL_RETRY_EXHAUSTED}};
        for (size_t k = 0; k < 3; k++)
                for (size_t d = 0; d < 3; d++) {
                        assert_int_equal(sl_retry_transition(from[k], decided[d].ev, &to),
                                         SL_OK);
                        assert_int_equal(to, decided[d].to);
                }
        for (int s = SL_RETRY_SCHEDULED; s <= SL_RETRY_RESCHEDULED; s++) {
                if (s == SL_RETRY_COMPLETED)
                        continue;
                assert_int_equal(sl_retry_transition(s, SL_RETRY_EV_CANCEL, &to), SL_OK);
                assert_int_equal(to, SL_RETRY_CANCELLED);
        }
}

static void duplicates_and_finals_refused(void **state)
{
        sl_retry_state_t to = SL_RETRY_SCHEDULED;
        (void)state;
        /* A second wake-up of the same attempt finds the row due: refused. */
        assert_int_equal(sl_retry_transition(SL_RETRY_DUE, SL_RETRY_EV_WAKE, &to),
                         SL_ERR_STATE);
        /* Only a re-injected attempt is re-driven. */
        assert_int_equal(
            sl_retry_transition(SL_RETRY_SCHEDULED, SL_RETRY_EV_REDRIVE, &to),
            SL_ERR_STATE);
        assert_int_equal(
            sl_retry_transition(SL_RETRY_RESCHEDULED, SL_RETRY_EV_REDRIVE, &to),
            SL_ERR_STATE);
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++) {
                if (!sl_retry_state_final((sl_retry_state_t)s))
                        continue;
                for (int ev = 0; ev < SL_RETRY__EV_CNT; ev++)
                        assert_int_equal(sl_retry_transition((sl_retry_state_t)s,
                                                             (sl_retry_event_t)ev, &to),
                                         SL_ERR_STATE);
        }
        assert_int_equal(to, SL_RETRY_SCHEDULED); /* untouched on refusal */
        assert_int_equal(sl_retry_transition((sl_retry_state_t)99, SL_RETRY_EV_WAKE, &to),
                         SL_ERR_STATE);
}

static void state_names_round_trip(void **state)
{
        sl_retry_state_t s;
        (void)state;
        for (int i = 0; i < SL_RETRY__STATE_CNT; i++) {
                assert_int_equal(
                    sl_retry_state_parse(sl_retry_state_str((sl_retry_state_t)i), &s),
                    SL_OK);
                assert_int_equal(s, i);
        }
        assert_int_equal(sl_retry_state_parse("Scheduled", &s), SL_ERR_INVALID);
        assert_int_equal(sl_retry_state_parse("", &s), SL_ERR_INVALID);
        assert_true(sl_retry_state_waiting(SL_RETRY_SCHEDULED));
        assert_true(sl_retry_state_waiting(SL_RETRY_RESCHEDULED));
        assert_false(sl_retry_state_waiting(SL_RETRY_DUE));
        assert_string_equal(sl_retry_state_str((sl_retry_state_t)42), "?");
}

/* The state sets the stages' SQL is written with (state.h's SL_RETRY_SQL_*) are the
 * transition table's: rendered from it, they must read the same. */
static void sql_state_sets_follow_the_table(void **state)
{
        char buf[128];
        sl_retry_state_t to;
        (void)state;

        assert_true(sl_retry_state_set_sql(SL_RETRY_EV_WAKE, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, SL_RETRY_SQL_WAITING);
        for (sl_retry_event_t ev = SL_RETRY_EV_ADMIT; ev <= SL_RETRY_EV_EXHAUST; ev++) {
                sl_retry_state_set_sql(ev, buf, sizeof(buf));
                assert_string_equal(buf, SL_RETRY_SQL_DECIDABLE);
        }
        sl_retry_state_set_sql(SL_RETRY_EV_CANCEL, buf, sizeof(buf));
        assert_string_equal(buf, SL_RETRY_SQL_DECIDABLE);
        sl_retry_state_set_sql(SL_RETRY_EV_REDRIVE, buf, sizeof(buf));
        assert_string_equal(buf, SL_RETRY_SQL_REDRIVABLE);

        assert_int_equal(sl_retry_transition(SL_RETRY_SCHEDULED, SL_RETRY_EV_WAKE, &to),
                         SL_OK);
        snprintf(buf, sizeof(buf), "'%s'", sl_retry_state_str(to));
        assert_string_equal(buf, SL_RETRY_SQL_WAKE_TO);
        assert_int_equal(sl_retry_transition(SL_RETRY_DUE, SL_RETRY_EV_REDRIVE, &to),
                         SL_OK);
        snprintf(buf, sizeof(buf), "'%s'", sl_retry_state_str(to));
        assert_string_equal(buf, SL_RETRY_SQL_REDRIVE_TO);

        /* The guard and the mark read and move exactly the waiting rows. */
        assert_non_null(
            strstr(SL_RETRY_GUARD_SQL("t"), "state IN " SL_RETRY_SQL_WAITING));
        assert_non_null(
            strstr(SL_RETRY_MARK_DUE_SQL("t"), "SET state = " SL_RETRY_SQL_WAKE_TO));

        /* waiting and final are the table's too. */
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++) {
                bool any = false;
                for (int ev = 0; ev < SL_RETRY__EV_CNT; ev++)
                        any |= sl_retry_transition((sl_retry_state_t)s,
                                                   (sl_retry_event_t)ev, &to) == SL_OK;
                assert_int_equal(sl_retry_state_final((sl_retry_state_t)s), !any);
                assert_int_equal(sl_retry_state_waiting((sl_retry_state_t)s),
                                 sl_retry_transition((sl_retry_state_t)s,
                                                     SL_RETRY_EV_WAKE, &to) == SL_OK);
        }

        /* Rendering into a short buffer truncates and reports the full length. */
        char small[8];
        int len = sl_retry_state_set_sql(SL_RETRY_EV_WAKE, small, sizeof(small));
        assert_int_equal(len, (int)strlen(SL_RETRY_SQL_WAITING));
        assert_int_equal(strlen(small), sizeof(small) - 1);
        assert_int_equal(sl_retry_state_set_sql((sl_retry_event_t)99, buf, sizeof(buf)),
                         -1);
}

static void holds_wake_in_order(void **state)
{
        sl_retry_holds_t h;
        sl_retry_hold_t out[4];
        (void)state;
        sl_retry_holds_init(&h);
        assert_int_equal(sl_retry_holds_next_wake(&h), INT64_MAX);
        for (int p = 0; p < 40; p++)
                assert_int_equal(
                    sl_retry_holds_put(&h, "sluice.retry.1s", p, p * 10, T0 + 1000 + p),
                    SL_OK);
        assert_int_equal(sl_retry_holds_put(&h, "sluice.retry.10s", 0, 7, T0 + 10),
                         SL_OK);
        assert_int_equal(h.cnt, 41);
        assert_int_equal(sl_retry_holds_next_wake(&h), T0 + 10);
        /* Re-holding a partition replaces its hold. */
        assert_int_equal(sl_retry_holds_put(&h, "sluice.retry.10s", 0, 9, T0 + 5), SL_OK);
        assert_int_equal(h.cnt, 41);
        assert_int_equal(sl_retry_holds_find(&h, "sluice.retry.10s", 0)->offset, 9);
        assert_null(sl_retry_holds_find(&h, "sluice.retry.10s", 1));

        assert_int_equal(sl_retry_holds_take_awake(&h, T0 + 4, out, 4), 0);
        assert_int_equal(sl_retry_holds_take_awake(&h, T0 + 1001, out, 4), 3);
        assert_int_equal(h.cnt, 38);
        assert_int_equal(sl_retry_holds_next_wake(&h), T0 + 1002);
        assert_int_equal(sl_retry_holds_remove(&h, "sluice.retry.1s", 2), 1);
        assert_int_equal(sl_retry_holds_remove(&h, "sluice.retry.1s", 2), 0);
        assert_int_equal(sl_retry_holds_next_wake(&h), T0 + 1003);
        /* cap respected: the rest stays held */
        assert_int_equal(sl_retry_holds_take_awake(&h, T0 + 1000000, out, 4), 4);
        assert_int_equal(h.cnt, 33);
        sl_retry_holds_close(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(asleep_until_timestamp_plus_tier),
            cmocka_unit_test(due_once_awake),
            cmocka_unit_test(hops_to_longest_tier_not_past_remaining),
            cmocka_unit_test(delays_when_less_than_a_tier_remains),
            cmocka_unit_test(unknown_timestamp_counts_as_awake),
            cmocka_unit_test(walk_through_tiers_with_clock),
            cmocka_unit_test(transitions),
            cmocka_unit_test(duplicates_and_finals_refused),
            cmocka_unit_test(state_names_round_trip),
            cmocka_unit_test(sql_state_sets_follow_the_table),
            cmocka_unit_test(holds_wake_in_order),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
