/*
 * Kafka plumbing without a broker: Java's murmur2 against Kafka's own test vectors
 * (clients UtilsTest.testMurmur2 and librdkafka's rdmurmur2 unit test), the partition
 * choice against librdkafka's murmur2 partitioner, topic names under topic.prefix, the
 * catalogue, topic-name resolution and the bootstrap fallback to the devbroker file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka/kafka.h"
#include "sluice/err.h"

static sl_conf_t *conf_with(const char *k1, const char *v1, const char *k2,
                            const char *v2)
{
        char errstr[256];
        sl_conf_t *conf = sl_conf_new();

        assert_non_null(conf);
        if (k1)
                assert_int_equal(sl_conf_set(conf, k1, v1, errstr, sizeof(errstr)), 0);
        if (k2)
                assert_int_equal(sl_conf_set(conf, k2, v2, errstr, sizeof(errstr)), 0);
        return conf;
}

/* Kafka's UtilsTest.testMurmur2: Java int results. */
static void test_murmur2_java_vectors(void **state)
{
        static const struct {
                const char *key;
                int32_t want;
        } cases[] = {
            {"21", -973932308},
            {"foobar", -790332482},
            {"a-little-bit-long-string", -985981536},
            {"a-little-bit-longer-string", -1486304829},
            {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
            {"abc", 479470107},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint32_t h = sl__kafka_murmur2(cases[i].key, strlen(cases[i].key));
                assert_int_equal((int32_t)h, cases[i].want);
        }
}

/* librdkafka's rdmurmur2.c unit test (the Java client's values, unsigned). */
static void test_murmur2_librdkafka_vectors(void **state)
{
        static const struct {
                const char *key;
                uint32_t want;
        } cases[] = {
            {"kafka", 0xd067cf64u},
            {"giberish123456789", 0x8f552b0cu},
            {"1234", 0x9fc97b14u},
            {"234", 0xe7c009cau},
            {"34", 0x873930dau},
            {"4", 0x5a4b5ca1u},
            {"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1cu},
            {"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377u},
            {"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09eu},
            {"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43fu},
            {"", 0x106e08d9u},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_int_equal(sl__kafka_murmur2(cases[i].key, strlen(cases[i].key)),
                                 cases[i].want);
}

/* The partition is toPositive(murmur2) % n, exactly what librdkafka's murmur2_random
 * partitioner (the producers' setting) picks for a non-NULL key. */
static void test_partition_for_matches_librdkafka(void **state)
{
        char key[64];
        (void)state;
        for (int n = 1; n <= 64; n += 7) {
                for (int i = 0; i < 500; i++) {
                        int len = snprintf(key, sizeof(key), "src-%03d/%d", i, i * 7919);
                        int32_t want = rd_kafka_msg_partitioner_murmur2(
                            NULL, key, (size_t)len, n, NULL, NULL);
                        assert_int_equal(sl_kafka_partition_for(key, (size_t)len, n),
                                         want);
                }
        }
        /* Java: toPositive(-973932308) % 6 for "21". */
        assert_int_equal(sl_kafka_partition_for("21", 2, 6),
                         (int32_t)((uint32_t)(-973932308) & 0x7fffffffu) % 6);
        assert_int_equal(sl_kafka_partition_for("x", 1, 0), -1);
}

static void test_topic_names(void **state)
{
        char buf[256];
        sl_conf_t *conf = conf_with(NULL, NULL, NULL, NULL);
        (void)state;

        assert_string_equal(
            sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, buf, sizeof(buf)),
            "sluice.events.in");
        assert_string_equal(
            sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, buf, sizeof(buf)),
            "sluice.events.accepted");
        assert_string_equal(
            sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_DLQ, buf, sizeof(buf)),
            "sluice.events.dlq");
        sl_conf_destroy(conf);

        conf = conf_with("topic.prefix", "staging-", NULL, NULL);
        assert_string_equal(
            sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, buf, sizeof(buf)),
            "staging-events.in");
        /* Resolution: suffixes get the prefix; full and foreign names stay. */
        assert_string_equal(sl_kafka_topic_resolve(conf, "events.dlq", buf, sizeof(buf)),
                            "staging-events.dlq");
        assert_string_equal(
            sl_kafka_topic_resolve(conf, "staging-events.dlq", buf, sizeof(buf)),
            "staging-events.dlq");
        assert_string_equal(sl_kafka_topic_resolve(conf, "other.topic", buf, sizeof(buf)),
                            "other.topic");
        /* Truncation never overflows. */
        assert_string_equal(sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, buf, 5),
                            "stag");
        sl_conf_destroy(conf);
}

static void test_catalogue(void **state)
{
        sl_topic_spec_t specs[SL_KAFKA_CATALOGUE_MAX];
        sl_conf_t *conf = conf_with("topic.partitions", "12", "topic.replication", "3");
        size_t n;
        (void)state;

        assert_int_equal(sl_conf_set(conf, "trigger.partitions", "5", NULL, 0), SL_OK);
        n = sl_kafka_topic_catalogue(conf, specs, SL_KAFKA_CATALOGUE_MAX);

        assert_true(n >= SL_TOPIC__CNT);
        for (int t = 0; t < SL_TOPIC__CNT; t++) {
                char name[256];
                int found = 0;

                sl_kafka_topic_name(conf, (sl_topic_t)t, name, sizeof(name));
                for (size_t i = 0; i < n; i++) {
                        if (strcmp(specs[i].name, name) != 0)
                                continue;
                        found++;
                        /* the trigger topics are keyed by trigger id, the events
                         * topics by source: two partition counts */
                        assert_int_equal(specs[i].partitions,
                                         t >= SL_TOPIC_TRIGGER_MATCHES ? 5 : 12);
                        assert_int_equal(specs[i].replication, 3);
                        /* changelogs are compacted, everything else is deleted by age */
                        assert_int_equal(specs[i].compact,
                                         t == SL_TOPIC_ADMISSION_CHANGELOG ||
                                             t == SL_TOPIC_LAUNCH_CHANGELOG);
                }
                assert_int_equal(found, 1);
        }
        /* the retry tiers follow, one topic per delay of retry.tiers */
        assert_int_equal(n, SL_TOPIC__CNT + 4);
        assert_string_equal(specs[SL_TOPIC__CNT].name, "sluice.retry.1s");
        assert_string_equal(specs[SL_TOPIC__CNT + 3].name, "sluice.retry.10m");
        assert_int_equal(specs[SL_TOPIC__CNT + 3].compact, 0);
        /* cap is honoured */
        assert_int_equal(sl_kafka_topic_catalogue(conf, specs, 1), 1);
        sl_conf_destroy(conf);
}

static void test_bootstrap_sources(void **state)
{
        char path[] = "/tmp/sl-test-kafka-XXXXXX", buf[256], errstr[512];
        sl_conf_t *conf;
        FILE *fp;
        int fd = mkstemp(path);
        (void)state;

        assert_true(fd >= 0);
        close(fd);

        /* kafka.bootstrap.servers wins over the file. */
        conf = conf_with("kafka.bootstrap.servers", "k1:9092,k2:9092",
                         "devbroker.bootstrap.file", path);
        assert_int_equal(
            sl_kafka_bootstrap(conf, buf, sizeof(buf), errstr, sizeof(errstr)), SL_OK);
        assert_string_equal(buf, "k1:9092,k2:9092");
        sl_conf_destroy(conf);

        /* The file's first line, with or without the stdout prefix. */
        conf = conf_with("devbroker.bootstrap.file", path, NULL, NULL);
        assert_int_equal(
            sl_kafka_bootstrap(conf, buf, sizeof(buf), errstr, sizeof(errstr)),
            SL_ERR_CONFIG); /* empty file */
        assert_non_null(strstr(errstr, "empty"));
        fp = fopen(path, "w");
        fputs("127.0.0.1:1111,127.0.0.1:2222\nignored\n", fp);
        fclose(fp);
        assert_int_equal(
            sl_kafka_bootstrap(conf, buf, sizeof(buf), errstr, sizeof(errstr)), SL_OK);
        assert_string_equal(buf, "127.0.0.1:1111,127.0.0.1:2222");
        fp = fopen(path, "w");
        fputs("bootstrap.servers=127.0.0.1:3333\r\n", fp);
        fclose(fp);
        assert_int_equal(
            sl_kafka_bootstrap(conf, buf, sizeof(buf), errstr, sizeof(errstr)), SL_OK);
        assert_string_equal(buf, "127.0.0.1:3333");
        unlink(path);

        /* Neither: an error that says what to do. */
        assert_int_equal(
            sl_kafka_bootstrap(conf, buf, sizeof(buf), errstr, sizeof(errstr)),
            SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.bootstrap.servers"));
        sl_conf_destroy(conf);
}

/* Constructors apply kafka.* over sluice's defaults and reject bad keys by name. */
static void test_client_conf(void **state)
{
        char errstr[512];
        sl_conf_t *conf = conf_with("kafka.bootstrap.servers", "127.0.0.1:1",
                                    "kafka.client.id", "sluice-test");
        rd_kafka_t *rk;
        (void)state;

        rk = sl_kafka_producer_new(conf, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(rk);
        rd_kafka_destroy(rk);
        rk = sl_kafka_consumer_new(conf, "g", NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(rk);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        assert_null(
            sl_kafka_consumer_new(conf, NULL, NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "group"));
        rk = sl_kafka_admin_new(conf, errstr, sizeof(errstr));
        assert_non_null(rk);
        rd_kafka_destroy(rk);
        sl_conf_destroy(conf);

        /* A bad librdkafka value is refused with the key's name (by sl_conf_set or by
         * the constructor, whichever checks first). */
        conf = sl_conf_new();
        if (sl_conf_set(conf, "kafka.acks", "sometimes", errstr, sizeof(errstr)) == 0) {
                sl_conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", errstr,
                            sizeof(errstr));
                assert_null(
                    sl_kafka_producer_new(conf, NULL, NULL, errstr, sizeof(errstr)));
        }
        assert_non_null(strstr(errstr, "acks"));
        sl_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_murmur2_java_vectors),
            cmocka_unit_test(test_murmur2_librdkafka_vectors),
            cmocka_unit_test(test_partition_for_matches_librdkafka),
            cmocka_unit_test(test_topic_names),
            cmocka_unit_test(test_catalogue),
            cmocka_unit_test(test_bootstrap_sources),
            cmocka_unit_test(test_client_conf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
