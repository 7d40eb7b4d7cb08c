/* The launch stage (launch.h). */
#include "launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "launch_int.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/state_mirror.h"
#include "pg/triggers_watch.h"
#include "sluice/err.h"
#include "state/pstate.h"
#include "trigger/launch_id.h"
#include "trigger/pending.h"
#include "trigger/records.h"
#include "trigger/replay_shed.h"
#include "util/array.h"
#include "util/fatal.h"
#include "util/hmap.h"
#include "util/uuid.h"

#define RELEASE_MAX   1000 /* deferred matches one trigger launches per batch, at most */
#define DEFER_POLL_MS 100  /* how often a trigger with a deferred queue is looked at */
#define EXPIRE_CHUNK  64

/* What this worker keeps per trigger besides its state: the launches waiting for a
 * result, and what the deferred scan and the metrics need. */
typedef struct trig_s {
        char id[37];
        int32_t part;
        sl_pending_t pending;
        int64_t deferred; /* the state's deferred, for the scan */
        int64_t launches; /* since the last top-k render */
} trig_t;

/* One decoded input record. */
typedef struct in_s {
        int32_t part;
        int64_t offset;
        bool is_match;
        bool replay; /* a shed match sent again by `triggers replay-shed` */
        char launch_id[37];
        sl_trigger_match_t m;
        sl_workflow_result_t r;
} in_t;

/* A launch to produce once Postgres has the batch. */
typedef struct out_s {
        const in_t *in; /* the match, or NULL: a deferred one (d) */
        const tl_deferred_t *d;
        const char *trigger_id;
        int64_t launched_at;
        bool probe;
        bool fresh; /* decided in this batch (else produced again) */
} out_t;

/* A pending entry taken out during a batch, put back if the batch fails. */
typedef struct taken_s {
        trig_t *t;
        sl_pending_entry_t e;
} taken_t;

struct sl_launch_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        const char *topics[3];
        char topic_matches[256], topic_results[256], topic_launches[256], changelog[256];
        int32_t nparts;     /* of trigger.matches, learnt at the first assignment */
        int64_t release_at; /* next look at the deferred queues (ms); 0: none wait */

        sl_triggers_watch_t *watch;
        const sl_triggers_t *ts;
        uint64_t ts_loads;
        sl_hmap_t by_id; /* trigger id -> const sl_trigger_t * of ts */

        sl_pstate_t *ps;
        sl_hmap_t trigs; /* trigger id -> trig_t * */
        size_t pending_max;
        tl_pg_t pg;
        sl_state_mirror_t *mirror;
        int top_k;

        /* per batch, reused */
        in_t *in;
        size_t in_cap;
        const char **ids;
        size_t ids_cap;
        out_t *out;
        size_t out_cap, nout;
        taken_t *taken;
        size_t taken_cap, ntaken;
        struct {
                char id[37];
        } * relaunch; /* launches to produce again (restore_waiting) */
        size_t relaunch_cap, nrelaunch;
        int64_t *last_offsets;
        int32_t last_cap;
        sl_hmap_t seen; /* launch ids of the batch */
        sl_rec_buf_t buf;

        sl_metric_t *m_decisions[SL_LAUNCH__CNT], *m_replays[SL_LAUNCH__CNT], *m_replayed,
            *m_results[3], *m_transitions[3], *m_undecodable, *m_unknown_result,
            *m_latency, *m_deferred, *m_waiting, *m_breakers[3], *m_mirror_errors;
};

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- triggers ----------------------------------------------------------------------- */

static void policy_of(const sl_trigger_t *t, sl_launch_policy_t *pol)
{
        const sl_trigger_def_t *d = &t->def;

        *pol = (sl_launch_policy_t){
            .enabled = d->enabled,
            .paused = d->paused,
            .paused_until = d->paused_until_ms,
            .rate_limit = d->rate_limit,
            .window_ms = d->window_ms,
            .defer = d->on_limit == SL_ON_LIMIT_DEFER,
            .breaker = {.failure_window_ms = d->failure_window_ms,
                        .failure_rate = d->failure_rate,
                        .min_results = d->min_results,
                        .failure_count = d->failure_count,
                        .open_ms = d->open_ms,
                        .open_max_ms = d->open_max_ms,
                        .probes = d->probes,
                        .result_timeout_ms = d->result_timeout_ms},
        };
}

