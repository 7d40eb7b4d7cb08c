/* Unit tests for src/trigger/breaker.c: every transition on an injected clock, rate and
 * count thresholds, min_results, open time growth and cap, probes, stale results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "trigger/breaker.h"
#include "trigger/pending.h"

static const sl_breaker_conf_t conf = {.failure_window_ms = 10000,
                                       .failure_rate = 50,
                                       .min_results = 10,
                                       .failure_count = 0,
                                       .open_ms = 1000,
                                       .open_max_ms = 5000,
                                       .probes = 2,
                                       .result_timeout_ms = 3000};

/* One launch at t with its result at t (ok or not); returns the transition. */
static sl_breaker_transition_t run(const sl_breaker_conf_t *c, sl_breaker_t *st,
                                   int64_t t, bool ok)
{
        sl_breaker_transition_t tr;
        bool probe;

        assert_true(sl_breaker_allow(c, st, t, &probe, NULL));
        sl_breaker_on_result(c, st, t, t, ok, probe, &tr);
        return tr;
}

static void rate_opens_only_over_min_results(void **state)
{
        sl_breaker_t st = {0};
        sl_breaker_transition_t tr;
        (void)state;

        for (int i = 0; i < 9; i++) {
                tr = run(&conf, &st, 100000 + i, false);
                assert_int_equal(tr.to, SL_BREAKER_CLOSED); /* 9 results < min_results */
        }
        tr = run(&conf, &st, 100009, true); /* 9 of 10 failed: 90% >= 50% */
        assert_int_equal(tr.from, SL_BREAKER_CLOSED);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_RATE);
        assert_int_equal(tr.failures, 9);
        assert_int_equal(tr.results, 10);
        assert_int_equal(tr.open_until, 101009);
        assert_string_equal(sl_breaker_why_str(tr.why), "failure_rate");
        assert_int_equal(sl_breaker_state(&conf, &st, 100500), SL_BREAKER_OPEN);
        assert_false(sl_breaker_would_allow(&conf, &st, 100500));
        assert_false(sl_breaker_allow(&conf, &st, 100500, NULL, NULL));
}

static void rate_below_threshold_stays_closed(void **state)
{
        sl_breaker_t st = {0};
        (void)state;

        for (int i = 0; i < 100; i++) /* 4 failures in every 10: 40% */
                assert_int_equal(
                    run(&conf, &st, 100000 + i, i % 2 == 0 || i % 10 == 9).to,
                    SL_BREAKER_CLOSED);
        assert_int_equal(st.state, SL_BREAKER_CLOSED);
}

static void count_opens_regardless_of_rate(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st = {0};
        sl_breaker_transition_t tr = {0};
        int64_t t = 100000;
        (void)state;

        c.failure_count = 5;
        /* 5 failures among 500 successes: 1%, but the count is reached */
        for (int f = 0; f < 5; f++) {
                for (int i = 0; i < 100; i++)
                        run(&c, &st, t++, true);
                tr = run(&c, &st, t++, false);
        }
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_COUNT);
        assert_int_equal(tr.failures, 5);
}

static void rate_off_and_count_off_never_opens(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st = {0};
        (void)state;

        c.failure_rate = 0;
        for (int i = 0; i < 1000; i++)
                run(&c, &st, 100000 + i, false);
        assert_int_equal(st.state, SL_BREAKER_CLOSED);
}

static void old_failures_leave_the_window(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st = {0};
        int64_t f, r;
        (void)state;

        c.failure_count = 5;
        c.failure_rate = 0;
        for (int i = 0; i < 4; i++)
                run(&c, &st, 100000 + i, false);
        sl_breaker_window(&c, &st, 100010, &f, &r);
        assert_int_equal(f, 4);
        /* 10 buckets of 1000 ms: the bucket of 100000 has left by 110000 */
        sl_breaker_window(&c, &st, 110000, &f, &r);
        assert_int_equal(f, 0);
        run(&c, &st, 110000, false);
        assert_int_equal(st.state, SL_BREAKER_CLOSED);
        /* still in the window at 109999: the fifth failure opens */
        st = (sl_breaker_t){0};
        for (int i = 0; i < 4; i++)
                run(&c, &st, 100000 + i, false);
        run(&c, &st, 109999, false);
        assert_int_equal(st.state, SL_BREAKER_OPEN);
}

