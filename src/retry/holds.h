/*
 * The partitions sluice-retry holds paused, each on the offset of its head record that
 * is not yet awake, with the time to look again.  No librdkafka here: the stage pauses
 * and resumes; this keeps the set and answers "which are awake at now" and "when is
 * the next wake-up" (the stage's wait).  Assigned partitions are few (tiers x
 * partitions), so a flat array.
 */
#ifndef SL_RETRY_HOLDS_H
#define SL_RETRY_HOLDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_retry_hold_s {
        char topic[256];
        int32_t partition;
        int64_t offset;  /* the head record: nothing at or after it is processed */
        int64_t wake_at; /* ms since the epoch */
} sl_retry_hold_t;

typedef struct sl_retry_holds_s {
        sl_retry_hold_t *v;
        size_t cnt, cap;
} sl_retry_holds_t;

void sl_retry_holds_init(sl_retry_holds_t *h);
void sl_retry_holds_close(sl_retry_holds_t *h);

/* Hold (topic, partition) at offset until wake_at (replaces a hold of the same
 * partition).  SL_OK or SL_ERR_NOMEM. */
int sl_retry_holds_put(sl_retry_holds_t *h, const char *topic, int32_t partition,
                       int64_t offset, int64_t wake_at);
/* The hold of (topic, partition), NULL when it is not held (borrowed, valid until the
 * next put/remove). */
const sl_retry_hold_t *sl_retry_holds_find(const sl_retry_holds_t *h, const char *topic,
                                           int32_t partition);
/* Forget (topic, partition); 1 when it was held, else 0. */
int sl_retry_holds_remove(sl_retry_holds_t *h, const char *topic, int32_t partition);

/* Move every hold with wake_at <= now into out (up to cap), removing them from h.
 * Returns how many. */
size_t sl_retry_holds_take_awake(sl_retry_holds_t *h, int64_t now, sl_retry_hold_t *out,
                                 size_t cap);
/* The earliest wake_at, or INT64_MAX when nothing is held. */
int64_t sl_retry_holds_next_wake(const sl_retry_holds_t *h);

#endif