/* The current snapshot, indexed by id (rebuilt after each reload). */
static void triggers_refresh(sl_launch_t *lc)
{
        const sl_triggers_t *ts = sl_triggers_watch_poll(lc->watch);
        uint64_t loads = sl_triggers_watch_loads(lc->watch);

        if (ts == lc->ts && loads == lc->ts_loads)
                return;
        lc->ts = ts;
        lc->ts_loads = loads;
        sl_hmap_close(&lc->by_id, NULL);
        for (size_t i = 0; i < sl_triggers_count(ts); i++) {
                const sl_trigger_t *t = sl_triggers_at(ts, i);
                sl_hmap_ent_t *e = sl_hmap_add(&lc->by_id, t->def.id, NULL);
                if (!e)
                        sl_oom("launch: the triggers index");
                e->val = (void *)t;
        }
}

static trig_t *trig_get(sl_launch_t *lc, const char *id, int32_t part)
{
        bool added;
        sl_hmap_ent_t *e = sl_hmap_add(&lc->trigs, id, &added);

        if (!e)
                sl_oom("launch: a trigger's runtime state");
        if (added) {
                trig_t *t = calloc(1, sizeof(*t));
                if (!t)
                        sl_oom("launch: a trigger's runtime state");
                snprintf(t->id, sizeof(t->id), "%s", id);
                sl_pending_init(&t->pending, lc->pending_max);
                e->val = t;
        }
        ((trig_t *)e->val)->part = part;
        return e->val;
}

static void trig_free(void *v)
{
        trig_t *t = v;

        sl_pending_close(&t->pending);
        free(t);
}

/* --- metrics and logs --------------------------------------------------------------- */

static void register_metrics(sl_launch_t *lc)
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

