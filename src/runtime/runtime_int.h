/*
 * The runtime's state, shared by its files: runtime.c (the loop, commits, rebalances,
 * retries), produce.c (outputs and their delivery reports), txn.c (exactly_once's
 * transactions).  Private to src/runtime.
 */
#ifndef SL_RUNTIME_INT_H
#define SL_RUNTIME_INT_H

#include <stdatomic.h>

#include "http/http.h"
#include "metrics/metrics.h"
#include "runtime/batch.h"
#include "runtime/floors.h"
#include "runtime/runtime.h"

struct sl_runtime_s {
        const sl_conf_t *conf;
        const sl_stage_t *stage;
        rd_kafka_t *consumer;
        rd_kafka_queue_t *queue;
        rd_kafka_t *producer;
        sl_http_t *http;
        struct sl_heartbeat_s *hb; /* processor_heartbeats (heartbeat.h) */
        int clean_stop;            /* sl_runtime_run() returned SL_OK */

        rd_kafka_message_t **msgs; /* the batch in hand */
        size_t pending;
        unsigned batch_gen;          /* bumped whenever the batch in hand is finished */
        unsigned revokes;            /* bumped by every revocation */
        int64_t trim_ms, trimmed_ms; /* runtime.malloc.trim.ms; mono of the last trim */
        int64_t taken_ms; /* when the last batch was taken to be processed (mono) */

        atomic_int stop;
        int fatal; /* SL_OK or the error that stops the loop; the runtime's thread only */
        /* What /healthz answers: published by the runtime's thread, read by the HTTP
         * server's threads. */
        atomic_bool health;
        bool closed;

        /* Retries of a batch whose process() failed with a retriable error. */
        int64_t retry_backoff_ms, retry_backoff_max_ms, retry_max_ms;

        /* Processed batches in order, oldest first; cur is the one being processed. */
        sl_rt_ring_t ring;
        sl_rt_batch_t *cur;
        /* sl_runtime_commit_before() marks of the batch being processed */
        sl_rt_stop_t *stops;
        size_t nstops, stops_cap;
        /* sl_runtime_hold_offset() calls of the process() in hand (undone when it fails
         * and is retried) */
        struct sl_rt_release_s *holds;
        size_t nholds, holds_cap;

        /* Per partition a stage held an offset of: held offsets and progress. */
        sl_floors_t floors;

        /* Delivery failures of untracked outputs (produced outside a batch). */
        size_t dr_failed;
        char dr_errstr[256];

        /* exactly_once (txn.c): one transaction at a time around each callback that
         * may produce (runtime.h). */
        bool eos;
        bool txn_open;
        bool txn_doomed; /* an output of the transaction in hand failed: abort it */
        /* A transaction failed: what was done since the last commit is void, and every
         * assigned partition goes back to it (runtime.c, at the next safe point). */
        bool rewind;
        char txn_id[512];
        rd_kafka_topic_partition_list_t *txn_offsets; /* to commit with the transaction */
        /* Per partition consumed since its assignment: the offset its last committed
         * transaction left it at (or its first record's, before any commit). */
        rd_kafka_topic_partition_list_t *rewind_to;
        int recreates;             /* producers re-created since the last commit */
        int txn_failures;          /* transactions aborted in a row */
        int64_t txn_failing_since; /* ms, when the first of them failed */

        struct sl_rt_topic_s {
                char name[256];
                rd_kafka_topic_t *rkt;
        } * topics; /* output topic handles, looked up by name */
        size_t topic_cnt, topic_cap;

        sl_metric_t *m_batches, *m_records, *m_batch_seconds, *m_commit_errors,
            *m_assigned, *m_rebalances, *m_produce_errors, *m_retries, *m_txn_commits,
            *m_txn_aborts, *m_producer_recreates;
};

/* produce.c: the producer's delivery report callback (opaque: the runtime), and the
 * release of the output topic handles. */
void sl__runtime_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void sl__runtime_topics_close(sl_runtime_t *rt);

/* txn.c.  The producer (transactional, transactions initialised, when rt->eos).
 * SL_OK, or an error with errstr set. */
int sl__runtime_producer_new(sl_runtime_t *rt, char *errstr, size_t errstr_size);
/* The transactional.id: exactly_once.transactional.id, else
 * <group_id>-<host name>-<http.port>.  SL_OK or SL_ERR_CONFIG (too long). */
int sl__runtime_txn_id(const sl_conf_t *conf, const char *group_id, char *buf,
                       size_t size);
/* Begin a transaction unless one is open (no-op without exactly_once).  SL_OK, or the
 * error that stops the runtime (rt->fatal). */
int sl__runtime_txn_begin(sl_runtime_t *rt);
/* Offsets to commit with the transaction in hand (merged per partition, last wins). */
void sl__runtime_txn_offsets(sl_runtime_t *rt,
                             const rd_kafka_topic_partition_list_t *offsets);
/* End the transaction in hand: commit it with its offsets (do_commit, and nothing
 * failed in it), else abort it.  SL_OK when committed (or none was open).  A failed
 * commit aborts and sets rt->rewind; a fatal error re-creates the producer (rt->rewind)
 * or stops the runtime (rt->fatal). */
int sl__runtime_txn_end(sl_runtime_t *rt, bool do_commit);
/* Bookkeeping for rewinds (rt->rewind_to): records of a batch about to be processed,
 * offsets committed, partitions assigned or revoked (NULL: all). */
void sl__runtime_txn_consumed(sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt);
void sl__runtime_txn_consumed_to(sl_runtime_t *rt,
                                 const rd_kafka_topic_partition_list_t *committed);
void sl__runtime_txn_forget(sl_runtime_t *rt,
                            const rd_kafka_topic_partition_list_t *parts);

/* runtime.c, for rebalance.c: drop a batch's bookkeeping of
 * partitions that went; wait ms unless the runtime stops (false then); run an
 * assignment callback in a transaction of its own (discard: abort it); finish the batch
 * in hand and wait until every processed batch is committed (rt->fatal). */
void sl__rt_forget_partitions(sl_runtime_t *rt,
                              const rd_kafka_topic_partition_list_t *parts);
bool sl__rt_backoff_wait(sl_runtime_t *rt, int64_t ms);
int sl__rt_txn_call(sl_runtime_t *rt, bool discard,
                    int (*cb)(void *, sl_runtime_t *,
                              const rd_kafka_topic_partition_list_t *),
                    const rd_kafka_topic_partition_list_t *parts);
int sl__rt_drain(sl_runtime_t *rt);

/* rebalance.c: the consumer's rebalance callback (opaque: the runtime), and the rewind
 * after a failed transaction (exactly_once; called where no batch is in hand). */
void sl__rt_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
void sl__rt_rewind_uncommitted(sl_runtime_t *rt);

#endif
