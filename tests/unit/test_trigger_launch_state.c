/* Unit tests for src/trigger/launch_state.c on an injected clock: the decision's order
 * (paused, open, throttled or deferred, launched), the rate limit held in every window
 * with skip and with defer (the deferred queue modelled as a FIFO), half-open probes
 * through decide and release, replayed decisions, and the changelog value's codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "trigger/launch_state.h"
#include "util/varint.h"

/* A boundary of the 1000 ms and of the 60000 ms windows. */
#define T0 1795000020000LL

/* limit per 1000 ms window; the breaker opens on 3 failures, for 5000 ms, 2 probes. */
static sl_launch_policy_t policy(int64_t limit, bool defer)
{
        sl_launch_policy_t pol = {.enabled = true,
                                  .rate_limit = limit,
                                  .window_ms = 1000,
                                  .defer = defer,
                                  .breaker = {.failure_window_ms = 10000,
                                              .failure_rate = 0,
                                              .min_results = 0,
                                              .failure_count = 3,
                                              .open_ms = 5000,
                                              .open_max_ms = 60000,
                                              .probes = 2,
                                              .result_timeout_ms = 3000}};
        return pol;
}

/* One match at now that the stage can track; a probe is not expected. */
static sl_launch_outcome_t decide(const sl_launch_policy_t *pol, sl_tstate_t *st,
                                  int64_t now)
{
        bool probe = true;
        sl_launch_outcome_t o = sl_launch_decide(pol, st, now, true, &probe, NULL);

        assert_false(probe);
        return o;
}

/* Open the breaker at t with 3 failures of launches made at t. */
static void trip(const sl_launch_policy_t *pol, sl_tstate_t *st, int64_t t)
{
        sl_breaker_transition_t tr = {0};

        for (int i = 0; i < 3; i++)
                sl_breaker_on_result(&pol->breaker, &st->breaker, t, t, false, false,
                                     &tr);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(st->breaker.state, SL_BREAKER_OPEN);
        assert_int_equal(st->breaker.open_until, t + pol->breaker.open_ms);
}

/* A full window, a deferred queue and an open breaker: what paused must win over. */
static sl_tstate_t everything_refuses(const sl_launch_policy_t *pol)
{
        sl_tstate_t st = {0};

        trip(pol, &st, T0);
        st.window = (sl_window_t){.start = T0, .count = pol->rate_limit};
        st.throttled = 4;
        st.deferred = 3;
        return st;
}

static void disabled_is_paused_before_everything(void **state)
{
        sl_launch_policy_t pol = policy(2, true);
        sl_tstate_t st = everything_refuses(&pol), before = st;
        (void)state;

        pol.enabled = false;
        assert_true(sl_launch_paused(&pol, T0 + 100));
        assert_int_equal(decide(&pol, &st, T0 + 100), SL_LAUNCH_PAUSED);
        /* a paused decision counts nothing */
        assert_memory_equal(&st.window, &before.window, sizeof(st.window));
        assert_int_equal(st.throttled, 4);
        assert_int_equal(st.deferred, 3);
        assert_memory_equal(&st.breaker, &before.breaker, sizeof(st.breaker));
        /* the queue is not released while paused */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 60000), 0);

        /* disabled even with room everywhere */
        st = (sl_tstate_t){0};
        assert_int_equal(decide(&pol, &st, T0), SL_LAUNCH_PAUSED);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 0);
}

static void manual_pause_holds_until_paused_until(void **state)
{
        sl_launch_policy_t pol = policy(100, false);
        sl_tstate_t st = {0};
        (void)state;

        pol.paused = true;
        pol.paused_until = T0 + 1000;
        assert_int_equal(decide(&pol, &st, T0), SL_LAUNCH_PAUSED);
        assert_int_equal(decide(&pol, &st, T0 + 999), SL_LAUNCH_PAUSED);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 0);
        /* paused_until is the first ms of the resumption */
        assert_false(sl_launch_paused(&pol, T0 + 1000));
        assert_int_equal(decide(&pol, &st, T0 + 1000), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 5000), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0 + 5000);
        assert_int_equal(st.window.count, 1);

        /* 0: until resumed, however late */
        pol.paused_until = 0;
        assert_true(sl_launch_paused(&pol, INT64_MAX));
        assert_int_equal(decide(&pol, &st, T0 + 86400000), SL_LAUNCH_PAUSED);
        assert_int_equal(st.window.start, T0 + 5000);
        assert_int_equal(st.window.count, 1);

        /* a pause wins over an open breaker and a full window */
        pol = policy(2, true);
        pol.paused = true;
        st = everything_refuses(&pol);
        assert_int_equal(decide(&pol, &st, T0 + 10), SL_LAUNCH_PAUSED);
        assert_int_equal(st.throttled, 4);
        assert_int_equal(st.deferred, 3);

        /* paused_until without the paused flag pauses nothing */
        pol = policy(100, false);
        pol.paused_until = T0 + 1000;
        st = (sl_tstate_t){0};
        assert_false(sl_launch_paused(&pol, T0));
        assert_int_equal(decide(&pol, &st, T0), SL_LAUNCH_LAUNCHED);
}

