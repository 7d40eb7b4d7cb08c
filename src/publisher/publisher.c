/*
 * The publisher SDK (include/sluice/publisher.h): sluice configuration from key/value
 * props, the envelope codec, and an idempotent murmur2-partitioned producer on
 * events.in.  An event is checked with the same field rules ingress applies (so a
 * publisher learns about a bad event at once instead of finding it in the DLQ), given an
 * id and a time when it has none, encoded as Avro single-object and produced keyed by
 * source, with its correlation id and any W3C traceparent in Kafka headers.  Delivery
 * outcomes are counted per flush and reported through the caller's callback.  Payload
 * schemas are ingress's business, not checked here.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "envelope/envelope.h"
#include "envelope/validate.h"
#include "kafka/kafka.h"
#include "publisher/publisher_int.h"
#include "sluice/err.h"
#include "sluice/publisher.h"
#include "util/uuid.h"

/* How long publish waits for room in a full producer queue before giving up. */
#define SL_PUB_QUEUE_FULL_WAIT_MS 30000

struct sl_publisher_s {
        const sl_conf_t *conf;
        sl_conf_t *own_conf; /* conf when the publisher made it from props */
        sl_codec_t *codec;
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        sl_publisher_dr_cb_t *dr_cb;
        void *opaque;
        int64_t max_future_ms;
        atomic_size_t failed; /* since the last flush */
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        sl_publisher_t *pub = opaque;
        char *id = m->_private; /* malloc()ed by publish, NULL for the raw path */

        (void)rk;
        if (m->err)
                atomic_fetch_add(&pub->failed, 1);
        if (pub->dr_cb)
                pub->dr_cb(id ? id : "", m->err ? SL_ERR_KAFKA : SL_OK,
                           m->err ? rd_kafka_err2str(m->err) : NULL, pub->opaque);
        free(id);
}