static sl_breaker_t opened(const sl_breaker_conf_t *c, int64_t t)
{
        sl_breaker_t st = {0};

        for (int i = 0; i < 10; i++)
                run(c, &st, t, false);
        assert_int_equal(st.state, SL_BREAKER_OPEN);
        assert_int_equal(st.open_until, t + c->open_ms);
        return st;
}

static void half_open_lets_probes_through_then_closes(void **state)
{
        sl_breaker_t st = opened(&conf, 100000);
        sl_breaker_transition_t tr;
        bool p1, p2, p3;
        (void)state;

        assert_int_equal(sl_breaker_state(&conf, &st, 100999), SL_BREAKER_OPEN);
        assert_int_equal(sl_breaker_state(&conf, &st, 101000), SL_BREAKER_HALF_OPEN);
        assert_int_equal(st.state, SL_BREAKER_OPEN); /* state() does not change st */
        assert_true(sl_breaker_would_allow(&conf, &st, 101200));
        assert_true(sl_breaker_allow(&conf, &st, 101200, &p1, &tr));
        assert_int_equal(tr.from, SL_BREAKER_OPEN);
        assert_int_equal(tr.to, SL_BREAKER_HALF_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_OPEN_ELAPSED);
        assert_int_equal(st.since, 101000);
        assert_true(p1);
        assert_true(sl_breaker_allow(&conf, &st, 101201, &p2, &tr));
        assert_true(p2);
        assert_int_equal(tr.to, tr.from); /* no transition */
        /* probes exhausted: the rest are refused as open */
        assert_false(sl_breaker_would_allow(&conf, &st, 101202));
        assert_false(sl_breaker_allow(&conf, &st, 101202, &p3, NULL));
        assert_false(p3);
        sl_breaker_on_result(&conf, &st, 101300, 101200, true, true, &tr);
        assert_int_equal(tr.to, SL_BREAKER_HALF_OPEN);
        sl_breaker_on_result(&conf, &st, 101400, 101201, true, true, &tr);
        assert_int_equal(tr.from, SL_BREAKER_HALF_OPEN);
        assert_int_equal(tr.to, SL_BREAKER_CLOSED);
        assert_int_equal(tr.why, SL_BREAKER_WHY_PROBES_OK);
        assert_int_equal(st.reopens, 0);
        /* closed with an empty window */
        assert_true(sl_breaker_allow(&conf, &st, 101500, NULL, NULL));
        assert_int_equal(run(&conf, &st, 101500, false).to, SL_BREAKER_CLOSED);
}

static void probe_failure_reopens_with_growing_capped_open_time(void **state)
{
        sl_breaker_t st = opened(&conf, 100000); /* open 1000 ms */
        sl_breaker_transition_t tr;
        int64_t t = st.open_until;
        int64_t want[] = {2000, 4000, 5000, 5000};
        bool probe;
        (void)state;

        for (int i = 0; i < 4; i++) {
                assert_true(sl_breaker_allow(&conf, &st, t, &probe, NULL));
                assert_true(probe);
                sl_breaker_on_result(&conf, &st, t + 10, t, false, true, &tr);
                assert_int_equal(tr.from, SL_BREAKER_HALF_OPEN);
                assert_int_equal(tr.to, SL_BREAKER_OPEN);
                assert_int_equal(tr.why, SL_BREAKER_WHY_PROBE_FAILED);
                assert_int_equal(tr.open_until - (t + 10), want[i]);
                t = tr.open_until;
        }
        /* a close resets the growth */
        assert_true(sl_breaker_allow(&conf, &st, t, &probe, NULL));
        assert_true(sl_breaker_allow(&conf, &st, t, &probe, NULL));
        sl_breaker_on_result(&conf, &st, t, t, true, true, NULL);
        sl_breaker_on_result(&conf, &st, t, t, true, true, &tr);
        assert_int_equal(tr.to, SL_BREAKER_CLOSED);
        for (int i = 0; i < 10; i++)
                tr = run(&conf, &st, t + 1, false);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(tr.open_until, t + 1 + 1000);
}