static void open_breaker_counts_nothing(void **state)
{
        sl_launch_policy_t pol = policy(2, true);
        sl_tstate_t st = everything_refuses(&pol), before = st;
        sl_breaker_transition_t tr;
        bool probe = true;
        (void)state;

        /* open wins over the full window and the queue: nothing counted */
        for (int i = 0; i < 5; i++) {
                assert_int_equal(
                    sl_launch_decide(&pol, &st, T0 + 100 * i, true, &probe, &tr),
                    SL_LAUNCH_OPEN);
                assert_false(probe);
                assert_int_equal(tr.from, tr.to);
        }
        assert_memory_equal(&st.window, &before.window, sizeof(st.window));
        assert_int_equal(st.throttled, 4);
        assert_int_equal(st.deferred, 3);
        assert_memory_equal(&st.breaker, &before.breaker, sizeof(st.breaker));
        /* in a later window, still open: the window is not even rolled */
        assert_int_equal(decide(&pol, &st, T0 + 4999), SL_LAUNCH_OPEN);
        assert_int_equal(st.window.start, T0);
        assert_int_equal(st.throttled, 4);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 4999), 0);
        assert_false(sl_launch_release_one(&pol, &st, T0 + 4999, &probe, NULL));
        assert_int_equal(st.deferred, 3);

        /* with skip the same */
        pol.defer = false;
        assert_int_equal(decide(&pol, &st, T0 + 4999), SL_LAUNCH_OPEN);
        assert_int_equal(st.throttled, 4);
}

static void over_the_window_with_skip_is_throttled(void **state)
{
        sl_launch_policy_t pol = policy(3, false);
        sl_tstate_t st = {0};
        (void)state;

        for (int i = 0; i < 3; i++)
                assert_int_equal(decide(&pol, &st, T0 + 100 + i), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 200), SL_LAUNCH_THROTTLED);
        assert_int_equal(decide(&pol, &st, T0 + 300), SL_LAUNCH_THROTTLED);
        assert_int_equal(decide(&pol, &st, T0 + 999), SL_LAUNCH_THROTTLED);
        assert_int_equal(st.window.start, T0);
        assert_int_equal(st.window.count, 3);
        assert_int_equal(st.throttled, 3);
        assert_int_equal(st.deferred, 0);
        assert_int_equal(st.updated_at, T0 + 999);
}

static void over_the_window_with_defer_is_deferred(void **state)
{
        sl_launch_policy_t pol = policy(3, true);
        sl_tstate_t st = {0};
        (void)state;

        for (int i = 0; i < 3; i++)
                assert_int_equal(decide(&pol, &st, T0 + 100 + i), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 200), SL_LAUNCH_DEFERRED);
        assert_int_equal(decide(&pol, &st, T0 + 999), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.window.count, 3);
        assert_int_equal(st.throttled, 2);
        assert_int_equal(st.deferred, 2);
        /* no room for them in this window */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 999), 0);
        /* the next window has room for both */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1000), 2);
}

static void a_new_match_never_overtakes_the_deferred_queue(void **state)
{
        sl_launch_policy_t pol = policy(2, true);
        sl_tstate_t st = {0};
        bool probe = true;
        (void)state;

        assert_int_equal(decide(&pol, &st, T0), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 1), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 2), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.deferred, 1);
        assert_int_equal(st.throttled, 1);
        /* next window, nothing released yet: room, but the queue goes first */
        assert_true(sl_window_has_room(&st.window, 2, 1000, T0 + 1000));
        assert_int_equal(decide(&pol, &st, T0 + 1000), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.window.start, T0 + 1000);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 1); /* rolled to 0, then this one */
        assert_int_equal(st.deferred, 2);
        /* release the head twice: the window is full again */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1001), 2);
        assert_true(sl_launch_release_one(&pol, &st, T0 + 1001, &probe, NULL));
        assert_false(probe);
        assert_true(sl_launch_release_one(&pol, &st, T0 + 1001, &probe, NULL));
        assert_int_equal(st.deferred, 0);
        assert_int_equal(st.window.count, 2);
        assert_int_equal(st.updated_at, T0 + 1001);
        assert_false(sl_launch_release_one(&pol, &st, T0 + 1001, &probe, NULL));
        assert_int_equal(st.deferred, 0);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1001), 0);
        /* the queue is empty but the window is full */
        assert_int_equal(decide(&pol, &st, T0 + 1002), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.deferred, 1);
        assert_int_equal(st.throttled, 2);
        /* next window: released, then a new match launches at once */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 2000), 1);
        assert_true(sl_launch_release_one(&pol, &st, T0 + 2000, &probe, NULL));
        assert_int_equal(st.throttled, 0); /* release_one rolled the window */
        assert_int_equal(decide(&pol, &st, T0 + 2001), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.count, 2);
        assert_int_equal(st.deferred, 0);

        /* skip ignores a queue left over from an earlier defer policy */
        pol.defer = false;
        st = (sl_tstate_t){.deferred = 5};
        assert_int_equal(decide(&pol, &st, T0), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.deferred, 5);
}

