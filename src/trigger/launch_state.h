/*
 * One trigger's launch state and the launch decision, pure (issue 11): the clock is a
 * parameter, the state a fixed-size struct the launch stage keeps per trigger in its
 * partitioned store (src/state/pstate.h) and appends to its compacted changelog.
 *
 * A match is decided in this order; the first that applies is the outcome:
 *
 *   disabled, or manually paused (until paused_until, 0: until resumed)   paused
 *   the breaker refuses (open, or half-open with every probe out)         open
 *   over the rate window (or the deferred queue is not empty, for
 *   on_limit=defer: a new match never overtakes a deferred one, or the
 *   stage cannot track one more launch)                     throttled (skip) / deferred
 *   otherwise: counted in the window, a probe slot taken when half-open    launched
 *
 * A paused or open decision counts nothing; throttled and deferred count in the
 * window's `throttled`; deferred also in `deferred`, the length of the trigger's queue
 * (the queue itself is in Postgres, trigger_deliveries rows with outcome 'deferred').
 * sl_launch_release_one() launches the head of that queue when the window has room
 * and the breaker allows.
 */
#ifndef SL_TRIGGER_LAUNCH_STATE_H
#define SL_TRIGGER_LAUNCH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits/window.h"
#include "trigger/breaker.h"

/* What the decision reads of a trigger's definition. */
typedef struct sl_launch_policy_s {
        bool enabled;
        bool paused;
        int64_t paused_until; /* ms; 0: until resumed */
        int64_t rate_limit;   /* launches per window; <= 0: unlimited */
        int64_t window_ms;
        bool defer; /* on_limit: defer (true) or skip */
        sl_breaker_conf_t breaker;
} sl_launch_policy_t;

typedef struct sl_tstate_s {
        sl_window_t window; /* launches in the current rate window */
        int64_t throttled;  /* throttled or deferred decisions in that window */
        int64_t deferred;   /* matches in the deferred queue */
        sl_breaker_t breaker;
        int64_t updated_at; /* ms: last change */
        /* The match offset after the last match released from the deferred queue (0:
         * none yet).  The queue is released in match order, so every released launch
         * below it went out with this state; under exactly_once the two commit
         * together, and a worker taking the trigger over produces again only the
         * released launches at or past it (docs/triggers.md). */
        int64_t released_next;
} sl_tstate_t;

typedef enum sl_launch_outcome {
        SL_LAUNCH_LAUNCHED = 0,
        SL_LAUNCH_THROTTLED,
        SL_LAUNCH_DEFERRED,
        SL_LAUNCH_PAUSED,
        SL_LAUNCH_OPEN,
        SL_LAUNCH__CNT
} sl_launch_outcome_t;

/* "launched", "throttled", "deferred", "paused", "open" (trigger_deliveries.outcome). */
const char *sl_launch_outcome_str(sl_launch_outcome_t o);
/* The outcome named s, or -1. */
int sl_launch_outcome_parse(const char *s);

/* True when the policy is paused at now (disabled, or a manual pause in force). */
bool sl_launch_paused(const sl_launch_policy_t *pol, int64_t now);

/* Decide one match at now.  can_track: the stage has room to wait for one more
 * result (else a launch is treated as over the limit).  *probe: the launch goes as a
 * half-open probe; *tr: a breaker transition (open -> half-open) it caused. */
sl_launch_outcome_t sl_launch_decide(const sl_launch_policy_t *pol, sl_tstate_t *st,
                                     int64_t now, bool can_track, bool *probe,
                                     sl_breaker_transition_t *tr);

/* Record a decision taken earlier (found in Postgres after a restart) whose effect the
 * restored state lacks: a launch counts in the window, a throttle in `throttled`.
 * (A deferred one is counted by the stage's recount of the queue.) */
void sl_launch_count(const sl_launch_policy_t *pol, sl_tstate_t *st,
                     sl_launch_outcome_t o, int64_t now);

/* How many deferred matches could launch at now at most (0 when paused, the breaker
 * refuses, or the window is full): the stage fetches that many of the queue's head. */
int64_t sl_launch_release_room(const sl_launch_policy_t *pol, const sl_tstate_t *st,
                               int64_t now);
/* Launch the queue's head at now when allowed: true (deferred decremented, counted in
 * the window, *probe set when it goes as a probe), false when it must wait. */
bool sl_launch_release_one(const sl_launch_policy_t *pol, sl_tstate_t *st, int64_t now,
                           bool *probe, sl_breaker_transition_t *tr);

/* Changelog value (schemas/trigger_state.avsc, version 2): at most
 * SL_TSTATE_ENCODED_MAX bytes.  Version 1 values (without released_next) still decode,
 * with released_next 0. */
#define SL_TSTATE_ENCODED_MAX 480
size_t sl_tstate_encode(const sl_tstate_t *st, unsigned char *buf);
/* SL_OK or SL_ERR_DECODE. */
int sl_tstate_decode(const void *buf, size_t len, sl_tstate_t *st);

/* The progress record (key SL_TSTATE_PROGRESS_KEY): the last input offset the state of
 * a partition includes. */
#define SL_TSTATE_PROGRESS_KEY "o:"
size_t sl_tstate_progress_encode(int64_t offset, unsigned char *buf);
int sl_tstate_progress_decode(const void *buf, size_t len, int64_t *offset);

#endif
