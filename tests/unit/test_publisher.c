/*
 * The publisher SDK against an in-process mock cluster: props are validated by name, bad
 * events are refused with ingress's reason codes before anything is sent, good ones are
 * delivered keyed by source to the murmur2 partition with the given id and headers, and
 * broker-side failures (injected with rd_kafka_mock_push_request_errors) reach the
 * delivery callback and sl_publisher_flush()'s count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mock_cluster.h"

#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "sluice/err.h"
#include "sluice/publisher.h"

#define PARTS          4
#define APIKEY_PRODUCE 0 /* Kafka protocol ApiKey of Produce */

typedef struct fixture_s {
        rd_kafka_t *mock_rk; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mcluster;
        char bootstraps[512];
        size_t ok, failed;
        char last_id[37];
} fixture_t;

static void dr_cb(const char *id, int err, const char *errstr, void *opaque)
{
        fixture_t *fx = opaque;

        (void)errstr;
        if (err == SL_OK)
                fx->ok++;
        else
                fx->failed++;
        snprintf(fx->last_id, sizeof(fx->last_id), "%s", id);
}

static int setup(void **state)
{
        fixture_t *fx = calloc(1, sizeof(*fx));

        assert_non_null(fx);
        fx->mock_rk =
            mock_cluster_new(&fx->mcluster, fx->bootstraps, sizeof(fx->bootstraps));
        assert_int_equal(
            rd_kafka_mock_topic_create(fx->mcluster, "t.events.in", PARTS, 1), 0);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *fx = *state;

        rd_kafka_destroy(fx->mock_rk);
        free(fx);
        return 0;
}

static sl_publisher_t *publisher(fixture_t *fx)
{
        const char *props[] = {"kafka.bootstrap.servers",
                               fx->bootstraps,
                               "topic.prefix",
                               "t.",
                               "kafka.message.timeout.ms",
                               "5000",
                               "log.level",
                               "error",
                               NULL};
        char errstr[512];
        sl_publisher_t *pub = sl_publisher_new(props, dr_cb, fx, errstr, sizeof(errstr));

        if (!pub)
                fail_msg("sl_publisher_new: %s", errstr);
        return pub;
}

static void test_props_are_checked(void **state)
{
        fixture_t *fx = *state;
        const char *unknown[] = {"kafka.bootstrap.servers", fx->bootstraps, "no.such.key",
                                 "1", NULL};
        const char *odd[] = {"topic.prefix", NULL};
        const char *bad_kafka[] = {"kafka.bootstrap.servers", fx->bootstraps,
                                   "kafka.acks", "sometimes", NULL};
        char errstr[512];

        assert_null(sl_publisher_new(unknown, NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "no.such.key"));
        assert_null(sl_publisher_new(odd, NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "topic.prefix"));
        assert_null(sl_publisher_new(bad_kafka, NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "acks"));
        sl_publisher_destroy(NULL);
}

static void test_bad_events_are_refused(void **state)
{
        fixture_t *fx = *state;
        sl_publisher_t *pub = publisher(fx);
        const char *k[] = {"k"}, *v[] = {"v"};
        static const struct {
                sl_event_t ev;
                const char *code;
        } cases[] = {
            {{.type = "t", .source = "s", .id = "not-a-uuid"}, "bad_id"},
            {{.type = "", .source = "s"}, "empty_type"},
            {{.source = "s"}, "empty_type"},
            {{.type = "t", .source = ""}, "empty_source"},
            {{.type = "t", .source = "s", .payload = "[1,2]"}, "payload_not_object"},
            {{.type = "t", .source = "s", .payload = "{nope"}, "payload_not_json"},
            {{.type = "t", .source = "s", .occurred_at = 1000}, "bad_occurred_at"},
            {{.type = "t", .source = "s", .ttl_ms = -5}, "bad_ttl"},
            {{.type = "t", .source = "s", .occurred_at = 1500000000000LL, .ttl_ms = 1000},
             "ttl_expired"},
            {{.type = "t\xff", .source = "s"}, "bad_text"},
        };
        char errstr[512], id[37];
        size_t failed = 99;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int rc =
                    sl_publisher_publish(pub, &cases[i].ev, id, errstr, sizeof(errstr));

                if (rc != SL_ERR_INVALID ||
                    strncmp(errstr, cases[i].code, strlen(cases[i].code)))
                        fail_msg("case %zu: rc %d, errstr \"%s\", want %s", i, rc, errstr,
                                 cases[i].code);
        }
        /* metadata count without arrays */
        sl_event_t ev = {.type = "t", .source = "s", .meta_cnt = 1};
        assert_int_equal(sl_publisher_publish(pub, &ev, id, errstr, sizeof(errstr)),
                         SL_ERR_INVALID);
        ev.meta_keys = k;
        ev.meta_vals = v;
        assert_int_equal(sl_publisher_flush(pub, 5000, &failed), SL_OK);
        assert_int_equal(failed, 0);
        assert_int_equal(fx->ok + fx->failed, 0); /* nothing was sent */
        sl_publisher_destroy(pub);
}

