/*
 * bench-trigger's records on Kafka: producing the events, the consume -> produce
 * pass-through baseline, and reading topics back after a run (so nothing reads them
 * while the stages are measured).  Every client is built by sl_kafka_*_new(), with the
 * settings the stages themselves run with.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_trigger.h"
#include "kafka/kafka.h"

#define BATCH_SIZE 5000 /* trigger.match.batch.size's default */
#define BATCH_MS   20   /* trigger.match.batch.ms's default */
#define INFLIGHT   4    /* batches in flight, as src/runtime */
#define IDLE_S     30
#define TICK_US    5000 /* the paced producer's tick */

static void dr_count(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        if (m->err)
                (*(long *)opaque)++;
}

double bt_produce(const sl_conf_t *conf, const bt_event_t *evs, long n, long rate)
{
        char errstr[512], topic[256];
        long failed = 0;
        rd_kafka_t *rk =
            sl_kafka_producer_new(conf, dr_count, &failed, errstr, sizeof(errstr));
        double t0 = bt_now_s();

        if (!rk)
                bt_die("producer", errstr);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, topic, sizeof(topic));
        for (long i = 0; i < n; i++) {
                /* A token bucket with 5 ms ticks: half the producer's CPU of waking
                 * for every event (measured: 28 vs 51 us an event at 5,000/s). */
                while (rate > 0 && bt_now_s() < t0 + (double)i / (double)rate) {
                        rd_kafka_poll(rk, 0);
                        usleep(TICK_US);
                }
                for (;;) {
                        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
                        rd_kafka_header_add(h, "traceparent", -1, evs[i].traceparent, -1);
                        rd_kafka_resp_err_t err = rd_kafka_producev(
                            rk, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_KEY(evs[i].key, strlen(evs[i].key)),
                            RD_KAFKA_V_VALUE(evs[i].buf, evs[i].len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                        if (!err)
                                break;
                        rd_kafka_headers_destroy(h);
                        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                bt_die("produce", rd_kafka_err2str(err));
                        rd_kafka_poll(rk, 10);
                }
        }
        while (rd_kafka_outq_len(rk) > 0)
                rd_kafka_flush(rk, 1000);
        if (failed)
                bt_die("produce", "some events were not delivered");
        rd_kafka_destroy(rk);
        return bt_now_s() - t0;
}

/* --- the pass-through --- */

typedef struct pt_batch_s {
        long outstanding, failed;
        rd_kafka_topic_partition_list_t *offsets;
} pt_batch_t;

typedef struct pt_s {
        rd_kafka_t *cons, *prod;
        pt_batch_t ring[INFLIGHT];
        int front, count;
} pt_t;

static void dr_batch(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        pt_batch_t *b = m->_private;
        (void)rk;
        (void)opaque;
        if (m->err)
                b->failed++;
        b->outstanding--;
}

/* Commit, in order, every batch whose records were all delivered; with wait, wait for
 * all of them. */
static void pt_complete(pt_t *pt, bool wait)
{
        rd_kafka_poll(pt->prod, 0);
        while (pt->count) {
                pt_batch_t *b = &pt->ring[pt->front];
                if (b->outstanding > 0) {
                        if (!wait)
                                return;
                        rd_kafka_poll(pt->prod, 10);
                        continue;
                }
                if (b->failed)
                        bt_die("pass-through", "records failed to deliver");
                rd_kafka_resp_err_t err = rd_kafka_commit(pt->cons, b->offsets, 0);
                if (err)
                        bt_die("pass-through commit", rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(b->offsets);
                b->offsets = NULL;
                pt->front = (pt->front + 1) % INFLIGHT;
                pt->count--;
        }
}

static void pt_forward(pt_t *pt, pt_batch_t *b, const char *out, rd_kafka_message_t *m)
{
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(b->offsets, topic, m->partition);
        rd_kafka_headers_t *hdrs = NULL;

        if (!tp)
                tp = rd_kafka_topic_partition_list_add(b->offsets, topic, m->partition);
        tp->offset = m->offset + 1;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
                hdrs = rd_kafka_headers_copy(hdrs);
        else
                hdrs = NULL;
        b->outstanding++;
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    pt->prod, RD_KAFKA_V_TOPIC(out), RD_KAFKA_V_KEY(m->key, m->key_len),
                    RD_KAFKA_V_VALUE(m->payload, m->len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                    RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
                if (!err)
                        return;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        bt_die("pass-through produce", rd_kafka_err2str(err));
                rd_kafka_poll(pt->prod, 10);
        }
}

double bt_passthrough(const sl_conf_t *conf, long n)
{
        char errstr[512], in[256], out[256], group[64];
        static rd_kafka_message_t *msgs[BATCH_SIZE];
        pt_t pt = {0};
        long got = 0;
        double t0 = 0, t_last = 0, idle_since = bt_now_s();
        rd_kafka_queue_t *q;
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);

        snprintf(group, sizeof(group), "bench-passthrough-%d", (int)getpid());
        pt.cons = sl_kafka_consumer_new(conf, group, NULL, NULL, errstr, sizeof(errstr));
        if (!pt.cons)
                bt_die("pass-through consumer", errstr);
        pt.prod = sl_kafka_producer_new(conf, dr_batch, NULL, errstr, sizeof(errstr));
        if (!pt.prod)
                bt_die("pass-through producer", errstr);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, in, sizeof(in));
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, out, sizeof(out));
        rd_kafka_topic_partition_list_add(subs, in, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(pt.cons, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        q = rd_kafka_queue_get_consumer(pt.cons);
        while (got < n) {
                ssize_t r = rd_kafka_consume_batch_queue(q, BATCH_MS, msgs, BATCH_SIZE);
                if (r <= 0) {
                        pt_complete(&pt, false);
                        if (bt_now_s() - idle_since > IDLE_S)
                                bt_die("pass-through",
                                       "events.accepted holds fewer records than were "
                                       "produced (the mock keeps ~5 MiB a partition)");
                        continue;
                }
                idle_since = bt_now_s();
                if (!got)
                        t0 = bt_now_s();
                while (pt.count == INFLIGHT)
                        pt_complete(&pt, true);
                pt_batch_t *b = &pt.ring[(pt.front + pt.count) % INFLIGHT];
                b->outstanding = b->failed = 0;
                b->offsets = rd_kafka_topic_partition_list_new(64);
                for (ssize_t i = 0; i < r; i++) {
                        if (!msgs[i]->err) {
                                pt_forward(&pt, b, out, msgs[i]);
                                got++;
                        }
                        rd_kafka_message_destroy(msgs[i]);
                }
                t_last = bt_now_s();
                pt.count++;
                pt_complete(&pt, false);
        }
        pt_complete(&pt, true);
        rd_kafka_queue_destroy(q);
        rd_kafka_consumer_close(pt.cons);
        rd_kafka_destroy(pt.cons);
        rd_kafka_flush(pt.prod, 10000);
        rd_kafka_destroy(pt.prod);
        return (double)got / (t_last - t0);
}

/* --- reading back --- */

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int n = -1;

        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n > BT_MAX_PARTS ? BT_MAX_PARTS : n;
}

