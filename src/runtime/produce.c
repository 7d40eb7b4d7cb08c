/*
 * The runtime's outputs (see runtime.h): produce to a topic handle looked up by name,
 * each output tagged with its batch (the message opaque) so that its delivery report
 * counts the batch down; deferred batches' handles.  When to commit is runtime.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "runtime/runtime_int.h"
#include "sluice/err.h"
#include "util/array.h"

void sl__runtime_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        sl_runtime_t *rt = opaque;
        sl_rt_batch_t *b = m->_private;
        (void)rk;

        if (b)
                b->outstanding--;
        if (!m->err)
                return;
        size_t *failed = b ? &b->failed : &rt->dr_failed;
        char *errstr = b ? b->errstr : rt->dr_errstr;
        if ((*failed)++ == 0)
                snprintf(errstr, 256, "%s [%d]: %s", rd_kafka_topic_name(m->rkt),
                         (int)m->partition, rd_kafka_err2str(m->err));
}

void sl__runtime_topics_close(sl_runtime_t *rt)
{
        for (size_t i = 0; i < rt->topic_cnt; i++)
                rd_kafka_topic_destroy(rt->topics[i].rkt);
        free(rt->topics);
        rt->topics = NULL;
        rt->topic_cnt = rt->topic_cap = 0;
}

static rd_kafka_topic_t *topic_handle(sl_runtime_t *rt, const char *name)
{
        for (size_t i = 0; i < rt->topic_cnt; i++)
                if (strcmp(rt->topics[i].name, name) == 0)
                        return rt->topics[i].rkt;
        struct sl_rt_topic_s *t =
            sl_array_grow(rt->topics, &rt->topic_cap, rt->topic_cnt + 1, sizeof(*t), 8);
        if (!t)
                return NULL;
        rt->topics = t;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rt->producer, name, NULL);
        if (rkt) {
                snprintf(rt->topics[rt->topic_cnt].name, sizeof(rt->topics[0].name), "%s",
                         name);
                rt->topics[rt->topic_cnt++].rkt = rkt;
        }
        return rkt;
}

int sl_runtime_produce(sl_runtime_t *rt, const char *topic, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       rd_kafka_headers_t *hdrs)
{
        return sl_runtime_produce_partition(rt, topic, RD_KAFKA_PARTITION_UA, key,
                                            key_len, value, value_len, hdrs);
}

static int produce(sl_runtime_t *rt, sl_rt_batch_t *b, const char *topic,
                   int32_t partition, const void *key, size_t key_len, const void *value,
                   size_t value_len, rd_kafka_headers_t *hdrs);

int sl_runtime_produce_partition(sl_runtime_t *rt, const char *topic, int32_t partition,
                                 const void *key, size_t key_len, const void *value,
                                 size_t value_len, rd_kafka_headers_t *hdrs)
{
        return produce(rt, rt->cur, topic, partition, key, key_len, value, value_len,
                       hdrs);
}

int sl_runtime_produce_to(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                          const void *key, size_t key_len, const void *value,
                          size_t value_len, rd_kafka_headers_t *hdrs)
{
        return produce(rt, b, topic, RD_KAFKA_PARTITION_UA, key, key_len, value,
                       value_len, hdrs);
}

sl_runtime_batch_t *sl_runtime_defer(sl_runtime_t *rt)
{
        if (!rt->cur || rt->cur->deferred)
                return rt->cur;
        rt->cur->deferred = true;
        rt->cur->outstanding++; /* released by sl_runtime_deferred_done() */
        return rt->cur;
}

sl_runtime_batch_t *sl_runtime_defer_keep(sl_runtime_t *rt)
{
        sl_runtime_batch_t *b = sl_runtime_defer(rt);
        if (b)
                b->keep = true;
        return b;
}

rd_kafka_message_t *const *sl_runtime_batch_records(const sl_runtime_batch_t *b,
                                                    size_t *cnt)
{
        *cnt = b ? b->nkept : 0;
        return b ? b->kept : NULL;
}

sl_runtime_batch_t *sl_runtime_output_batch(sl_runtime_t *rt, sl_runtime_batch_t *b)
{
        sl_runtime_batch_t *prev = rt->cur;
        rt->cur = b;
        return prev;
}

void sl_runtime_deferred_done(sl_runtime_t *rt, sl_runtime_batch_t *b, int err)
{
        (void)rt;
        if (!b || !b->deferred)
                return;
        sl_rt_batch_release_kept(b);
        b->deferred = false;
        b->outstanding--;
        if (err != SL_OK && b->stage_err == SL_OK)
                b->stage_err = err;
}

static int produce(sl_runtime_t *rt, sl_rt_batch_t *b, const char *topic,
                   int32_t partition, const void *key, size_t key_len, const void *value,
                   size_t value_len, rd_kafka_headers_t *hdrs)
{
        rd_kafka_topic_t *rkt = topic_handle(rt, topic);
        rd_kafka_resp_err_t err;

        if (!rkt) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                sl_log_error("produce to %s: no topic handle", topic);
                return SL_ERR_KAFKA;
        }
        for (;;) {
                err = rd_kafka_producev(
                    rt->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_KEY(key, key_len),
                    RD_KAFKA_V_VALUE((void *)value, value_len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                    RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(rt->producer, 10);
        }
        if (err) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                sl_log_error("produce to %s: %s", topic, rd_kafka_err2str(err));
                return SL_ERR_KAFKA;
        }
        if (b)
                b->outstanding++;
        return SL_OK;
}

void *sl_runtime_output_opaque(sl_runtime_t *rt)
{
        return rt->cur;
}

void sl_runtime_outputs_added(sl_runtime_t *rt, size_t n)
{
        if (rt->cur)
                rt->cur->outstanding += (long)n;
}
