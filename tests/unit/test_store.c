/*
 * The changelog-backed state store (src/state/store.c) against an in-process mock
 * cluster: puts, overwrites and deletes survive a flush and a restore into a new store,
 * partitions stay apart, and a restore replaces what a partition held.
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
#include "state/store.h"

#define CHANGELOG "t.store-changelog"

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

static void flush_all(fixture_t *fx, sl_store_t *st, size_t want)
{
        size_t n = 0;
        assert_int_equal(sl_store_flush(st, -1, fx->producer, NULL, &n), SL_OK);
        assert_int_equal(n, want);
        assert_int_equal(rd_kafka_flush(fx->producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void survives_flush_and_restore(void **state)
{
        fixture_t *fx = *state;
        char errstr[512], key[32], val[32];
        sl_store_t *st = sl_store_new(fx->conf, "t", CHANGELOG), *st2;
        size_t len, records = 0;
        const void *v;

        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "s:%d", i);
                snprintf(val, sizeof(val), "v%d", i);
                assert_int_equal(sl_store_put(st, i % 2, key, val, strlen(val)), SL_OK);
        }
        assert_int_equal(sl_store_count(st, 0), 500);
        flush_all(fx, st, 1000);
        /* Nothing is dirty after a flush. */
        flush_all(fx, st, 0);
        /* Overwrite (same and other size), delete, then flush again. */
        assert_int_equal(sl_store_put(st, 0, "s:0", "xx", 2), SL_OK);
        assert_int_equal(sl_store_put(st, 0, "s:2", "longer value", 12), SL_OK);
        assert_int_equal(sl_store_delete(st, 0, "s:4"), SL_OK);
        assert_int_equal(sl_store_delete(st, 0, "s:4"), SL_ERR_NOTFOUND);
        flush_all(fx, st, 3);
        sl_store_destroy(st);

        st2 = sl_store_new(fx->conf, "t", CHANGELOG);
        assert_int_equal(
            sl_store_restore(st2, 0, 20000, &records, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(records, 503); /* the whole history: the mock does not compact */
        assert_int_equal(sl_store_count(st2, 0), 499);
        v = sl_store_get(st2, 0, "s:0", &len);
        assert_non_null(v);
        assert_memory_equal(v, "xx", len);
        v = sl_store_get(st2, 0, "s:2", &len);
        assert_int_equal(len, 12);
        assert_null(sl_store_get(st2, 0, "s:4", &len));
        v = sl_store_get(st2, 0, "s:998", &len);
        assert_memory_equal(v, "v998", len);
        /* partition 1 was not restored into this store */
        assert_int_equal(sl_store_count(st2, 1), 0);
        assert_int_equal(
            sl_store_restore(st2, 1, 20000, &records, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(sl_store_count(st2, 1), 500);
        assert_null(sl_store_get(st2, 1, "s:0", &len));
        /* a restore replaces what the partition held; restored data is not dirty */
        assert_int_equal(sl_store_put(st2, 1, "local", "x", 1), SL_OK);
        assert_int_equal(
            sl_store_restore(st2, 1, 20000, &records, errstr, sizeof(errstr)), SL_OK);
        assert_null(sl_store_get(st2, 1, "local", &len));
        flush_all(fx, st2, 0);
        /* drop forgets a partition */
        sl_store_drop(st2, 1);
        assert_int_equal(sl_store_count(st2, 1), 0);
        sl_store_destroy(st2);
}

static void empty_partition_restores_empty(void **state)
{
        fixture_t *fx = *state;
        char errstr[512];
        size_t records = 99;
        sl_store_t *st = sl_store_new(fx->conf, "t", CHANGELOG);

        assert_int_equal(sl_store_restore(st, 3, 20000, &records, errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(records, 0);
        assert_int_equal(sl_store_count(st, 3), 0);
        sl_store_destroy(st);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(survives_flush_and_restore),
            cmocka_unit_test(empty_partition_restores_empty),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