void bt_watermarks(rd_kafka_t *rk, const char *topic, bt_range_t *r)
{
        r->nparts = partitions_of(rk, topic);
        if (r->nparts < 1)
                bt_die(topic, "no partitions");
        for (int p = 0; p < r->nparts; p++)
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &r->lo[p], &r->hi[p],
                                                     10000))
                        bt_die(topic, "no watermarks");
}

long bt_range_count(const bt_range_t *from, const bt_range_t *to)
{
        long n = 0;
        for (int p = 0; p < to->nparts; p++)
                n += (long)(to->hi[p] - (from ? from->hi[p] : 0));
        return n;
}

bool bt_wait_count(rd_kafka_t *rk, const char *topic, const bt_range_t *from, long want,
                   bt_range_t *to)
{
        double until = bt_now_s() + IDLE_S;

        for (;;) {
                bt_watermarks(rk, topic, to);
                if (bt_range_count(from, to) >= want)
                        return true;
                if (bt_now_s() > until)
                        return false;
                usleep(500000);
        }
}

long bt_read_range(const sl_conf_t *conf, const char *topic, const bt_range_t *from,
                   const bt_range_t *to, void (*fn)(const rd_kafka_message_t *, void *),
                   void *opaque)
{
        char errstr[512];
        rd_kafka_t *rk = sl_kafka_consumer_new(conf, "bench-trigger-reader", NULL, NULL,
                                               errstr, sizeof(errstr));
        rd_kafka_topic_partition_list_t *t =
            rd_kafka_topic_partition_list_new(to->nparts);
        long want = 0, got = 0;
        double idle_since = bt_now_s();

        if (!rk)
                bt_die("reader", errstr);
        for (int p = 0; p < to->nparts; p++) {
                int64_t start = from ? from->hi[p] : 0;
                if (start < to->lo[p])
                        start = to->lo[p]; /* dropped by the mock */
                if (start >= to->hi[p])
                        continue;
                rd_kafka_topic_partition_list_add(t, topic, p)->offset = start;
                want += (long)(to->hi[p] - start);
        }
        rd_kafka_assign(rk, t);
        rd_kafka_topic_partition_list_destroy(t);
        while (got < want && bt_now_s() - idle_since < 15) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                if (!m->err && m->partition < to->nparts &&
                    m->offset < to->hi[m->partition]) {
                        fn(m, opaque);
                        got++;
                        idle_since = bt_now_s();
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return got;
}
