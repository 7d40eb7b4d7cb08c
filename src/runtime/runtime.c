/*
 * The stage runtime (see runtime.h): batches records from the consumer, hands them to
 * the stage, flushes the stage's outputs, commits offsets, and serves rebalances and
 * shutdown so that no stage writes that loop again.  What a stage does with a record
 * is not this file's business.
 */
#include "runtime/runtime.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "limits/backoff.h"
#include "log/log.h"
#include "runtime/heartbeat.h"
#include "runtime/runtime_int.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/clock.h"
#include "util/fatal.h"

#define SL_RT_FLUSH_TIMEOUT_MS 60000
/* Longest poll for more records while a deferred batch waits for the next process(). */
#define SL_RT_DEFERRED_WAIT_MS 5

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sl_runtime_commit_before(sl_runtime_t *rt, const rd_kafka_message_t *m)
{
        if (!(rt->stops = sl_array_grow(rt->stops, &rt->stops_cap, rt->nstops + 1,
                                        sizeof(*rt->stops), 16)))
                sl_oom("runtime: commit stops");
        rt->stops[rt->nstops].topic = rd_kafka_topic_name(m->rkt);
        rt->stops[rt->nstops].partition = m->partition;
        rt->stops[rt->nstops].offset = m->offset;
        rt->nstops++;
}

static void commit_offsets(sl_runtime_t *rt, rd_kafka_topic_partition_list_t *offsets)
{
        if (rt->eos) {
                /* Committed with the transaction in hand, or not at all. */
                sl__runtime_txn_offsets(rt, offsets);
                return;
        }
        rd_kafka_resp_err_t err = rd_kafka_commit(rt->consumer, offsets, 0 /* sync */);
        if (err) {
                /* Not fatal: the records are re-read by whoever owns the partition
                 * next, and every effect is idempotent. */
                sl_metrics_add(rt->m_commit_errors, 1);
                sl_log_warn("offset commit failed (%d partitions): %s", offsets->cnt,
                            rd_kafka_err2str(err));
        }
}

/* Have the stage complete its deferred batches (before waiting on any of them). */
static void finish_deferred(sl_runtime_t *rt)
{
        if (!sl_rt_ring_has_deferred(&rt->ring) || rt->fatal != SL_OK)
                return;
        int err =
            rt->stage->finish ? rt->stage->finish(rt->stage->opaque, rt) : SL_ERR_STATE;
        if (err != SL_OK) {
                sl_log_error("stage could not finish its deferred batches (%s): stopping "
                             "without committing; the records will be re-read",
                             sl_err2str(err));
                rt->fatal = err;
        }
}

/*
 * Commit batch b: each partition up to what the batches so far processed, but never at
 * or past an offset a stage still holds.  Floors released by b go first, so a
 * partition held back earlier moves on now (even when b has no record of it).
 */
static void commit_batch(sl_runtime_t *rt, sl_rt_batch_t *b)
{
        sl_floors_t *fl = &rt->floors;
        rd_kafka_topic_partition_list_t *commit;

        if (!fl->nparts) {
                /* The common case: nothing held, ever. */
                if (b->offsets->cnt)
                        commit_offsets(rt, b->offsets);
                return;
        }
        for (int i = 0; i < b->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &b->offsets->elems[i];
                size_t k = sl_floors_part(fl, tp->topic, tp->partition);
                if (k != SL_FLOORS_NONE)
                        sl_floors_done(fl, k, tp->offset);
        }
        for (size_t i = 0; i < b->nreleases; i++)
                if (b->releases[i].part < fl->nparts)
                        sl_floors_drop(fl, b->releases[i].part, b->releases[i].offset);
        b->nreleases = 0;
        commit = rd_kafka_topic_partition_list_new((int)fl->nparts);
        for (size_t k = 0; k < fl->nparts; k++) {
                int64_t to = sl_floors_take_commit(fl, k);
                if (to >= 0)
                        rd_kafka_topic_partition_list_add(commit, fl->parts[k].topic,
                                                          fl->parts[k].partition)
                            ->offset = to;
        }
        if (commit->cnt)
                commit_offsets(rt, commit);
        rd_kafka_topic_partition_list_destroy(commit);
}

