/*
 * The stage runtime (src/runtime/runtime.c) against an in-process mock cluster: plain
 * batches are all produced and committed, deferred batches (sl_runtime_defer) are
 * delivered exactly once and committed, the last one through finish() on the drain at
 * stop, and a deferred batch that fails stops the runtime without being committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mock_cluster.h"
#include "runtime_fixture.h"

#include "config/config.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "runtime/runtime.h"
#include "sluice/err.h"

#define BATCH 256
/* A stage that has not seen every record by then stops the runtime itself. */
#define RUN_TIMEOUT_MS 20000

/* What one stage saw and did; the callbacks record, the test asserts afterwards. */
typedef struct ctx_s {
        const char *out;
        size_t total;     /* records to see before calling sl_runtime_stop() */
        bool defer;       /* defer every batch */
        unsigned fail_at; /* complete this deferred batch (1-based) with SL_ERR_PG */
        int64_t deadline_ms;

        size_t seen, batches, finish_calls, errors;
        bool timed_out;
        size_t records_before_failed; /* in the batches before fail_at */

        /* The deferred batch held back and the values of its records. */
        sl_runtime_batch_t *held;
        unsigned held_no;
        bool held_last;
        size_t held_cnt;
        char held_vals[BATCH][16];
        size_t held_lens[BATCH];
        bool last_done_in_finish;

        /* idle_check: do not stop at total; once idle for IDLE_MS, read the group's
         * committed offsets (what a lag monitor sees), then stop. */
        bool idle_check;
        struct fixture_s *fx;
        const char *group, *in;
        size_t idle_seen;
        int64_t idle_since, idle_committed;

        int hold_mode;
        bool held_offset, released, timer_armed;
        char hold_topic[64];
        size_t empty_batches;
} ctx_t;

#define IDLE_MS 1500

/* hold_mode: the record at HOLD_OFFSET of partition 0 is held (sl_runtime_hold_offset)
 * and released never (1), with the batch that sees the last record (2), or with a batch
 * of no records the runtime runs on the stage's timer (3). */
#define HOLD_OFFSET   100
#define PER_PARTITION (RECORDS / PARTITIONS)

/* The held deferred batch: produce its outputs and complete it (or fail it when it is
 * batch fail_at, without outputs). */
static void complete_held(ctx_t *ctx, sl_runtime_t *rt, bool in_finish)
{
        int err = SL_OK;

        if (!ctx->held)
                return;
        if (ctx->held_no == ctx->fail_at) {
                err = SL_ERR_PG;
        } else {
                for (size_t i = 0; i < ctx->held_cnt && err == SL_OK; i++)
                        err = sl_runtime_produce_to(rt, ctx->held, ctx->out, NULL, 0,
                                                    ctx->held_vals[i], ctx->held_lens[i],
                                                    NULL);
                if (err != SL_OK)
                        ctx->errors++;
        }
        sl_runtime_deferred_done(rt, ctx->held, err);
        if (ctx->held_last)
                ctx->last_done_in_finish = in_finish;
        ctx->held = NULL;
}

static int process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt)
{
        ctx_t *ctx = opaque;

        ctx->batches++;
        if (ctx->hold_mode) {
                for (size_t i = 0; i < cnt; i++)
                        if (msgs[i]->partition == 0 && msgs[i]->offset == HOLD_OFFSET) {
                                sl_runtime_hold_offset(rt, msgs[i]);
                                snprintf(ctx->hold_topic, sizeof(ctx->hold_topic), "%s",
                                         rd_kafka_topic_name(msgs[i]->rkt));
                                ctx->held_offset = true;
                        }
                if (!cnt)
                        ctx->empty_batches++;
                bool last = ctx->seen + cnt >= ctx->total;
                if (ctx->held_offset && !ctx->released &&
                    ((ctx->hold_mode == 2 && last) || (ctx->hold_mode == 3 && !cnt))) {
                        sl_runtime_release_offset(rt, NULL, ctx->hold_topic, 0,
                                                  HOLD_OFFSET);
                        ctx->released = true;
                        ctx->timer_armed = false;
                        if (ctx->hold_mode == 3)
                                sl_runtime_stop(rt);
                }
                if (ctx->hold_mode == 3 && last && cnt && !ctx->released)
                        ctx->timer_armed = true; /* released by the next, empty, batch */
        }
        if (ctx->defer) {
                /* The previous batch's work is done by now: deliver it, then defer this
                 * one and keep its values for later. */
                complete_held(ctx, rt, false);
                ctx->held = sl_runtime_defer(rt);
                if (!ctx->held || cnt > BATCH)
                        ctx->errors++;
                ctx->held_no = (unsigned)ctx->batches;
                ctx->held_cnt = 0;
                for (size_t i = 0; i < cnt && i < BATCH; i++) {
                        if (msgs[i]->len >= sizeof(ctx->held_vals[0])) {
                                ctx->errors++;
                                continue;
                        }
                        memcpy(ctx->held_vals[ctx->held_cnt], msgs[i]->payload,
                               msgs[i]->len);
                        ctx->held_lens[ctx->held_cnt++] = msgs[i]->len;
                }
                if (ctx->fail_at && ctx->batches < ctx->fail_at)
                        ctx->records_before_failed += cnt;
        } else {
                for (size_t i = 0; i < cnt; i++)
                        if (sl_runtime_produce(rt, ctx->out, NULL, 0, msgs[i]->payload,
                                               msgs[i]->len, NULL) != SL_OK)
                                ctx->errors++;
        }
        ctx->seen += cnt;
        if (ctx->seen >= ctx->total && !ctx->idle_check && ctx->hold_mode != 3) {
                ctx->held_last = ctx->defer;
                sl_runtime_stop(rt);
        }
        return SL_OK;
}