static void transition(sl_launch_t *lc, const char *trigger_id, const char *name,
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
static const char *reason_of(char *buf, size_t size, sl_launch_outcome_t o,
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

/* --- per batch helpers
 * ------------------------------------------------------------------ */

static void grow(void **v, size_t *cap, size_t need, size_t elem)
{
        void *p = sl_array_grow(*v, cap, need, elem, 64);

        if (!p)
                sl_oom("launch: batch arrays");
        *v = p;
}

static void out_add(sl_launch_t *lc, out_t o)
{
        grow((void **)&lc->out, &lc->out_cap, lc->nout + 1, sizeof(*lc->out));
        lc->out[lc->nout++] = o;
}

static void taken_add(sl_launch_t *lc, trig_t *t, const sl_pending_entry_t *e)
{
        grow((void **)&lc->taken, &lc->taken_cap, lc->ntaken + 1, sizeof(*lc->taken));
        lc->taken[lc->ntaken++] = (taken_t){.t = t, .e = *e};
}

/* A failed batch: the results and expiries it took out wait again. */
static void taken_restore(sl_launch_t *lc)
{
        for (size_t i = 0; i < lc->ntaken; i++) {
                taken_t *k = &lc->taken[i];
                (void)sl_pending_add(&k->t->pending, k->e.launch_id, k->e.launched_at,
                                     k->e.deadline, k->e.was_probe);
        }
        lc->ntaken = 0;
}

static void wait_for_result(trig_t *t, const char *launch_id, int64_t launched_at,
                            int64_t timeout_ms, bool probe)
{
        uint8_t id[16];

        if (sl_uuid_parse(launch_id, id) != SL_OK)
                return;
        switch (sl_pending_add(&t->pending, id, launched_at, launched_at + timeout_ms,
                               probe)) {
        case SL_ERR_STATE:
                sl_log_warn("trigger %s: %zu launches waiting for a result, the most "
                            "trigger.launch.pending.max allows: %s is not timed",
                            t->id, sl_pending_count(&t->pending), launch_id);
                break;
        case SL_ERR_NOMEM:
                sl_oom("launch: a pending launch");
        default:
                break;
        }
}

static int produce_launch(sl_launch_t *lc, sl_runtime_t *rt, const out_t *o)
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

/* True when m carries the replay-shed header (SL_TRIGGER_REPLAY_HDR). */
static bool is_replay(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs;
        const void *v;
        size_t len;

        return rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_header_get_last(hdrs, SL_TRIGGER_REPLAY_HDR, &v, &len) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Decode the batch into lc->in; returns how many. */
static size_t decode_batch(sl_launch_t *lc, rd_kafka_message_t **msgs, size_t cnt)
{
        size_t n = 0;

        grow((void **)&lc->in, &lc->in_cap, cnt + 1, sizeof(*lc->in));
        for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_message_t *m = msgs[i];
                in_t *in = &lc->in[n];
                int err;

                if (m->err)
                        continue;
                memset(in, 0, sizeof(*in));
                in->part = m->partition;
                in->offset = m->offset;
                in->is_match =
                    strcmp(rd_kafka_topic_name(m->rkt), lc->topic_matches) == 0;
                if (in->is_match) {
                        uint8_t tid[16], lid[16];
                        if (m->partition >= lc->last_cap) {
                                int32_t cap = m->partition + 1;
                                int64_t *lo =
                                    realloc(lc->last_offsets, (size_t)cap * sizeof(*lo));
                                if (!lo)
                                        sl_oom("launch: offsets");
                                for (int32_t p = lc->last_cap; p < cap; p++)
                                        lo[p] = -1;
                                lc->last_offsets = lo;
                                lc->last_cap = cap;
                        }
                        if (m->offset > lc->last_offsets[m->partition])
                                lc->last_offsets[m->partition] = m->offset;
                        err = sl_trigger_match_decode(m->payload, m->len, &in->m);
                        if (err == SL_OK &&
                            (sl_uuid_parse(in->m.trigger_id, tid) != SL_OK ||
                             !sl_uuid_valid(in->m.event_id))) {
                                sl_trigger_match_clear(&in->m);
                                err = SL_ERR_DECODE;
                        }
                        if (err == SL_OK) {
                                sl_launch_id(tid, in->m.event_id, lid);
                                sl_launch_id_format(lid, in->launch_id);
                                in->replay = is_replay(m);
                        }
                } else {
                        err = sl_workflow_result_decode(m->payload, m->len, &in->r);
                }
                if (err == SL_ERR_NOMEM)
                        sl_oom("launch: a record");
                if (err != SL_OK) {
                        sl_metrics_add(lc->m_undecodable, 1);
                        sl_log_warn("%s [%d] at %lld does not decode: skipped",
                                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                                    (long long)m->offset);
                        continue;
                }
                n++;
        }
        return n;
}

static void clear_batch(sl_launch_t *lc, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (lc->in[i].is_match)
                        sl_trigger_match_clear(&lc->in[i].m);
                else
                        sl_workflow_result_clear(&lc->in[i].r);
        }
        sl_hmap_close(&lc->seen, NULL);
}

/* A shed match (throttled, paused, open) that replay-shed sent again: decided again
 * now.  Launched or deferred, its row says so (replayed_at set, and for a deferred one
 * the queue position of this record); shed again, the row stays as it was and a later
 * replay-shed may try again. */
static void match_shed_again(sl_launch_t *lc, in_t *in, const sl_trigger_t *t,
                             sl_tstate_t *st, int64_t now)
{
        sl_launch_policy_t pol;
        sl_breaker_transition_t tr;
        trig_t *rt = trig_get(lc, in->m.trigger_id, in->part);
        bool probe;
        sl_launch_outcome_t o;

        policy_of(t, &pol);
        o = sl_launch_decide(&pol, st, now, !sl_pending_full(&rt->pending), &probe, &tr);
        transition(lc, in->m.trigger_id, t->def.name, &tr);
        rt->deferred = st->deferred;
        sl_metrics_add(lc->m_replays[o], 1);
        (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id,
                              o == SL_LAUNCH_LAUNCHED);
        if (o != SL_LAUNCH_LAUNCHED && o != SL_LAUNCH_DEFERRED)
                return;
        sl__tl_pg_add_replay(&lc->pg, in->launch_id, o, now, in->offset, probe);
        if (o == SL_LAUNCH_LAUNCHED) {
                rt->launches++;
                out_add(lc, (out_t){.in = in,
                                    .trigger_id = in->m.trigger_id,
                                    .launched_at = now,
                                    .probe = probe,
                                    .fresh = true});
        }
}

/* A match decided before: take what was decided; a launch is produced again. */
static void match_recorded(sl_launch_t *lc, in_t *in, const tl_found_t *f,
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
                policy_of(t, &pol);
                sl_launch_count(&pol, st, (sl_launch_outcome_t)f->first_outcome, now);
                (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id, 0);
        }
        /* Read again after a restart: the launch may not have reached Kafka before the
         * crash, so it goes again (same launch id).  A repeat outside verify mode is
         * the match stage's; this worker produced the launch and saw it delivered. */
        if (verifying && f->outcome == SL_LAUNCH_LAUNCHED &&
            (f->first_outcome == SL_LAUNCH_LAUNCHED || in->replay)) {
                out_add(lc, (out_t){.in = in,
                                    .trigger_id = in->m.trigger_id,
                                    .launched_at = f->launched_at});
                if (f->waiting && t)
                        wait_for_result(trig_get(lc, in->m.trigger_id, in->part),
                                        in->launch_id, f->launched_at,
                                        t->def.result_timeout_ms, false);
        }
}

