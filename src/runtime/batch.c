/* The runtime's batches in flight and their ring (see batch.h). */
#include "runtime/batch.h"

#include <stdlib.h>
#include <string.h>

sl_rt_batch_t *sl_rt_ring_claim(sl_rt_ring_t *ring)
{
        sl_rt_batch_t *b = &ring->b[(ring->head + ring->count) % (SL_RT_INFLIGHT + 1)];
        struct sl_rt_release_s *releases = b->releases;
        size_t releases_cap = b->releases_cap;

        memset(b, 0, sizeof(*b));
        b->releases = releases; /* the buffer is kept from batch to batch */
        b->releases_cap = releases_cap;
        return b;
}

void sl_rt_ring_push(sl_rt_ring_t *ring)
{
        ring->count++;
}

sl_rt_batch_t *sl_rt_ring_front(sl_rt_ring_t *ring)
{
        return ring->count ? &ring->b[ring->head] : NULL;
}

void sl_rt_batch_release_kept(sl_rt_batch_t *b)
{
        for (size_t i = 0; i < b->nkept; i++)
                rd_kafka_message_destroy(b->kept[i]);
        free(b->kept);
        b->kept = NULL;
        b->nkept = 0;
        b->keep = false;
}

void sl_rt_ring_pop(sl_rt_ring_t *ring)
{
        sl_rt_batch_t *b = &ring->b[ring->head];

        if (b->offsets)
                rd_kafka_topic_partition_list_destroy(b->offsets);
        b->offsets = NULL;
        sl_rt_batch_release_kept(b);
        ring->head = (ring->head + 1) % (SL_RT_INFLIGHT + 1);
        ring->count--;
}

void sl_rt_ring_discard(sl_rt_ring_t *ring)
{
        while (ring->count)
                sl_rt_ring_pop(ring);
}

bool sl_rt_ring_has_deferred(const sl_rt_ring_t *ring)
{
        for (size_t i = 0; i < ring->count; i++)
                if (ring->b[(ring->head + i) % (SL_RT_INFLIGHT + 1)].deferred)
                        return true;
        return false;
}

bool sl_rt_ring_has_failed(const sl_rt_ring_t *ring)
{
        for (size_t i = 0; i < ring->count; i++)
                if (ring->b[(ring->head + i) % (SL_RT_INFLIGHT + 1)].stage_err != 0)
                        return true;
        return false;
}

void sl_rt_ring_close(sl_rt_ring_t *ring)
{
        sl_rt_ring_discard(ring);
        for (size_t i = 0; i < SL_RT_INFLIGHT + 1; i++) {
                free(ring->b[i].releases);
                ring->b[i].releases = NULL;
        }
}

rd_kafka_topic_partition_list_t *sl_rt_batch_offsets(rd_kafka_message_t **msgs,
                                                     size_t cnt,
                                                     const sl_rt_stop_t *stops,
                                                     size_t nstops)
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
        for (size_t k = 0; k < nstops; k++) {
                rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                    offsets, stops[k].topic, stops[k].partition);
                if (tp && stops[k].offset < tp->offset)
                        tp->offset = stops[k].offset;
        }
        return offsets;
}