static void open_max_below_open_ms_means_no_growth(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st;
        sl_breaker_transition_t tr;
        (void)state;

        c.open_max_ms = 0;
        st = opened(&c, 100000);
        sl_breaker_allow(&c, &st, 101000, NULL, NULL);
        sl_breaker_on_result(&c, &st, 101000, 101000, false, true, &tr);
        assert_int_equal(tr.open_until, 102000);
}

static void results_of_launches_before_the_open_are_stale(void **state)
{
        sl_breaker_t st = opened(&conf, 100000);
        sl_breaker_transition_t tr;
        bool probe;
        (void)state;

        /* while open: ignored, success or failure */
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 100500, 99000, true, false, &tr),
            SL_BREAKER_STALE);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 100500, 100000, false, false, NULL),
            SL_BREAKER_STALE);
        assert_int_equal(st.open_until, 101000); /* unchanged */
        /* half-open: a pre-open launch's failure does not re-open, its success does not
         * count as a probe */
        sl_breaker_allow(&conf, &st, 101000, &probe, NULL);
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 101100, 99500, false, false, &tr),
            SL_BREAKER_STALE);
        assert_int_equal(st.state, SL_BREAKER_HALF_OPEN);
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 101100, 99500, true, false, &tr),
            SL_BREAKER_STALE);
        assert_int_equal(st.probes_ok, 0);
}

static void a_probe_of_an_earlier_half_open_period_is_stale(void **state)
{
        sl_breaker_t st = opened(&conf, 100000);
        sl_breaker_transition_t tr;
        bool probe;
        (void)state;

        /* half-open #1: probes A (101000) and B (101001); A fails: re-open 2000 ms */
        sl_breaker_allow(&conf, &st, 101000, &probe, NULL);
        sl_breaker_allow(&conf, &st, 101001, &probe, NULL);
        sl_breaker_on_result(&conf, &st, 101050, 101000, false, true, &tr);
        assert_int_equal(tr.open_until, 103050);
        /* B answers while open: stale */
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 102000, 101001, true, true, NULL),
            SL_BREAKER_STALE);
        /* half-open #2: probe C; B answers again (a duplicate): still stale */
        sl_breaker_allow(&conf, &st, 103100, &probe, NULL);
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 103200, 101001, true, true, NULL),
            SL_BREAKER_STALE);
        assert_int_equal(st.probes_ok, 0);
        assert_int_equal(
            sl_breaker_on_result(&conf, &st, 103300, 103100, true, true, NULL),
            SL_BREAKER_COUNTED);
        assert_int_equal(st.probes_ok, 1);
        assert_int_equal(st.state, SL_BREAKER_HALF_OPEN); /* one more probe to go */
}

static void a_timed_out_probe_reopens(void **state)
{
        sl_breaker_t st = opened(&conf, 100000);
        sl_breaker_transition_t tr;
        bool probe;
        (void)state;

        /* the probe never answers: pending expires it at launched_at + 3000 and the
         * stage feeds a failure */
        sl_breaker_allow(&conf, &st, 101000, &probe, NULL);
        sl_breaker_on_result(&conf, &st, 101000 + conf.result_timeout_ms, 101000, false,
                             probe, &tr);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_PROBE_FAILED);
}

static void timeouts_of_a_dead_engine_open_it(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st = {0};
        sl_breaker_transition_t tr = {0};
        (void)state;

        /* 10 launches, none answered: each expires 3000 ms later as a failure */
        c.failure_count = 3;
        for (int i = 0; i < 10; i++)
                assert_true(sl_breaker_allow(&c, &st, 100000 + i, NULL, NULL));
        for (int i = 0; i < 3; i++)
                sl_breaker_on_result(&c, &st, 103000 + i, 100000 + i, false, false, &tr);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_COUNT);
        /* the other 7 expire while open: stale */
        for (int i = 3; i < 10; i++)
                assert_int_equal(sl_breaker_on_result(&c, &st, 103000 + i, 100000 + i,
                                                      false, false, NULL),
                                 SL_BREAKER_STALE);
        assert_int_equal(st.open_until, 104002);
}

/* The stage's loop in small: launches go into pending, expiries feed the breaker as
 * failures.  An engine that stops answering opens the breaker; a probe that never
 * answers re-opens it; once the engine answers again the breaker closes. */