static void match_decide(sl_launch_t *lc, in_t *in, const sl_trigger_t *t,
                         sl_tstate_t *st, int64_t now)
{
        sl_launch_policy_t pol = {0};
        sl_breaker_transition_t tr = {0};
        sl_launch_outcome_t o = SL_LAUNCH_PAUSED;
        trig_t *rt = trig_get(lc, in->m.trigger_id, in->part);
        bool probe = false;
        char reason[256];

        if (sl_pstate_verifying(lc->ps, in->part))
                (void)sl_pstate_replay(lc->ps, in->part, in->offset, SL_REPLAY_NO_RECORD);
        if (t) {
                policy_of(t, &pol);
                o = sl_launch_decide(&pol, st, now, !sl_pending_full(&rt->pending),
                                     &probe, &tr);
                transition(lc, in->m.trigger_id, t->def.name, &tr);
        }
        rt->deferred = st->deferred;
        sl_metrics_add(lc->m_decisions[o], 1);
        (void)sl_pstate_touch(lc->ps, in->part, in->m.trigger_id,
                              o == SL_LAUNCH_LAUNCHED);
        tl_delivery_t d = {
            .launch_id = in->launch_id,
            .trigger_id = in->m.trigger_id,
            .event_id = in->m.event_id,
            .event_type = in->m.event_type,
            .workflow = in->m.workflow,
            .correlation_id = in->m.correlation_id,
            .reason = reason_of(reason, sizeof(reason), o, t, &pol, st, now, probe),
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
                out_add(lc, (out_t){.in = in,
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
        policy_of(t, &pol);
        (void)sl_breaker_on_result(&pol.breaker, &st->breaker, now, e->launched_at, ok,
                                   e->was_probe, &tr);
        if (now > st->updated_at)
                st->updated_at = now;
        transition(lc, rt->id, t->def.name, &tr);
        (void)sl_pstate_touch(lc->ps, rt->part, rt->id, 0);
}

static void result_one(sl_launch_t *lc, const in_t *in, int64_t now)
{
        const sl_workflow_result_t *r = &in->r;
        trig_t *rt = sl_hmap_get(&lc->trigs, r->trigger_id);
        sl_pending_entry_t e;
        uint8_t id[16];
        bool ok = strcmp(r->status, "succeeded") == 0;

        sl__tl_pg_add_result(&lc->pg, r->launch_id, r->status, r->error, r->finished_at);
        if (!rt || sl_uuid_parse(r->launch_id, id) != SL_OK ||
            !sl_pending_complete(&rt->pending, id, &e)) {
                sl_metrics_add(lc->m_unknown_result, 1);
                return;
        }
        taken_add(lc, rt, &e);
        sl_metrics_add(lc->m_results[ok ? 0 : 1], 1);
        feed_breaker(lc, rt, &e, ok, now);
}

/* Launches whose result is overdue: failures, recorded as timed_out. */
static void expire_all(sl_launch_t *lc, int64_t now)
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
                                taken_add(lc, rt, &e[i]);
                                sl__tl_pg_add_result(&lc->pg, lid, "timed_out",
                                                     "no result within result_timeout_ms",
                                                     now);
                                sl_metrics_add(lc->m_results[2], 1);
                                feed_breaker(lc, rt, &e[i], false, now);
                        }
                } while (n == EXPIRE_CHUNK);
        }
}

/* Launch the head of every deferred queue that has room now (after the batch's own
 * decisions are in Postgres and in the store). */
static int release_deferred(sl_launch_t *lc, sl_runtime_t *rt, int64_t now)
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
                policy_of(t, &pol);
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
                        transition(lc, tg->id, t->def.name, &tr);
                }
                if ((int64_t)nd < room) /* the queue is shorter than the state says */
                        st.deferred = (int64_t)(nd - k);
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
                        err = produce_launch(lc, rt, &o);
                        wait_for_result(tg, d[i].launch_id, now, t->def.result_timeout_ms,
                                        probe[i]);
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

static int relaunch(sl_launch_t *lc, sl_runtime_t *rt);

/* --- the stage callbacks -------------------------------------------------------------
 */

