/*
 * Per-source admission (issue: durable per-source admission): fixed rate windows,
 * auto-pause after too many throttled events in one window, and manual pauses.  Pure
 * logic over a caller-owned state struct and an injected clock: no Kafka, no Postgres,
 * no time() calls, so every rule is unit-tested without sleeping.
 *
 * The rate window (window_start, count) is limits/window.h's: aligned to the epoch
 * (window_start = now - now % window_ms), so every worker that ever owns a source
 * agrees on where a window starts.
 */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

/* A source's limits.  limit <= 0: unlimited.  pause_after <= 0: no auto-pause. */
typedef struct sl_limits_s {
        int64_t limit;
        int64_t window_ms;
        int64_t pause_after;
        int64_t pause_ms;
} sl_limits_t;

/* What admission remembers of a source.  Zeroed means "never seen". */
typedef struct sl_source_state_s {
        int64_t window_start; /* ms */
        int64_t count;        /* admitted in the window */
        int64_t throttled;    /* throttled in the window */
        int64_t paused_until; /* auto-pause end, ms; 0 when none */
        int64_t updated_at;   /* ms */
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

const char *sl_decision_str(sl_decision_t d);   /* "accepted", ... */
sl_decision_t sl_decision_parse(const char *s); /* NONE when unknown */
const char *sl_admit_reason_str(sl_admit_reason_t r);

/* A manual pause as the pauses table holds it: active when paused and (until == 0 or
 * now < until). */
typedef struct sl_manual_pause_s {
        bool paused;
        int64_t until; /* ms; 0: until resumed */
} sl_manual_pause_t;

/*
 * Decide one event of a source at time now and update st.  pause may be NULL.
 * *started_pause (may be NULL) is set when this decision started an auto-pause.
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

/* True when the source is paused at now (manual or auto). */
bool sl_admission_paused(const sl_manual_pause_t *pause, const sl_source_state_t *st,
                         int64_t now);

#endif