static void cannot_track_is_over_the_limit(void **state)
{
        sl_launch_policy_t pol = policy(10, false);
        sl_tstate_t st = {0};
        bool probe = true;
        (void)state;

        assert_int_equal(sl_launch_decide(&pol, &st, T0, false, &probe, NULL),
                         SL_LAUNCH_THROTTLED);
        assert_false(probe);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 1);
        assert_int_equal(st.deferred, 0);
        assert_int_equal(decide(&pol, &st, T0 + 1), SL_LAUNCH_LAUNCHED);

        pol.defer = true;
        st = (sl_tstate_t){0};
        assert_int_equal(sl_launch_decide(&pol, &st, T0, false, &probe, NULL),
                         SL_LAUNCH_DEFERRED);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 1);
        assert_int_equal(st.deferred, 1);
        /* trackable again, but the queue is not empty */
        assert_int_equal(decide(&pol, &st, T0 + 1), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.deferred, 2);

        /* unlimited rate: can_track is the only limit */
        pol.rate_limit = 0;
        pol.defer = false;
        st = (sl_tstate_t){0};
        assert_int_equal(sl_launch_decide(&pol, &st, T0, false, &probe, NULL),
                         SL_LAUNCH_THROTTLED);
}

static void launches_count_in_the_window(void **state)
{
        sl_launch_policy_t pol = policy(0, false); /* unlimited */
        sl_tstate_t st = {0};
        (void)state;

        for (int i = 0; i < 1000; i++)
                assert_int_equal(decide(&pol, &st, T0 + 500), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0);
        assert_int_equal(st.window.count, 1000);
        assert_int_equal(st.throttled, 0);
        assert_int_equal(st.updated_at, T0 + 500);
        assert_int_equal(decide(&pol, &st, T0 + 1500), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0 + 1000);
        assert_int_equal(st.window.count, 1);
        /* unlimited: the whole queue can go */
        pol.defer = true;
        st.deferred = 7;
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1500), 7);
}

static void window_rolls_at_epoch_aligned_boundaries_and_resets_throttled(void **state)
{
        sl_launch_policy_t pol = policy(2, false);
        sl_tstate_t st = {0};
        (void)state;

        pol.window_ms = 60000;
        assert_int_equal(decide(&pol, &st, T0 + 59000), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0); /* not the first match's time */
        assert_int_equal(decide(&pol, &st, T0 + 59001), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 59002), SL_LAUNCH_THROTTLED);
        assert_int_equal(decide(&pol, &st, T0 + 59999), SL_LAUNCH_THROTTLED);
        assert_int_equal(st.throttled, 2);
        /* the boundary is the first ms of the next window */
        assert_int_equal(decide(&pol, &st, T0 + 60000), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0 + 60000);
        assert_int_equal(st.window.count, 1);
        assert_int_equal(st.throttled, 0);
        assert_int_equal(decide(&pol, &st, T0 + 60001), SL_LAUNCH_LAUNCHED);
        assert_int_equal(decide(&pol, &st, T0 + 60002), SL_LAUNCH_THROTTLED);
        assert_int_equal(st.throttled, 1);
        /* a clock step back counts in the current window: no roll, no reset */
        assert_int_equal(decide(&pol, &st, T0 + 59500), SL_LAUNCH_THROTTLED);
        assert_int_equal(st.window.start, T0 + 60000);
        assert_int_equal(st.throttled, 2);
        assert_int_equal(st.updated_at, T0 + 60002);
        /* several windows later */
        assert_int_equal(decide(&pol, &st, T0 + 5 * 60000 + 123), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.start, T0 + 5 * 60000);
        assert_int_equal(st.window.count, 1);
        assert_int_equal(st.throttled, 0);
}

/* --- the limit in every window ----------------------------------------------------- */

#define LIMIT   10
#define MATCHES 6000

static uint64_t next_rand(uint64_t *s)
{
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        return *s >> 33;
}

/* The next match's time: bursts of 400 matches (25 a window on average, a quarter in
 * the same ms as the one before) and quiet spells of 400 (4 a window), with now and
 * then a gap of several windows. */
static int64_t next_time(uint64_t *s, int64_t t, int i)
{
        uint64_t r = next_rand(s);
        bool burst = (i / 400) % 2 == 0;

        if (r % 499 == 0)
                return t + 3000 + (int64_t)((r >> 9) % 4000);
        if (r % 4 == 0)
                return t;
        return t + (int64_t)((r >> 3) % (burst ? 107 : 667));
}

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

static void skip_launches_at_most_limit_in_any_window(void **state)
{
        sl_launch_policy_t pol = policy(LIMIT, false);
        sl_tstate_t st = {0};
        uint64_t seed = 42;
        int64_t t = T0 + 17, win = 0, matched = 0, launched = 0, windows = 0;
        int64_t throttled_total = 0;
        (void)state;

        for (int i = 0; i < MATCHES; i++) {
                t = next_time(&seed, t, i);
                if ((t - T0) / 1000 != win) {
                        /* the window that ended launched its first LIMIT matches */
                        assert_int_equal(launched, min64(LIMIT, matched));
                        win = (t - T0) / 1000;
                        matched = launched = 0;
                        windows++;
                }
                sl_launch_outcome_t o = decide(&pol, &st, t);
                matched++;
                if (launched < LIMIT) {
                        assert_int_equal(o, SL_LAUNCH_LAUNCHED);
                        launched++;
                } else {
                        assert_int_equal(o, SL_LAUNCH_THROTTLED);
                        throttled_total++;
                }
                assert_int_equal(st.window.start, T0 + win * 1000);
                assert_int_equal(st.window.count, launched);
                assert_true(st.window.count <= LIMIT);
                assert_int_equal(st.throttled, matched - launched);
                assert_int_equal(st.deferred, 0);
        }
        assert_int_equal(launched, min64(LIMIT, matched));
        assert_true(windows > 200);
        assert_true(throttled_total > 0);
}