static int launch_process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                          size_t cnt)
{
        sl_launch_t *lc = opaque;
        int64_t now = wall_ms();
        size_t n, nids = 0, nfound = 0, records = 0;
        tl_found_t *found = NULL;
        char errstr[512];
        int err;

        if (!lc->ts)
                triggers_refresh(lc);
        for (int32_t p = 0; p < lc->last_cap; p++)
                lc->last_offsets[p] = -1;
        lc->nout = lc->ntaken = 0;
        sl__tl_pg_begin(&lc->pg);
        n = decode_batch(lc, msgs, cnt);

        /* 1. what was decided before */
        grow((void **)&lc->ids, &lc->ids_cap, n + 1, sizeof(*lc->ids));
        for (size_t i = 0; i < n; i++)
                if (lc->in[i].is_match)
                        lc->ids[nids++] = lc->in[i].launch_id;
        err = sl__tl_pg_lookup(&lc->pg, lc->ids, nids, &found, &nfound, errstr,
                               sizeof(errstr));
        if (err != SL_OK) {
                sl_log_error("looking up the batch's deliveries: %s", errstr);
                clear_batch(lc, n);
                return err;
        }

        /* 2. decide, feed results and timeouts to the breakers */
        if (sl_pstate_begin(lc->ps, n + sl_hmap_count(&lc->trigs) + 1) != SL_OK)
                sl_oom("launch: the batch's working set");
        for (size_t i = 0; i < n; i++) {
                in_t *in = &lc->in[i];
                const sl_trigger_t *t;
                const tl_found_t *f;
                sl_tstate_t *st;
                bool added;

                if (!in->is_match) {
                        result_one(lc, in, now);
                        continue;
                }
                if (!sl_hmap_add(&lc->seen, in->launch_id, &added))
                        sl_oom("launch: the batch's launch ids");
                if (!added)
                        continue; /* the same match twice in one batch */
                t = sl_hmap_get(&lc->by_id, in->m.trigger_id);
                st = sl_pstate_work(lc->ps, in->part, in->m.trigger_id);
                if (!st)
                        sl_oom("launch: a trigger's working state");
                f = sl__tl_found_get(found, nfound, in->launch_id);
                if (f)
                        match_recorded(lc, in, f, t, st, now);
                else
                        match_decide(lc, in, t, st, now);
        }
        expire_all(lc, now);
        free(found);

        /* 3. Postgres first */
        err = sl__tl_pg_write(&lc->pg, errstr, sizeof(errstr));
        if (err != SL_OK) {
                sl_log_error("writing the batch's deliveries: %s", errstr);
                sl_pstate_abort(lc->ps);
                taken_restore(lc);
                clear_batch(lc, n);
                return err;
        }
        sl_pstate_end(lc->ps);

        /* 4. the launches */
        for (size_t i = 0; i < lc->nout && err == SL_OK; i++) {
                const out_t *o = &lc->out[i];
                const sl_trigger_t *t = sl_hmap_get(&lc->by_id, o->trigger_id);
                err = produce_launch(lc, rt, o);
                if (t && o->fresh) /* a new launch: wait for its result */
                        wait_for_result(trig_get(lc, o->trigger_id, o->in->part),
                                        o->in->launch_id, now, t->def.result_timeout_ms,
                                        o->probe);
        }
        /* 5. deferred queues with room (after what an assignment left to produce again)
         */
        if (err == SL_OK)
                err = relaunch(lc, rt);
        if (err == SL_OK)
                err = release_deferred(lc, rt, now);
        clear_batch(lc, n);
        if (err != SL_OK)
                return err;

        /* 6. the state after Postgres and the outputs; committed after delivery */
        err =
            sl_pstate_flush(lc->ps, sl_runtime_producer(rt), sl_runtime_output_opaque(rt),
                            lc->last_offsets, lc->last_cap, &records);
        sl_runtime_outputs_added(rt, records);
        return err;
}

/* --- assignment ------------------------------------------------------------------- */

/* parts restricted to trigger.matches (the store's partitions); caller destroys. */
static rd_kafka_topic_partition_list_t *
matches_only(sl_launch_t *lc, const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(parts->cnt);

        for (int i = 0; i < parts->cnt; i++)
                if (strcmp(parts->elems[i].topic, lc->topic_matches) == 0)
                        rd_kafka_topic_partition_list_add(l, parts->elems[i].topic,
                                                          parts->elems[i].partition);
        return l;
}