static int finish(void *opaque, sl_runtime_t *rt)
{
        ctx_t *ctx = opaque;

        ctx->finish_calls++;
        complete_held(ctx, rt, true);
        return SL_OK;
}

static int64_t wait_ms(void *opaque)
{
        ctx_t *ctx = opaque;
        return ctx->timer_armed ? 0 : INT64_MAX;
}

static void tick(void *opaque, sl_runtime_t *rt)
{
        ctx_t *ctx = opaque;

        if (ctx->idle_check && ctx->seen >= ctx->total) {
                if (ctx->seen != ctx->idle_seen) {
                        ctx->idle_seen = ctx->seen;
                        ctx->idle_since = now_ms();
                } else if (now_ms() - ctx->idle_since > IDLE_MS) {
                        ctx->idle_committed = committed_sum(ctx->fx, ctx->group, ctx->in);
                        ctx->idle_check = false;
                        sl_runtime_stop(rt);
                }
        }
        if (now_ms() > ctx->deadline_ms && !ctx->timed_out) {
                ctx->timed_out = true;
                sl_runtime_stop(rt);
        }
}

/* Runs a stage over in until it stops; returns sl_runtime_run()'s result. */
static int run_stage(fixture_t *fx, ctx_t *ctx, const char *group, const char *in)
{
        const char *topics[] = {in, NULL};
        sl_stage_t stage = {
            .name = "rt_test",
            .group_id = group,
            .topics = topics,
            .batch_size = BATCH,
            .batch_ms = 20,
            .opaque = ctx,
            .process = process,
            .tick = tick,
            .finish = finish,
            .wait_ms = wait_ms,
        };
        char errstr[512];
        sl_runtime_t *rt;
        int err;

        ctx->deadline_ms = now_ms() + RUN_TIMEOUT_MS;
        rt = sl_runtime_new(fx->conf, &stage, errstr, sizeof(errstr));
        if (!rt)
                fail_msg("sl_runtime_new: %s", errstr);
        err = sl_runtime_run(rt);
        sl_runtime_destroy(rt);
        assert_false(ctx->timed_out);
        assert_int_equal(ctx->errors, 0);
        return err;
}

static void plain_batches_commit_everything(void **state)
{
        fixture_t *fx = *state;
        ctx_t *ctx = calloc(1, sizeof(*ctx));

        assert_non_null(ctx);
        produce_input(fx, "t.rt-plain-in", "t.rt-plain-out");
        ctx->out = "t.rt-plain-out";
        ctx->total = RECORDS;
        assert_int_equal(run_stage(fx, ctx, "t.rt-plain", "t.rt-plain-in"), SL_OK);
        assert_int_equal(ctx->seen, RECORDS);
        assert_true(ctx->batches > 1);
        assert_int_equal(committed_sum(fx, "t.rt-plain", "t.rt-plain-in"), RECORDS);
        assert_outputs_exactly_once(fx, "t.rt-plain-out");
        free(ctx);
}

