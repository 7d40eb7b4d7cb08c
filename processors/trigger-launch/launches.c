/* The launch stage: launch records, the deferred queues' releases, and the launches
 * produced again after an assignment (launch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "sluice/err.h"
#include "util/fatal.h"

int sl__tl_produce_launch(sl_launch_t *lc, sl_runtime_t *rt, const out_t *o)
{
        sl_workflow_launch_t l;
        rd_kafka_headers_t *hdrs = NULL;
        int err;

        if (o->in) {
                const sl_trigger_match_t *m = &o->in->m;
                l = (sl_workflow_launch_t){.launch_id = o->in->launch_id,
                                           .trigger_id = m->trigger_id,
                                           .trigger_name = m->trigger_name,
                                           .workflow = m->workflow,
                                           .params = m->params,
                                           .event_id = m->event_id,
                                           .correlation_id = m->correlation_id,
                                           .traceparent = m->traceparent,
                                           .accepted_at = m->accepted_at,
                                           .launched_at = o->launched_at};
        } else {
                const tl_deferred_t *d = o->d;
                l = (sl_workflow_launch_t){.launch_id = d->launch_id,
                                           .trigger_id = o->trigger_id,
                                           .trigger_name = d->trigger_name,
                                           .workflow = d->workflow,
                                           .params = d->params,
                                           .event_id = d->event_id,
                                           .correlation_id = d->correlation_id,
                                           .traceparent = d->traceparent,
                                           .accepted_at = d->accepted_at,
                                           .launched_at = o->launched_at};
        }
        if ((err = sl_workflow_launch_encode(&l, &lc->buf)) != SL_OK)
                return err;
        if (l.traceparent) {
                hdrs = rd_kafka_headers_new(1);
                rd_kafka_header_add(hdrs, "traceparent", -1, l.traceparent, -1);
        }
        if (l.accepted_at > 0 && o->launched_at >= l.accepted_at)
                sl_metrics_observe(lc->m_latency,
                                   (double)(o->launched_at - l.accepted_at) / 1000.0);
        sl_log_ctx_t ctx = {.event_id = l.event_id,
                            .trigger_id = l.trigger_id,
                            .correlation_id = l.correlation_id,
                            .launch_id = l.launch_id};
        sl_log(SL_LOG_DEBUG, &ctx, "launch of workflow %s (trigger %s)", l.workflow,
               l.trigger_name);
        return sl_runtime_produce(rt, lc->topic_launches, l.trigger_id,
                                  strlen(l.trigger_id), lc->buf.p, lc->buf.len, hdrs);
}

/* Launch the head of every deferred queue that has room now (after the batch's own
 * decisions are in Postgres and in the store). */
int sl__tl_release_deferred(sl_launch_t *lc, sl_runtime_t *rt, int64_t now)
{
        size_t it = 0;
        sl_hmap_ent_t *ent;
        char errstr[512];

        lc->release_at = 0;
        while ((ent = sl_hmap_next(&lc->trigs, &it))) {
                trig_t *tg = ent->val;
                const sl_trigger_t *t;
                sl_launch_policy_t pol;
                sl_tstate_t st;
                tl_deferred_t *d = NULL;
                bool probe[RELEASE_MAX];
                size_t nd = 0, k = 0;
                int64_t room;
                int err;

                if (tg->deferred <= 0 || !(t = sl_hmap_get(&lc->by_id, tg->id)))
                        continue;
                lc->release_at = now + DEFER_POLL_MS; /* until every queue is empty */
                if (sl_pstate_get(lc->ps, tg->part, tg->id, &st) != SL_OK)
                        continue;
                sl__tl_policy_of(t, &pol);
                room = sl_launch_release_room(&pol, &st, now);
                if (room <= 0)
                        continue;
                if (room > RELEASE_MAX)
                        room = RELEASE_MAX;
                err = sl__tl_pg_deferred_head(&lc->pg, tg->id, room, &d, &nd, errstr,
                                              sizeof(errstr));
                if (err != SL_OK) {
                        sl_log_error("deferred matches of trigger %s: %s", t->def.name,
                                     errstr);
                        return err;
                }
                for (k = 0; k < nd; k++) {
                        sl_breaker_transition_t tr;
                        if (!sl_launch_release_one(&pol, &st, now, &probe[k], &tr))
                                break;
                        sl__tl_transition(lc, tg->id, t->def.name, &tr);
                }
                if ((int64_t)nd < room) /* the queue is shorter than the state says */
                        st.deferred = (int64_t)(nd - k);
                if (k && d[k - 1].match_offset >= st.released_next)
                        st.released_next = d[k - 1].match_offset + 1;
                err = sl__tl_pg_mark_launched(&lc->pg, d, probe, k, now, errstr,
                                              sizeof(errstr));
                if (err != SL_OK) {
                        sl_log_error("launching deferred matches of trigger %s: %s",
                                     t->def.name, errstr);
                        sl__tl_deferred_free(d, nd);
                        return err;
                }
                for (size_t i = 0; i < k && err == SL_OK; i++) {
                        out_t o = {.d = &d[i],
                                   .trigger_id = tg->id,
                                   .launched_at = now,
                                   .probe = probe[i]};
                        err = sl__tl_produce_launch(lc, rt, &o);
                        sl__tl_wait_for_result(tg, d[i].launch_id, now,
                                               t->def.result_timeout_ms, probe[i]);
                }
                sl__tl_deferred_free(d, nd);
                if (err != SL_OK)
                        return err;
                sl_metrics_add(lc->m_decisions[SL_LAUNCH_LAUNCHED], k);
                tg->launches += (int64_t)k;
                tg->deferred = st.deferred;
                if (sl_pstate_put(lc->ps, tg->part, tg->id, &st) != SL_OK)
                        sl_oom("launch: a trigger's state");
                (void)sl_pstate_touch(lc->ps, tg->part, tg->id, (int64_t)k);
                if (k)
                        sl_log_debug(
                            "trigger %s: %zu deferred matches launched, %lld wait",
                            t->def.name, k, (long long)st.deferred);
        }
        return SL_OK;
}

