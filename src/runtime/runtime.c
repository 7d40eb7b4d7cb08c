/*
 * The stage runtime (see runtime.h): batches records from the consumer, hands them to
 * the stage, flushes the stage's outputs, commits offsets, and serves rebalances and
 * shutdown so that no stage writes that loop again.  What a stage does with a record
 * is not this file's business.
 */
#include "runtime/runtime.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/fatal.h"

#define SL_RT_FLUSH_TIMEOUT_MS 60000
/* Longest poll for more records while a deferred batch waits for the next process(). */
#define SL_RT_DEFERRED_WAIT_MS 5
/* Batches whose outputs may still be in flight while the next one is processed. */
#define SL_RT_INFLIGHT 4

/* A processed batch waiting for its outputs to be delivered before its offsets are
 * committed.  Outputs carry a pointer to it as their message opaque. */
typedef struct sl_rt_batch_s {
        rd_kafka_topic_partition_list_t *offsets;
        long outstanding; /* outputs enqueued and not yet reported */
        size_t failed;
        char errstr[256];
        size_t records;
        double t0;
        bool deferred; /* sl_runtime_defer() and not yet sl_runtime_deferred_done() */
        int stage_err; /* the error sl_runtime_deferred_done() was given */
        /* held offsets released with this batch: index into parts, offset */
        struct sl_rt_release_s {
                size_t part;
                int64_t offset;
        } *releases;
        size_t nreleases, releases_cap;
} sl_rt_batch_t;

struct sl_runtime_s {
        const sl_conf_t *conf;
        const sl_stage_t *stage;
        rd_kafka_t *consumer;
        rd_kafka_queue_t *queue;
        rd_kafka_t *producer;
        sl_http_t *http;

        rd_kafka_message_t **msgs; /* the batch in hand */
        size_t pending;
        unsigned batch_gen; /* bumped whenever the batch in hand is finished */

        atomic_int stop;
        int fatal; /* SL_OK or the error that stops the loop */
        bool closed;

        /* Processed batches in order, oldest first; cur is the one being processed. */
        sl_rt_batch_t ring[SL_RT_INFLIGHT + 1];
        size_t head, count;
        sl_rt_batch_t *cur;
        /* sl_runtime_commit_before() marks of the batch being processed */
        struct {
                const rd_kafka_topic_t *rkt;
                int32_t partition;
                int64_t offset;
        } *stops;
        size_t nstops, stops_cap;

        /* Per partition a stage held an offset of (sl_runtime_hold_offset): the held
         * offsets in ascending order (a queue: the front is the floor), and what
         * completed batches processed and what was committed. */
        struct sl_rt_part_s {
                char topic[256];
                int32_t partition;
                int64_t done, committed;
                int64_t *held;       /* held[head..cnt), ascending */
                unsigned char *gone; /* released and its batch committed */
                size_t head, cnt, cap;
        } *parts;
        size_t nparts, parts_cap;

        /* Delivery failures of untracked outputs (produced outside a batch). */
        size_t dr_failed;
        char dr_errstr[256];

        struct sl_rt_topic_s {
                char name[256];
                rd_kafka_topic_t *rkt;
        } *topics; /* output topic handles, looked up by name */
        size_t topic_cnt, topic_cap;

        sl_metric_t *m_batches, *m_records, *m_batch_seconds, *m_commit_errors,
                *m_assigned, *m_rebalances, *m_produce_errors;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
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

/* The highest offset + 1 of every partition in the batch, or the lowest stop
 * (sl_runtime_commit_before) of that partition. */
static rd_kafka_topic_partition_list_t *batch_offsets(sl_runtime_t *rt,
                                                      rd_kafka_message_t **msgs, size_t cnt)
{
        rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);