static void deferred_batches(void **state)
{
        fixture_t *fx = *state;
        ctx_t *ctx = calloc(1, sizeof(*ctx));

        assert_non_null(ctx);
        produce_input(fx, "t.rt-defer-in", "t.rt-defer-out");
        ctx->out = "t.rt-defer-out";
        ctx->total = RECORDS;
        ctx->defer = true;
        assert_int_equal(run_stage(fx, ctx, "t.rt-defer", "t.rt-defer-in"), SL_OK);
        assert_int_equal(ctx->seen, RECORDS);
        assert_true(ctx->batches > 1);
        /* The last batch was completed by the drain at stop, through finish(). */
        assert_true(ctx->finish_calls >= 1);
        assert_true(ctx->held_last);
        assert_null(ctx->held);
        assert_true(ctx->last_done_in_finish);
        assert_int_equal(committed_sum(fx, "t.rt-defer", "t.rt-defer-in"), RECORDS);
        assert_outputs_exactly_once(fx, "t.rt-defer-out");
        free(ctx);
}

static void deferred_failure_is_not_committed(void **state)
{
        fixture_t *fx = *state;
        ctx_t *ctx = calloc(1, sizeof(*ctx));
        int64_t committed;

        assert_non_null(ctx);
        produce_input(fx, "t.rt-fail-in", "t.rt-fail-out");
        ctx->out = "t.rt-fail-out";
        ctx->total = RECORDS;
        ctx->defer = true;
        ctx->fail_at = 2;
        /* The stage's own error, not a delivery failure. */
        assert_int_equal(run_stage(fx, ctx, "t.rt-fail", "t.rt-fail-in"), SL_ERR_PG);
        assert_true(ctx->batches >= 2);
        assert_true(ctx->records_before_failed > 0);
        committed = committed_sum(fx, "t.rt-fail", "t.rt-fail-in");
        assert_true(committed < RECORDS);
        assert_true(committed <= (int64_t)ctx->records_before_failed);
        /* The batch before the failed one was completed and delivered: it is committed.
         */
        assert_int_equal(committed, ctx->records_before_failed);
        free(ctx);
}

/* A runtime with nothing more to read still commits (and checks) what it delivered:
 * a quiet topic's lag reaches zero without a stop. */
static void idle_runtime_commits(void **state)
{
        fixture_t *fx = *state;
        ctx_t *ctx = calloc(1, sizeof(*ctx));

        assert_non_null(ctx);
        produce_input(fx, "t.rt-idle-in", "t.rt-idle-out");
        ctx->out = "t.rt-idle-out";
        ctx->total = RECORDS;
        ctx->defer = true;
        ctx->idle_check = true;
        ctx->fx = fx;
        ctx->group = "t.rt-idle";
        ctx->in = "t.rt-idle-in";
        ctx->idle_committed = -1;
        assert_int_equal(run_stage(fx, ctx, "t.rt-idle", "t.rt-idle-in"), SL_OK);
        assert_int_equal(ctx->seen, RECORDS);
        assert_int_equal(ctx->idle_committed, RECORDS);
        free(ctx);
}

static void run_hold(fixture_t *fx, int mode, const char *group, const char *in,
                     const char *out, int64_t want)
{
        ctx_t *ctx = calloc(1, sizeof(*ctx));

        assert_non_null(ctx);
        produce_input(fx, in, out);
        ctx->out = out;
        ctx->total = RECORDS;
        ctx->hold_mode = mode;
        assert_int_equal(run_stage(fx, ctx, group, in), SL_OK);
        assert_int_equal(ctx->seen, RECORDS);
        assert_true(ctx->held_offset);
        assert_int_equal(ctx->released, mode != 1);
        if (mode == 3)
                assert_true(ctx->empty_batches >= 1);
        assert_int_equal(committed_sum(fx, group, in), want);
        assert_outputs_exactly_once(fx, out);
        free(ctx);
}

/* A held offset is never committed past, even though every later record of its
 * partition was processed and delivered. */
static void held_offset_is_not_committed_past(void **state)
{
        run_hold(*state, 1, "t.rt-hold1", "t.rt-hold1-in", "t.rt-hold1-out",
                 RECORDS - (PER_PARTITION - HOLD_OFFSET));
}

/* Released with a later batch: once that batch commits, the partition moves on. */
static void released_offset_is_committed(void **state)
{
        run_hold(*state, 2, "t.rt-hold2", "t.rt-hold2-in", "t.rt-hold2-out", RECORDS);
}

/* Released by a batch of no records, run because the stage's timer was due. */
static void timer_batch_releases(void **state)
{
        run_hold(*state, 3, "t.rt-hold3", "t.rt-hold3-in", "t.rt-hold3-out", RECORDS);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(plain_batches_commit_everything),
            cmocka_unit_test(deferred_batches),
            cmocka_unit_test(deferred_failure_is_not_committed),
            cmocka_unit_test(idle_runtime_commits),
            cmocka_unit_test(held_offset_is_not_committed_past),
            cmocka_unit_test(released_offset_is_committed),
            cmocka_unit_test(timer_batch_releases),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