/* The deferred queue, as the stage keeps it in trigger_deliveries: match ids, FIFO. */
typedef struct fifo_s {
        int64_t id[MATCHES];
        int head, tail;
} fifo_t;

typedef struct sim_s {
        sl_launch_policy_t pol;
        sl_tstate_t st;
        fifo_t q;
        int64_t next_launch; /* every match launches in match order */
        int64_t in_window;   /* launched (either way) in the current window */
} sim_t;

static void launched(sim_t *s, int64_t id)
{
        assert_int_equal(id, s->next_launch);
        s->next_launch++;
        s->in_window++;
        assert_true(s->in_window <= LIMIT);
}

/* At the boundary b of a new window: release what the window has room for. */
static void release_at(sim_t *s, int64_t b)
{
        int64_t queued = s->q.tail - s->q.head;
        int64_t room = sl_launch_release_room(&s->pol, &s->st, b);
        bool probe = true;

        s->in_window = 0;
        assert_int_equal(room, min64(LIMIT, queued));
        for (int64_t k = 0; k < room; k++) {
                assert_true(sl_launch_release_one(&s->pol, &s->st, b, &probe, NULL));
                assert_false(probe);
                launched(s, s->q.id[s->q.head++]);
        }
        assert_int_equal(s->st.deferred, s->q.tail - s->q.head);
        if (room == 0)
                return; /* nothing released: the window rolls at the next match */
        assert_int_equal(s->st.window.start, b);
        assert_int_equal(s->st.window.count, s->in_window);
        assert_int_equal(s->st.throttled, 0);
        /* the rest waits for the next window */
        if (s->st.deferred > 0)
                assert_false(sl_launch_release_one(&s->pol, &s->st, b, &probe, NULL));
}

static void defer_launches_every_match_in_order_at_most_limit_per_window(void **state)
{
        static sim_t s; /* the queue is large for a stack */
        uint64_t seed = 7;
        int64_t t = T0 + 3, win = 0, direct = 0, deferred = 0, throttled = 0;
        int64_t max_queue = 0, emptied = 0;
        (void)state;

        memset(&s, 0, sizeof(s));
        s.pol = policy(LIMIT, true);
        for (int64_t id = 0; id < MATCHES; id++) {
                t = next_time(&seed, t, (int)id);
                while ((t - T0) / 1000 > win) {
                        int64_t had = s.q.tail - s.q.head;

                        win++;
                        throttled = 0;
                        release_at(&s, T0 + win * 1000);
                        if (had > 0 && s.q.tail == s.q.head)
                                emptied++;
                }
                int64_t queued = s.q.tail - s.q.head;
                /* room mid-window: what the window has left, at most the queue */
                assert_int_equal(sl_launch_release_room(&s.pol, &s.st, t),
                                 min64(LIMIT - s.in_window, queued));
                sl_launch_outcome_t o = decide(&s.pol, &s.st, t);
                if (queued == 0 && s.in_window < LIMIT) {
                        assert_int_equal(o, SL_LAUNCH_LAUNCHED);
                        launched(&s, id);
                        direct++;
                } else {
                        assert_int_equal(o, SL_LAUNCH_DEFERRED);
                        s.q.id[s.q.tail++] = id;
                        deferred++;
                        throttled++;
                }
                assert_int_equal(s.st.deferred, s.q.tail - s.q.head);
                assert_int_equal(s.st.window.count, s.in_window);
                assert_int_equal(s.st.throttled, throttled);
                if (s.q.tail - s.q.head > max_queue)
                        max_queue = s.q.tail - s.q.head;
        }
        /* no more matches: the queue drains at LIMIT a window */
        while (s.q.tail > s.q.head) {
                win++;
                release_at(&s, T0 + win * 1000);
        }
        assert_int_equal(s.next_launch, MATCHES);
        assert_int_equal(s.st.deferred, 0);
        /* the run went through every path */
        assert_true(direct > 0);
        assert_true(deferred > 0);
        assert_true(max_queue > 3 * LIMIT);
        assert_true(emptied > 0);
}

/* --- half-open ---------------------------------------------------------------------- */

