/*
 * Due-time logic of sluice-retry: what to do with the head record of a retry tier
 * partition at a given instant.  Pure (the clock is a parameter), so tests drive it
 * with an injected "now"; the stage (processors/retry) applies the decision with
 * librdkafka and Postgres.
 *
 * A record in tier T produced at Kafka timestamp ts is awake at ts + T.  Every record
 * of one tier topic waits the same delay, so per partition the head is always the next
 * to wake.  Once awake, the record's planned retry time due_at decides:
 *
 *   due_at <= now + tolerance           INJECT: mark the row due, re-inject the event
 *   due_at - now >= shortest tier       HOP: re-produce the same record to the longest
 *                                       tier <= the remaining delay
 *   otherwise (less than a tier left)   DELAY until due_at - tolerance: the stage keeps
 *                                       the record in memory (or, when its memory
 *                                       bound is reached, pauses the partition on it)
 *                                       and re-injects it then; never early
 *
 * Not yet awake (ts + T > now) is SLEEP until ts + T: the partition is paused on it,
 * and on every record after it, which wake later still.
 */
#ifndef SL_RETRY_DUE_H
#define SL_RETRY_DUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl_retry_action {
        SL_RETRY_SLEEP,  /* not awake: pause the partition until wake_at */
        SL_RETRY_HOP,    /* awake, due a tier or more later: re-produce to tier */
        SL_RETRY_DELAY,  /* awake, due within the shortest tier: wait until wake_at */
        SL_RETRY_INJECT, /* due: re-inject into events.in */
} sl_retry_action_t;

typedef struct sl_retry_decision_s {
        sl_retry_action_t action;
        int64_t wake_at; /* SLEEP, DELAY: when to look again (ms since the epoch) */
        size_t tier;     /* HOP: index of the tier to re-produce to */
} sl_retry_decision_t;

typedef struct sl_retry_timing_s {
        const int64_t *tiers_ms; /* ascending, ntiers >= 1 (borrowed) */
        size_t ntiers;
        int64_t tolerance_ms; /* a record this close to due_at counts as due */
} sl_retry_timing_t;

/* The decision for a record of tier index tier (< t->ntiers) with Kafka timestamp
 * ts_ms (< 0: unknown, treated as awake) and planned retry time due_at, at now. */
sl_retry_decision_t sl_retry_decide(const sl_retry_timing_t *t, size_t tier,
                                    int64_t ts_ms, int64_t due_at, int64_t now);

/* Index of name in topics (n names), or -1. */
int sl_retry_tier_of(const char (*topics)[256], size_t n, const char *name);

#endif
