/*
 * sluice-retry's in-memory delay queue.  A retry tier record that is awake (its tier
 * delay has passed) but whose due_at is still less than the shortest tier away waits
 * here, decoded, instead of pausing its whole partition: one such record must not hold
 * back the awake records behind it.  The stage holds the record's offset, so nothing at
 * or past it is committed until the record is re-injected (and a crash replays it from
 * Kafka); the stage also bounds how much the queue holds (count, bytes).  A binary
 * min-heap on (due_at, insertion order): O(log n) push and pop.  No librdkafka, no clock.
 */
#ifndef SL_RETRY_DELAYQ_H
#define SL_RETRY_DELAYQ_H

#include <stddef.h>
#include <stdint.h>

#include "retry/retry_record.h"

typedef struct sl_retry_delayed_s {
        sl_retry_record_t rr; /* decoded; owned by the entry while queued */
        int64_t due_at;       /* ms since the epoch: pop no earlier than this */
        char topic[256];      /* where the record came from (its offset is held) */
        int32_t partition;
        int64_t offset;
        uint64_t seq; /* insertion order, internal tie-break */
} sl_retry_delayed_t;

typedef struct sl_retry_delayq_s {
        sl_retry_delayed_t *v;
        size_t cnt, cap;
        size_t bytes; /* sum of the queued records' envelope_len: the memory the queue
                         holds */
        uint64_t next_seq;
} sl_retry_delayq_t;

void sl_retry_delayq_init(sl_retry_delayq_t *q);
/* Frees every queued record (sl_retry_record_clear) and the array. */
void sl_retry_delayq_close(sl_retry_delayq_t *q);

/* Queue *rr until due_at; topic (borrowed, copied; Kafka names fit), partition and
 * offset say where it came from.  Takes ownership of *rr: on SL_OK the caller's rr is
 * zeroed so it cannot be cleared twice; on SL_ERR_NOMEM nothing changed and the caller
 * still owns it. */
int sl_retry_delayq_push(sl_retry_delayq_t *q, sl_retry_record_t *rr, int64_t due_at,
                         const char *topic, int32_t partition, int64_t offset);
/* The earliest due_at, or INT64_MAX when empty. */
int64_t sl_retry_delayq_next_due(const sl_retry_delayq_t *q);
/* Pop the earliest entry into *out if its due_at <= now: returns 1, and the caller now
 * owns out->rr (frees it with sl_retry_record_clear()).  Returns 0, *out untouched, when
 * nothing is due.  Equal due times pop in push order. */
int sl_retry_delayq_pop_due(sl_retry_delayq_t *q, int64_t now, sl_retry_delayed_t *out);
/* Drop and free every entry of (topic, partition): the partition was revoked, and its
 * records will be consumed again by its next owner.  Returns how many were dropped. */
size_t sl_retry_delayq_drop_partition(sl_retry_delayq_t *q, const char *topic,
                                      int32_t partition);
size_t sl_retry_delayq_count(const sl_retry_delayq_t *q);

#endif