        for (size_t i = 0; i < cnt; i++) {
                const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
                rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                        offsets, topic, msgs[i]->partition);
                if (!tp)
                        tp = rd_kafka_topic_partition_list_add(offsets, topic,
                                                               msgs[i]->partition);
                if (msgs[i]->offset + 1 > tp->offset)
                        tp->offset = msgs[i]->offset + 1;
        }
        for (size_t k = 0; k < rt->nstops; k++) {
                rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                        offsets, rd_kafka_topic_name(rt->stops[k].rkt), rt->stops[k].partition);
                if (tp && rt->stops[k].offset < tp->offset)
                        tp->offset = rt->stops[k].offset;
        }
        return offsets;
}

void sl_runtime_commit_before(sl_runtime_t *rt, const rd_kafka_message_t *m)
{
        if (!(rt->stops = sl_array_grow(rt->stops, &rt->stops_cap, rt->nstops + 1,
                                        sizeof(*rt->stops), 16)))
                sl_oom("runtime: commit stops");
        rt->stops[rt->nstops].rkt = m->rkt;
        rt->stops[rt->nstops].partition = m->partition;
        rt->stops[rt->nstops].offset = m->offset;
        rt->nstops++;
}

static void commit_offsets(sl_runtime_t *rt, rd_kafka_topic_partition_list_t *offsets)
{
        rd_kafka_resp_err_t err = rd_kafka_commit(rt->consumer, offsets, 0 /* sync */);
        if (err) {
                /* Not fatal: the records are re-read by whoever owns the partition
                 * next, and every effect is idempotent. */
                sl_metrics_add(rt->m_commit_errors, 1);
                sl_log_warn("offset commit failed (%d partitions): %s", offsets->cnt,
                            rd_kafka_err2str(err));
        }
}

static bool has_deferred(const sl_runtime_t *rt)
{
        for (size_t i = 0; i < rt->count; i++)
                if (rt->ring[(rt->head + i) % (SL_RT_INFLIGHT + 1)].deferred)
                        return true;
        return false;
}

/* Have the stage complete its deferred batches (before waiting on any of them). */
static void finish_deferred(sl_runtime_t *rt)
{
        if (!has_deferred(rt) || rt->fatal != SL_OK)
                return;
        int err = rt->stage->finish ? rt->stage->finish(rt->stage->opaque, rt) : SL_ERR_STATE;
        if (err != SL_OK) {
                sl_log_error("stage could not finish its deferred batches (%s): stopping "
                             "without committing; the records will be re-read",
                             sl_err2str(err));
                rt->fatal = err;
        }
}

/* The index of (topic, partition) in rt->parts, added when new; (size_t)-1 when out of
 * memory. */
static size_t part_index(sl_runtime_t *rt, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < rt->nparts; i++)
                if (rt->parts[i].partition == partition &&
                    strcmp(rt->parts[i].topic, topic) == 0)
                        return i;
        void *p = sl_array_grow(rt->parts, &rt->parts_cap, rt->nparts + 1, sizeof(*rt->parts),
                                16);
        if (!p)
                return (size_t)-1;
        rt->parts = p;
        struct sl_rt_part_s *pt = &rt->parts[rt->nparts];
        memset(pt, 0, sizeof(*pt));
        snprintf(pt->topic, sizeof(pt->topic), "%s", topic);
        pt->partition = partition;
        pt->done = pt->committed = -1;
        return rt->nparts++;
}

/* The partition's floor: its lowest offset still held, INT64_MAX when none. */
static int64_t floor_of(struct sl_rt_part_s *pt)
{
        while (pt->head < pt->cnt && pt->gone[pt->head])
                pt->head++;
        return pt->head < pt->cnt ? pt->held[pt->head] : INT64_MAX;
}

/* Mark offset released in pt (the first not yet gone equal to it, by binary search). */
static void floor_drop(struct sl_rt_part_s *pt, int64_t offset)
{
        size_t lo = pt->head, hi = pt->cnt;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pt->held[mid] < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < pt->cnt && pt->held[lo] == offset; lo++)
                if (!pt->gone[lo]) {
                        pt->gone[lo] = 1;
                        return;
                }
}