static void half_open_lets_exactly_probes_through(void **state)
{
        sl_launch_policy_t pol = policy(100, false);
        sl_tstate_t st = {0};
        sl_breaker_transition_t tr;
        bool probe = false;
        (void)state;

        trip(&pol, &st, T0);
        assert_int_equal(decide(&pol, &st, T0 + 4999), SL_LAUNCH_OPEN);
        assert_int_equal(sl_launch_decide(&pol, &st, T0 + 5000, true, &probe, &tr),
                         SL_LAUNCH_LAUNCHED);
        assert_true(probe);
        assert_int_equal(tr.from, SL_BREAKER_OPEN);
        assert_int_equal(tr.to, SL_BREAKER_HALF_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_OPEN_ELAPSED);
        assert_int_equal(sl_launch_decide(&pol, &st, T0 + 5001, true, &probe, &tr),
                         SL_LAUNCH_LAUNCHED);
        assert_true(probe);
        assert_int_equal(tr.from, SL_BREAKER_HALF_OPEN);
        assert_int_equal(tr.to, SL_BREAKER_HALF_OPEN);
        assert_int_equal(st.breaker.probes_sent, 2);
        /* every probe is out: the rest are open, counted nowhere */
        for (int i = 0; i < 5; i++) {
                assert_int_equal(
                    sl_launch_decide(&pol, &st, T0 + 5002 + i, true, &probe, &tr),
                    SL_LAUNCH_OPEN);
                assert_false(probe);
        }
        assert_int_equal(st.window.start, T0 + 5000);
        assert_int_equal(st.window.count, 2);
        assert_int_equal(st.throttled, 0);
        /* both probes succeed: closed, launches are no longer probes */
        sl_breaker_on_result(&pol.breaker, &st.breaker, T0 + 5100, T0 + 5000, true, true,
                             NULL);
        sl_breaker_on_result(&pol.breaker, &st.breaker, T0 + 5101, T0 + 5001, true, true,
                             &tr);
        assert_int_equal(tr.to, SL_BREAKER_CLOSED);
        for (int i = 0; i < 3; i++)
                assert_int_equal(decide(&pol, &st, T0 + 5200), SL_LAUNCH_LAUNCHED);
        assert_int_equal(st.window.count, 5);
}

static void a_throttled_match_takes_no_probe(void **state)
{
        sl_launch_policy_t pol = policy(1, false);
        sl_tstate_t st = {0};
        bool probe = false;
        (void)state;

        trip(&pol, &st, T0);
        /* the window of T0 + 5000 is full (a launch replayed after a restart) */
        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 + 5000);
        assert_int_equal(decide(&pol, &st, T0 + 5100), SL_LAUNCH_THROTTLED);
        assert_int_equal(st.breaker.state, SL_BREAKER_OPEN); /* not moved to half-open */
        assert_int_equal(st.breaker.probes_sent, 0);
        pol.defer = true;
        assert_int_equal(decide(&pol, &st, T0 + 5200), SL_LAUNCH_DEFERRED);
        assert_int_equal(st.breaker.probes_sent, 0);
        assert_int_equal(st.throttled, 2);
        /* next window: the deferred one goes first, as the first probe */
        assert_true(sl_launch_release_one(&pol, &st, T0 + 6000, &probe, NULL));
        assert_true(probe);
        assert_int_equal(st.breaker.state, SL_BREAKER_HALF_OPEN);
        assert_int_equal(st.breaker.probes_sent, 1);
}

static void release_room_in_half_open_is_capped_by_the_probes_left(void **state)
{
        sl_launch_policy_t pol = policy(10, true);
        sl_tstate_t st = {0};
        sl_breaker_transition_t tr;
        bool probe = false;
        (void)state;

        trip(&pol, &st, T0);
        st.deferred = 5;
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 4999), 0);
        /* stored OPEN, open_until passed: a new half-open period, every probe left */
        assert_int_equal(st.breaker.state, SL_BREAKER_OPEN);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 5000), 2);
        /* even when the stored OPEN state still holds an old period's probe count */
        st.breaker.probes_sent = 2;
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 5000), 2);
        st.breaker.probes_sent = 0;
        /* and capped by the window as well */
        st.window = (sl_window_t){.start = T0 + 5000, .count = 9};
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 5000), 1);
        st.window = (sl_window_t){0};

        assert_true(sl_launch_release_one(&pol, &st, T0 + 5000, &probe, &tr));
        assert_true(probe);
        assert_int_equal(tr.from, SL_BREAKER_OPEN);
        assert_int_equal(tr.to, SL_BREAKER_HALF_OPEN);
        assert_int_equal(tr.why, SL_BREAKER_WHY_OPEN_ELAPSED);
        assert_int_equal(st.deferred, 4);
        /* stored HALF_OPEN now: the probes left */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 5001), 1);
        assert_true(sl_launch_release_one(&pol, &st, T0 + 5001, &probe, &tr));
        assert_true(probe);
        assert_int_equal(tr.from, tr.to);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 5002), 0);
        assert_false(sl_launch_release_one(&pol, &st, T0 + 5002, &probe, &tr));
        assert_false(probe);
        assert_int_equal(st.deferred, 3);
        assert_int_equal(st.window.start, T0 + 5000);
        assert_int_equal(st.window.count, 2);
        /* a new match while the probes are out: open, not deferred */
        assert_int_equal(decide(&pol, &st, T0 + 5003), SL_LAUNCH_OPEN);
        assert_int_equal(st.deferred, 3);

        /* a probe fails: open again for 10000 ms, then a new period with full probes */
        sl_breaker_on_result(&pol.breaker, &st.breaker, T0 + 5100, T0 + 5000, false, true,
                             &tr);
        assert_int_equal(tr.to, SL_BREAKER_OPEN);
        assert_int_equal(st.breaker.open_until, T0 + 15100);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 15099), 0);
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 15100), 2);
        /* the queue shorter than the probes */
        st.deferred = 1;
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 15100), 1);
}

