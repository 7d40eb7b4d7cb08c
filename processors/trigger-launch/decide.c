/* The launch stage: deciding matches, feeding results and result timeouts to the
 * breakers (launch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "sluice/err.h"
#include "trigger/launch_id.h"
#include "util/fatal.h"
#include "util/uuid.h"

/* A shed match (throttled, paused, open) that replay-shed sent again: decided again
 * now.  Launched or deferred, its row says so (replayed_at set, and for a deferred one
 * the queue position of this record); shed again, the row stays as it was and a later
 * replay-shed may try again. */
static void match_shed_again(sl_launch_t *lc, in_t *in, const sl_trigger_t *t,
                             sl_tstate_t *st, int64_t now)
{
        sl_launch_policy_t pol;
        sl_breaker_transition_t tr;
        trig_t *rt = sl__tl_trig_get(lc, in->m.trigger_id, in->part);
        bool probe;
        sl_launch_outcome_t o;

        sl__tl_policy_of(t, &pol);
        o = sl_launch_decide(&pol, st, now, !sl_pending_full(&rt->pending), &probe, &tr);
        sl__tl_transition(lc, in->m.trigger_id, t->def.name, &tr);
        rt->deferred = st->deferred;
        sl_metrics_add(lc->m_replays[o], 1);
        (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id,
                              o == SL_LAUNCH_LAUNCHED);
        if (o != SL_LAUNCH_LAUNCHED && o != SL_LAUNCH_DEFERRED)
                return;
        sl__tl_pg_add_replay(&lc->pg, in->launch_id, o, now, in->offset, probe);
        if (o == SL_LAUNCH_LAUNCHED) {
                rt->launches++;
                sl__tl_out_add(lc, (out_t){.in = in,
                                           .trigger_id = in->m.trigger_id,
                                           .launched_at = now,
                                           .probe = probe,
                                           .fresh = true});
        }
}

/* A match decided before: take what was decided; a launch is produced again. */
void sl__tl_match_recorded(sl_launch_t *lc, in_t *in, const tl_found_t *f,
                           const sl_trigger_t *t, sl_tstate_t *st, int64_t now)
{
        bool verifying = sl_pstate_verifying(lc->ps, in->part);
        sl_replay_action_t act =
            verifying
                ? sl_pstate_replay(lc->ps, in->part, in->offset, SL_REPLAY_RECORD_DECIDED)
                : SL_REPLAY_REUSE;

        /* A shed match sent again by replay-shed (also one read again after a crash
         * whose first pass did not reach Postgres): decided again, through the
         * trigger's current limit. */
        if (in->replay && t &&
            (f->outcome == SL_LAUNCH_THROTTLED || f->outcome == SL_LAUNCH_PAUSED ||
             f->outcome == SL_LAUNCH_OPEN)) {
                match_shed_again(lc, in, t, st, now);
                return;
        }
        sl_metrics_add(lc->m_replayed, 1);
        if (act == SL_REPLAY_REUSE_COUNT && t && f->first_outcome >= 0 &&
            f->first_outcome != SL_LAUNCH_DEFERRED) {
                sl_launch_policy_t pol;
                sl__tl_policy_of(t, &pol);
                sl_launch_count(&pol, st, (sl_launch_outcome_t)f->first_outcome, now);
                (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id, 0);
        }
        /* Read again after a restart: the launch may not have reached Kafka before the
         * crash, so it goes again (same launch id).  A repeat outside verify mode is
         * the match stage's; this worker produced the launch and saw it delivered. */
        if (verifying && f->outcome == SL_LAUNCH_LAUNCHED &&
            (f->first_outcome == SL_LAUNCH_LAUNCHED || in->replay)) {
                sl__tl_out_add(lc, (out_t){.in = in,
                                           .trigger_id = in->m.trigger_id,
                                           .launched_at = f->launched_at});
                if (f->waiting && t)
                        sl__tl_wait_for_result(
                            sl__tl_trig_get(lc, in->m.trigger_id, in->part),
                            in->launch_id, f->launched_at, t->def.result_timeout_ms,
                            false);
        }
}

