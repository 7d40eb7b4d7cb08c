/*
 * Retry backoff: exponential with jitter, capped.  Pure; the random draw is a
 * parameter so tests are exact.  Also the choice of retry tier for a delay.
 */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_backoff_s {
        int64_t initial_ms; /* delay before the first retry (attempt 1) */
        int64_t max_ms;     /* cap, after jitter */
        double multiplier;  /* growth per attempt, >= 1 */
        double jitter; /* 0..1: the delay is scaled by a factor in [1-jitter, 1+jitter) */
        int max_attempts; /* retries allowed; past it the event is exhausted */
} sl_backoff_t;

/* Delay before retry number attempt (1-based).  u is a uniform draw in [0, 1).
 * Always within [initial_ms * (1 - jitter), max_ms] and never negative. */
int64_t sl_backoff_delay(const sl_backoff_t *b, int attempt, double u);

/* Index of the tier to wait in for a delay: the longest tier delay <= delay_ms (the
 * shortest when delay_ms is shorter than every tier).  tiers_ms ascending, n >= 1. */
size_t sl_backoff_tier(const int64_t *tiers_ms, size_t n, int64_t delay_ms);

/* Parse "1s,10s,1m,10m" (units ms, s, m, h) into ascending delays.  Returns the count,
 * or 0 when the text is invalid (empty, bad unit, not ascending, more than cap). */
size_t sl_backoff_parse_tiers(const char *text, int64_t *tiers_ms, size_t cap);

#endif