/* Codec, producer and topic from pub->conf. */
static int publisher_init(sl_publisher_t *pub, char *errstr, size_t errstr_size)
{
        char topic[256];

        pub->max_future_ms = sl_conf_get_int(pub->conf, "envelope.max.future.ms");
        pub->codec = sl_codec_new(errstr, errstr_size);
        if (!pub->codec)
                return SL_ERR_INVALID;
        pub->rk = sl_kafka_producer_new(pub->conf, dr_msg_cb, pub, errstr, errstr_size);
        if (!pub->rk)
                goto fail_codec;
        sl_kafka_topic_name(pub->conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        pub->rkt = rd_kafka_topic_new(pub->rk, topic, NULL);
        if (!pub->rkt) {
                snprintf(errstr, errstr_size, "topic %s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
                goto fail_rk;
        }
        return SL_OK;

fail_rk:
        rd_kafka_destroy(pub->rk);
fail_codec:
        sl_codec_destroy(pub->codec);
        return SL_ERR_KAFKA;
}

static sl_publisher_t *publisher_alloc(sl_publisher_dr_cb_t *dr_cb, void *opaque,
                                       char *errstr, size_t errstr_size)
{
        sl_publisher_t *pub = calloc(1, sizeof(*pub));

        if (!pub) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pub->dr_cb = dr_cb;
        pub->opaque = opaque;
        atomic_init(&pub->failed, 0);
        return pub;
}

sl_publisher_t *sl_publisher_new(const char *const *props, sl_publisher_dr_cb_t *dr_cb,
                                 void *opaque, char *errstr, size_t errstr_size)
{
        sl_publisher_t *pub = publisher_alloc(dr_cb, opaque, errstr, errstr_size);

        if (!pub)
                return NULL;
        pub->conf = pub->own_conf = sl_conf_new();
        if (!pub->own_conf) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_pub;
        }
        for (; props && props[0]; props += 2) {
                if (!props[1]) {
                        snprintf(errstr, errstr_size,
                                 "%s: no value (props are key/value "
                                 "pairs ending with NULL)",
                                 props[0]);
                        goto fail_conf;
                }
                if (sl_conf_set(pub->own_conf, props[0], props[1], errstr, errstr_size) !=
                    0)
                        goto fail_conf;
        }
        if (publisher_init(pub, errstr, errstr_size) != SL_OK)
                goto fail_conf;
        return pub;

fail_conf:
        sl_conf_destroy(pub->own_conf);
fail_pub:
        free(pub);
        return NULL;
}

sl_publisher_t *sl__publisher_new_conf(const sl_conf_t *conf, sl_publisher_dr_cb_t *dr_cb,
                                       void *opaque, char *errstr, size_t errstr_size)
{
        sl_publisher_t *pub = publisher_alloc(dr_cb, opaque, errstr, errstr_size);

        if (!pub)
                return NULL;
        pub->conf = conf;
        if (publisher_init(pub, errstr, errstr_size) != SL_OK) {
                free(pub);
                return NULL;
        }
        return pub;
}

/* Produce one record, waiting (bounded) for queue room.  Takes ownership of value
 * (freed by librdkafka after delivery, or here on failure) and of id. */
static int produce(sl_publisher_t *pub, const void *key, size_t key_len, void *value,
                   size_t value_len, const char *correlation_id, const char *traceparent,
                   char *id, char *errstr, size_t errstr_size)
{
        int64_t deadline = now_ms() + SL_PUB_QUEUE_FULL_WAIT_MS;
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_resp_err_t err;

        for (;;) {
                if (correlation_id || traceparent) {
                        hdrs = rd_kafka_headers_new(2);
                        if (correlation_id)
                                rd_kafka_header_add(hdrs, "correlation_id", -1,
                                                    correlation_id, -1);
                        if (traceparent)
                                rd_kafka_header_add(hdrs, "traceparent", -1, traceparent,
                                                    -1);
                }
                err = rd_kafka_producev(
                    pub->rk, RD_KAFKA_V_RKT(pub->rkt),
                    RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                    RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(hdrs),
                    RD_KAFKA_V_OPAQUE(id), RD_KAFKA_V_END);
                if (!err) /* the message owns value, hdrs and id now */
                        break;
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                hdrs = NULL;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms() >= deadline) {
                        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                                char ferr[256];

                                rd_kafka_fatal_error(pub->rk, ferr, sizeof(ferr));
                                snprintf(errstr, errstr_size, "producer failed: %s",
                                         ferr);
                        } else {
                                snprintf(errstr, errstr_size, "produce: %s%s",
                                         rd_kafka_err2str(err),
                                         err == RD_KAFKA_RESP_ERR__QUEUE_FULL
                                             ? " (no room for 30 s: is the broker up?)"
                                             : "");
                        }
                        free(value);
                        free(id);
                        return SL_ERR_KAFKA;
                }
                rd_kafka_poll(pub->rk, 100);
        }
        rd_kafka_poll(pub->rk, 0); /* serve delivery reports as we go */
        return SL_OK;
}

/* The event's id: the caller's, canonicalised (lower case), or a new UUIDv4. */
static int event_id(const sl_event_t *ev, char out[37], char *errstr, size_t errstr_size)
{
        uint8_t uu[16];

        if (!ev->id) {
                sl_uuid_random(out);
                return SL_OK;
        }
        if (sl_uuid_parse(ev->id, uu) != SL_OK) {
                snprintf(errstr, errstr_size,
                         "bad_id: id \"%.40s\" is not a UUID "
                         "(8-4-4-4-12 hex digits)",
                         ev->id);
                return SL_ERR_INVALID;
        }
        sl_uuid_format(uu, out);
        return SL_OK;
}