void sl__tl_match_decide(sl_launch_t *lc, in_t *in, const sl_trigger_t *t,
                         sl_tstate_t *st, int64_t now)
{
        sl_launch_policy_t pol = {0};
        sl_breaker_transition_t tr = {0};
        sl_launch_outcome_t o = SL_LAUNCH_PAUSED;
        trig_t *rt = sl__tl_trig_get(lc, in->m.trigger_id, in->part);
        bool probe = false;
        char reason[256];

        if (sl_pstate_verifying(lc->ps, in->part))
                (void)sl_pstate_replay(lc->ps, in->part, in->offset, SL_REPLAY_NO_RECORD);
        if (t) {
                sl__tl_policy_of(t, &pol);
                o = sl_launch_decide(&pol, st, now, !sl_pending_full(&rt->pending),
                                     &probe, &tr);
                sl__tl_transition(lc, in->m.trigger_id, t->def.name, &tr);
        }
        rt->deferred = st->deferred;
        lc->counts.decisions[o]++;
        (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id,
                              o == SL_LAUNCH_LAUNCHED);
        tl_delivery_t d = {
            .launch_id = in->launch_id,
            .trigger_id = in->m.trigger_id,
            .event_id = in->m.event_id,
            .event_type = in->m.event_type,
            .workflow = in->m.workflow,
            .correlation_id = in->m.correlation_id,
            .reason =
                sl__tl_reason_of(reason, sizeof(reason), o, t, &pol, st, now, probe),
            .trigger_name = in->m.trigger_name,
            .params = in->m.params,
            .traceparent = in->m.traceparent,
            .outcome = o,
            .matched_at = in->m.matched_at,
            .decided_at = now,
            .match_offset = in->offset,
            .accepted_at = in->m.accepted_at,
            .probe = probe,
        };
        sl__tl_pg_add_delivery(&lc->pg, &d);
        if (o != SL_LAUNCH_LAUNCHED) {
                sl_log_ctx_t ctx = {.event_id = in->m.event_id,
                                    .trigger_id = in->m.trigger_id,
                                    .correlation_id = in->m.correlation_id,
                                    .launch_id = in->launch_id};
                sl_log(SL_LOG_DEBUG, &ctx, "trigger %s: %s %s", in->m.trigger_name,
                       sl_launch_outcome_str(o), d.reason ? d.reason : "");
        }
        if (o == SL_LAUNCH_LAUNCHED) {
                rt->launches++;
                sl__tl_out_add(lc, (out_t){.in = in,
                                           .trigger_id = in->m.trigger_id,
                                           .launched_at = now,
                                           .probe = probe,
                                           .fresh = true});
        }
}

static void feed_breaker(sl_launch_t *lc, trig_t *rt, const sl_pending_entry_t *e,
                         bool ok, int64_t now)
{
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, rt->id);
        sl_tstate_t *st;
        sl_breaker_transition_t tr;
        sl_launch_policy_t pol;

        if (!t)
                return; /* deleted: nothing to break */
        st = sl_pstate_work(lc->ps, rt->part, rt->id);
        if (!st)
                sl_oom("launch: a trigger's working state");
        sl__tl_policy_of(t, &pol);
        (void)sl_breaker_on_result(&pol.breaker, &st->breaker, now, e->launched_at, ok,
                                   e->was_probe, &tr);
        if (now > st->updated_at)
                st->updated_at = now;
        sl__tl_transition(lc, rt->id, t->def.name, &tr);
        (void)sl_pstate_touch(lc->ps, rt->part, rt->id, 0);
}

void sl__tl_result_one(sl_launch_t *lc, const in_t *in, int64_t now)
{
        const sl_workflow_result_t *r = &in->r;
        trig_t *rt = sl_hmap_get(&lc->trigs, r->trigger_id);
        sl_pending_entry_t e;
        uint8_t id[16];
        bool ok = strcmp(r->status, "succeeded") == 0;

        sl__tl_pg_add_result(&lc->pg, r->launch_id, r->status, r->error, r->finished_at);
        if (!rt || sl_uuid_parse(r->launch_id, id) != SL_OK ||
            !sl_pending_complete(&rt->pending, id, &e)) {
                lc->counts.unknown_results++;
                return;
        }
        sl__tl_taken_add(lc, rt, &e);
        lc->counts.results[ok ? 0 : 1]++;
        feed_breaker(lc, rt, &e, ok, now);
}

/* Launches whose result is overdue: failures, recorded as timed_out. */
void sl__tl_expire_all(sl_launch_t *lc, int64_t now)
{
        sl_pending_entry_t e[EXPIRE_CHUNK];
        size_t it = 0, n;
        sl_hmap_ent_t *ent;

        while ((ent = sl_hmap_next(&lc->trigs, &it))) {
                trig_t *rt = ent->val;
                if (sl_pending_next_deadline(&rt->pending) > now)
                        continue;
                do {
                        n = sl_pending_expire(&rt->pending, now, e, EXPIRE_CHUNK);
                        for (size_t i = 0; i < n; i++) {
                                char lid[37];
                                sl_launch_id_format(e[i].launch_id, lid);
                                sl_log_ctx_t ctx = {.trigger_id = rt->id,
                                                    .launch_id = lid};
                                sl_log(SL_LOG_DEBUG, &ctx,
                                       "no result within result_timeout_ms: a failure");
                                sl__tl_taken_add(lc, rt, &e[i]);
                                sl__tl_pg_add_result(&lc->pg, lid, "timed_out",
                                                     "no result within result_timeout_ms",
                                                     now);
                                lc->counts.results[2]++;
                                feed_breaker(lc, rt, &e[i], false, now);
                        }
                } while (n == EXPIRE_CHUNK);
        }
}
