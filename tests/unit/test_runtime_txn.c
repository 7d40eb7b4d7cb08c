/*
 * exactly_once in the stage runtime (src/runtime/txn.c) against an in-process mock
 * cluster: batches run in transactions and every record is processed; a transaction
 * whose commit fails with an abortable error is aborted and its records are processed
 * again after a rewind (on_revoke, on_assign, seek back); a fatal error re-creates the
 * producer; a fenced producer stops the runtime; a retriable stage error runs the batch
 * again in a new transaction; deferred batches complete inside their transaction.
 *
 * The mock cluster neither writes transaction markers (a read_committed reader sees
 * aborted records) nor keeps offsets sent with send_offsets_to_transaction, so what a
 * read_committed consumer sees is tests/integration/test_kafka_exactly_once.sh's job,
 * on Apache Kafka; these check the runtime's side of it.
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

#define APIKEY_END_TXN 26 /* Kafka protocol ApiKey of EndTxn */
#define BATCH          256
#define RUN_TIMEOUT_MS 30000

typedef struct ctx_s {
        const char *out;
        int64_t deadline_ms;
        bool timed_out;
        bool defer;
        unsigned fail_retriable_at; /* fail this batch's first attempt (1-based) */
        bool failed_once;

        unsigned *counts; /* per record value: times process() saw it */
        size_t distinct, seen, batches, assigns, revokes, errors;
        rd_kafka_t *first_producer;
        bool producer_changed;

        sl_runtime_batch_t *held; /* defer: the batch deferred and its values */
        size_t held_cnt;
        char held_vals[BATCH][16];
        size_t held_lens[BATCH];
} ctx_t;

static long value_of(const rd_kafka_message_t *m)
{
        char val[16];

        if (m->len == 0 || m->len >= sizeof(val))
                return -1;
        memcpy(val, m->payload, m->len);
        val[m->len] = '\0';
        return strtol(val, NULL, 10);
}

static void complete_held(ctx_t *ctx, sl_runtime_t *rt)
{
        int err = SL_OK;

        if (!ctx->held)
                return;
        for (size_t i = 0; i < ctx->held_cnt && err == SL_OK; i++)
                err = sl_runtime_produce_to(rt, ctx->held, ctx->out, NULL, 0,
                                            ctx->held_vals[i], ctx->held_lens[i], NULL);
        if (err != SL_OK)
                ctx->errors++;
        sl_runtime_deferred_done(rt, ctx->held, err);
        ctx->held = NULL;
}

static int process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt)
{
        ctx_t *ctx = opaque;
        int err = SL_OK;

        ctx->batches++;
        if (sl_runtime_producer(rt) != ctx->first_producer)
                ctx->producer_changed = true;
        if (ctx->defer) {
                if (ctx->held || cnt > BATCH)
                        ctx->errors++; /* finish() must have completed the last one */
                ctx->held = sl_runtime_defer(rt);
                ctx->held_cnt = cnt;
        }
        for (size_t i = 0; i < cnt && err == SL_OK; i++) {
                if (ctx->defer) {
                        memcpy(ctx->held_vals[i], msgs[i]->payload, msgs[i]->len);
                        ctx->held_lens[i] = msgs[i]->len;
                } else {
                        err = sl_runtime_produce(rt, ctx->out, NULL, 0, msgs[i]->payload,
                                                 msgs[i]->len, NULL);
                }
        }
        if (err != SL_OK) {
                ctx->errors++;
                return err;
        }
        if (ctx->fail_retriable_at == ctx->batches && !ctx->failed_once) {
                /* After producing: the retry must not make these seen twice. */
                ctx->failed_once = true;
                ctx->batches--;
                return SL_ERR_TIMEOUT;
        }
        for (size_t i = 0; i < cnt; i++) {
                long v = value_of(msgs[i]);
                if (v < 0 || v >= RECORDS) {
                        ctx->errors++;
                        continue;
                }
                if (ctx->counts[v]++ == 0)
                        ctx->distinct++;
                ctx->seen++;
        }
        if (ctx->distinct == RECORDS)
                sl_runtime_stop(rt);
        return SL_OK;
}