/* Forget held offsets and progress of revoked partitions: their next owner starts at
 * what was committed, which is below any floor.  Called after the drain, so no batch
 * in flight refers to a part by index. */
void sl__rt_forget_partitions(sl_runtime_t *rt,
                              const rd_kafka_topic_partition_list_t *parts)
{
        for (int k = 0; k < parts->cnt; k++)
                sl_floors_forget(&rt->floors, parts->elems[k].topic,
                                 parts->elems[k].partition);
}

void sl_runtime_hold_offset(sl_runtime_t *rt, const rd_kafka_message_t *m)
{
        size_t k = sl_floors_part(&rt->floors, rd_kafka_topic_name(m->rkt), m->partition);

        if (k == SL_FLOORS_NONE)
                sl_bug("offset held on %s [%d], which is not assigned",
                       rd_kafka_topic_name(m->rkt), (int)m->partition);
        if (sl_floors_hold(&rt->floors, k, m->offset) != SL_OK)
                sl_oom("runtime: held offsets");
        /* Remembered so that a process() retried after a failure holds it once. */
        if (!(rt->holds = sl_array_grow(rt->holds, &rt->holds_cap, rt->nholds + 1,
                                        sizeof(*rt->holds), 256)))
                sl_oom("runtime: held offsets of the batch");
        rt->holds[rt->nholds].part = k;
        rt->holds[rt->nholds].offset = m->offset;
        rt->nholds++;
}