static int learn_partitions(sl_launch_t *lc, sl_runtime_t *rt)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_t *rk = sl_runtime_producer(rt);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, lc->topic_matches, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);

        rd_kafka_topic_destroy(rkt);
        if (err || md->topic_cnt != 1 || md->topics[0].err ||
            md->topics[0].partition_cnt < 1) {
                sl_log_error("metadata of %s: %s", lc->topic_matches,
                             err ? rd_kafka_err2str(err) : "no such topic");
                if (md)
                        rd_kafka_metadata_destroy(md);
                return SL_ERR_KAFKA;
        }
        lc->nparts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return SL_OK;
}

typedef struct restore_s {
        sl_launch_t *lc;
        const rd_kafka_topic_partition_list_t *parts;
} restore_t;

static int32_t part_of(const sl_launch_t *lc, const char *trigger_id)
{
        return sl_kafka_partition_for(trigger_id, strlen(trigger_id), lc->nparts);
}

static void restore_count(void *opaque, const char *trigger_id, int64_t n)
{
        sl_launch_t *lc = opaque;
        int32_t p = part_of(lc, trigger_id);
        sl_tstate_t st;

        if (sl_pstate_get(lc->ps, p, trigger_id, &st) != SL_OK)
                memset(&st, 0, sizeof(st));
        st.deferred = n;
        if (sl_pstate_put(lc->ps, p, trigger_id, &st) == SL_OK)
                trig_get(lc, trigger_id, p)->deferred = n;
        if (n > 0)
                lc->release_at = 1; /* look at once */
}

/* Launches in the trigger's current window as Postgres has them: the window holds at
 * least that many (the changelog may be behind Postgres after a crash). */
static void restore_window(void *opaque, const char *trigger_id, int64_t n)
{
        sl_launch_t *lc = opaque;
        int32_t p = part_of(lc, trigger_id);
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, trigger_id);
        sl_tstate_t st;

        if (!t || sl_pstate_get(lc->ps, p, trigger_id, &st) != SL_OK)
                return;
        if (sl_window_roll(&st.window, t->def.window_ms, wall_ms()))
                st.throttled = 0;
        if (n > st.window.count) {
                st.window.count = n;
                (void)sl_pstate_put(lc->ps, p, trigger_id, &st);
        }
}

/* A launch that waits for its result: timed again here.  One that left the deferred
 * queue is produced again by the next batch: no input record is read again for it, and
 * a crash may have come between its Postgres row and its delivery (a repeat carries the
 * same launch id). */
static void restore_waiting(void *opaque, const char *launch_id, const char *trigger_id,
                            int64_t launched_at, bool probe, bool was_deferred)
{
        sl_launch_t *lc = opaque;
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, trigger_id);

        if (t)
                wait_for_result(trig_get(lc, trigger_id, part_of(lc, trigger_id)),
                                launch_id, launched_at, t->def.result_timeout_ms, probe);
        if (was_deferred) {
                grow((void **)&lc->relaunch, &lc->relaunch_cap, lc->nrelaunch + 1,
                     sizeof(*lc->relaunch));
                snprintf(lc->relaunch[lc->nrelaunch++].id, 37, "%s", launch_id);
        }
}

/* The launches restore_waiting() kept for the first batch after an assignment. */
static int relaunch(sl_launch_t *lc, sl_runtime_t *rt)
{
        const char **ids;
        tl_deferred_t *d = NULL;
        size_t nd = 0;
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
                err = produce_launch(lc, rt, &o);
        }
        if (err == SL_OK && nd)
                sl_log_info("%zu launches from deferred queues produced again after the "
                            "assignment (same launch ids)",
                            nd);
        sl__tl_deferred_free(d, nd);
        if (err == SL_OK)
                lc->nrelaunch = 0;
        return err;
}

static bool assigned(const rd_kafka_topic_partition_list_t *l, int32_t p)
{
        for (int i = 0; i < l->cnt; i++)
                if (l->elems[i].partition == p)
                        return true;
        return false;
}

static void touch_restored(int32_t part, const char *key, const void *value, void *opaque)
{
        sl_launch_t *lc = opaque;
        const sl_tstate_t *st = value;

        trig_get(lc, key, part)->deferred = st->deferred;
        (void)sl_pstate_touch(lc->ps, part, key, 0);
}

