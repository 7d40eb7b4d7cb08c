/* Shadow evaluation (shadow.h): the stages' decisions replayed on the events' times. */
#include "history/shadow.h"

#include <string.h>

#include "trigger/filter.h"

void sl_shadow_trigger_init(sl_shadow_trigger_t *sh, const sl_triggers_t *ts)
{
        memset(sh, 0, sizeof(*sh));
        sh->ts = ts;
        sh->t = sl_triggers_at(ts, 0);
        sl_trigger_launch_policy(sh->t, &sh->pol);
}

bool sl_shadow_trigger_reads_payload(const sl_shadow_trigger_t *sh)
{
        return sh->t->filter && sl_filter_uses_payload(sh->t->filter);
}

void sl_shadow_trigger_event(sl_shadow_trigger_t *sh, const sl_envelope_t *env,
                             const json_t *payload, int64_t now, sl_shadow_counts_t *c)
{
        const sl_trigger_t *cand[1];
        bool probe;
        sl_breaker_transition_t tr;

        if (sl_triggers_candidates(sh->ts, env->type, env->source, cand, 1) == 0)
                return;
        c->considered++;
        if (sh->t->filter) {
                if (sl_shadow_trigger_reads_payload(sh) && !payload)
                        return;
                if (!sl_filter_eval(sh->t->filter, env, payload))
                        return;
        }
        c->matched++;
        while (sh->st.deferred > 0 &&
               sl_launch_release_one(&sh->pol, &sh->st, now, &probe, &tr))
                c->released++;
        c->outcome[sl_launch_decide(&sh->pol, &sh->st, now, true, &probe, &tr)]++;
}

void sl_shadow_source_event(sl_shadow_source_t *sh, int64_t now, sl_shadow_admit_t *c)
{
        sl_decision_t d = sl_admission_decide(&sh->lim, NULL, &sh->st, now, NULL, NULL);

        c->events++;
        if (d >= SL_DECISION_ACCEPTED && d <= SL_DECISION_PAUSED)
                c->decision[d]++;
}
