/* The launch stage: metrics, logs of breaker transitions, the reason of a decision,
 * and the scheduler_state mirror (launch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/state_mirror.h"
#include "sluice/err.h"
#include "util/clock.h"
#include "util/fatal.h"

/* --- metrics and logs --------------------------------------------------------------- */

void sl__tl_register_metrics(sl_launch_t *lc)
{
        static const char *const results[] = {"succeeded", "failed", "timed_out"};
        static const char *const states[] = {"closed", "open", "half_open"};
        static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,  5,     10,   30,  60};
        char labels[64];

        for (int o = 0; o < SL_LAUNCH__CNT; o++) {
                snprintf(labels, sizeof(labels), "outcome=\"%s\"",
                         sl_launch_outcome_str((sl_launch_outcome_t)o));
                lc->m_decisions[o] = sl_metrics_counter(
                    "sluice_trigger_launch_decisions_total", labels,
                    "Match decisions by outcome (replayed ones not counted).");
                lc->m_replays[o] = sl_metrics_counter(
                    "sluice_trigger_replay_shed_total", labels,
                    "Shed matches sent again by `sluicectl triggers replay-shed`, by the "
                    "outcome of their new decision.");
        }
        for (int r = 0; r < 3; r++) {
                snprintf(labels, sizeof(labels), "result=\"%s\"", results[r]);
                lc->m_results[r] = sl_metrics_counter(
                    "sluice_trigger_launch_results_total", labels,
                    "Launch results fed to breakers (timed_out: none within "
                    "result_timeout_ms).");
        }
        for (int s = 0; s < 3; s++) {
                snprintf(labels, sizeof(labels), "to=\"%s\"", states[s]);
                lc->m_transitions[s] = sl_metrics_counter(
                    "sluice_trigger_breaker_transitions_total", labels,
                    "Circuit breaker transitions, by the state entered.");
                snprintf(labels, sizeof(labels), "state=\"%s\"", states[s]);
                lc->m_breakers[s] =
                    sl_metrics_gauge("sluice_trigger_breakers", labels,
                                     "Triggers owned by this worker, by breaker state.");
        }
        lc->m_replayed = sl_metrics_counter(
            "sluice_trigger_launch_replayed_total", NULL,
            "Matches found decided already (read again after a restart, or repeated by "
            "the match stage): not decided again.");
        lc->m_redecided = sl_metrics_counter(
            "sluice_trigger_launch_batches_redecided_total", NULL,
            "Batches decided without a lookup whose insert found a match decided "
            "before (a repeat of the match stage): taken back and decided again after "
            "a lookup.");
        lc->m_undecodable = sl_metrics_counter(
            "sluice_trigger_launch_undecodable_total", NULL,
            "Match or result records that do not decode (skipped, logged).");
        lc->m_unknown_result = sl_metrics_counter(
            "sluice_trigger_launch_results_unmatched_total", NULL,
            "Results for no launch waiting here (a repeat, or after the timeout).");
        lc->m_latency =
            sl_metrics_histogram("sluice_trigger_accepted_to_launch_seconds", NULL,
                                 "From the event's acceptance by ingress to its launch.",
                                 bounds, sizeof(bounds) / sizeof(bounds[0]));
        lc->m_deferred =
            sl_metrics_gauge("sluice_trigger_deferred", NULL,
                             "Deferred matches waiting, on the triggers this "
                             "worker owns.");
        lc->m_waiting = sl_metrics_gauge("sluice_trigger_launches_waiting", NULL,
                                         "Launches waiting for their result.");
        lc->m_mirror_errors =
            sl_metrics_counter("sluice_trigger_mirror_errors_total", NULL,
                               "Failed scheduler_state mirror writes.");
}

void sl__tl_transition(sl_launch_t *lc, const char *trigger_id, const char *name,
                       const sl_breaker_transition_t *tr)
{
        sl_log_ctx_t ctx = {.trigger_id = trigger_id};

        if (tr->from == tr->to)
                return;
        sl_metrics_add(lc->m_transitions[tr->to], 1);
        if (tr->to == SL_BREAKER_OPEN)
                sl_log(SL_LOG_WARN, &ctx,
                       "trigger %s: breaker %s -> open (%s; %lld failed of %lld in the "
                       "window) until %lld",
                       name, sl_breaker_state_str(tr->from), sl_breaker_why_str(tr->why),
                       (long long)tr->failures, (long long)tr->results,
                       (long long)tr->open_until);
        else
                sl_log(SL_LOG_INFO, &ctx, "trigger %s: breaker %s -> %s (%s)", name,
                       sl_breaker_state_str(tr->from), sl_breaker_state_str(tr->to),
                       sl_breaker_why_str(tr->why));
}

