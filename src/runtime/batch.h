/*
 * The runtime's batches in flight: a batch processed and waiting for its outputs to be
 * delivered before its offsets are committed, and the ring of up to SL_RT_INFLIGHT of
 * them (oldest first) plus the one being processed.  Outputs carry a pointer to their
 * batch as the message opaque; the delivery report counts them down (produce.c).
 * What to commit for a batch is runtime.c's business (with floors.c); this file only
 * keeps the batches.  The runtime's thread only.
 */
#ifndef SL_RUNTIME_BATCH_H
#define SL_RUNTIME_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Batches whose outputs may still be in flight while the next one is processed. */
#define SL_RT_INFLIGHT 4

typedef struct sl_rt_batch_s {
        rd_kafka_topic_partition_list_t *offsets; /* to commit; NULL until queued */
        long outstanding; /* outputs enqueued and not yet reported */
        size_t failed;
        char errstr[256];
        size_t records;
        double t0;
        bool deferred; /* sl_runtime_defer() and not yet sl_runtime_deferred_done() */
        bool keep;     /* sl_runtime_defer_keep(): its records outlive process() */
        rd_kafka_message_t **kept; /* those records, until sl_runtime_deferred_done() */
        size_t nkept;
        int stage_err; /* the error sl_runtime_deferred_done() was given */
        /* held offsets released with this batch: index into the floors, offset */
        struct sl_rt_release_s {
                size_t part;
                int64_t offset;
        } * releases;
        size_t nreleases, releases_cap;
} sl_rt_batch_t;

typedef struct sl_rt_ring_s {
        sl_rt_batch_t b[SL_RT_INFLIGHT + 1];
        size_t head, count;
} sl_rt_ring_t;

/* A sl_runtime_commit_before() mark of the batch being processed. */
typedef struct sl_rt_stop_s {
        const char *topic; /* borrowed from the message's topic handle */
        int32_t partition;
        int64_t offset;
} sl_rt_stop_t;

/* The slot after the queued batches, emptied (its releases buffer kept) for the next
 * batch to process; it is queued with sl_rt_ring_push().  At most SL_RT_INFLIGHT
 * batches may be queued when it is called. */
sl_rt_batch_t *sl_rt_ring_claim(sl_rt_ring_t *ring);
void sl_rt_ring_push(sl_rt_ring_t *ring);
/* The oldest queued batch, NULL when none. */
sl_rt_batch_t *sl_rt_ring_front(sl_rt_ring_t *ring);
/* Destroy the records b kept (sl_runtime_defer_keep). */
void sl_rt_batch_release_kept(sl_rt_batch_t *b);
/* Drop the oldest queued batch (its offsets and kept records freed). */
void sl_rt_ring_pop(sl_rt_ring_t *ring);
/* Drop every queued batch without committing it. */
void sl_rt_ring_discard(sl_rt_ring_t *ring);
bool sl_rt_ring_has_deferred(const sl_rt_ring_t *ring);
/* Whether a queued batch was completed with an error (sl_runtime_deferred_done). */
bool sl_rt_ring_has_failed(const sl_rt_ring_t *ring);
/* Discard and free the buffers. */
void sl_rt_ring_close(sl_rt_ring_t *ring);

/* The offsets to commit after msgs: per partition the highest offset + 1, or the lowest
 * stop of that partition when lower.  Caller frees with
 * rd_kafka_topic_partition_list_destroy(). */
rd_kafka_topic_partition_list_t *sl_rt_batch_offsets(rd_kafka_message_t **msgs,
                                                     size_t cnt,
                                                     const sl_rt_stop_t *stops,
                                                     size_t nstops);

#endif
