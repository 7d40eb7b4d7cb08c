/*
 * The circuit breaker of a trigger (issue 11), resilience4j's model with what its
 * users ask for and cannot have: an absolute failure count next to the failure rate,
 * open time growing with consecutive re-opens up to a cap, and result timeouts (kept
 * by trigger/pending.h, fed in here as failures) so a half-open breaker never waits
 * forever on a probe that never answers.  Pure: the clock is a parameter, the state
 * is a fixed-size struct of integers the caller owns and persists (changelog).
 *
 *                       +--------+
 *          +----------> | CLOSED | ------------------------------+
 *          |            +--------+                               |
 *          |                 in failure_window_ms: failures      |
 *          |                 reach failure_count, or the rate    |
 *          |                 reaches failure_rate over at least  |
 *          |                 min_results results                 v
 *   all `probes` probes                                      +------+
 *   succeed (window emptied,                open for open_ms | OPEN | <----+
 *   open time reset)                                         +------+      |
 *          |                     open_until passed               |         |
 *          |                     (on the next allow())           v         |
 *          |                                           +-----------+       |
 *          +------------------------------------------ | HALF_OPEN | ------+
 *                                                      +-----------+
 *                             any probe fails or times out: open again, for
 *                             twice the last open time, at most open_max_ms
 *
 *   CLOSED     every launch allowed; results fill the failure window
 *   OPEN       every launch refused ('open') until open_until
 *   HALF_OPEN  the first `probes` launches are allowed as probes, the rest refused
 *
 * Open time: open_ms on the first open from CLOSED, then open_ms * 2^n on the n-th
 * consecutive re-open from HALF_OPEN, capped at open_max_ms; back to open_ms once it
 * closes.
 *
 * The failure window is SL_BREAKER_BUCKETS epoch-aligned buckets of
 * ceil(failure_window_ms / SL_BREAKER_BUCKETS) ms: it covers the current bucket and
 * the 9 before it, so between 90% and 100% of failure_window_ms.  It is emptied when
 * the breaker opens and when it closes.
 *
 * Stale results.  A result counts only in the period its launch was made in: the
 * caller passes the launch time (trigger/pending.h keeps it), and the breaker keeps
 * `since`, the start of its current state.  In CLOSED a result of a launch made before
 * since (before an earlier open, arriving very late) is ignored; in OPEN every result
 * is ignored (nothing was launched while open); in HALF_OPEN only probes launched at
 * or after since count (a probe of an earlier half-open period, or a pre-open launch,
 * is ignored).  Every ignored result is reported as stale, never as a transition.
 *
 * Order of the checks in the stage: sl_breaker_would_allow() before the rate window,
 * then sl_breaker_allow() only for a launch that will go (so a throttled match never
 * consumes a probe slot).
 */
#ifndef SL_TRIGGER_BREAKER_H
#define SL_TRIGGER_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_BREAKER_BUCKETS 10

typedef struct sl_breaker_conf_s {
        int64_t failure_window_ms; /* > 0 */
        int32_t failure_rate;      /* percent, 1..100; 0: off */
        int32_t min_results;       /* results in the window before the rate counts */
        int32_t failure_count;     /* failures in the window; 0: off */
        int64_t open_ms;           /* > 0 */
        int64_t open_max_ms;       /* cap of the growth; <= open_ms: no growth */
        int32_t probes;            /* half-open launches, >= 1 */
        int64_t result_timeout_ms; /* > 0; applied by trigger/pending.h */
} sl_breaker_conf_t;

typedef enum sl_breaker_state {
        SL_BREAKER_CLOSED = 0,
        SL_BREAKER_OPEN = 1,
        SL_BREAKER_HALF_OPEN = 2,
} sl_breaker_state_t;