/*
 * Commit batch b: each partition up to what the batches so far processed, but never at
 * or past an offset a stage still holds.  Floors released by b go first, so a
 * partition held back earlier moves on now (even when b has no record of it).
 */
static void commit_batch(sl_runtime_t *rt, sl_rt_batch_t *b)
{
        rd_kafka_topic_partition_list_t *commit;
        size_t n = 0;

        if (!rt->nparts) {
                /* The common case: nothing held, ever. */
                if (b->offsets->cnt)
                        commit_offsets(rt, b->offsets);
                return;
        }
        for (int i = 0; i < b->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &b->offsets->elems[i];
                size_t k = part_index(rt, tp->topic, tp->partition);
                if (k != (size_t)-1 && tp->offset > rt->parts[k].done)
                        rt->parts[k].done = tp->offset;
        }
        for (size_t i = 0; i < b->nreleases; i++)
                if (b->releases[i].part < rt->nparts)
                        floor_drop(&rt->parts[b->releases[i].part], b->releases[i].offset);
        b->nreleases = 0;
        commit = rd_kafka_topic_partition_list_new((int)rt->nparts);
        for (size_t i = 0; i < rt->nparts; i++) {
                struct sl_rt_part_s *pt = &rt->parts[i];
                int64_t lo = floor_of(pt);
                int64_t to = pt->done < lo ? pt->done : lo;
                if (to > pt->committed) {
                        rd_kafka_topic_partition_list_add(commit, pt->topic, pt->partition)
                                ->offset = to;
                        pt->committed = to;
                        n++;
                }
                if (pt->head == pt->cnt)
                        pt->head = pt->cnt = 0; /* nothing held: reuse from the start */
        }
        if (n)
                commit_offsets(rt, commit);
        rd_kafka_topic_partition_list_destroy(commit);
}

/* Forget held offsets and progress of revoked partitions: their next owner starts at
 * what was committed, which is below any floor.  Called after the drain, so no batch
 * in flight refers to a part by index. */
static void forget_partitions(sl_runtime_t *rt, const rd_kafka_topic_partition_list_t *parts)
{
        for (int k = 0; k < parts->cnt; k++)
                for (size_t i = 0; i < rt->nparts;)
                        if (rt->parts[i].partition == parts->elems[k].partition &&
                            strcmp(rt->parts[i].topic, parts->elems[k].topic) == 0) {
                                free(rt->parts[i].held);
                                free(rt->parts[i].gone);
                                rt->parts[i] = rt->parts[--rt->nparts];
                        } else {
                                i++;
                        }
}

void sl_runtime_hold_offset(sl_runtime_t *rt, const rd_kafka_message_t *m)
{
        size_t k = part_index(rt, rd_kafka_topic_name(m->rkt), m->partition), at;
        struct sl_rt_part_s *pt;

        if (k == (size_t)-1)
                sl_bug("offset held on %s [%d], which is not assigned",
                       rd_kafka_topic_name(m->rkt), (int)m->partition);
        pt = &rt->parts[k];
        if (pt->cnt == pt->cap && pt->head > 0) {
                /* Compact: what is before head is gone. */
                memmove(pt->held, pt->held + pt->head, (pt->cnt - pt->head) * sizeof(*pt->held));
                memmove(pt->gone, pt->gone + pt->head, pt->cnt - pt->head);
                pt->cnt -= pt->head;
                pt->head = 0;
        }
        if (pt->cnt == pt->cap) {
                size_t cap = pt->cap, gone_cap = pt->cap;
                if (!(pt->held = sl_array_grow(pt->held, &cap, pt->cnt + 1,
                                               sizeof(*pt->held), 256)) ||
                    !(pt->gone = sl_array_grow(pt->gone, &gone_cap, pt->cnt + 1, 1, 256)))
                        sl_oom("runtime: held offsets");
                pt->cap = cap;
        }
        /* Held in offset order as records are processed; keep it sorted regardless. */
        for (at = pt->cnt; at > pt->head && pt->held[at - 1] > m->offset; at--) {
                pt->held[at] = pt->held[at - 1];
                pt->gone[at] = pt->gone[at - 1];
        }
        pt->held[at] = m->offset;
        pt->gone[at] = 0;
        pt->cnt++;
}