static int launch_assign(void *opaque, sl_runtime_t *rt,
                         const rd_kafka_topic_partition_list_t *parts)
{
        sl_launch_t *lc = opaque;
        rd_kafka_topic_partition_list_t *mine = matches_only(lc, parts);
        const char **ids = NULL;
        size_t nids = 0, cap = 0;
        char errstr[512];
        int err = SL_OK;

        triggers_refresh(lc);
        if (!lc->nparts)
                err = learn_partitions(lc, rt);
        if (err == SL_OK)
                err = sl_pstate_assign(lc->ps, mine, errstr, sizeof(errstr));
        else
                snprintf(errstr, sizeof(errstr), "no partition count for %s",
                         lc->topic_matches);
        if (err == SL_OK) {
                sl_pstate_foreach(lc->ps, touch_restored, lc);
                /* Postgres is the truth of the deferred queues and of what waits for a
                 * result: a crash may have left the changelog behind it. */
                for (size_t i = 0; i < sl_triggers_count(lc->ts); i++) {
                        const sl_trigger_t *t = sl_triggers_at(lc->ts, i);
                        int32_t p = part_of(lc, t->def.id);
                        sl_tstate_t st;
                        if (!assigned(mine, p))
                                continue;
                        grow((void **)&ids, &cap, nids + 1, sizeof(*ids));
                        ids[nids++] = t->def.id;
                        if (sl_pstate_get(lc->ps, p, t->def.id, &st) == SL_OK &&
                            st.deferred) {
                                st.deferred = 0; /* recounted below */
                                (void)sl_pstate_put(lc->ps, p, t->def.id, &st);
                                trig_get(lc, t->def.id, p)->deferred = 0;
                        }
                }
                err = sl__tl_pg_restore(&lc->pg, ids, nids, wall_ms(), restore_count,
                                        restore_window, restore_waiting, lc, errstr,
                                        sizeof(errstr));
        }
        free(ids);
        rd_kafka_topic_partition_list_destroy(mine);
        if (err != SL_OK)
                sl_log_error("restoring trigger state: %s", errstr);
        return err;
}

static void mirror(sl_launch_t *lc, bool force);

