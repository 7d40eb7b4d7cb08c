/* The retry lifecycle's transition table (see state.h). */
#include "retry/state.h"

#include <stdio.h>
#include <string.h>

#include "sluice/err.h"

static const char *const state_names[SL_RETRY__STATE_CNT] = {
    "scheduled", "due", "completed", "rescheduled", "cancelled", "exhausted"};

static const char *const event_names[SL_RETRY__EV_CNT] = {"wake",    "admit",   "hold",
                                                          "exhaust", "redrive", "cancel"};

/* next[from][ev]: the state after ev, or -1 when not allowed. */
#define NO -1
static const int next[SL_RETRY__STATE_CNT][SL_RETRY__EV_CNT] = {
    /* admit / hold / exhaust from a waiting state: ingress decided the re-injected
     * attempt before sluice-retry's 'due' mark landed. */
    [SL_RETRY_SCHEDULED] = {SL_RETRY_DUE, SL_RETRY_COMPLETED, SL_RETRY_RESCHEDULED,
                            SL_RETRY_EXHAUSTED, NO, SL_RETRY_CANCELLED},
    [SL_RETRY_DUE] = {NO, SL_RETRY_COMPLETED, SL_RETRY_RESCHEDULED, SL_RETRY_EXHAUSTED,
                      SL_RETRY_SCHEDULED, SL_RETRY_CANCELLED},
    [SL_RETRY_COMPLETED] = {NO, NO, NO, NO, NO, NO},
    [SL_RETRY_RESCHEDULED] = {SL_RETRY_DUE, SL_RETRY_COMPLETED, SL_RETRY_RESCHEDULED,
                              SL_RETRY_EXHAUSTED, NO, SL_RETRY_CANCELLED},
    [SL_RETRY_CANCELLED] = {NO, NO, NO, NO, NO, NO},
    [SL_RETRY_EXHAUSTED] = {NO, NO, NO, NO, NO, NO},
};

const char *sl_retry_state_str(sl_retry_state_t s)
{
        return (unsigned)s < SL_RETRY__STATE_CNT ? state_names[s] : "?";
}

const char *sl_retry_event_str(sl_retry_event_t ev)
{
        return (unsigned)ev < SL_RETRY__EV_CNT ? event_names[ev] : "?";
}

int sl_retry_state_parse(const char *s, sl_retry_state_t *out)
{
        for (int i = 0; i < SL_RETRY__STATE_CNT; i++) {
                if (strcmp(s, state_names[i]) == 0) {
                        *out = (sl_retry_state_t)i;
                        return SL_OK;
                }
        }
        return SL_ERR_INVALID;
}

int sl_retry_transition(sl_retry_state_t from, sl_retry_event_t ev, sl_retry_state_t *to)
{
        if ((unsigned)from >= SL_RETRY__STATE_CNT || (unsigned)ev >= SL_RETRY__EV_CNT ||
            next[from][ev] == NO)
                return SL_ERR_STATE;
        *to = (sl_retry_state_t)next[from][ev];
        return SL_OK;
}

/* Waiting: a wake-up may move it. */
bool sl_retry_state_waiting(sl_retry_state_t s)
{
        return (unsigned)s < SL_RETRY__STATE_CNT && next[s][SL_RETRY_EV_WAKE] != NO;
}

/* Final: no event moves it. */
bool sl_retry_state_final(sl_retry_state_t s)
{
        if ((unsigned)s >= SL_RETRY__STATE_CNT)
                return false;
        for (int ev = 0; ev < SL_RETRY__EV_CNT; ev++)
                if (next[s][ev] != NO)
                        return false;
        return true;
}

int sl_retry_state_set_sql(sl_retry_event_t ev, char *buf, size_t size)
{
        size_t n = 0;
        int len = 0;

        if ((unsigned)ev >= SL_RETRY__EV_CNT)
                return -1;
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++) {
                if (next[s][ev] == NO)
                        continue;
                len += snprintf(buf + n, size > n ? size - n : 0, "%s'%s'",
                                len ? ", " : "(", state_names[s]);
                n = (size_t)len < size ? (size_t)len : size;
        }
        len += snprintf(buf + n, size > n ? size - n : 0, len ? ")" : "()");
        return len;
}