void sl_runtime_release_offset(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                               int32_t partition, int64_t offset)
{
        size_t k = part_index(rt, topic, partition);

        if (!b)
                b = rt->cur;
        if (!b || k == (size_t)-1)
                return;
        if (!(b->releases = sl_array_grow(b->releases, &b->releases_cap, b->nreleases + 1,
                                          sizeof(*b->releases), 256)))
                sl_oom("runtime: released offsets");
        b->releases[b->nreleases].part = k;
        b->releases[b->nreleases].offset = offset;
        b->nreleases++;
}

/* Commit, in order, every processed batch whose outputs were all delivered; with
 * wait, first wait (serving delivery reports) until every batch is delivered.  A
 * batch with a failed output is never committed: the runtime stops and its records
 * are re-read after a restart. */
static int complete_batches(sl_runtime_t *rt, bool wait)
{
        int64_t deadline = now_ms() + SL_RT_FLUSH_TIMEOUT_MS;

        rd_kafka_poll(rt->producer, 0);
        while (rt->count) {
                sl_rt_batch_t *b = &rt->ring[rt->head];
                if (b->outstanding > 0) {
                        if (!wait)
                                break;
                        if (now_ms() > deadline) {
                                sl_log_error("outputs not delivered within %d ms (%ld in "
                                             "flight)",
                                             SL_RT_FLUSH_TIMEOUT_MS, b->outstanding);
                                rt->fatal = SL_ERR_TIMEOUT;
                                return rt->fatal;
                        }
                        rd_kafka_poll(rt->producer, 10);
                        continue;
                }
                if (b->stage_err != SL_OK) {
                        sl_log_error("the stage failed a deferred batch (%s); stopping "
                                     "without committing, the records will be re-read",
                                     sl_err2str(b->stage_err));
                        rt->fatal = b->stage_err;
                        return rt->fatal;
                }
                if (b->failed || rt->dr_failed) {
                        size_t n = b->failed + rt->dr_failed;
                        sl_metrics_add(rt->m_produce_errors, n);
                        sl_log_error("%zu outputs failed to deliver, first: %s; stopping "
                                     "without committing, the records will be re-read",
                                     n, b->failed ? b->errstr : rt->dr_errstr);
                        rt->fatal = SL_ERR_KAFKA;
                        return rt->fatal;
                }
                if (rt->fatal == SL_OK) {
                        commit_batch(rt, b);
                        sl_metrics_add(rt->m_batches, 1);
                        sl_metrics_add(rt->m_records, b->records);
                        sl_metrics_observe(rt->m_batch_seconds, now_s() - b->t0);
                }
                rd_kafka_topic_partition_list_destroy(b->offsets);
                b->offsets = NULL;
                rt->head = (rt->head + 1) % (SL_RT_INFLIGHT + 1);
                rt->count--;
        }
        return rt->fatal;
}

/* Drop every processed batch without committing it (after a fatal error). */
static void discard_batches(sl_runtime_t *rt)
{
        while (rt->count) {
                sl_rt_batch_t *b = &rt->ring[rt->head];
                rd_kafka_topic_partition_list_destroy(b->offsets);
                b->offsets = NULL;
                rt->head = (rt->head + 1) % (SL_RT_INFLIGHT + 1);
                rt->count--;
        }
}