void sl_runtime_release_offset(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                               int32_t partition, int64_t offset)
{
        size_t k = sl_floors_find(&rt->floors, topic, partition);

        if (!b)
                b = rt->cur;
        if (!b || k == SL_FLOORS_NONE)
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
        int64_t deadline = sl_mono_ms() + SL_RT_FLUSH_TIMEOUT_MS;
        sl_rt_batch_t *b;

        rd_kafka_poll(rt->producer, 0);
        while ((b = sl_rt_ring_front(&rt->ring))) {
                if (b->outstanding > 0) {
                        if (!wait)
                                break;
                        if (sl_mono_ms() > deadline) {
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
                        /* Never retried, even when retriable: its records are gone and
                         * later batches were processed on top of it. */
                        sl_log_error("the stage failed a deferred batch (%s); stopping "
                                     "without committing, the records will be re-read",
                                     sl_err2str(b->stage_err));
                        rt->fatal = b->stage_err;
                        return rt->fatal;
                }
                if ((b->failed || rt->dr_failed) && rt->eos) {
                        /* The transaction is aborted instead of committed (and the
                         * runtime rewinds): nothing of it is seen. */
                        sl_metrics_add(rt->m_produce_errors, b->failed + rt->dr_failed);
                        sl_log_error("%zu outputs failed to deliver, first: %s; the "
                                     "transaction will be aborted",
                                     b->failed + rt->dr_failed,
                                     b->failed ? b->errstr : rt->dr_errstr);
                        rt->txn_doomed = true;
                        rt->dr_failed = 0;
                        sl_rt_ring_pop(&rt->ring);
                        continue;
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
                sl_rt_ring_pop(&rt->ring);
        }
        return rt->fatal;
}

/* Take back what a failed process() left in the runtime, so it can run again on the
 * same records: its commit_before marks, held offsets and releases.  Its outputs stay
 * (delivered, as after a restart), and b waits for them. */
static void undo_attempt(sl_runtime_t *rt, sl_rt_batch_t *b)
{
        rt->nstops = 0;
        for (size_t i = 0; i < rt->nholds; i++)
                sl_floors_drop(&rt->floors, rt->holds[i].part, rt->holds[i].offset);
        rt->nholds = 0;
        b->nreleases = 0;
}

/* exactly_once: before process() runs again on the same records, the outputs of the
 * failed call go with their transaction (aborted), so they are not seen twice.  False
 * when no new transaction could be begun. */
static bool retry_in_new_txn(sl_runtime_t *rt, sl_rt_batch_t *b)
{
        sl__runtime_txn_end(rt, false);
        /* The aborted outputs' reports are served; the batch starts over. */
        b->outstanding = 0;
        b->failed = 0;
        return rt->fatal == SL_OK && sl__runtime_txn_begin(rt) == SL_OK;
}

/* Wait ms before a retry, serving delivery reports; false when a stop was asked. */
bool sl__rt_backoff_wait(sl_runtime_t *rt, int64_t ms)
{
        int64_t until = sl_mono_ms() + ms;

        for (int64_t left = ms; left > 0 && !atomic_load(&rt->stop);
             left = until - sl_mono_ms())
                rd_kafka_poll(rt->producer, (int)(left < 100 ? left : 100));
        return !atomic_load(&rt->stop);
}

/*
 * Run process() on the batch in hand (b).  A retriable error (sl_err_retriable) runs
 * it again on the same records after an exponential backoff, as long as
 * runtime.retry.max.ms allows and no stop was asked; it is logged once, and /healthz
 * says unhealthy meanwhile.  Any other error, one of a process() that deferred the
 * batch, or one while an earlier deferred batch failed, is returned at once.
 */
static int process_batch(sl_runtime_t *rt, sl_rt_batch_t *b, size_t cnt)
{
        const sl_stage_t *stage = rt->stage;
        sl_backoff_t bo = {.initial_ms = rt->retry_backoff_ms,
                           .max_ms = rt->retry_backoff_max_ms,
                           .multiplier = 2,
                           .jitter = 0.2};
        int64_t t0 = sl_mono_ms();
        int err;

        for (int attempt = 1;; attempt++) {
                rt->nstops = 0;
                rt->nholds = 0;
                rt->cur = b;
                err = stage->process(stage->opaque, rt, rt->msgs, cnt);
                rt->cur = NULL;
                if (err == SL_OK) {
                        sl_heartbeat_batch(rt->hb, rt->msgs, cnt);
                        if (attempt > 1)
                                sl_log_info("batch of %zu records processed after %d "
                                            "retries",
                                            cnt, attempt - 1);
                        return SL_OK;
                }
                /* Not retried either when an earlier batch failed (the runtime
                 * stops on it anyway). */
                if (!sl_err_retriable(err) || b->deferred ||
                    sl_rt_ring_has_failed(&rt->ring)) {
                        sl_log_error("batch of %zu records failed (%s): stopping without "
                                     "committing; the records will be re-read",
                                     cnt, sl_err2str(err));
                        return err;
                }
                int64_t delay = sl_backoff_delay(&bo, attempt, (double)rand() / RAND_MAX);
                if (sl_mono_ms() + delay - t0 > rt->retry_max_ms) {
                        sl_log_error(
                            "batch of %zu records still failing (%s) after %d "
                            "attempts in %lld ms (runtime.retry.max.ms): stopping "
                            "without committing; the records will be re-read",
                            cnt, sl_err2str(err), attempt,
                            (long long)(sl_mono_ms() - t0));
                        return err;
                }
                if (attempt == 1)
                        sl_log_warn(
                            "batch of %zu records failed (%s, retriable): retrying "
                            "with backoff for up to %lld ms",
                            cnt, sl_err2str(err), (long long)rt->retry_max_ms);
                atomic_store(&rt->health, false);
                sl_metrics_add(rt->m_retries, 1);
                undo_attempt(rt, b);
                if (rt->eos && !retry_in_new_txn(rt, b))
                        return rt->fatal != SL_OK ? rt->fatal : err;
                if (!sl__rt_backoff_wait(rt, delay)) {
                        sl_log_error("stop asked while retrying a batch of %zu records "
                                     "(%s): stopping without committing it",
                                     cnt, sl_err2str(err));
                        return err;
                }
        }
}

/* exactly_once: the batch just processed is the transaction's: its deferred work
 * finished, its outputs delivered, its offsets committed with it (or it is aborted). */
static void txn_commit_batch(sl_runtime_t *rt)
{
        finish_deferred(rt);
        if (rt->fatal == SL_OK)
                complete_batches(rt, true);
        sl__runtime_txn_end(rt, rt->fatal == SL_OK);
        if (rt->fatal != SL_OK)
                sl_rt_ring_discard(&rt->ring);
}

/* exactly_once: run a stage callback that may produce inside a transaction of its own,
 * committed after it (aborted when discard or when it failed). */
int sl__rt_txn_call(sl_runtime_t *rt, bool discard,
                    int (*cb)(void *, sl_runtime_t *,
                              const rd_kafka_topic_partition_list_t *),
                    const rd_kafka_topic_partition_list_t *parts)
{
        int err;

        if (rt->eos && sl__runtime_txn_begin(rt) != SL_OK)
                return rt->fatal;
        err = cb(rt->stage->opaque, rt, parts);
        sl__runtime_txn_end(rt, err == SL_OK && !discard);
        return err;
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
                if (rt->ring.count && rt->fatal == SL_OK)
                        complete_batches(rt, false);
                return SL_OK;
        }
        /* With no records, a batch of none: the stage's timer is due (wait_ms). */
        complete_batches(rt, false);
        while (rt->fatal == SL_OK && rt->ring.count == SL_RT_INFLIGHT) {
                /* The oldest batch is still in flight: wait for it alone. */
                if (sl_rt_ring_front(&rt->ring)->deferred)
                        finish_deferred(rt);
                rd_kafka_poll(rt->producer, 10);
                complete_batches(rt, false);
        }
        if (rt->fatal == SL_OK && rt->eos) {
                sl__runtime_txn_begin(rt);
                sl__runtime_txn_consumed(rt, rt->msgs, cnt);
        }
        sl_rt_batch_t *b = NULL;
        if (rt->fatal == SL_OK) {
                b = sl_rt_ring_claim(&rt->ring);
                b->t0 = now_s();
                b->records = cnt;
                err = process_batch(rt, b, cnt);
                if (err == SL_OK) {
                        b->offsets =
                            sl_rt_batch_offsets(rt->msgs, cnt, rt->stops, rt->nstops);
                        sl_rt_ring_push(&rt->ring);
                        sl_log_debug("batch of %zu processed in %.1f ms, %ld outputs",
                                     cnt, (now_s() - b->t0) * 1e3, b->outstanding);
                } else {
                        rt->fatal = err;
                }
        }
        if (b && err == SL_OK && rt->fatal == SL_OK && b->deferred && b->keep && cnt) {
                /* The stage reads them again when it completes the batch. */
                if (!(b->kept = malloc(cnt * sizeof(*b->kept))))
                        sl_oom("runtime: the records of a deferred batch");
                memcpy(b->kept, rt->msgs, cnt * sizeof(*b->kept));
                b->nkept = cnt;
        } else {
                for (size_t i = 0; i < cnt; i++)
                        rd_kafka_message_destroy(rt->msgs[i]);
        }
        rt->pending = 0;
        rt->batch_gen++;
        if (rt->eos)
                txn_commit_batch(rt);
        else if (rt->fatal == SL_OK)
                complete_batches(rt, false);
        return err;
}

/* Finish the batch in hand and wait until every processed batch is committed. */
int sl__rt_drain(sl_runtime_t *rt)
{
        finish_batch(rt);
        finish_deferred(rt);
        if (rt->fatal == SL_OK)
                complete_batches(rt, true);
        if (rt->fatal != SL_OK)
                sl_rt_ring_discard(&rt->ring);
        return rt->fatal;
}

/* On the runtime's thread: what /healthz answers until the next call. */
static void publish_health(sl_runtime_t *rt)
{
        bool ok = rt->fatal == SL_OK &&
                  (!rt->stage->healthy || rt->stage->healthy(rt->stage->opaque));
        atomic_store(&rt->health, ok);
}

/* On the HTTP server's threads: reads only what publish_health() stored. */
static bool runtime_healthy(void *opaque)
{
        sl_runtime_t *rt = opaque;
        return atomic_load(&rt->health);
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
        rt->m_batch_seconds =
            sl_metrics_histogram(SL_RT_NAME("batch_duration_seconds"), NULL,
                                 "Time to process, flush and commit one batch.", bounds,
                                 sizeof(bounds) / sizeof(bounds[0]));
        rt->m_commit_errors = sl_metrics_counter(SL_RT_NAME("commit_errors_total"), NULL,
                                                 "Offset commits that failed.");
        rt->m_produce_errors =
            sl_metrics_counter(SL_RT_NAME("produce_errors_total"), NULL,
                               "Output records that failed to deliver.");
        rt->m_assigned = sl_metrics_gauge(SL_RT_NAME("assigned_partitions"), NULL,
                                          "Input partitions assigned to this worker.");
        rt->m_rebalances = sl_metrics_counter(SL_RT_NAME("rebalances_total"), NULL,
                                              "Rebalance events (assign and revoke).");
        rt->m_retries = sl_metrics_counter(
            SL_RT_NAME("batch_retries_total"), NULL,
            "Batches run again after the stage failed them with a retriable error.");
        if (rt->eos) {
                static const char help[] =
                    "exactly_once: Kafka transactions committed, and aborted (a failure, "
                    "or what a rewind after one discards).";
                rt->m_txn_commits = sl_metrics_counter(SL_RT_NAME("transactions_total"),
                                                       "outcome=\"committed\"", help);
                rt->m_txn_aborts = sl_metrics_counter(SL_RT_NAME("transactions_total"),
                                                      "outcome=\"aborted\"", help);
                rt->m_producer_recreates = sl_metrics_counter(
                    SL_RT_NAME("producer_recreated_total"), NULL,
                    "exactly_once: transactional producers re-created after a fatal "
                    "error.");
        }
#undef SL_RT_NAME
}

/* exactly_once's settings: its transactional.id, and no kafka.* key that would break
 * it. */
static int check_eos_conf(sl_runtime_t *rt, char *errstr, size_t errstr_size)
{
        const char *tid = sl_conf_get(rt->conf, "kafka.transactional.id");
        const char *iso = sl_conf_get(rt->conf, "kafka.isolation.level");

        if (tid && *tid) {
                /* Every client of the process would get it (the restore consumers,
                 * sluicectl's producers): the stage's producer alone may have one. */
                snprintf(errstr, errstr_size,
                         "kafka.transactional.id is not supported: set exactly_once=true "
                         "and, to choose the id, exactly_once.transactional.id");
                return SL_ERR_CONFIG;
        }
        if (!rt->eos)
                return SL_OK;
        if (iso && strcmp(iso, "read_committed") != 0) {
                snprintf(errstr, errstr_size,
                         "exactly_once=true needs kafka.isolation.level=read_committed "
                         "(it is %s): aborted outputs and changelog records must stay "
                         "unread",
                         iso);
                return SL_ERR_CONFIG;
        }
        if (sl__runtime_txn_id(rt->conf, rt->stage->group_id, rt->txn_id,
                               sizeof(rt->txn_id)) != SL_OK) {
                snprintf(errstr, errstr_size, "exactly_once: transactional.id too long");
                return SL_ERR_CONFIG;
        }
        return SL_OK;
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
        atomic_init(&rt->health, false);
        sl_floors_init(&rt->floors);
        rt->retry_backoff_ms = sl_conf_get_int(conf, "runtime.retry.backoff.ms");
        rt->trim_ms = sl_conf_get_int(conf, "runtime.malloc.trim.ms");
        rt->retry_backoff_max_ms = sl_conf_get_int(conf, "runtime.retry.backoff.max.ms");
        rt->retry_max_ms = sl_conf_get_int(conf, "runtime.retry.max.ms");
        rt->eos = sl_conf_get_bool(conf, "exactly_once");
        if (check_eos_conf(rt, errstr, errstr_size) != SL_OK)
                goto fail_alloc;
        register_metrics(rt);

        rt->msgs = calloc(stage->batch_size ? stage->batch_size : 1, sizeof(*rt->msgs));
        if (!rt->msgs) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_alloc;
        }
        if (sl__runtime_producer_new(rt, errstr, errstr_size) != SL_OK)
                goto fail_producer;
        rt->consumer =
            sl_kafka_consumer_new_sized(conf, stage->group_id, stage->queued_records,
                                        sl__rt_rebalance_cb, rt, errstr, errstr_size);
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

        publish_health(rt);
        rt->http = sl_http_new(sl_conf_get(conf, "http.bind"),
                               (int)sl_conf_get_int(conf, "http.port"), runtime_healthy,
                               rt, errstr, errstr_size);
        if (!rt->http)
                goto fail_http;
        rt->hb =
            sl_heartbeat_new(conf, stage->name, stage->group_id, errstr, errstr_size);
        if (!rt->hb)
                goto fail_heartbeat;
        return rt;

fail_heartbeat:
        sl_http_destroy(rt->http);
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
        if (rt->producer) /* none when exactly_once could not re-create it */
                rd_kafka_flush(rt->producer, 10000);
        sl_rt_ring_close(&rt->ring);
        sl__runtime_topics_close(rt);
        rd_kafka_destroy(rt->consumer);
        if (rt->producer)
                rd_kafka_destroy(rt->producer);
        sl_http_destroy(rt->http);
        sl_heartbeat_destroy(rt->hb, rt->clean_stop);
        free(rt->msgs);
        free(rt->stops);
        free(rt->holds);
        if (rt->txn_offsets)
                rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
        sl__runtime_txn_forget(rt, NULL);
        sl_floors_close(&rt->floors);
        free(rt);
}

