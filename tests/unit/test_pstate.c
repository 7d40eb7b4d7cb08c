/*
 * test_pstate: a stage's partitioned state (src/state/pstate.c) against an in-process
 * mock cluster: working copies decoded once a batch and written back at its end,
 * partitions kept apart, values and progress surviving a flush and a restore into a
 * new state (which comes back in verify mode and leaves it with a clean batch), the
 * set of touched keys, and codecs refused when inconsistent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mock_cluster.h"

#include "config/config.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"
#include "state/pstate.h"

#define CHANGELOG "t.pstate-changelog"

typedef struct val_s {
        int64_t count;
        int64_t at;
} val_t;

static int val_decode(const void *buf, size_t len, void *value)
{
        if (len != sizeof(val_t))
                return SL_ERR_DECODE;
        memcpy(value, buf, sizeof(val_t));
        return SL_OK;
}

static size_t val_encode(const void *value, unsigned char *buf)
{
        memcpy(buf, value, sizeof(val_t));
        return sizeof(val_t);
}

static size_t off_encode(int64_t offset, unsigned char *buf)
{
        memcpy(buf, &offset, sizeof(offset));
        return sizeof(offset);
}

static int off_decode(const void *buf, size_t len, int64_t *offset)
{
        if (len != sizeof(*offset))
                return SL_ERR_DECODE;
        memcpy(offset, buf, sizeof(*offset));
        return SL_OK;
}

static const sl_pstate_conf_t pconf = {
    .stage = "t",
    .name = "test",
    .keys = "keys",
    .changelog = CHANGELOG,
    .restore_timeout_ms = 20000,
    .codec = {.value_size = sizeof(val_t),
              .encoded_max = sizeof(val_t),
              .key_prefix = "k:",
              .decode = val_decode,
              .encode = val_encode,
              .progress_key = "o:",
              .progress_encode = off_encode,
              .progress_decode = off_decode},
};

typedef struct fixture_s {
        rd_kafka_t *mock_rk;
        sl_conf_t *conf;
        rd_kafka_t *producer;
} fixture_t;

static int setup(void **state)
{
        static fixture_t fx;
        char errstr[512], bootstrap[512];
        rd_kafka_mock_cluster_t *mc;

        sl_log_init("test", "error");
        fx.mock_rk = mock_cluster_new(&mc, bootstrap, sizeof(bootstrap));
        assert_int_equal(rd_kafka_mock_topic_create(mc, CHANGELOG, 4, 1), 0);
        fx.conf = sl_conf_new();
        assert_int_equal(sl_conf_set(fx.conf, "kafka.bootstrap.servers", bootstrap,
                                     errstr, sizeof(errstr)),
                         SL_OK);
        fx.producer = sl_kafka_producer_new(fx.conf, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(fx.producer);
        *state = &fx;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *fx = *state;
        rd_kafka_destroy(fx->producer);
        sl_conf_destroy(fx->conf);
        rd_kafka_destroy(fx->mock_rk);
        return 0;
}

static void assign(sl_pstate_t *ps, int32_t from, int32_t to)
{
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
        char errstr[512];

        for (int32_t p = from; p <= to; p++)
                rd_kafka_topic_partition_list_add(parts, "t.in", p);
        assert_int_equal(sl_pstate_assign(ps, parts, errstr, sizeof(errstr)), SL_OK);
        rd_kafka_topic_partition_list_destroy(parts);
}

static void sum_values(int32_t part, const char *key, const void *value, void *opaque)
{
        const val_t *v = value;
        int64_t *sum = opaque;

        assert_true(part == 0 || part == 1);
        assert_true(strncmp(key, "k:", 2) != 0); /* the prefix is the module's */
        *sum += v->count;
}

