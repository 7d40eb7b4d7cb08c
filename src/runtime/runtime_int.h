/*
 * The runtime's state, shared by its files: runtime.c (the loop, commits, rebalances,
 * retries), produce.c (outputs and their delivery reports).  Private to src/runtime.
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

        rd_kafka_message_t **msgs; /* the batch in hand */
        size_t pending;
        unsigned batch_gen; /* bumped whenever the batch in hand is finished */
        unsigned revokes;   /* bumped by every revocation */

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

        struct sl_rt_topic_s {
                char name[256];
                rd_kafka_topic_t *rkt;
        } * topics; /* output topic handles, looked up by name */
        size_t topic_cnt, topic_cap;

        sl_metric_t *m_batches, *m_records, *m_batch_seconds, *m_commit_errors,
            *m_assigned, *m_rebalances, *m_produce_errors, *m_retries;
};

/* produce.c: the producer's delivery report callback (opaque: the runtime), and the
 * release of the output topic handles. */
void sl__runtime_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void sl__runtime_topics_close(sl_runtime_t *rt);

#endif