/*
 * Process the batch in hand and queue it for its commit.  Its outputs are delivered
 * while the next batch is processed (up to SL_RT_INFLIGHT batches in flight), and its
 * offsets are committed once they all were: per batch, Postgres writes (in process),
 * then outputs delivered, then offsets committed, without the stage idling on each
 * flush.
 */
static int finish_batch(sl_runtime_t *rt)
{
        size_t cnt = rt->pending;
        int err = SL_OK;

        if (!cnt && !(rt->stage->wait_ms && rt->stage->wait_ms(rt->stage->opaque) <= 0)) {
                /* Idle: commit what was delivered meanwhile, notice what failed. */
                if (rt->count && rt->fatal == SL_OK)
                        complete_batches(rt, false);
                return SL_OK;
        }
        /* With no records, a batch of none: the stage's timer is due (wait_ms). */
        complete_batches(rt, false);
        while (rt->fatal == SL_OK && rt->count == SL_RT_INFLIGHT) {
                /* The oldest batch is still in flight: wait for it alone. */
                if (rt->ring[rt->head].deferred)
                        finish_deferred(rt);
                rd_kafka_poll(rt->producer, 10);
                complete_batches(rt, false);
        }
        if (rt->fatal == SL_OK) {
                sl_rt_batch_t *b = &rt->ring[(rt->head + rt->count) % (SL_RT_INFLIGHT + 1)];
                struct sl_rt_release_s *releases = b->releases;
                size_t releases_cap = b->releases_cap;
                memset(b, 0, sizeof(*b));
                b->releases = releases; /* the buffer is kept from batch to batch */
                b->releases_cap = releases_cap;
                b->t0 = now_s();
                b->records = cnt;
                rt->cur = b;
                rt->nstops = 0;
                err = rt->stage->process(rt->stage->opaque, rt, rt->msgs, cnt);
                rt->cur = NULL;
                if (err == SL_OK) {
                        b->offsets = batch_offsets(rt, rt->msgs, cnt);
                        rt->count++;
                        sl_log_debug("batch of %zu processed in %.1f ms, %ld outputs", cnt,
                                     (now_s() - b->t0) * 1e3, b->outstanding);
                } else {
                        sl_log_error("batch of %zu records failed (%s): stopping without "
                                     "committing; the records will be re-read",
                                     cnt, sl_err2str(err));
                        rt->fatal = err;
                }
        }
        for (size_t i = 0; i < cnt; i++)
                rd_kafka_message_destroy(rt->msgs[i]);
        rt->pending = 0;
        rt->batch_gen++;
        if (rt->fatal == SL_OK)
                complete_batches(rt, false);
        return err;
}

/* Finish the batch in hand and wait until every processed batch is committed. */
static int drain(sl_runtime_t *rt)
{
        finish_batch(rt);
        finish_deferred(rt);
        if (rt->fatal == SL_OK)
                complete_batches(rt, true);
        if (rt->fatal != SL_OK)
                discard_batches(rt);
        return rt->fatal;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        sl_runtime_t *rt = opaque;
        const sl_stage_t *stage = rt->stage;
        bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        sl_metrics_add(rt->m_rebalances, 1);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                sl_log_info("assigned %d partitions", parts->cnt);
                if (stage->on_assign && rt->fatal == SL_OK) {
                        int serr = stage->on_assign(stage->opaque, rt, parts);
                        if (serr != SL_OK) {
                                sl_log_error("stage could not take the assignment: %s",
                                             sl_err2str(serr));
                                rt->fatal = serr;
                        }
                }
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, parts);
                sl_metrics_set(rt->m_assigned, parts->cnt);
        } else {
                sl_log_info("revoking %d partitions", parts->cnt);
                /* Finish the batch in hand and commit everything processed first:
                 * those records are from these partitions and must be committed
                 * before another worker takes them. */
                drain(rt);
                if (stage->on_revoke)
                        stage->on_revoke(stage->opaque, rt, parts);
                forget_partitions(rt, parts);
                if (cooperative)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, NULL);
                sl_metrics_set(rt->m_assigned, 0);
        }
        if (error) {
                sl_log_error("rebalance: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (aerr) {
                sl_log_error("rebalance: %s", rd_kafka_err2str(aerr));
        }
}