static void release_waits_when_empty_paused_or_full(void **state)
{
        sl_launch_policy_t pol = policy(3, true);
        sl_tstate_t st = {0};
        bool probe = true;
        (void)state;

        /* nothing deferred */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0), 0);
        assert_false(sl_launch_release_one(&pol, &st, T0, &probe, NULL));
        assert_false(probe);
        assert_int_equal(st.window.count, 0);

        st = (sl_tstate_t){
            .window = {.start = T0, .count = 3}, .throttled = 2, .deferred = 2};
        /* full */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 999), 0);
        assert_false(sl_launch_release_one(&pol, &st, T0 + 999, &probe, NULL));
        assert_int_equal(st.deferred, 2);
        assert_int_equal(st.window.count, 3);
        /* paused */
        pol.paused = true;
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1000), 0);
        assert_false(sl_launch_release_one(&pol, &st, T0 + 1000, &probe, NULL));
        assert_int_equal(st.deferred, 2);
        pol.paused = false;
        /* release_room does not change st; release_one rolls the window */
        assert_int_equal(sl_launch_release_room(&pol, &st, T0 + 1000), 2);
        assert_int_equal(st.window.start, T0);
        assert_true(sl_launch_release_one(&pol, &st, T0 + 1000, &probe, NULL));
        assert_int_equal(st.window.start, T0 + 1000);
        assert_int_equal(st.window.count, 1);
        assert_int_equal(st.throttled, 0);
        assert_int_equal(st.deferred, 1);
}

/* --- replayed decisions, outcome names ---------------------------------------------- */

static void count_records_replayed_decisions(void **state)
{
        sl_launch_policy_t pol = policy(3, true);
        sl_tstate_t st = {0};
        (void)state;

        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 + 10);
        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 + 20);
        sl_launch_count(&pol, &st, SL_LAUNCH_THROTTLED, T0 + 30);
        sl_launch_count(&pol, &st, SL_LAUNCH_DEFERRED, T0 + 40);
        sl_launch_count(&pol, &st, SL_LAUNCH_PAUSED, T0 + 50);
        sl_launch_count(&pol, &st, SL_LAUNCH_OPEN, T0 + 60);
        assert_int_equal(st.window.start, T0);
        assert_int_equal(st.window.count, 2);
        assert_int_equal(st.throttled, 2);
        assert_int_equal(st.deferred, 0); /* the stage recounts the queue */
        assert_int_equal(st.updated_at, T0 + 60);
        /* a replayed launch counts even over the limit: it happened */
        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 + 70);
        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 + 80);
        assert_int_equal(st.window.count, 4);
        assert_int_equal(decide(&pol, &st, T0 + 90), SL_LAUNCH_DEFERRED);
        /* an older decision counts in the current window and leaves updated_at */
        sl_launch_count(&pol, &st, SL_LAUNCH_LAUNCHED, T0 - 5000);
        assert_int_equal(st.window.start, T0);
        assert_int_equal(st.window.count, 5);
        assert_int_equal(st.updated_at, T0 + 90);
        /* a later one rolls the window */
        sl_launch_count(&pol, &st, SL_LAUNCH_THROTTLED, T0 + 2500);
        assert_int_equal(st.window.start, T0 + 2000);
        assert_int_equal(st.window.count, 0);
        assert_int_equal(st.throttled, 1);
        assert_int_equal(st.updated_at, T0 + 2500);
}

static void outcome_names_round_trip(void **state)
{
        static const char *const want[SL_LAUNCH__CNT] = {"launched", "throttled",
                                                         "deferred", "paused", "open"};
        (void)state;

        for (int o = 0; o < SL_LAUNCH__CNT; o++) {
                assert_string_equal(sl_launch_outcome_str((sl_launch_outcome_t)o),
                                    want[o]);
                assert_int_equal(sl_launch_outcome_parse(want[o]), o);
        }
        assert_string_equal(sl_launch_outcome_str(SL_LAUNCH__CNT), "unknown");
        assert_string_equal(sl_launch_outcome_str((sl_launch_outcome_t)-1), "unknown");
        assert_int_equal(sl_launch_outcome_parse(""), -1);
        assert_int_equal(sl_launch_outcome_parse("Launched"), -1);
        assert_int_equal(sl_launch_outcome_parse("launched "), -1);
        assert_int_equal(sl_launch_outcome_parse("unknown"), -1);
        assert_int_equal(sl_launch_outcome_parse("half_open"), -1);
}

/* --- the changelog value ------------------------------------------------------------ */

/* Every field non-zero and distinct (zeroed first: no padding is left undefined). */
static sl_tstate_t full_state(void)
{
        sl_tstate_t st;
        sl_breaker_t *b = &st.breaker;

        memset(&st, 0, sizeof(st));
        st.window.start = T0;
        st.window.count = 9;
        st.throttled = 123;
        st.deferred = 4567;
        st.updated_at = T0 + 999;
        b->state = SL_BREAKER_HALF_OPEN;
        b->reopens = 3;
        b->since = T0 - 40000;
        b->open_until = T0 - 1;
        b->probes_sent = 2;
        b->probes_ok = 1;
        b->bucket_ms = 1000;
        b->updated_at = T0 + 998;
        st.released_next = 81234;
        for (int i = 0; i < SL_BREAKER_BUCKETS; i++) {
                b->slot[i] = (T0 / 1000) - 10 + i;
                b->ok[i] = 100 + i;
                b->failed[i] = -(1 + i); /* negative too: zig-zag */
        }
        return st;
}

