/*
 * Admission decisions (see admission.h).  Order of the rules for one event:
 * manual pause, auto-pause, window roll-over, then the window's limit; a throttle
 * that reaches pause_after in the window starts an auto-pause of pause_ms (cause
 * flood).  The source breaker (sl_admission_observe) counts events and dead letters
 * in its own window and starts an auto-pause of dlq_pause_ms (cause dlq_rate).
 */
#include "limits/admission.h"

#include <string.h>

#include "limits/window.h"

const char *sl_decision_str(sl_decision_t d)
{
        switch (d) {
        case SL_DECISION_ACCEPTED:
                return "accepted";
        case SL_DECISION_THROTTLED:
                return "throttled";
        case SL_DECISION_PAUSED:
                return "paused";
        case SL_DECISION_NONE:
                break;
        }
        return "";
}

sl_decision_t sl_decision_parse(const char *s)
{
        if (!s)
                return SL_DECISION_NONE;
        if (!strcmp(s, "accepted"))
                return SL_DECISION_ACCEPTED;
        if (!strcmp(s, "throttled"))
                return SL_DECISION_THROTTLED;
        if (!strcmp(s, "paused"))
                return SL_DECISION_PAUSED;
        return SL_DECISION_NONE;
}

const char *sl_admit_reason_str(sl_admit_reason_t r)
{
        switch (r) {
        case SL_ADMIT_WINDOW_FULL:
                return "window_full";
        case SL_ADMIT_AUTO_PAUSED:
                return "auto_paused";
        case SL_ADMIT_MANUALLY_PAUSED:
                return "manually_paused";
        case SL_ADMIT_OK:
                break;
        }
        return "";
}

const char *sl_pause_cause_str(sl_pause_cause_t c)
{
        switch (c) {
        case SL_PAUSE_CAUSE_FLOOD:
                return "flood";
        case SL_PAUSE_CAUSE_DLQ_RATE:
                return "dlq_rate";
        case SL_PAUSE_CAUSE_NONE:
        case SL_PAUSE_CAUSE__CNT:
                break;
        }
        return "none";
}

/* The source's rate window, as limits/window.h takes it, and back. */
static sl_window_t window_get(const sl_source_state_t *st)
{
        return (sl_window_t){.start = st->window_start, .count = st->count};
}

static void window_set(sl_source_state_t *st, const sl_window_t *w)
{
        st->window_start = w->start;
        st->count = w->count;
}

/* Move st to the window that holds now; a new window starts empty. */
static void roll(const sl_limits_t *lim, sl_source_state_t *st, int64_t now)
{
        sl_window_t w = window_get(st);

        if (sl_window_roll(&w, lim->window_ms, now)) {
                window_set(st, &w);
                st->throttled = 0;
        }
}

/* Roll, then take one unit of the window if it has room: true when taken. */
static bool take(const sl_limits_t *lim, sl_source_state_t *st, int64_t now)
{
        sl_window_t w = window_get(st);
        bool taken = sl_window_take(&w, lim->limit, lim->window_ms, now);

        window_set(st, &w);
        return taken;
}

bool sl_admission_paused(const sl_manual_pause_t *pause, const sl_source_state_t *st,
                         int64_t now)
{
        if (pause && pause->paused && (pause->until == 0 || now < pause->until))
                return true;
        return st->paused_until > now;
}

sl_decision_t sl_admission_decide(const sl_limits_t *lim, const sl_manual_pause_t *pause,
                                  sl_source_state_t *st, int64_t now,
                                  sl_admit_reason_t *reason, bool *started_pause)
{
        sl_admit_reason_t why = SL_ADMIT_OK;
        sl_decision_t d;

        if (started_pause)
                *started_pause = false;
        st->updated_at = now;
        roll(lim, st, now);
        if (pause && pause->paused && (pause->until == 0 || now < pause->until)) {
                d = SL_DECISION_PAUSED;
                why = SL_ADMIT_MANUALLY_PAUSED;
        } else if (st->paused_until > now) {
                d = SL_DECISION_PAUSED;
                why = SL_ADMIT_AUTO_PAUSED;
        } else if (take(lim, st, now)) {
                d = SL_DECISION_ACCEPTED;
        } else {
                d = SL_DECISION_THROTTLED;
                why = SL_ADMIT_WINDOW_FULL;
                st->throttled++;
                if (lim->pause_after > 0 && lim->pause_ms > 0 &&
                    st->throttled >= lim->pause_after) {
                        st->paused_until = now + lim->pause_ms;
                        st->pause_cause = SL_PAUSE_CAUSE_FLOOD;
                        if (started_pause)
                                *started_pause = true;
                }
        }
        if (reason)
                *reason = why;
        return d;
}

void sl_admission_apply(const sl_limits_t *lim, sl_source_state_t *st, sl_decision_t d,
                        int64_t at)
{
        if (sl_window_start_of(lim->window_ms, at) < st->window_start)
                return;
        roll(lim, st, at);
        if (at > st->updated_at)
                st->updated_at = at;
        if (d == SL_DECISION_ACCEPTED)
                st->count++;
        else if (d == SL_DECISION_THROTTLED)
                st->throttled++;
}

bool sl_admission_breaker_on(const sl_limits_t *lim)
{
        return lim->dlq_rate > 0 && lim->dlq_pause_ms > 0 && lim->dlq_window_ms > 0;
}

bool sl_admission_observe(const sl_limits_t *lim, const sl_manual_pause_t *pause,
                          sl_source_state_t *st, int64_t now, bool dead_lettered,
                          sl_dlq_trip_t *trip)
{
        sl_window_t w = {.start = st->dlq_window_start, .count = st->dlq_seen};
        int64_t min = lim->dlq_min > 1 ? lim->dlq_min : 1;

        if (!sl_admission_breaker_on(lim) || sl_admission_paused(pause, st, now))
                return false;
        if (sl_window_start_of(lim->dlq_window_ms, now) < st->dlq_window_start)
                return false; /* its window is over */
        if (sl_window_roll(&w, lim->dlq_window_ms, now))
                st->dlq_dead = 0;
        st->dlq_window_start = w.start;
        st->dlq_seen = w.count + 1;
        if (dead_lettered)
                st->dlq_dead++;
        if (now > st->updated_at)
                st->updated_at = now;
        /* dlq_rate <= 100 and the counts are event counts: no overflow. */
        if (st->dlq_seen < min || st->dlq_dead * 100 < lim->dlq_rate * st->dlq_seen)
                return false;
        if (trip)
                *trip = (sl_dlq_trip_t){.seen = st->dlq_seen, .dead = st->dlq_dead};
        st->paused_until = now + lim->dlq_pause_ms;
        st->pause_cause = SL_PAUSE_CAUSE_DLQ_RATE;
        st->dlq_seen = 0;
        st->dlq_dead = 0;
        return true;
}
