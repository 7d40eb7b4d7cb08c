/* sluice-ingress's decisions about events seen before (see decide.h): pure functions. */
#include "decide.h"

#include "sluice/err.h"

/* The row may still be decided: the table allows admitting from its state. */
static bool decidable(const sl_ingress_retried_t *r)
{
        sl_retry_state_t to;
        return r->state_known &&
               sl_retry_transition(r->state, SL_RETRY_EV_ADMIT, &to) == SL_OK;
}

sl_retried_step_t sl_ingress_retried_step(const sl_ingress_retried_t *r, int32_t attempt)
{
        if (!r)
                return SL_RETRIED_STALE;
        if (r->event_attempt == attempt && r->decision != SL_DECISION_NONE)
                return r->state_known && r->state == SL_RETRY_EXHAUSTED
                           ? SL_RETRIED_EXHAUSTED
                           : SL_RETRIED_RECORDED;
        /* Only a row waiting on this attempt counts: 'due', or still 'scheduled' /
         * 'rescheduled' when sluice-retry's 'due' mark, written behind the
         * re-injection, has not landed yet.  A second copy of the same attempt in the
         * batch is a duplicate wake-up. */
        if (r->taken || !decidable(r) || r->retry_attempt != attempt)
                return SL_RETRIED_STALE;
        return SL_RETRIED_DECIDE;
}

int sl_ingress_retried_next(sl_retry_state_t from, sl_decision_t d, int32_t attempt,
                            int max_attempts, sl_retry_event_t *ev, sl_retry_state_t *to)
{
        if (d == SL_DECISION_ACCEPTED)
                *ev = SL_RETRY_EV_ADMIT;
        else if (attempt + 1 <= max_attempts)
                *ev = SL_RETRY_EV_HOLD;
        else
                *ev = SL_RETRY_EV_EXHAUST;
        return sl_retry_transition(from, *ev, to);
}

sl_dup_outcome_t sl_ingress_duplicate(const sl_ingress_recorded_t *r, int32_t partition,
                                      int64_t offset, sl_decision_t d)
{
        sl_dup_outcome_t out = {.action = SL_DUP_NONE};

        if (!r || (r->partition == partition && r->offset == offset))
                return out; /* no row, or this very record's row */
        out.unapply = true;
        out.drop_intent = d != SL_DECISION_ACCEPTED && r->attempt == 0 &&
                          r->decision == SL_DECISION_ACCEPTED;
        out.action = r->attempt > 0 ? SL_DUP_STALE : SL_DUP_REUSE;
        return out;
}