static void test_delivered_keyed_and_decodable(void **state)
{
        fixture_t *fx = *state;
        sl_publisher_t *pub = publisher(fx);
        const char *keys[] = {"traceparent", "team"};
        const char *vals[] = {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                              "x"};
        sl_event_t ev = {.id = "6C0FD4F5-F813-4C42-B773-0EDFAFBD67F9",
                         .type = "order.created",
                         .source = "shop-7",
                         .payload = "{\"n\":1}",
                         .correlation_id = "corr-1",
                         .ttl_ms = 3600000,
                         .meta_cnt = 2,
                         .meta_keys = keys,
                         .meta_vals = vals};
        char errstr[512], id[37], cerr[256];
        size_t failed = 99;
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        rd_kafka_t *c;
        rd_kafka_topic_partition_list_t *tps;
        rd_kafka_message_t *m = NULL;
        int32_t want = sl_kafka_partition_for("shop-7", 6, PARTS);
        sl_codec_t *codec = sl_codec_new(cerr, sizeof(cerr));
        sl_envelope_t env;
        sl_reject_t rej;
        rd_kafka_headers_t *hdrs;
        const void *hv;
        size_t hlen;

        assert_int_equal(sl_publisher_publish(pub, &ev, id, errstr, sizeof(errstr)),
                         SL_OK);
        assert_string_equal(id, "6c0fd4f5-f813-4c42-b773-0edfafbd67f9"); /* canonical */
        for (int i = 0; i < 99; i++) {
                sl_event_t more = {.type = "t", .source = "shop-7"};
                assert_int_equal(
                    sl_publisher_publish(pub, &more, NULL, errstr, sizeof(errstr)),
                    SL_OK);
        }
        assert_int_equal(sl_publisher_flush(pub, 10000, &failed), SL_OK);
        assert_int_equal(failed, 0);
        assert_int_equal(fx->ok, 100);
        sl_publisher_destroy(pub);

        /* Read the first record of the owning partition back. */
        rd_kafka_conf_set(kconf, "bootstrap.servers", fx->bootstraps, cerr, sizeof(cerr));
        rd_kafka_conf_set(kconf, "group.id", "test", cerr, sizeof(cerr));
        c = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, cerr, sizeof(cerr));
        assert_non_null(c);
        rd_kafka_poll_set_consumer(c);
        tps = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tps, "t.events.in", want)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, tps), 0);
        rd_kafka_topic_partition_list_destroy(tps);
        for (int i = 0; i < 100 && !m; i++) {
                m = rd_kafka_consumer_poll(c, 100);
                if (m && m->err) {
                        rd_kafka_message_destroy(m);
                        m = NULL;
                }
        }
        assert_non_null(m);
        assert_int_equal(m->partition, want);
        assert_int_equal(m->key_len, 6);
        assert_memory_equal(m->key, "shop-7", 6);
        sl_envelope_init(&env);
        assert_int_equal(sl_envelope_decode(codec, m->payload, m->len, &env, &rej),
                         SL_OK);
        assert_string_equal(env.id, "6c0fd4f5-f813-4c42-b773-0edfafbd67f9");
        assert_string_equal(env.type, "order.created");
        assert_string_equal(env.correlation_id, "corr-1");
        assert_true(env.has_ttl);
        assert_int_equal(env.meta_cnt, 2);
        assert_true(env.occurred_at > 1700000000000LL); /* 0 became now */
        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
        assert_int_equal(rd_kafka_header_get_last(hdrs, "correlation_id", &hv, &hlen), 0);
        assert_int_equal(hlen, 6);
        assert_int_equal(rd_kafka_header_get_last(hdrs, "traceparent", &hv, &hlen), 0);
        assert_int_equal(hlen, strlen(vals[0]));
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
        rd_kafka_message_destroy(m);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
}

/* The broker refuses every Produce: each record's outcome reaches the callback and
 * the flush count. */
static void test_broker_failures_are_counted(void **state)
{
        fixture_t *fx = *state;
        sl_publisher_t *pub = publisher(fx);
        char errstr[512];
        size_t failed = 0;
        rd_kafka_resp_err_t errs[50];

        for (size_t i = 0; i < 50; i++)
                errs[i] = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; /* permanent */
        rd_kafka_mock_push_request_errors_array(fx->mcluster, APIKEY_PRODUCE, 50, errs);
        fx->ok = fx->failed = 0;
        for (int i = 0; i < 5; i++) {
                sl_event_t ev = {.type = "t", .source = "s"};
                assert_int_equal(
                    sl_publisher_publish(pub, &ev, NULL, errstr, sizeof(errstr)), SL_OK);
        }
        assert_int_equal(sl_publisher_flush(pub, 10000, &failed), SL_ERR_KAFKA);
        assert_int_equal(failed, 5);
        assert_int_equal(fx->failed, 5);
        assert_int_equal(strlen(fx->last_id), 36); /* the callback names the event */
        /* The count is per flush. */
        assert_int_equal(sl_publisher_flush(pub, 1000, &failed), SL_OK);
        assert_int_equal(failed, 0);
        rd_kafka_mock_clear_request_errors(fx->mcluster, APIKEY_PRODUCE);
        sl_publisher_destroy(pub);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_props_are_checked),
            cmocka_unit_test(test_bad_events_are_refused),
            cmocka_unit_test(test_delivered_keyed_and_decodable),
            cmocka_unit_test(test_broker_failures_are_counted),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
