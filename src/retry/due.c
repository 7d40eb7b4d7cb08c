/* Due-time decisions of sluice-retry (see due.h).  No I/O, no clock of its own. */
#include "retry/due.h"

#include <string.h>

#include "limits/backoff.h"

sl_retry_decision_t sl_retry_decide(const sl_retry_timing_t *t, size_t tier,
                                    int64_t ts_ms, int64_t due_at, int64_t now)
{
        sl_retry_decision_t d = {.action = SL_RETRY_INJECT, .wake_at = now, .tier = 0};
        int64_t remaining;

        if (ts_ms >= 0 && tier < t->ntiers && ts_ms + t->tiers_ms[tier] > now) {
                d.action = SL_RETRY_SLEEP;
                d.wake_at = ts_ms + t->tiers_ms[tier];
                return d;
        }
        remaining = due_at - now;
        if (remaining <= t->tolerance_ms)
                return d;
        if (remaining >= t->tiers_ms[0]) {
                d.action = SL_RETRY_HOP;
                d.tier = sl_backoff_tier(t->tiers_ms, t->ntiers, remaining);
                return d;
        }
        d.action = SL_RETRY_DELAY;
        d.wake_at = due_at - t->tolerance_ms;
        return d;
}

int sl_retry_tier_of(const char (*topics)[256], size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(topics[i], name) == 0)
                        return (int)i;
        return -1;
}