static void tstate_round_trips_every_field(void **state)
{
        sl_tstate_t in = full_state(), out;
        unsigned char buf[SL_TSTATE_ENCODED_MAX];
        size_t n = sl_tstate_encode(&in, buf);
        (void)state;

        assert_true(n > 0 && n <= SL_TSTATE_ENCODED_MAX);
        assert_int_equal(buf[0], 0x04); /* version 2 */
        memset(&out, 0xff, sizeof(out));
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_OK);
        assert_memory_equal(&in, &out, sizeof(in));
        assert_int_equal(out.breaker.failed[9], -10);
        assert_int_equal(out.breaker.slot[9], T0 / 1000 - 1);

        /* the zero state too (a trigger never used) */
        memset(&in, 0, sizeof(in));
        n = sl_tstate_encode(&in, buf);
        assert_int_equal(n, 45); /* one byte a field */
        memset(&out, 0xff, sizeof(out));
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_OK);
        assert_memory_equal(&in, &out, sizeof(in));
}

static void tstate_truncated_or_trailing_is_refused(void **state)
{
        sl_tstate_t in = full_state(), out, zero;
        unsigned char buf[SL_TSTATE_ENCODED_MAX + 1];
        size_t n = sl_tstate_encode(&in, buf);
        (void)state;

        memset(&zero, 0, sizeof(zero));
        for (size_t cut = 0; cut < n; cut++) {
                memset(&out, 0xff, sizeof(out));
                assert_int_equal(sl_tstate_decode(buf, cut, &out), SL_ERR_DECODE);
                assert_memory_equal(&out, &zero, sizeof(out)); /* nothing half-read */
        }
        buf[n] = 0;
        assert_int_equal(sl_tstate_decode(buf, n + 1, &out), SL_ERR_DECODE);
        memset(buf, 0xff, sizeof(buf)); /* a varint that never ends */
        assert_int_equal(sl_tstate_decode(buf, sizeof(buf), &out), SL_ERR_DECODE);
}

static void tstate_wrong_version_is_refused(void **state)
{
        sl_tstate_t in = full_state(), out;
        unsigned char buf[SL_TSTATE_ENCODED_MAX];
        size_t n = sl_tstate_encode(&in, buf);
        (void)state;

        buf[0] = 0x06; /* version 3 */
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_ERR_DECODE);
        buf[0] = 0x00; /* version 0 */
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_ERR_DECODE);
        buf[0] = 0x01; /* version -1 */
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_ERR_DECODE);
        buf[0] = 0x02; /* version 1 has one field less: the last is trailing */
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_ERR_DECODE);
        assert_int_equal(sl_tstate_decode(buf, n - 3, &out), SL_OK); /* 81234: 3 bytes */
        assert_int_equal(out.released_next, 0);
        buf[0] = 0x04;
        assert_int_equal(sl_tstate_decode(buf, n, &out), SL_OK);
        assert_memory_equal(&in, &out, sizeof(in));
}

#define TSTATE_FIELDS (14 + 3 * SL_BREAKER_BUCKETS) /* version 1 */

/* The value with the given fields, written by hand (values encode() cannot write, and
 * version 1 values, which an upgraded stage restores from an older changelog). */
static size_t encode_fields(const int64_t *v, unsigned char *buf)
{
        size_t n = 0;

        for (int i = 0; i < TSTATE_FIELDS; i++)
                n += sl_avro_long_encode(v[i], buf + n);
        return n;
}

static void tstate_out_of_range_fields_are_refused(void **state)
{
        sl_tstate_t in = full_state(), out;
        unsigned char buf[TSTATE_FIELDS * SL_AVRO_LONG_MAX];
        int64_t v[TSTATE_FIELDS];
        /* the fields held in 32 bits: state, reopens, probes_sent, probes_ok, ok0,
         * failed0, ok9, failed9 */
        const int narrow[] = {6, 7, 10, 11, 15, 16, 42, 43};
        (void)state;

        for (int i = 0; i < TSTATE_FIELDS; i++)
                v[i] = i + 1;
        v[0] = 1;  /* version */
        v[6] = 1;  /* open */
        v[12] = 7; /* bucket_ms */
        assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out), SL_OK);
        assert_int_equal(out.breaker.state, SL_BREAKER_OPEN);
        assert_int_equal(out.breaker.failed[9], 44);
        assert_int_equal(out.released_next, 0); /* version 1: none */

        /* a breaker state out of range, from encode() and by hand */
        for (int32_t s = -1; s <= 3; s += 4) {
                unsigned char enc[SL_TSTATE_ENCODED_MAX];

                in.breaker.state = s;
                memset(&out, 0xff, sizeof(out));
                assert_int_equal(sl_tstate_decode(enc, sl_tstate_encode(&in, enc), &out),
                                 SL_ERR_DECODE);
                assert_int_equal(out.breaker.state, 0);
        }
        v[6] = 2;
        assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out), SL_OK);
        v[6] = 3;
        assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out),
                         SL_ERR_DECODE);
        v[6] = (int64_t)INT32_MAX + 1 + SL_BREAKER_OPEN; /* wraps to 1 if unchecked */
        assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out),
                         SL_ERR_DECODE);
        v[6] = 1;

        /* each 32-bit field just past either end; the ends themselves are fine */
        for (size_t k = 0; k < sizeof(narrow) / sizeof(narrow[0]); k++) {
                int f = narrow[k];
                int64_t keep = v[f];

                if (f != 6) {
                        v[f] = INT32_MAX;
                        assert_int_equal(
                            sl_tstate_decode(buf, encode_fields(v, buf), &out), SL_OK);
                        v[f] = INT32_MIN;
                        assert_int_equal(
                            sl_tstate_decode(buf, encode_fields(v, buf), &out), SL_OK);
                }
                v[f] = (int64_t)INT32_MAX + 1;
                assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out),
                                 SL_ERR_DECODE);
                v[f] = (int64_t)INT32_MIN - 1;
                assert_int_equal(sl_tstate_decode(buf, encode_fields(v, buf), &out),
                                 SL_ERR_DECODE);
                v[f] = keep;
        }
}