static int finish(void *opaque, sl_runtime_t *rt)
{
        complete_held(opaque, rt);
        return SL_OK;
}

static int on_assign(void *opaque, sl_runtime_t *rt,
                     const rd_kafka_topic_partition_list_t *parts)
{
        ctx_t *ctx = opaque;

        (void)parts;
        if (!ctx->first_producer)
                ctx->first_producer = sl_runtime_producer(rt);
        ctx->assigns++;
        return SL_OK;
}

static int on_revoke(void *opaque, sl_runtime_t *rt,
                     const rd_kafka_topic_partition_list_t *parts)
{
        ctx_t *ctx = opaque;

        (void)rt;
        (void)parts;
        ctx->revokes++;
        return SL_OK;
}

static void tick(void *opaque, sl_runtime_t *rt)
{
        ctx_t *ctx = opaque;

        if (now_ms() > ctx->deadline_ms && !ctx->timed_out) {
                ctx->timed_out = true;
                sl_runtime_stop(rt);
        }
}

/* Runs an exactly_once stage over in until it saw every record (or failed); returns
 * sl_runtime_run()'s result. */
static int run_stage(fixture_t *fx, ctx_t *ctx, const char *name)
{
        char in[64], out[64], group[64], errstr[512];
        const char *topics[] = {in, NULL};
        sl_stage_t stage = {
            .name = "rt_txn_test",
            .group_id = group,
            .topics = topics,
            .batch_size = BATCH,
            .batch_ms = 20,
            .opaque = ctx,
            .process = process,
            .on_assign = on_assign,
            .on_revoke = on_revoke,
            .tick = tick,
            .finish = finish,
        };
        sl_runtime_t *rt;
        int err;

        snprintf(in, sizeof(in), "t.%s-in", name);
        snprintf(out, sizeof(out), "t.%s-out", name);
        snprintf(group, sizeof(group), "t.%s", name);
        produce_input(fx, in, out);
        ctx->out = out;
        ctx->counts = calloc(RECORDS, sizeof(*ctx->counts));
        assert_non_null(ctx->counts);
        assert_int_equal(
            sl_conf_set(fx->conf, "exactly_once", "true", errstr, sizeof(errstr)), SL_OK);
        ctx->deadline_ms = now_ms() + RUN_TIMEOUT_MS;
        rt = sl_runtime_new(fx->conf, &stage, errstr, sizeof(errstr));
        if (!rt)
                fail_msg("sl_runtime_new: %s", errstr);
        err = sl_runtime_run(rt);
        sl_runtime_destroy(rt);
        assert_int_equal(
            sl_conf_set(fx->conf, "exactly_once", "false", errstr, sizeof(errstr)),
            SL_OK);
        assert_false(ctx->timed_out);
        assert_int_equal(ctx->errors, 0);
        return err;
}

/* Records processed more than once, each at most twice. */
static size_t repeats(const ctx_t *ctx)
{
        size_t n = 0;

        for (int i = 0; i < RECORDS; i++) {
                if (ctx->counts[i] > 2)
                        fail_msg("record %d processed %u times", i, ctx->counts[i]);
                n += ctx->counts[i] == 2;
        }
        return n;
}

static void transactions_deliver_everything(void **state)
{
        ctx_t ctx = {0};

        assert_int_equal(run_stage(*state, &ctx, "txn-plain"), SL_OK);
        assert_int_equal(ctx.distinct, RECORDS);
        assert_int_equal(ctx.seen, RECORDS);
        assert_true(ctx.batches > 1);
        assert_outputs_exactly_once(*state, "t.txn-plain-out");
        free(ctx.counts);
}

static void deferred_batches_complete_in_their_transaction(void **state)
{
        ctx_t ctx = {.defer = true};

        assert_int_equal(run_stage(*state, &ctx, "txn-defer"), SL_OK);
        assert_int_equal(ctx.seen, RECORDS);
        assert_null(ctx.held);
        assert_outputs_exactly_once(*state, "t.txn-defer-out");
        free(ctx.counts);
}

