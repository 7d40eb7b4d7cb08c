/*
 * What a sluice-ingress batch produces, once its rows are in Postgres: accepted events
 * to events.accepted, dead letters to events.dlq (with the reason in headers), the
 * wake-ups of held-back events to the retry tier their next attempt falls in, and
 * records re-routed to the partition that owns their source.  The runtime delivers
 * them and commits the batch's offsets after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_int.h"
#include "limits/backoff.h"
#include "retry/retry_record.h"
#include "sluice/err.h"

static rd_kafka_headers_t *copy_headers(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return NULL;
        return rd_kafka_headers_copy(hdrs);
}

int sl__ingress_produce_dead_letter(sl_ingress_t *ing, sl_runtime_t *rt,
                                    const rd_kafka_message_t *m, const slot_t *s)
{
        rd_kafka_headers_t *hdrs = copy_headers(m);
        const char *reason = sl_reject_code_str(s->rej);
        const char *topic = rd_kafka_topic_name(m->rkt);
        char num[32];

        if (!hdrs)
                hdrs = rd_kafka_headers_new(5);
        rd_kafka_header_add(hdrs, "sluice.reason", -1, reason, -1);
        rd_kafka_header_add(hdrs, "sluice.reason.message", -1, sl__ingress_rej_msg(s),
                            -1);
        rd_kafka_header_add(hdrs, "sluice.source.topic", -1, topic, -1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(hdrs, "sluice.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)m->offset);
        rd_kafka_header_add(hdrs, "sluice.source.offset", -1, num, -1);
        return sl_runtime_produce(rt, ing->topic_dlq, m->key, m->key_len, m->payload,
                                  m->len, hdrs);
}

int sl__ingress_produce_accepted(sl_ingress_t *ing, sl_runtime_t *rt,
                                 const rd_kafka_message_t *m, const slot_t *s)
{
        return sl_runtime_produce(rt, ing->topic_accepted, s->env.source,
                                  strlen(s->env.source), m->payload, m->len,
                                  copy_headers(m));
}

int sl__ingress_produce_retry(sl_ingress_t *ing, sl_runtime_t *rt,
                              const rd_kafka_message_t *m, const slot_t *s, int64_t now)
{
        sl_retry_record_t rr = {.event_id = s->env.id,
                                .source = s->env.source,
                                .attempt = s->ad.attempt + 1,
                                .due_at = s->ad.next_attempt_at,
                                .reason = sl_admit_reason_str(s->ad.reason),
                                .envelope = m->payload,
                                .envelope_len = m->len};
        size_t tier =
            sl_backoff_tier(ing->tiers_ms, ing->ntiers, s->ad.next_attempt_at - now);
        void *buf;
        size_t len;
        int err = sl_retry_record_encode(&rr, &buf, &len);

        if (err != SL_OK)
                return err;
        err = sl_runtime_produce(rt, ing->tier_topics[tier], s->env.source,
                                 strlen(s->env.source), buf, len, NULL);
        free(buf);
        return err;
}

int sl__ingress_produce_reroute(sl_ingress_t *ing, sl_runtime_t *rt,
                                const rd_kafka_message_t *m, const slot_t *s)
{
        rd_kafka_headers_t *hdrs = copy_headers(m);
        char num[16];

        if (!hdrs)
                hdrs = rd_kafka_headers_new(1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(hdrs, "sluice.rerouted.from", -1, num, -1);
        return sl_runtime_produce_partition(rt, ing->topic_in, s->owner, m->key,
                                            m->key_len, m->payload, m->len, hdrs);
}