/* Under exactly_once, a released launch below its trigger's released_next went out in
 * the transaction that committed the restored state: not produced again. */
static bool committed_before(sl_launch_t *lc, const tl_deferred_t *d)
{
        sl_tstate_t st;

        return lc->eos && d->match_offset >= 0 &&
               sl_pstate_get(lc->ps, sl__tl_part_of(lc, d->trigger_id), d->trigger_id,
                             &st) == SL_OK &&
               d->match_offset < st.released_next;
}

/* After producing d again: its trigger's released_next past it. */
static void released(sl_launch_t *lc, const tl_deferred_t *d)
{
        int32_t p = sl__tl_part_of(lc, d->trigger_id);
        sl_tstate_t st;

        if (d->match_offset < 0 ||
            sl_pstate_get(lc->ps, p, d->trigger_id, &st) != SL_OK ||
            d->match_offset < st.released_next)
                return;
        st.released_next = d->match_offset + 1;
        if (sl_pstate_put(lc->ps, p, d->trigger_id, &st) != SL_OK)
                sl_oom("launch: a trigger's state");
}

/* The launches restore_waiting() kept for the first batch after an assignment. */
int sl__tl_relaunch(sl_launch_t *lc, sl_runtime_t *rt)
{
        const char **ids;
        tl_deferred_t *d = NULL;
        size_t nd = 0, again = 0, skipped = 0;
        char errstr[512];
        int err;

        if (!lc->nrelaunch)
                return SL_OK;
        ids = malloc(lc->nrelaunch * sizeof(*ids));
        if (!ids)
                sl_oom("launch: relaunches");
        for (size_t i = 0; i < lc->nrelaunch; i++)
                ids[i] = lc->relaunch[i].id;
        err = sl__tl_pg_relaunches(&lc->pg, ids, lc->nrelaunch, &d, &nd, errstr,
                                   sizeof(errstr));
        free(ids);
        if (err != SL_OK) {
                sl_log_error("launches to produce again: %s", errstr);
                return err;
        }
        for (size_t i = 0; i < nd && err == SL_OK; i++) {
                out_t o = {.d = &d[i],
                           .trigger_id = d[i].trigger_id,
                           .launched_at = d[i].launched_at};
                if (committed_before(lc, &d[i])) {
                        skipped++;
                        continue;
                }
                err = sl__tl_produce_launch(lc, rt, &o);
                if (err == SL_OK) {
                        released(lc, &d[i]);
                        again++;
                }
        }
        if (err == SL_OK && (again || skipped))
                sl_log_info("%zu launches from deferred queues produced again after the "
                            "assignment (same launch ids); %zu already committed with "
                            "the restored state",
                            again, skipped);
        sl__tl_deferred_free(d, nd);
        if (err == SL_OK)
                lc->nrelaunch = 0;
        return err;
}
