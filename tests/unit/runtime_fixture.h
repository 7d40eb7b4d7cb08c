/*
 * For the runtime's unit tests (test_runtime*.c): a mock cluster fixture, input of
 * RECORDS records valued "0".."4999" over PARTITIONS partitions, and readers of what a
 * group committed and of the outputs.  Include after <cmocka.h> and mock_cluster.h.
 */
#ifndef SL_TEST_RUNTIME_FIXTURE_H
#define SL_TEST_RUNTIME_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"

#define PARTITIONS 4
#define RECORDS    5000

typedef struct fixture_s {
        rd_kafka_t *mock_rk;
        rd_kafka_mock_cluster_t *mc;
        char bootstrap[512];
        sl_conf_t *conf;
} fixture_t;

static inline int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int setup(void **state)
{
        static fixture_t fx;
        char errstr[512];

        sl_log_init("test", getenv("RT_LOG") ? getenv("RT_LOG") : "error");
        fx.mock_rk = mock_cluster_new(&fx.mc, fx.bootstrap, sizeof(fx.bootstrap));
        fx.conf = sl_conf_new();
        assert_int_equal(sl_conf_set(fx.conf, "kafka.bootstrap.servers", fx.bootstrap,
                                     errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(sl_conf_set(fx.conf, "http.port", "0", errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(sl_conf_set(fx.conf, "kafka.session.timeout.ms", "6000", errstr,
                                     sizeof(errstr)),
                         SL_OK);
        assert_int_equal(sl_conf_set(fx.conf, "kafka.heartbeat.interval.ms", "500",
                                     errstr, sizeof(errstr)),
                         SL_OK);
        *state = &fx;
        return 0;
}

static inline int teardown(void **state)
{
        fixture_t *fx = *state;
        sl_conf_destroy(fx->conf);
        rd_kafka_destroy(fx->mock_rk);
        return 0;
}

/* RECORDS records valued "0".."4999", spread round-robin over the input's partitions. */
static inline void produce_input(fixture_t *fx, const char *in, const char *out)
{
        char errstr[512], val[16];
        rd_kafka_t *producer;

        assert_int_equal(rd_kafka_mock_topic_create(fx->mc, in, PARTITIONS, 1), 0);
        assert_int_equal(rd_kafka_mock_topic_create(fx->mc, out, PARTITIONS, 1), 0);
        producer = sl_kafka_producer_new(fx->conf, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(producer);
        for (int i = 0; i < RECORDS; i++) {
                int n = snprintf(val, sizeof(val), "%d", i);
                assert_int_equal(
                    rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(in),
                                      RD_KAFKA_V_PARTITION(i % PARTITIONS),
                                      RD_KAFKA_V_VALUE(val, (size_t)n),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_END),
                    RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        assert_int_equal(rd_kafka_flush(producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(producer);
}

/* A plain consumer of the mock cluster in group (not joined: assign() or committed()
 * only), reporting partition EOFs. */
static inline rd_kafka_t *consumer_new(fixture_t *fx, const char *group)
{
        char errstr[512];
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        rd_kafka_t *rk;

        rd_kafka_conf_set_log_cb(kconf, sl_kafka_log_cb);
        assert_int_equal(rd_kafka_conf_set(kconf, "bootstrap.servers", fx->bootstrap,
                                           errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(
            rd_kafka_conf_set(kconf, "group.id", group, errstr, sizeof(errstr)),
            RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(kconf, "enable.auto.commit", "false", errstr,
                                           sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(kconf, "enable.partition.eof", "true", errstr,
                                           sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, sizeof(errstr));
        assert_non_null(rk);
        return rk;
}

/* The sum over the input's partitions of group's committed offsets (none: 0). */
static inline int64_t committed_sum(fixture_t *fx, const char *group, const char *in)
{
        rd_kafka_t *rk = consumer_new(fx, group);
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(PARTITIONS);
        int64_t sum = 0;

        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, in, p);
        assert_int_equal(rd_kafka_committed(rk, parts, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        for (int i = 0; i < parts->cnt; i++) {
                assert_int_equal(parts->elems[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
                if (parts->elems[i].offset >= 0)
                        sum += parts->elems[i].offset;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return sum;
}

/* Reads the whole output topic; counts[v] += 1 for every output valued v.  Returns the
 * number of outputs. */
static inline size_t read_outputs(fixture_t *fx, const char *out, unsigned *counts)
{
        rd_kafka_t *rk = consumer_new(fx, "t.rt-reader");
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(PARTITIONS);
        int64_t deadline = now_ms() + 15000;
        int eofs = 0;
        size_t n = 0;

        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, out, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
        while (eofs < PARTITIONS && now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                char val[16];
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eofs++;
                } else {
                        assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR);
                        assert_true(m->len > 0 && m->len < sizeof(val));
                        memcpy(val, m->payload, m->len);
                        val[m->len] = '\0';
                        long v = strtol(val, NULL, 10);
                        assert_in_range(v, 0, RECORDS - 1);
                        counts[v]++;
                        n++;
                }
                rd_kafka_message_destroy(m);
        }
        assert_int_equal(eofs, PARTITIONS);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

/* Every input record has exactly one output. */
static inline void assert_outputs_exactly_once(fixture_t *fx, const char *out)
{
        unsigned *counts = calloc(RECORDS, sizeof(*counts));

        assert_non_null(counts);
        assert_int_equal(read_outputs(fx, out, counts), RECORDS);
        for (int i = 0; i < RECORDS; i++)
                if (counts[i] != 1)
                        fail_msg("record %d has %u outputs", i, counts[i]);
        free(counts);
}

#endif
