/*
 * Launches waiting for their result (issue 11): each launch of the trigger stage is
 * added with its deadline (launched_at + result_timeout_ms); a result completes it
 * (the breaker learns whether it was a probe and when it was launched); what is still
 * here at its deadline expires, and the stage feeds each expiry to the breaker as a
 * failure, so a dead workflow engine opens the breaker and a half-open breaker never
 * waits forever on a probe.  A result for an id not here (a duplicate, or one that
 * arrives after its expiry) is reported as not found and the stage drops it.
 *
 * A hash on the 16-byte launch id (open addressing, linear probing) plus a binary
 * min-heap on (deadline, insertion order): add, complete and each expiry are
 * O(log n); entries are kept dense so iteration (serialisation into the changelog)
 * is a plain loop.
 *
 * Bounded: at most `cap` entries (given at init); memory grows by doubling up to it.
 * Past the cap, add refuses (SL_ERR_STATE) and changes nothing; the stage checks
 * sl_pending_full() before deciding a launch and holds the match (as for a full
 * window) instead of launching what it could not track.  Not thread-safe.
 */
#ifndef SL_TRIGGER_PENDING_H
#define SL_TRIGGER_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_pending_entry_s {
        uint8_t launch_id[16];
        int64_t launched_at; /* ms */
        int64_t deadline;    /* ms: expires when now >= deadline */
        bool was_probe;
} sl_pending_entry_t;

typedef struct sl_pending_s {
        size_t cap;                      /* most entries ever held */
        size_t n;                        /* entries held */
        size_t alloc;                    /* entries allocated */
        struct sl_pending_item_s *items; /* dense, n used */
        uint32_t *heap;                  /* item indexes, min-heap on (deadline, seq) */
        int32_t *table;                  /* item index or -1; mask + 1 slots */
        size_t mask;
        uint64_t seq; /* next insertion number */
} sl_pending_t;

/* An empty set holding at most cap entries (1 .. INT32_MAX / 4; clamped); memory is
 * about 60 bytes per entry allocated, plus a table of 2 to 4 int32 slots per entry.
 * Close with sl_pending_close(). */
void sl_pending_init(sl_pending_t *p, size_t cap);
void sl_pending_close(sl_pending_t *p);

/* SL_OK; SL_ERR_DUPLICATE when the id is already here (nothing changes);
 * SL_ERR_STATE when full; SL_ERR_NOMEM. */
int sl_pending_add(sl_pending_t *p, const uint8_t launch_id[16], int64_t launched_at,
                   int64_t deadline, bool was_probe);

/* Remove the entry of launch_id: true and *out (may be NULL) filled when it was here;
 * false for an unknown id (a duplicate or late result). */
bool sl_pending_complete(sl_pending_t *p, const uint8_t launch_id[16],
                         sl_pending_entry_t *out);

/* Remove up to max entries with deadline <= now into out, earliest deadline first
 * (ties in insertion order); returns how many.  Call again while it returns max. */
size_t sl_pending_expire(sl_pending_t *p, int64_t now, sl_pending_entry_t *out,
                         size_t max);

/* The earliest deadline, INT64_MAX when empty (for the stage's timer). */
int64_t sl_pending_next_deadline(const sl_pending_t *p);

size_t sl_pending_count(const sl_pending_t *p);
bool sl_pending_full(const sl_pending_t *p);

/* The i-th entry (i < sl_pending_count()) in no particular order, for serialisation;
 * borrowed until the next change. */
const sl_pending_entry_t *sl_pending_at(const sl_pending_t *p, size_t i);

#endif