static void tstate_extreme_values_fit(void **state)
{
        const int64_t wide[] = {INT64_MIN, INT64_MAX, -1};
        const int32_t narrow[] = {INT32_MIN, INT32_MAX, -1};
        (void)state;

        for (int k = 0; k < 3; k++) {
                sl_tstate_t in, out;
                sl_breaker_t *b = &in.breaker;
                unsigned char buf[SL_TSTATE_ENCODED_MAX + 16];
                size_t n;

                memset(&in, 0, sizeof(in));
                in.window.start = in.window.count = in.throttled = in.deferred =
                    in.updated_at = in.released_next = wide[k];
                b->state = narrow[k];
                b->reopens = b->probes_sent = b->probes_ok = narrow[k];
                b->since = b->open_until = b->bucket_ms = b->updated_at = wide[k];
                for (int i = 0; i < SL_BREAKER_BUCKETS; i++) {
                        b->slot[i] = wide[k];
                        b->ok[i] = b->failed[i] = narrow[k];
                }
                memset(buf, 0xa5, sizeof(buf));
                n = sl_tstate_encode(&in, buf);
                assert_true(n <= SL_TSTATE_ENCODED_MAX);
                for (size_t i = SL_TSTATE_ENCODED_MAX; i < sizeof(buf); i++)
                        assert_int_equal(buf[i], 0xa5);
                if (k < 2)
                        assert_int_equal(n, 1 + 5 * 10 + 4 * 10 + 4 * 5 +
                                                SL_BREAKER_BUCKETS * (10 + 5 + 5) + 10);
                /* the state itself must be in range to decode */
                b->state = SL_BREAKER_HALF_OPEN;
                n = sl_tstate_encode(&in, buf);
                assert_int_equal(sl_tstate_decode(buf, n, &out), SL_OK);
                assert_memory_equal(&in, &out, sizeof(in));
        }
}

static void progress_round_trips_and_refuses_empty_or_truncated(void **state)
{
        const int64_t offsets[] = {0, 1, 987654321, INT64_MAX, -1};
        unsigned char buf[SL_AVRO_LONG_MAX + 1];
        int64_t off;
        (void)state;

        for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
                size_t n = sl_tstate_progress_encode(offsets[k], buf);

                off = 42;
                assert_int_equal(sl_tstate_progress_decode(buf, n, &off), SL_OK);
                assert_int_equal(off, offsets[k]);
                for (size_t cut = 0; cut < n; cut++)
                        assert_int_equal(sl_tstate_progress_decode(buf, cut, &off),
                                         SL_ERR_DECODE);
                buf[n] = 0;
                assert_int_equal(sl_tstate_progress_decode(buf, n + 1, &off),
                                 SL_ERR_DECODE);
        }
        assert_int_equal(sl_tstate_progress_encode(INT64_MAX, buf), SL_AVRO_LONG_MAX);
        assert_int_equal(sl_tstate_progress_decode(buf, 0, &off), SL_ERR_DECODE);
        memset(buf, 0xff, sizeof(buf));
        assert_int_equal(sl_tstate_progress_decode(buf, sizeof(buf), &off),
                         SL_ERR_DECODE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(disabled_is_paused_before_everything),
            cmocka_unit_test(manual_pause_holds_until_paused_until),
            cmocka_unit_test(open_breaker_counts_nothing),
            cmocka_unit_test(over_the_window_with_skip_is_throttled),
            cmocka_unit_test(over_the_window_with_defer_is_deferred),
            cmocka_unit_test(a_new_match_never_overtakes_the_deferred_queue),
            cmocka_unit_test(cannot_track_is_over_the_limit),
            cmocka_unit_test(launches_count_in_the_window),
            cmocka_unit_test(
                window_rolls_at_epoch_aligned_boundaries_and_resets_throttled),
            cmocka_unit_test(skip_launches_at_most_limit_in_any_window),
            cmocka_unit_test(
                defer_launches_every_match_in_order_at_most_limit_per_window),
            cmocka_unit_test(half_open_lets_exactly_probes_through),
            cmocka_unit_test(a_throttled_match_takes_no_probe),
            cmocka_unit_test(release_room_in_half_open_is_capped_by_the_probes_left),
            cmocka_unit_test(release_waits_when_empty_paused_or_full),
            cmocka_unit_test(count_records_replayed_decisions),
            cmocka_unit_test(outcome_names_round_trip),
            cmocka_unit_test(tstate_round_trips_every_field),
            cmocka_unit_test(tstate_truncated_or_trailing_is_refused),
            cmocka_unit_test(tstate_wrong_version_is_refused),
            cmocka_unit_test(tstate_out_of_range_fields_are_refused),
            cmocka_unit_test(tstate_extreme_values_fit),
            cmocka_unit_test(progress_round_trips_and_refuses_empty_or_truncated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