/* Why a match got its outcome, as JSON for trigger_deliveries.reason. */
const char *sl__tl_reason_of(char *buf, size_t size, sl_launch_outcome_t o,
                             const sl_trigger_t *t, const sl_launch_policy_t *pol,
                             const sl_tstate_t *st, int64_t now, bool probe)
{
        switch (o) {
        case SL_LAUNCH_PAUSED:
                if (!t)
                        snprintf(buf, size, "{\"trigger\":\"deleted\"}");
                else if (!pol->enabled)
                        snprintf(buf, size, "{\"enabled\":false}");
                else
                        snprintf(buf, size, "{\"paused\":true,\"paused_until\":%lld}",
                                 (long long)pol->paused_until);
                return buf;
        case SL_LAUNCH_OPEN:
                snprintf(buf, size,
                         "{\"breaker\":\"%s\",\"open_until\":%lld,\"reopens\":%d}",
                         sl_breaker_state_str(
                             sl_breaker_state(&pol->breaker, &st->breaker, now)),
                         (long long)st->breaker.open_until, (int)st->breaker.reopens);
                return buf;
        case SL_LAUNCH_THROTTLED:
        case SL_LAUNCH_DEFERRED:
                snprintf(buf, size,
                         "{\"window_start\":%lld,\"count\":%lld,\"limit\":%lld,"
                         "\"deferred\":%lld}",
                         (long long)st->window.start, (long long)st->window.count,
                         (long long)pol->rate_limit, (long long)st->deferred);
                return buf;
        case SL_LAUNCH_LAUNCHED:
                if (!probe)
                        return NULL;
                snprintf(buf, size, "{\"probe\":true}");
                return buf;
        default:
                return NULL;
        }
}

/* --- mirror, gauges, timer -----------------------------------------------------------
 */

static void mirror_add(int32_t part, const char *key, int64_t n, void *opaque)
{
        sl_launch_t *lc = opaque;
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, key);
        trig_t *tg = sl_hmap_get(&lc->trigs, key);
        sl_launch_policy_t pol = {0};
        sl_tstate_t st;
        char detail[256];

        (void)n;
        if (sl_pstate_get(lc->ps, part, key, &st) != SL_OK)
                return;
        if (t)
                sl__tl_policy_of(t, &pol);
        snprintf(
            detail, sizeof(detail),
            "{\"breaker\":\"%s\",\"open_until\":%lld,\"reopens\":%d,\"deferred\":%lld,"
            "\"waiting\":%zu}",
            sl_breaker_state_str(
                t ? sl_breaker_state(&pol.breaker, &st.breaker, sl_wall_ms())
                  : (sl_breaker_state_t)st.breaker.state),
            (long long)st.breaker.open_until, (int)st.breaker.reopens,
            (long long)st.deferred, tg ? sl_pending_count(&tg->pending) : (size_t)0);
        sl_state_mirror_row_t row = {.key = key,
                                     .partition = part,
                                     .window_start = st.window.start,
                                     .window_count = st.window.count,
                                     .throttled = st.throttled,
                                     .paused_until = st.breaker.state == SL_BREAKER_OPEN
                                                         ? st.breaker.open_until
                                                         : 0,
                                     .updated_at = st.updated_at,
                                     .detail = detail};
        sl_state_mirror_add(lc->mirror, &row);
}

typedef struct gauges_s {
        sl_launch_t *lc;
        int64_t now, deferred;
        size_t breakers[3];
} gauges_t;

static void gauge_one(int32_t part, const char *key, const void *value, void *opaque)
{
        gauges_t *g = opaque;
        const sl_tstate_t *st = value;
        const sl_trigger_t *t = sl_hmap_get(&g->lc->by_id, key);
        sl_launch_policy_t pol;

        (void)part;
        g->deferred += st->deferred;
        if (!t)
                return;
        sl__tl_policy_of(t, &pol);
        g->breakers[sl_breaker_state(&pol.breaker, &st->breaker, g->now)]++;
}

static void render_top(sl_launch_t *lc, double secs)
{
        sl_metrics_top_t *top = malloc((sl_hmap_count(&lc->trigs) + 1) * sizeof(*top));
        size_t n = 0, it = 0;
        sl_hmap_ent_t *e;

        if (!top)
                return;
        while ((e = sl_hmap_next(&lc->trigs, &it))) {
                trig_t *tg = e->val;
                const sl_trigger_t *t = sl_hmap_get(&lc->by_id, tg->id);
                top[n++] = (sl_metrics_top_t){.label = t ? t->def.name : tg->id,
                                              .count = tg->launches};
                tg->launches = 0;
        }
        sl_metrics_set_top("trigger_top_launches",
                           "sluice_trigger_top_launches_per_second",
                           "Launches per second of the trigger.top.triggers busiest "
                           "triggers over the last mirror interval; the rest are summed "
                           "under trigger=\"_other\".",
                           "trigger", top, n, (size_t)lc->top_k, secs);
        free(top);
}

void sl__tl_mirror(sl_launch_t *lc, bool force)
{
        gauges_t g = {.lc = lc, .now = sl_wall_ms()};
        size_t waiting = 0, it = 0;
        sl_hmap_ent_t *e;
        char errstr[512];
        double secs;

        if (!sl_state_mirror_due(lc->mirror, sl_mono_ms(), force, &secs))
                return;
        sl_pstate_foreach(lc->ps, gauge_one, &g);
        while ((e = sl_hmap_next(&lc->trigs, &it)))
                waiting += sl_pending_count(&((trig_t *)e->val)->pending);
        sl_metrics_set(lc->m_deferred, (double)g.deferred);
        sl_metrics_set(lc->m_waiting, (double)waiting);
        for (int s = 0; s < 3; s++)
                sl_metrics_set(lc->m_breakers[s], (double)g.breakers[s]);
        render_top(lc, secs);
        if (!sl_pstate_touched_count(lc->ps))
                return;
        sl_pstate_touched_foreach(lc->ps, mirror_add, lc);
        sl_pstate_touched_clear(lc->ps);
        if (sl_state_mirror_write(lc->mirror, sl_pg_session_conn(lc->pg.ses), errstr,
                                  sizeof(errstr)) != SL_OK) {
                sl_metrics_add(lc->m_mirror_errors, 1);
                sl_log_warn("%s", errstr);
        }
}
