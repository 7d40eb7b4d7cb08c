/*
 * test_shadow: shadow evaluation (src/history/shadow.c) on an injected clock: a
 * trigger's type, source and filter decide what is considered and matched, its rate
 * window what is launched or throttled, on_limit defer queues and releases in the next
 * window; a source's limits admit, throttle and auto-pause.  No Postgres, no Kafka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "history/shadow.h"

static sl_triggers_t *one_trigger(bool defer)
{
        sl_trigger_def_t d = {.id = "00000000-0000-4000-8000-000000000001",
                              .name = "t",
                              .enabled = true,
                              .event_type = "order.*",
                              .source = "shop",
                              .filter = "payload.total >= 100",
                              .workflow = "wf",
                              .params_template = "{}",
                              .rate_limit = 2,
                              .window_ms = 1000,
                              .on_limit = defer ? SL_ON_LIMIT_DEFER : SL_ON_LIMIT_SKIP,
                              .failure_window_ms = 60000,
                              .failure_rate = 50,
                              .min_results = 10,
                              .open_ms = 30000,
                              .open_max_ms = 600000,
                              .probes = 3,
                              .result_timeout_ms = 300000};
        char errstr[256];
        sl_triggers_t *ts = sl_triggers_new(&d, 1, NULL, NULL, errstr, sizeof(errstr));

        assert_non_null(ts);
        assert_int_equal(sl_triggers_count(ts), 1);
        return ts;
}

/* One event at now with payload {"total": total} (total < 0: no total). */
static void event(sl_shadow_trigger_t *sh, const char *type, const char *source,
                  int total, int64_t now, sl_shadow_counts_t *c)
{
        sl_envelope_t env = {.type = type, .source = source, .occurred_at = now};
        json_t *payload = total >= 0 ? json_pack("{s:i}", "total", total) : json_object();

        strcpy(env.id, "00000000-0000-4000-8000-00000000000a");
        sl_shadow_trigger_event(sh, &env, payload, now, c);
        json_decref(payload);
}

static void trigger_skip(void **state)
{
        sl_triggers_t *ts = one_trigger(false);
        sl_shadow_trigger_t sh;
        sl_shadow_counts_t c = {0};

        (void)state;
        sl_shadow_trigger_init(&sh, ts);
        assert_true(sl_shadow_trigger_reads_payload(&sh));
        event(&sh, "user.signup", "shop", 500, 10000, &c); /* not its type */
        event(&sh, "order.paid", "crm", 500, 10000, &c);   /* not its source */
        assert_int_equal(c.considered, 0);
        event(&sh, "order.paid", "shop", 50, 10100, &c); /* filter false */
        event(&sh, "order.paid", "shop", -1, 10100, &c); /* field missing */
        assert_int_equal(c.considered, 2);
        assert_int_equal(c.matched, 0);
        for (int i = 0; i < 5; i++) /* 2 a second: 2 launched, 3 throttled */
                event(&sh, "order.created", "shop", 100, 10200 + i, &c);
        event(&sh, "order.created", "shop", 150, 11000, &c); /* the next window */
        assert_int_equal(c.matched, 6);
        assert_int_equal(c.outcome[SL_LAUNCH_LAUNCHED], 3);
        assert_int_equal(c.outcome[SL_LAUNCH_THROTTLED], 3);
        assert_int_equal(c.released, 0);
        sl_triggers_destroy(ts);
}

static void trigger_defer(void **state)
{
        sl_triggers_t *ts = one_trigger(true);
        sl_shadow_trigger_t sh;
        sl_shadow_counts_t c = {0};

        (void)state;
        sl_shadow_trigger_init(&sh, ts);
        for (int i = 0; i < 5; i++)
                event(&sh, "order.created", "shop", 100, 20000 + i, &c);
        assert_int_equal(c.outcome[SL_LAUNCH_LAUNCHED], 2);
        assert_int_equal(c.outcome[SL_LAUNCH_DEFERRED], 3);
        /* The next window: two of the queue go first, the new match waits behind. */
        event(&sh, "order.created", "shop", 100, 21000, &c);
        assert_int_equal(c.released, 2);
        assert_int_equal(c.outcome[SL_LAUNCH_DEFERRED], 4);
        assert_int_equal(sh.st.deferred, 2);
        event(&sh, "order.created", "shop", 100, 22000, &c);
        assert_int_equal(c.released, 4);
        assert_int_equal(c.outcome[SL_LAUNCH_DEFERRED], 5);
        assert_int_equal(sh.st.deferred, 1);
        sl_triggers_destroy(ts);
}

static void source_limits(void **state)
{
        sl_shadow_source_t sh = {
            .lim = {.limit = 3, .window_ms = 1000, .pause_after = 2, .pause_ms = 5000}};
        sl_shadow_admit_t c = {0};

        (void)state;
        for (int i = 0; i < 6;
             i++) /* 3 accepted, 2 throttled (the 2nd pauses), 1 paused */
                sl_shadow_source_event(&sh, 30000 + i, &c);
        assert_int_equal(c.decision[SL_DECISION_ACCEPTED], 3);
        assert_int_equal(c.decision[SL_DECISION_THROTTLED], 2);
        assert_int_equal(c.decision[SL_DECISION_PAUSED], 1);
        sl_shadow_source_event(&sh, 34999, &c); /* still paused */
        sl_shadow_source_event(&sh, 35005, &c); /* pause over, new window */
        assert_int_equal(c.decision[SL_DECISION_PAUSED], 2);
        assert_int_equal(c.decision[SL_DECISION_ACCEPTED], 4);
        assert_int_equal(c.events, 8);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(trigger_skip),
            cmocka_unit_test(trigger_defer),
            cmocka_unit_test(source_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