static bool runtime_healthy(void *opaque)
{
        sl_runtime_t *rt = opaque;
        if (rt->fatal != SL_OK)
                return false;
        return rt->stage->healthy ? rt->stage->healthy(rt->stage->opaque) : true;
}

static void register_metrics(sl_runtime_t *rt)
{
        char name[128];
        const char *s = rt->stage->name;

#define SL_RT_NAME(suffix) (snprintf(name, sizeof(name), "sluice_%s_%s", s, suffix), name)
        rt->m_batches = sl_metrics_counter(SL_RT_NAME("batches_total"), NULL,
                                           "Batches processed and committed.");
        rt->m_records = sl_metrics_counter(SL_RT_NAME("records_total"), NULL,
                                           "Input records processed and committed.");
        static const double bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,   1,    2.5,   5,    10};
        rt->m_batch_seconds = sl_metrics_histogram(
                SL_RT_NAME("batch_duration_seconds"), NULL,
                "Time to process, flush and commit one batch.", bounds,
                sizeof(bounds) / sizeof(bounds[0]));
        rt->m_commit_errors = sl_metrics_counter(SL_RT_NAME("commit_errors_total"), NULL,
                                                 "Offset commits that failed.");
        rt->m_produce_errors = sl_metrics_counter(SL_RT_NAME("produce_errors_total"), NULL,
                                                  "Output records that failed to deliver.");
        rt->m_assigned = sl_metrics_gauge(SL_RT_NAME("assigned_partitions"), NULL,
                                          "Input partitions assigned to this worker.");
        rt->m_rebalances = sl_metrics_counter(SL_RT_NAME("rebalances_total"), NULL,
                                              "Rebalance events (assign and revoke).");
#undef SL_RT_NAME
}