/* Why a transition happened. */
typedef enum sl_breaker_why {
        SL_BREAKER_WHY_NONE = 0,
        SL_BREAKER_WHY_RATE,         /* closed -> open: failure rate */
        SL_BREAKER_WHY_COUNT,        /* closed -> open: failure count */
        SL_BREAKER_WHY_OPEN_ELAPSED, /* open -> half_open */
        SL_BREAKER_WHY_PROBE_FAILED, /* half_open -> open */
        SL_BREAKER_WHY_PROBES_OK,    /* half_open -> closed */
} sl_breaker_why_t;

/* What a call changed, for metrics and logs.  from == to: no transition. */
typedef struct sl_breaker_transition_s {
        sl_breaker_state_t from;
        sl_breaker_state_t to;
        sl_breaker_why_t why;
        int64_t failures;   /* RATE, COUNT: in the window when it opened */
        int64_t results;    /* RATE, COUNT: in the window when it opened */
        int64_t open_until; /* to OPEN: when it half-opens */
} sl_breaker_transition_t;

/* What a result did. */
typedef enum sl_breaker_result {
        SL_BREAKER_COUNTED = 0,
        SL_BREAKER_STALE, /* ignored: see "Stale results" above */
} sl_breaker_result_t;

/* The state of one breaker (st).  Zeroed: closed, never used.  Fixed size, integers
 * only: the stage encodes it field by field into its changelog record. */
typedef struct sl_breaker_s {
        int32_t state;                    /* sl_breaker_state_t */
        int32_t reopens;                  /* consecutive re-opens since the last close */
        int64_t since;                    /* ms: when the current state began */
        int64_t open_until;               /* ms: OPEN ends */
        int32_t probes_sent;              /* HALF_OPEN: probes allowed */
        int32_t probes_ok;                /* HALF_OPEN: probes that succeeded */
        int64_t bucket_ms;                /* bucket length the buckets were filled with */
        int64_t slot[SL_BREAKER_BUCKETS]; /* bucket's time / bucket_ms */
        int32_t ok[SL_BREAKER_BUCKETS];   /* successes in the bucket */
        int32_t failed[SL_BREAKER_BUCKETS]; /* failures in the bucket */
        int64_t updated_at; /* ms: latest now seen (the clock never goes back) */
} sl_breaker_t;

/* "closed", "open", "half_open"; "failure_rate", "failure_count", ... */
const char *sl_breaker_state_str(sl_breaker_state_t s);
const char *sl_breaker_why_str(sl_breaker_why_t w);

/* SL_OK, or SL_ERR_CONFIG with errstr saying which field is out of range. */
int sl_breaker_conf_check(const sl_breaker_conf_t *conf, char *errstr,
                          size_t errstr_size);

/* The state at now, for gauges: OPEN reads as HALF_OPEN once open_until has passed.
 * st is not changed. */
sl_breaker_state_t sl_breaker_state(const sl_breaker_conf_t *conf, const sl_breaker_t *st,
                                    int64_t now);

/* Whether sl_breaker_allow() at now would allow a launch; st is not changed. */
bool sl_breaker_would_allow(const sl_breaker_conf_t *conf, const sl_breaker_t *st,
                            int64_t now);

/* Decide one launch at now: true when it may go (*probe, may be NULL, set when it goes
 * as a half-open probe), false when refused ('open').  Moves OPEN to HALF_OPEN once
 * open_until has passed; *tr (may be NULL) reports it. */
bool sl_breaker_allow(const sl_breaker_conf_t *conf, sl_breaker_t *st, int64_t now,
                      bool *probe, sl_breaker_transition_t *tr);

/* Feed the result of a launch made at launched_at (ok false: failed or timed out).
 * *tr (may be NULL) reports a transition. */
sl_breaker_result_t sl_breaker_on_result(const sl_breaker_conf_t *conf, sl_breaker_t *st,
                                         int64_t now, int64_t launched_at, bool ok,
                                         bool was_probe, sl_breaker_transition_t *tr);

/* Failures and results in the failure window at now. */
void sl_breaker_window(const sl_breaker_conf_t *conf, const sl_breaker_t *st, int64_t now,
                       int64_t *failures, int64_t *results);

#endif
