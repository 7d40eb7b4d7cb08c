/*
 * Offset floors: per input partition, the offsets a stage still holds in memory
 * (sl_runtime_hold_offset) and how far the processed batches got, so that a commit
 * never passes a held offset.  Plain bookkeeping with no librdkafka in it; the
 * runtime (runtime.c) asks it what to commit after each batch.
 *
 * Per partition: done (highest offset + 1 the committed-in-order batches reached),
 * committed (what was last committed), and the held offsets in ascending order, a
 * queue whose front (the lowest not yet dropped) is the floor.  The offset to commit is
 * min(done, floor), and only when it moved past committed.
 *
 * Parts are addressed by index (sl_floors_part); an index is valid until
 * sl_floors_forget() of any partition, which the runtime calls only when no batch in
 * flight refers to one.  Not thread-safe: the runtime's thread only.
 */
#ifndef SL_RUNTIME_FLOORS_H
#define SL_RUNTIME_FLOORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_floors_part_s {
        char topic[256];
        int32_t partition;
        int64_t done, committed; /* -1: nothing yet */
        struct sl_floors_held_s {
                int64_t offset;
                bool gone; /* dropped (released and its batch committed) */
        } * held;          /* held[head..cnt), ascending by offset */
        size_t head, cnt, cap;
} sl_floors_part_t;

typedef struct sl_floors_s {
        sl_floors_part_t *parts;
        size_t nparts, cap;
} sl_floors_t;

#define SL_FLOORS_NONE ((size_t)-1)

/* An empty set (embedded by the caller); sl_floors_close() frees what it grew. */
void sl_floors_init(sl_floors_t *fl);
void sl_floors_close(sl_floors_t *fl);

/* The index of (topic, partition), added (done = committed = -1) when new;
 * SL_FLOORS_NONE when out of memory. */
size_t sl_floors_part(sl_floors_t *fl, const char *topic, int32_t partition);
/* The index of (topic, partition) or SL_FLOORS_NONE; never adds. */
size_t sl_floors_find(const sl_floors_t *fl, const char *topic, int32_t partition);

/* Hold offset in part k.  SL_OK or SL_ERR_NOMEM (nothing held). */
int sl_floors_hold(sl_floors_t *fl, size_t k, int64_t offset);
/* Drop one hold of offset in part k (a no-op when it holds none). */
void sl_floors_drop(sl_floors_t *fl, size_t k, int64_t offset);
/* The lowest offset part k holds, INT64_MAX when none. */
int64_t sl_floors_floor(sl_floors_t *fl, size_t k);
/* Batches processed part k up to offset (highest offset + 1). */
void sl_floors_done(sl_floors_t *fl, size_t k, int64_t offset);
/* The offset part k may be committed at now, min(done, floor), when it is past what was
 * committed: returns it and records it as committed.  Otherwise -1. */
int64_t sl_floors_take_commit(sl_floors_t *fl, size_t k);
/* Forget (topic, partition): its holds and progress.  Moves other parts' indexes. */
void sl_floors_forget(sl_floors_t *fl, const char *topic, int32_t partition);

#endif