int sl_runtime_run(sl_runtime_t *rt)
{
        const sl_stage_t *stage = rt->stage;
        size_t cap = stage->batch_size ? stage->batch_size : 1;

        sl_log_info("%s running: group %s, batches of up to %zu records / %d ms%s%s",
                    stage->name, stage->group_id, cap, stage->batch_ms,
                    rt->eos ? ", exactly_once with transactional.id " : "",
                    rt->eos ? rt->txn_id : "");
        while (!atomic_load(&rt->stop) && rt->fatal == SL_OK) {
                int64_t wait_ms =
                    stage->wait_ms ? stage->wait_ms(stage->opaque) : INT64_MAX;
                int64_t now = sl_mono_ms();
                /* A batch fills for at most batch_ms from when the previous one was
                 * taken: the time spent processing that one counts, so a busy stage
                 * takes what waits at once instead of idling batch_ms on top of its
                 * work (bench/trigger: a launch stage near capacity spent ~40% of
                 * its cycle waiting). */
                int64_t deadline = rt->taken_ms + stage->batch_ms;
                if (deadline < now)
                        deadline = now;
                if (wait_ms < deadline - now)
                        deadline = now + (wait_ms > 0 ? wait_ms : 0);

                while (rt->pending < cap && !atomic_load(&rt->stop) &&
                       rt->fatal == SL_OK) {
                        int64_t wait = deadline - sl_mono_ms();
                        size_t before = rt->pending;
                        unsigned gen = rt->batch_gen, revokes = rt->revokes;
                        ssize_t got;

                        bool deferred = sl_rt_ring_has_deferred(&rt->ring);

                        if (wait < 0)
                                wait = 0;
                        /* A deferred batch waits for this one: do not idle long on it. */
                        if (deferred && wait > SL_RT_DEFERRED_WAIT_MS)
                                wait = SL_RT_DEFERRED_WAIT_MS;
                        got = rd_kafka_consume_batch_queue(
                            rt->queue, (int)wait, rt->msgs + before, cap - before);
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
                        /* What arrived before a revocation inside the call may be of a
                         * revoked partition, past what the revocation committed: its
                         * next owner reads it from there, so it is not ours. */
                        rd_kafka_topic_partition_list_t *owned = NULL;
                        if (revokes != rt->revokes && got > 0 &&
                            rd_kafka_assignment(rt->consumer, &owned) != 0)
                                owned = NULL;
                        size_t dropped = 0;
                        for (ssize_t i = 0; i < got; i++) {
                                rd_kafka_message_t *m = rt->msgs[rt->pending];
                                bool revoked =
                                    !m->err && owned &&
                                    !rd_kafka_topic_partition_list_find(
                                        owned, rd_kafka_topic_name(m->rkt), m->partition);
                                if (m->err || revoked) {
                                        if (m->err &&
                                            m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                                sl_log_warn("consumer: %s",
                                                            rd_kafka_message_errstr(m));
                                        dropped += revoked;
                                        rd_kafka_message_destroy(m);
                                        memmove(rt->msgs + rt->pending,
                                                rt->msgs + rt->pending + 1,
                                                (size_t)(got - i - 1) *
                                                    sizeof(*rt->msgs));
                                        continue;
                                }
                                rt->pending++;
                        }
                        if (owned)
                                rd_kafka_topic_partition_list_destroy(owned);
                        if (dropped)
                                sl_log_info("%zu records of revoked partitions dropped "
                                            "unprocessed (their next owner reads them)",
                                            dropped);
                        if (wait == 0 || (deferred && got == 0))
                                break;
                }
                rt->taken_ms = sl_mono_ms();
                if (!rt->pending)
                        finish_deferred(rt); /* idle: nothing to overlap it with */
                finish_batch(rt);
                if (rt->rewind)
                        sl__rt_rewind_uncommitted(rt);
                if (stage->tick && rt->fatal == SL_OK) {
                        if (sl__runtime_txn_begin(rt) == SL_OK) {
                                stage->tick(stage->opaque, rt);
                                sl__runtime_txn_end(rt, true);
                        }
                        if (rt->rewind)
                                sl__rt_rewind_uncommitted(rt);
                }
                sl_heartbeat_tick(rt->hb);
                publish_health(rt);
                /* What the batches and the fetch queue freed goes back to the system
                 * (glibc keeps it in each thread's arena otherwise): bench/ingress, RSS
                 * over the last quarter of a run 79 MiB against 145 without. */
                if (rt->trim_ms > 0 && rt->taken_ms - rt->trimmed_ms >= rt->trim_ms) {
                        malloc_trim(0);
                        rt->trimmed_ms = rt->taken_ms;
                }
        }
        /* Finish what is in hand (nothing after a fatal error), then leave the group. */
        sl__rt_drain(rt);
        close_consumer(rt);
        sl__runtime_txn_end(rt, false); /* one left open by a fatal error */
        publish_health(rt);
        if (rt->fatal != SL_OK) {
                sl_rt_ring_discard(&rt->ring);
                return rt->fatal;
        }
        rt->clean_stop = 1;
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

rd_kafka_t *sl_runtime_producer(sl_runtime_t *rt)
{
        return rt->producer;
}

rd_kafka_t *sl_runtime_consumer(sl_runtime_t *rt)
{
        return rt->consumer;
}