static void survives_flush_and_restore(void **state)
{
        fixture_t *fx = *state;
        char errstr[512];
        sl_pstate_t *ps = sl_pstate_new(fx->conf, &pconf, errstr, sizeof(errstr)), *ps2;
        int64_t last[2] = {41, -1}, sum = 0;
        size_t records = 0;
        val_t *w, *w2, v;
        char key[8];

        assert_non_null(ps);
        assign(ps, 0, 1);
        assert_true(sl_pstate_verifying(ps, 0));
        assert_true(sl_pstate_verifying(ps, 3)); /* never seen */

        assert_int_equal(sl_pstate_begin(ps, 4), SL_OK);
        w = sl_pstate_work(ps, 0, "a");
        assert_non_null(w);
        assert_int_equal(w->count, 0); /* missing keys read as zeroes */
        w->count = 7;
        w->at = 1000;
        assert_ptr_equal(sl_pstate_work(ps, 0, "a"), w); /* once per batch */
        w2 = sl_pstate_work(ps, 1, "a");                 /* partitions stay apart */
        assert_non_null(w2);
        assert_ptr_not_equal(w2, w);
        assert_int_equal(w2->count, 0);
        w2->count = 2;
        /* nothing reaches the store before the batch ends */
        assert_int_equal(sl_pstate_get(ps, 0, "a", &v), SL_ERR_NOTFOUND);
        sl_pstate_end(ps);
        assert_int_equal(sl_pstate_get(ps, 0, "a", &v), SL_OK);
        assert_int_equal(v.count, 7);
        assert_int_equal(v.at, 1000);
        assert_int_equal(sl_pstate_get(ps, 2, "a", &v),
                         SL_ERR_NOTFOUND); /* not assigned */
        v.count = 3;
        assert_int_equal(sl_pstate_put(ps, 1, "b", &v), SL_OK);
        assert_int_equal(sl_pstate_put(ps, 2, "b", &v), SL_ERR_NOTFOUND);
        sl_pstate_foreach(ps, sum_values, &sum);
        assert_int_equal(sum, 7 + 2 + 3);

        /* a batch of more keys than announced gets no more working copies */
        assert_int_equal(sl_pstate_begin(ps, 1), SL_OK);
        for (int i = 0; i < 100; i++) {
                snprintf(key, sizeof(key), "x%d", i);
                if (!sl_pstate_work(ps, 0, key))
                        break;
                assert_true(i < 64);
        }
        sl_pstate_end(ps);

        assert_int_equal(sl_pstate_flush(ps, fx->producer, NULL, last, 2, &records),
                         SL_OK);
        assert_true(records >= 4); /* a, a, b and the progress of partition 0 */
        assert_int_equal(rd_kafka_flush(fx->producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        sl_pstate_destroy(ps);

        ps2 = sl_pstate_new(fx->conf, &pconf, errstr, sizeof(errstr));
        assert_non_null(ps2);
        assign(ps2, 0, 1);
        assert_int_equal(sl_pstate_get(ps2, 0, "a", &v), SL_OK);
        assert_int_equal(v.count, 7);
        assert_int_equal(sl_pstate_get(ps2, 1, "a", &v), SL_OK);
        assert_int_equal(v.count, 2);
        assert_int_equal(sl_pstate_get(ps2, 1, "b", &v), SL_OK);
        assert_int_equal(v.count, 3);
        /* the progress record came back: 41 is in the state, 42 is not */
        assert_false(sl_pstate_is_new(ps2, 0, 41));
        assert_true(sl_pstate_is_new(ps2, 0, 42));
        assert_true(sl_pstate_is_new(ps2, 1, 0)); /* partition 1 had no progress */

        /* verify mode: reused below progress, counted above, left with a clean batch */
        assert_true(sl_pstate_verifying(ps2, 0));
        assert_int_equal(sl_pstate_begin(ps2, 4), SL_OK);
        assert_int_equal(sl_pstate_replay(ps2, 0, 41, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_REUSE);
        assert_int_equal(sl_pstate_replay(ps2, 0, 42, SL_REPLAY_RECORD_DECIDED),
                         SL_REPLAY_REUSE_COUNT);
        sl_pstate_end(ps2);
        assert_true(sl_pstate_verifying(ps2, 0));
        assert_int_equal(sl_pstate_begin(ps2, 4), SL_OK);
        assert_int_equal(sl_pstate_replay(ps2, 0, 43, SL_REPLAY_NO_RECORD),
                         SL_REPLAY_DECIDE);
        sl_pstate_end(ps2);
        assert_false(sl_pstate_verifying(ps2, 0));
        assert_true(sl_pstate_verifying(ps2, 1));
        sl_pstate_destroy(ps2);
        sl_pstate_destroy(NULL); /* NULL-safe */
}

typedef struct seen_s {
        int n;
        int64_t a_count, b_count;
        int32_t a_part;
} seen_t;

static void see(int32_t part, const char *key, int64_t n, void *opaque)
{
        seen_t *s = opaque;

        s->n++;
        if (strcmp(key, "a") == 0) {
                s->a_count = n;
                s->a_part = part;
        } else if (strcmp(key, "b") == 0) {
                s->b_count = n;
        }
}

static void touched_keys_add_up_until_cleared(void **state)
{
        fixture_t *fx = *state;
        char errstr[512], key[16];
        sl_pstate_t *ps = sl_pstate_new(fx->conf, &pconf, errstr, sizeof(errstr));
        seen_t s = {0};

        assert_non_null(ps);
        assert_int_equal(sl_pstate_touched_count(ps), 0);
        assert_int_equal(sl_pstate_touch(ps, 0, "a", 1), SL_OK);
        assert_int_equal(sl_pstate_touch(ps, 2, "a", 1),
                         SL_OK); /* latest partition wins */
        assert_int_equal(sl_pstate_touch(ps, 1, "b", 0), SL_OK);
        assert_int_equal(sl_pstate_touched_count(ps), 2);
        sl_pstate_touched_foreach(ps, see, &s);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.a_count, 2);
        assert_int_equal(s.a_part, 2);
        assert_int_equal(s.b_count, 0);
        sl_pstate_touched_clear(ps);
        assert_int_equal(sl_pstate_touched_count(ps), 0);
        /* growing past the first table keeps every key */
        for (int i = 0; i < 3000; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                assert_int_equal(sl_pstate_touch(ps, 0, key, 1), SL_OK);
        }
        assert_int_equal(sl_pstate_touch(ps, 0, "k7", 1), SL_OK);
        assert_int_equal(sl_pstate_touched_count(ps), 3000);
        memset(&s, 0, sizeof(s));
        sl_pstate_touched_foreach(ps, see, &s);
        assert_int_equal(s.n, 3000);
        sl_pstate_destroy(ps);
}

static void inconsistent_codecs_are_refused(void **state)
{
        fixture_t *fx = *state;
        char errstr[512] = "";
        sl_pstate_conf_t pc = pconf;

        pc.codec.progress_key = "k:progress"; /* would read as a value */
        assert_null(sl_pstate_new(fx->conf, &pc, errstr, sizeof(errstr)));
        assert_true(strlen(errstr) > 0);
        pc = pconf;
        pc.codec.decode = NULL;
        assert_null(sl_pstate_new(fx->conf, &pc, errstr, sizeof(errstr)));
        pc = pconf;
        pc.codec.encoded_max = 4096;
        assert_null(sl_pstate_new(fx->conf, &pc, errstr, sizeof(errstr)));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(survives_flush_and_restore),
            cmocka_unit_test(touched_keys_add_up_until_cleared),
            cmocka_unit_test(inconsistent_codecs_are_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