static int launch_revoke(void *opaque, sl_runtime_t *rt,
                         const rd_kafka_topic_partition_list_t *parts)
{
        sl_launch_t *lc = opaque;
        rd_kafka_topic_partition_list_t *mine = matches_only(lc, parts);
        sl_hmap_ent_t *e;
        size_t it = 0;
        char **gone = NULL;
        size_t ngone = 0, cap = 0;

        mirror(lc, true);
        lc->nrelaunch = 0; /* the next owner produces them again */
        sl_pstate_revoke(lc->ps, mine, sl_runtime_producer(rt));
        while ((e = sl_hmap_next(&lc->trigs, &it))) {
                if (!assigned(mine, ((trig_t *)e->val)->part))
                        continue;
                grow((void **)&gone, &cap, ngone + 1, sizeof(*gone));
                gone[ngone++] = e->key;
        }
        for (size_t i = 0; i < ngone; i++) {
                char key[37];
                snprintf(key, sizeof(key), "%s", gone[i]);
                trig_free(sl_hmap_remove(&lc->trigs, key));
        }
        free(gone);
        rd_kafka_topic_partition_list_destroy(mine);
        return SL_OK;
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
                policy_of(t, &pol);
        snprintf(
            detail, sizeof(detail),
            "{\"breaker\":\"%s\",\"open_until\":%lld,\"reopens\":%d,\"deferred\":%lld,"
            "\"waiting\":%zu}",
            sl_breaker_state_str(
                t ? sl_breaker_state(&pol.breaker, &st.breaker, wall_ms())
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
        policy_of(t, &pol);
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

static void mirror(sl_launch_t *lc, bool force)
{
        gauges_t g = {.lc = lc, .now = wall_ms()};
        size_t waiting = 0, it = 0;
        sl_hmap_ent_t *e;
        char errstr[512];
        double secs;

        if (!sl_state_mirror_due(lc->mirror, mono_ms(), force, &secs))
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

static void launch_tick(void *opaque, sl_runtime_t *rt)
{
        sl_launch_t *lc = opaque;

        (void)rt;
        triggers_refresh(lc);
        mirror(lc, false);
}

/* Due work without records: a result timeout, or a deferred queue to look at. */
static int64_t launch_wait_ms(void *opaque)
{
        sl_launch_t *lc = opaque;
        int64_t next = INT64_MAX, now = wall_ms();
        size_t it = 0;
        sl_hmap_ent_t *e;

        while ((e = sl_hmap_next(&lc->trigs, &it))) {
                int64_t d = sl_pending_next_deadline(&((trig_t *)e->val)->pending);
                if (d < next)
                        next = d;
        }
        if (lc->release_at && lc->release_at < next)
                next = lc->release_at;
        return next == INT64_MAX ? INT64_MAX / 2 : next - now;
}

static bool launch_healthy(void *opaque)
{
        sl_launch_t *lc = opaque;

        return PQstatus(sl_pg_session_conn(lc->pg.ses)) == CONNECTION_OK;
}

/* --- life cycle -----------------------------------------------------------------------
 */

static int state_decode(const void *buf, size_t len, void *value)
{
        return sl_tstate_decode(buf, len, value);
}

static size_t state_encode(const void *value, unsigned char *buf)
{
        return sl_tstate_encode(value, buf);
}

sl_launch_t *sl_launch_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        sl_launch_t *lc = calloc(1, sizeof(*lc));

        if (!lc) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        lc->conf = conf;
        sl_kafka_topic_name(conf, SL_TOPIC_TRIGGER_MATCHES, lc->topic_matches,
                            sizeof(lc->topic_matches));
        sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_RESULTS, lc->topic_results,
                            sizeof(lc->topic_results));
        sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_LAUNCHES, lc->topic_launches,
                            sizeof(lc->topic_launches));
        sl_kafka_topic_name(conf, SL_TOPIC_LAUNCH_CHANGELOG, lc->changelog,
                            sizeof(lc->changelog));
        lc->pending_max = (size_t)sl_conf_get_int(conf, "trigger.launch.pending.max");
        lc->top_k = (int)sl_conf_get_int(conf, "trigger.top.triggers");
        sl_hmap_init(&lc->by_id);
        sl_hmap_init(&lc->trigs);
        sl_hmap_init(&lc->seen);

        sl_pstate_conf_t pc = {
            .stage = "trigger_launch",
            .name = "trigger launch",
            .keys = "triggers",
            .changelog = lc->changelog,
            .restore_timeout_ms =
                (int)sl_conf_get_int(conf, "trigger.launch.restore.timeout.ms"),
            .codec = {.value_size = sizeof(sl_tstate_t),
                      .encoded_max = SL_TSTATE_ENCODED_MAX,
                      .key_prefix = "t:",
                      .decode = state_decode,
                      .encode = state_encode,
                      .progress_key = SL_TSTATE_PROGRESS_KEY,
                      .progress_encode = sl_tstate_progress_encode,
                      .progress_decode = sl_tstate_progress_decode},
        };
        if (sl__tl_pg_open(&lc->pg, conf, errstr, errstr_size) != SL_OK)
                goto fail;
        if (!(lc->ps = sl_pstate_new(conf, &pc, errstr, errstr_size)))
                goto fail;
        if (!(lc->mirror = sl_state_mirror_new(
                  "trigger", sl_conf_get_int(conf, "trigger.launch.mirror.ms"), errstr,
                  errstr_size)))
                goto fail;
        if (!(lc->watch = sl_triggers_watch_new(conf, errstr, errstr_size)))
                goto fail;
        triggers_refresh(lc);
        register_metrics(lc);

        lc->topics[0] = lc->topic_matches;
        lc->topics[1] = lc->topic_results;
        lc->topics[2] = NULL;
        lc->stage = (sl_stage_t){
            .name = "trigger_launch",
            .group_id = sl_conf_get(conf, "trigger.launch.group.id"),
            .topics = lc->topics,
            .batch_size = (size_t)sl_conf_get_int(conf, "trigger.launch.batch.size"),
            .batch_ms = (int)sl_conf_get_int(conf, "trigger.launch.batch.ms"),
            .opaque = lc,
            .process = launch_process,
            .on_assign = launch_assign,
            .on_revoke = launch_revoke,
            .tick = launch_tick,
            .wait_ms = launch_wait_ms,
            .healthy = launch_healthy,
        };
        return lc;

fail:
        sl_launch_destroy(lc);
        return NULL;
}

void sl_launch_destroy(sl_launch_t *lc)
{
        if (!lc)
                return;
        sl_triggers_watch_destroy(lc->watch);
        sl_state_mirror_destroy(lc->mirror);
        sl_pstate_destroy(lc->ps);
        if (lc->pg.ses)
                sl__tl_pg_close(&lc->pg);
        sl_hmap_close(&lc->by_id, NULL);
        sl_hmap_close(&lc->trigs, trig_free);
        sl_hmap_close(&lc->seen, NULL);
        sl_rec_buf_free(&lc->buf);
        free(lc->in);
        free(lc->ids);
        free(lc->out);
        free(lc->taken);
        free(lc->relaunch);
        free(lc->last_offsets);
        free(lc);
}

const sl_stage_t *sl_launch_stage(sl_launch_t *lc)
{
        return &lc->stage;
}