static void pending_timeouts_drive_the_breaker(void **state)
{
        sl_breaker_conf_t c = conf;
        sl_breaker_t st = {0};
        sl_pending_t p;
        sl_pending_entry_t out[16], e;
        sl_breaker_transition_t tr;
        uint8_t id[16] = {0};
        uint32_t n = 0;
        int opened = 0, closed = 0;
        bool engine_up = false, probe;
        (void)state;

        c.failure_count = 3;
        c.min_results = 1000;
        sl_pending_init(&p, 100);
        for (int64_t t = 100000; t < 130000; t += 100) {
                size_t k;

                if (t == 120000)
                        engine_up = true;
                /* expiries first */
                while ((k = sl_pending_expire(&p, t, out, 16)) > 0)
                        for (size_t j = 0; j < k; j++) {
                                sl_breaker_on_result(&c, &st, t, out[j].launched_at,
                                                     false, out[j].was_probe, &tr);
                                opened += tr.to == SL_BREAKER_OPEN && tr.from != tr.to;
                        }
                /* one match every 100 ms */
                if (!sl_breaker_allow(&c, &st, t, &probe, NULL))
                        continue;
                memcpy(id, &n, sizeof(n));
                n++;
                assert_int_equal(
                    sl_pending_add(&p, id, t, t + c.result_timeout_ms, probe), SL_OK);
                if (engine_up && sl_pending_complete(&p, id, &e)) {
                        sl_breaker_on_result(&c, &st, t, e.launched_at, true, e.was_probe,
                                             &tr);
                        closed += tr.to == SL_BREAKER_CLOSED && tr.from != tr.to;
                }
        }
        /* opened by timeouts, re-opened by probes that timed out, closed at the end */
        assert_true(opened >= 2);
        assert_int_equal(closed, 1);
        assert_int_equal(st.state, SL_BREAKER_CLOSED);
        sl_pending_close(&p);
}

static void clock_never_goes_back(void **state)
{
        sl_breaker_t st = opened(&conf, 100000);
        (void)state;

        assert_true(sl_breaker_allow(&conf, &st, 101000, NULL, NULL));
        /* an older now does not un-half-open or refuse */
        assert_int_equal(st.state, SL_BREAKER_HALF_OPEN);
        assert_true(sl_breaker_allow(&conf, &st, 50000, NULL, NULL));
}

static void conf_check_names_the_field(void **state)
{
        sl_breaker_conf_t c = conf;
        char err[128];
        (void)state;

        assert_int_equal(sl_breaker_conf_check(&c, err, sizeof(err)), SL_OK);
        c.probes = 0;
        assert_int_equal(sl_breaker_conf_check(&c, err, sizeof(err)), SL_ERR_CONFIG);
        assert_non_null(strstr(err, "probes"));
        c = conf;
        c.failure_rate = 101;
        assert_int_equal(sl_breaker_conf_check(&c, err, sizeof(err)), SL_ERR_CONFIG);
        assert_non_null(strstr(err, "failure_rate"));
        assert_string_equal(sl_breaker_state_str(SL_BREAKER_HALF_OPEN), "half_open");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(rate_opens_only_over_min_results),
            cmocka_unit_test(rate_below_threshold_stays_closed),
            cmocka_unit_test(count_opens_regardless_of_rate),
            cmocka_unit_test(rate_off_and_count_off_never_opens),
            cmocka_unit_test(old_failures_leave_the_window),
            cmocka_unit_test(half_open_lets_probes_through_then_closes),
            cmocka_unit_test(probe_failure_reopens_with_growing_capped_open_time),
            cmocka_unit_test(open_max_below_open_ms_means_no_growth),
            cmocka_unit_test(results_of_launches_before_the_open_are_stale),
            cmocka_unit_test(a_probe_of_an_earlier_half_open_period_is_stale),
            cmocka_unit_test(a_timed_out_probe_reopens),
            cmocka_unit_test(timeouts_of_a_dead_engine_open_it),
            cmocka_unit_test(pending_timeouts_drive_the_breaker),
            cmocka_unit_test(clock_never_goes_back),
            cmocka_unit_test(conf_check_names_the_field),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