static void abortable_commit_rewinds(void **state)
{
        fixture_t *fx = *state;
        ctx_t ctx = {0};

        /* The first transaction with records in it fails to commit (abortable). */
        rd_kafka_mock_push_request_errors(fx->mc, APIKEY_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING);
        assert_int_equal(run_stage(fx, &ctx, "txn-abort"), SL_OK);
        assert_int_equal(ctx.distinct, RECORDS);
        /* The stage gave its partitions back and took them again once, and read the
         * aborted batch again: at most a batch twice, nothing three times. */
        assert_int_equal(ctx.assigns, 2);
        assert_true(ctx.revokes >= 1);
        size_t again = repeats(&ctx);
        assert_true(again > 0 && again <= BATCH);
        assert_false(ctx.producer_changed);
        free(ctx.counts);
}

static void fatal_error_recreates_producer(void **state)
{
        fixture_t *fx = *state;
        ctx_t ctx = {0};

        rd_kafka_mock_push_request_errors(fx->mc, APIKEY_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        assert_int_equal(run_stage(fx, &ctx, "txn-fatal"), SL_OK);
        assert_int_equal(ctx.distinct, RECORDS);
        assert_true(ctx.producer_changed);
        assert_int_equal(ctx.assigns, 2);
        size_t again = repeats(&ctx);
        assert_true(again > 0 && again <= BATCH);
        free(ctx.counts);
}

static void fenced_producer_stops(void **state)
{
        fixture_t *fx = *state;
        ctx_t ctx = {0};

        rd_kafka_mock_push_request_errors(fx->mc, APIKEY_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        assert_int_not_equal(run_stage(fx, &ctx, "txn-fenced"), SL_OK);
        assert_true(ctx.distinct < RECORDS);
        assert_false(ctx.producer_changed);
        free(ctx.counts);
}

static void retriable_stage_error_retried_in_new_transaction(void **state)
{
        ctx_t ctx = {.fail_retriable_at = 2};

        assert_int_equal(sl_conf_set(((fixture_t *)*state)->conf,
                                     "runtime.retry.backoff.ms", "10", (char[256]){0},
                                     256),
                         SL_OK);
        assert_int_equal(run_stage(*state, &ctx, "txn-retry"), SL_OK);
        assert_true(ctx.failed_once);
        assert_int_equal(ctx.seen, RECORDS); /* the retry was processed once */
        assert_int_equal(ctx.assigns, 1);    /* and needed no rewind */
        free(ctx.counts);
}

static void kafka_transactional_id_is_refused(void **state)
{
        fixture_t *fx = *state;
        const char *topics[] = {"t.txn-refused", NULL};
        sl_stage_t stage = {.name = "rt_txn_test",
                            .group_id = "t.txn-refused",
                            .topics = topics,
                            .batch_size = 1,
                            .batch_ms = 10,
                            .process = process};
        char errstr[512];

        assert_int_equal(
            sl_conf_set(fx->conf, "kafka.transactional.id", "x", errstr, sizeof(errstr)),
            SL_OK);
        assert_null(sl_runtime_new(fx->conf, &stage, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "exactly_once.transactional.id"));
        assert_int_equal(
            sl_conf_set(fx->conf, "kafka.transactional.id", "", errstr, sizeof(errstr)),
            SL_OK);
        assert_int_equal(
            sl_conf_set(fx->conf, "exactly_once", "true", errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(sl_conf_set(fx->conf, "kafka.isolation.level",
                                     "read_uncommitted", errstr, sizeof(errstr)),
                         SL_OK);
        assert_null(sl_runtime_new(fx->conf, &stage, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "read_committed"));
        assert_int_equal(sl_conf_set(fx->conf, "kafka.isolation.level", "read_committed",
                                     errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(
            sl_conf_set(fx->conf, "exactly_once", "false", errstr, sizeof(errstr)),
            SL_OK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(transactions_deliver_everything),
            cmocka_unit_test(deferred_batches_complete_in_their_transaction),
            cmocka_unit_test(abortable_commit_rewinds),
            cmocka_unit_test(fatal_error_recreates_producer),
            cmocka_unit_test(fenced_producer_stops),
            cmocka_unit_test(retriable_stage_error_retried_in_new_transaction),
            cmocka_unit_test(kafka_transactional_id_is_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
