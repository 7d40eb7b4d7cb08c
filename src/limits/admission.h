/*
 * Per-source admission (issue: durable per-source admission): fixed rate windows,
 * auto-pause after too many throttled events in one window (a flood), auto-pause when
 * too large a share of a source's events is dead-lettered in one window (the source
 * breaker, issue 11), and manual pauses.  Pure logic over a caller-owned state struct
 * and an injected clock: no Kafka, no Postgres, no time() calls, so every rule is
 * unit-tested without sleeping.
 *
 * The rate window (window_start, count) and the breaker's window (dlq_window_start,
 * dlq_seen) are limits/window.h's: aligned to the epoch (start = now - now %
 * window_ms), so every worker that ever owns a source agrees on where a window starts.
 *
 * The source breaker, per event of a source that is not paused (sl_admission_observe):
 *
 *   dlq_rate, dlq_pause_ms or
 *   dlq_window_ms <= 0                    off: nothing is counted
 *   source paused (manual or auto)        not measured: nothing is counted
 *   a later dlq window than the state's   roll: dlq_seen = dlq_dead = 0
 *   every event                           dlq_seen + 1; dead-lettered: dlq_dead + 1
 *   dlq_seen >= max(dlq_min, 1) and
 *   dlq_dead * 100 >= dlq_rate * dlq_seen trip: paused_until = now + dlq_pause_ms,
 *                                         cause dlq_rate, dlq_seen = dlq_dead = 0 (after
 *                                         the pause the breaker measures afresh)
 *
 * An auto-pause is one state whatever its cause: decided 'paused' with reason
 * 'auto_paused' until paused_until; pause_cause only says which rule started it.
 */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

/* A source's limits.  limit <= 0: unlimited.  pause_after <= 0: no flood auto-pause.
 * dlq_rate <= 0 (or dlq_pause_ms <= 0): no source breaker. */
typedef struct sl_limits_s {
        int64_t limit;
        int64_t window_ms;
        int64_t pause_after;
        int64_t pause_ms;
        int64_t dlq_rate;      /* percent of a window's events dead-lettered, 0..100 */
        int64_t dlq_min;       /* events in the window before the rate counts */
        int64_t dlq_window_ms; /* the breaker's window (> 0 when dlq_rate > 0) */
        int64_t dlq_pause_ms;  /* length of the pause the breaker starts */
} sl_limits_t;

/* Which rule started an auto-pause (values are the Avro enum's indexes in
 * schemas/admission_state.avsc: keep them). */
typedef enum sl_pause_cause {
        SL_PAUSE_CAUSE_NONE = 0, /* "none": never auto-paused */
        SL_PAUSE_CAUSE_FLOOD,    /* "flood": pause_after throttles in a window */
        SL_PAUSE_CAUSE_DLQ_RATE, /* "dlq_rate": the source breaker */
        SL_PAUSE_CAUSE__CNT
} sl_pause_cause_t;

/* What admission remembers of a source.  Zeroed means "never seen". */
typedef struct sl_source_state_s {
        int64_t window_start; /* ms */
        int64_t count;        /* admitted in the window */
        int64_t throttled;    /* throttled in the window */
        int64_t paused_until; /* auto-pause end, ms; 0 when none */
        int64_t updated_at;   /* ms */
        /* the source breaker */
        int64_t dlq_window_start; /* ms */
        int64_t dlq_seen;         /* events counted in the dlq window */
        int64_t dlq_dead;         /* ...of which dead-lettered */
        int64_t pause_cause;      /* sl_pause_cause_t of the last auto-pause */
} sl_source_state_t;

typedef enum sl_decision {
        SL_DECISION_NONE = 0,
        SL_DECISION_ACCEPTED,
        SL_DECISION_THROTTLED,
        SL_DECISION_PAUSED,
} sl_decision_t;

/* Why a decision was made; strings are stored in workflow_events.reason. */
typedef enum sl_admit_reason {
        SL_ADMIT_OK = 0,          /* "" */
        SL_ADMIT_WINDOW_FULL,     /* "window_full" */
        SL_ADMIT_AUTO_PAUSED,     /* "auto_paused" */
        SL_ADMIT_MANUALLY_PAUSED, /* "manually_paused" */
} sl_admit_reason_t;

const char *sl_decision_str(sl_decision_t d);       /* "accepted", ... */
const char *sl_pause_cause_str(sl_pause_cause_t c); /* "none", "flood", "dlq_rate" */
sl_decision_t sl_decision_parse(const char *s);     /* NONE when unknown */
const char *sl_admit_reason_str(sl_admit_reason_t r);

/* A manual pause as the pauses table holds it: active when paused and (until == 0 or
 * now < until). */
typedef struct sl_manual_pause_s {
        bool paused;
        int64_t until; /* ms; 0: until resumed */
} sl_manual_pause_t;

/*
 * Decide one event of a source at time now and update st.  pause may be NULL.
 * *started_pause (may be NULL) is set when this decision started an auto-pause (a
 * flood's: pause_cause becomes SL_PAUSE_CAUSE_FLOOD).
 * *reason (may be NULL) gets why.
 */
sl_decision_t sl_admission_decide(const sl_limits_t *lim, const sl_manual_pause_t *pause,
                                  sl_source_state_t *st, int64_t now,
                                  sl_admit_reason_t *reason, bool *started_pause);

/* Re-apply a decision already made (recorded in Postgres, replayed after a crash) to
 * st as if it had been made at time at: counts it in its window without deciding
 * again.  A decision from an older window than st's changes nothing. */
void sl_admission_apply(const sl_limits_t *lim, sl_source_state_t *st, sl_decision_t d,
                        int64_t at);

/* What the source breaker counted when it tripped (for the log). */
typedef struct sl_dlq_trip_s {
        int64_t seen;
        int64_t dead;
} sl_dlq_trip_t;

/* True when the source breaker is on for lim. */
bool sl_admission_breaker_on(const sl_limits_t *lim);

/*
 * Count one event of a source in the source breaker's window at time now (see the
 * table above): dead_lettered when it went to the dead-letter queue, else a valid
 * event that was decided (accepted or throttled; never a paused one).  pause may be
 * NULL.  An event from a dlq window older than st's is not counted (a replayed
 * decision whose window is over).  True when this event started an auto-pause; *trip
 * (may be NULL) then gets the counts that tripped it.
 */
bool sl_admission_observe(const sl_limits_t *lim, const sl_manual_pause_t *pause,
                          sl_source_state_t *st, int64_t now, bool dead_lettered,
                          sl_dlq_trip_t *trip);

/* True when the source is paused at now (manual or auto). */
bool sl_admission_paused(const sl_manual_pause_t *pause, const sl_source_state_t *st,
                         int64_t now);

#endif