sl_runtime_t *sl_runtime_new(const sl_conf_t *conf, const sl_stage_t *stage, char *errstr,
                             size_t errstr_size)
{
        sl_runtime_t *rt = calloc(1, sizeof(*rt));
        rd_kafka_topic_partition_list_t *subs;
        rd_kafka_resp_err_t err;
        size_t n = 0;

        if (!rt) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rt->conf = conf;
        rt->stage = stage;
        atomic_init(&rt->stop, 0);
        register_metrics(rt);

        rt->msgs = calloc(stage->batch_size ? stage->batch_size : 1, sizeof(*rt->msgs));
        if (!rt->msgs) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_alloc;
        }
        rt->producer = sl_kafka_producer_new(conf, dr_msg_cb, rt, errstr, errstr_size);
        if (!rt->producer)
                goto fail_producer;
        rt->consumer = sl_kafka_consumer_new(conf, stage->group_id, rebalance_cb, rt, errstr,
                                             errstr_size);
        if (!rt->consumer)
                goto fail_consumer;
        rt->queue = rd_kafka_queue_get_consumer(rt->consumer);

        while (stage->topics[n])
                n++;
        subs = rd_kafka_topic_partition_list_new((int)n);
        for (size_t i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(subs, stage->topics[i],
                                                  RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rt->consumer, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        if (err) {
                snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
                goto fail_subscribe;
        }

        rt->http = sl_http_new(sl_conf_get(conf, "http.bind"),
                               (int)sl_conf_get_int(conf, "http.port"), runtime_healthy, rt,
                               errstr, errstr_size);
        if (!rt->http)
                goto fail_http;
        return rt;

fail_http:
fail_subscribe:
        rd_kafka_queue_destroy(rt->queue);
        rd_kafka_consumer_close(rt->consumer);
        rd_kafka_destroy(rt->consumer);
fail_consumer:
        rd_kafka_destroy(rt->producer);
fail_producer:
        free(rt->msgs);
fail_alloc:
        free(rt);
        return NULL;
}

static void close_consumer(sl_runtime_t *rt)
{
        if (rt->closed)
                return;
        rt->closed = true;
        rd_kafka_queue_destroy(rt->queue);
        rt->queue = NULL;
        /* Triggers the revoke callback (on_revoke) for whatever is still assigned. */
        rd_kafka_consumer_close(rt->consumer);
}

void sl_runtime_destroy(sl_runtime_t *rt)
{
        if (!rt)
                return;
        close_consumer(rt);
        rd_kafka_flush(rt->producer, 10000);
        discard_batches(rt);
        for (size_t i = 0; i < rt->topic_cnt; i++)
                rd_kafka_topic_destroy(rt->topics[i].rkt);
        free(rt->topics);
        rd_kafka_destroy(rt->consumer);
        rd_kafka_destroy(rt->producer);
        sl_http_destroy(rt->http);
        free(rt->msgs);
        free(rt->stops);
        for (size_t i = 0; i < rt->nparts; i++) {
                free(rt->parts[i].held);
                free(rt->parts[i].gone);
        }
        free(rt->parts);
        for (size_t i = 0; i < SL_RT_INFLIGHT + 1; i++)
                free(rt->ring[i].releases);
        free(rt);
}

int sl_runtime_run(sl_runtime_t *rt)
{
        const sl_stage_t *stage = rt->stage;
        size_t cap = stage->batch_size ? stage->batch_size : 1;

        sl_log_info("%s running: group %s, batches of up to %zu records / %d ms", stage->name,
                    stage->group_id, cap, stage->batch_ms);
        while (!atomic_load(&rt->stop) && rt->fatal == SL_OK) {
                int64_t wait_ms = stage->wait_ms ? stage->wait_ms(stage->opaque) : INT64_MAX;
                int64_t deadline = now_ms() + (wait_ms < stage->batch_ms
                                                       ? (wait_ms > 0 ? wait_ms : 0)
                                                       : stage->batch_ms);

                while (rt->pending < cap && !atomic_load(&rt->stop) && rt->fatal == SL_OK) {
                        int64_t wait = deadline - now_ms();
                        size_t before = rt->pending;
                        unsigned gen = rt->batch_gen;
                        ssize_t got;

                        bool deferred = has_deferred(rt);

                        if (wait < 0)
                                wait = 0;
                        /* A deferred batch waits for this one: do not idle long on it. */
                        if (deferred && wait > SL_RT_DEFERRED_WAIT_MS)
                                wait = SL_RT_DEFERRED_WAIT_MS;
                        got = rd_kafka_consume_batch_queue(rt->queue, (int)wait,
                                                           rt->msgs + before, cap - before);
                        if (got < 0) {
                                sl_log_error("consume: %s",
                                             rd_kafka_err2str(rd_kafka_last_error()));
                                rt->fatal = SL_ERR_KAFKA;
                                break;
                        }
                        /* A rebalance inside the call may have finished the batch in
                         * hand: move what arrived to the front. */
                        if (gen != rt->batch_gen && got > 0)
                                memmove(rt->msgs, rt->msgs + before,
                                        (size_t)got * sizeof(*rt->msgs));
                        for (ssize_t i = 0; i < got; i++) {
                                rd_kafka_message_t *m = rt->msgs[rt->pending];
                                if (m->err) {
                                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                                sl_log_warn("consumer: %s",
                                                            rd_kafka_message_errstr(m));
                                        rd_kafka_message_destroy(m);
                                        memmove(rt->msgs + rt->pending,
                                                rt->msgs + rt->pending + 1,
                                                (size_t)(got - i - 1) * sizeof(*rt->msgs));
                                        continue;
                                }
                                rt->pending++;
                        }
                        if (wait == 0 || (deferred && got == 0))
                                break;
                }
                if (!rt->pending)
                        finish_deferred(rt); /* idle: nothing to overlap it with */
                finish_batch(rt);
                if (stage->tick && rt->fatal == SL_OK)
                        stage->tick(stage->opaque, rt);
        }
        /* Finish what is in hand (nothing after a fatal error), then leave the group. */
        drain(rt);
        close_consumer(rt);
        if (rt->fatal != SL_OK) {
                discard_batches(rt);
                return rt->fatal;
        }
        sl_log_info("%s stopped cleanly", stage->name);
        return SL_OK;
}

void sl_runtime_stop(sl_runtime_t *rt)
{
        atomic_store(&rt->stop, 1);
}

static sl_runtime_t *signal_rt;

static void on_signal(int sig)
{
        (void)sig;
        if (signal_rt)
                sl_runtime_stop(signal_rt);
}

void sl_runtime_handle_signals(sl_runtime_t *rt)
{
        struct sigaction sa;

        signal_rt = rt;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static rd_kafka_topic_t *topic_handle(sl_runtime_t *rt, const char *name)
{
        for (size_t i = 0; i < rt->topic_cnt; i++)
                if (strcmp(rt->topics[i].name, name) == 0)
                        return rt->topics[i].rkt;
        struct sl_rt_topic_s *t = sl_array_grow(rt->topics, &rt->topic_cap, rt->topic_cnt + 1,
                                                sizeof(*t), 8);
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

int sl_runtime_produce(sl_runtime_t *rt, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
        return sl_runtime_produce_partition(rt, topic, RD_KAFKA_PARTITION_UA, key, key_len,
                                            value, value_len, hdrs);
}

static int produce(sl_runtime_t *rt, sl_rt_batch_t *b, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value, size_t value_len,
                   rd_kafka_headers_t *hdrs);

int sl_runtime_produce_partition(sl_runtime_t *rt, const char *topic, int32_t partition,
                                 const void *key, size_t key_len, const void *value,
                                 size_t value_len, rd_kafka_headers_t *hdrs)
{
        return produce(rt, rt->cur, topic, partition, key, key_len, value, value_len, hdrs);
}

int sl_runtime_produce_to(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                          const void *key, size_t key_len, const void *value,
                          size_t value_len, rd_kafka_headers_t *hdrs)
{
        return produce(rt, b, topic, RD_KAFKA_PARTITION_UA, key, key_len, value, value_len,
                       hdrs);
}

sl_runtime_batch_t *sl_runtime_defer(sl_runtime_t *rt)
{
        if (!rt->cur || rt->cur->deferred)
                return rt->cur;
        rt->cur->deferred = true;
        rt->cur->outstanding++; /* released by sl_runtime_deferred_done() */
        return rt->cur;
}

void sl_runtime_deferred_done(sl_runtime_t *rt, sl_runtime_batch_t *b, int err)
{
        (void)rt;
        if (!b || !b->deferred)
                return;
        b->deferred = false;
        b->outstanding--;
        if (err != SL_OK && b->stage_err == SL_OK)
                b->stage_err = err;
}

static int produce(sl_runtime_t *rt, sl_rt_batch_t *b, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value, size_t value_len,
                   rd_kafka_headers_t *hdrs)
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
                err = rd_kafka_producev(rt->producer, RD_KAFKA_V_RKT(rkt),
                                        RD_KAFKA_V_PARTITION(partition),
                                        RD_KAFKA_V_KEY(key, key_len),
                                        RD_KAFKA_V_VALUE((void *)value, value_len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADERS(hdrs),
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

rd_kafka_t *sl_runtime_producer(sl_runtime_t *rt)
{
        return rt->producer;
}

rd_kafka_t *sl_runtime_consumer(sl_runtime_t *rt)
{
        return rt->consumer;
}