int sl_publisher_publish(sl_publisher_t *pub, const sl_event_t *ev, char *id_out,
                         char *errstr, size_t errstr_size)
{
        sl_envelope_t env;
        sl_validate_opts_t vopts;
        sl_reject_t rej;
        const char *traceparent = NULL;
        void *value = NULL;
        size_t value_len = 0;
        char *id;

        if (!pub || !ev) {
                snprintf(errstr, errstr_size, "publisher and event are required");
                return SL_ERR_INVALID;
        }
        memset(&env, 0, sizeof(env));
        if (event_id(ev, env.id, errstr, errstr_size) != SL_OK)
                return SL_ERR_INVALID;
        if (ev->meta_cnt && (!ev->meta_keys || !ev->meta_vals)) {
                snprintf(errstr, errstr_size,
                         "meta_cnt is %zu but meta_keys/meta_vals "
                         "are NULL",
                         ev->meta_cnt);
                return SL_ERR_INVALID;
        }
        env.type = ev->type;
        env.source = ev->source;
        env.occurred_at = ev->occurred_at ? ev->occurred_at : now_ms();
        env.payload = ev->payload ? ev->payload : "{}";
        env.payload_len = strlen(env.payload);
        env.correlation_id = ev->correlation_id;
        env.has_ttl = ev->ttl_ms != 0;
        env.ttl_ms = ev->ttl_ms;
        env.meta_cnt = ev->meta_cnt;
        env.meta_keys = ev->meta_keys;
        env.meta_vals = ev->meta_vals;

        /* Ingress's field rules, on our clock: nothing is sent if they fail. */
        memset(&vopts, 0, sizeof(vopts));
        vopts.now_ms = now_ms();
        vopts.max_future_ms = pub->max_future_ms;
        if (sl_envelope_validate(&env, &vopts, NULL, &rej) != SL_OK) {
                snprintf(errstr, errstr_size, "%s: %s", sl_reject_code_str(rej.code),
                         rej.msg);
                return SL_ERR_INVALID;
        }
        for (size_t i = 0; i < ev->meta_cnt; i++)
                if (strcmp(ev->meta_keys[i], "traceparent") == 0)
                        traceparent = ev->meta_vals[i];
        if (sl_envelope_encode(pub->codec, &env, &value, &value_len) != SL_OK) {
                snprintf(errstr, errstr_size, "cannot encode the envelope");
                return SL_ERR_INVALID;
        }
        if (id_out)
                memcpy(id_out, env.id, 37);
        id = strdup(env.id);
        if (!id) {
                free(value);
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        return produce(pub, env.source, strlen(env.source), value, value_len,
                       env.correlation_id, traceparent, id, errstr, errstr_size);
}

int sl_publisher_publish_raw(sl_publisher_t *pub, const void *key, size_t key_len,
                             const void *value, size_t value_len, char *errstr,
                             size_t errstr_size)
{
        void *copy;

        if (!pub || (!value && value_len)) {
                snprintf(errstr, errstr_size, "publisher and value are required");
                return SL_ERR_INVALID;
        }
        copy = malloc(value_len ? value_len : 1);
        if (!copy) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        if (value_len)
                memcpy(copy, value, value_len);
        return produce(pub, key, key ? key_len : 0, copy, value_len, NULL, NULL, NULL,
                       errstr, errstr_size);
}

int sl_publisher_flush(sl_publisher_t *pub, int timeout_ms, size_t *failed)
{
        rd_kafka_resp_err_t err = rd_kafka_flush(pub->rk, timeout_ms);
        size_t n = atomic_exchange(&pub->failed, 0);

        if (failed)
                *failed = n;
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
                return SL_ERR_TIMEOUT;
        return n ? SL_ERR_KAFKA : SL_OK;
}

void sl_publisher_destroy(sl_publisher_t *pub)
{
        if (!pub)
                return;
        if (rd_kafka_flush(pub->rk, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
                /* Fail what is left, so its delivery reports run (and free the ids). */
                rd_kafka_purge(pub->rk,
                               RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(pub->rk, 1000);
        }
        rd_kafka_topic_destroy(pub->rkt);
        rd_kafka_destroy(pub->rk);
        sl_codec_destroy(pub->codec);
        sl_conf_destroy(pub->own_conf);
        free(pub);
}
