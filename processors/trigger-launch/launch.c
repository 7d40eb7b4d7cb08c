/* The launch stage (launch.h): its callbacks, the batch, the life cycle. */
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
#include "sluice/err.h"
#include "trigger/launch_id.h"
#include "trigger/replay_shed.h"
#include "util/array.h"
#include "util/clock.h"
#include "util/fatal.h"
#include "util/hmap.h"
#include "util/uuid.h"

/* --- triggers ----------------------------------------------------------------------- */

void sl__tl_policy_of(const sl_trigger_t *t, sl_launch_policy_t *pol)
{
        sl_trigger_launch_policy(t, pol);
}

/* The current snapshot, indexed by id (rebuilt after each reload). */
void sl__tl_triggers_refresh(sl_launch_t *lc)
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

trig_t *sl__tl_trig_get(sl_launch_t *lc, const char *id, int32_t part)
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

void sl__tl_trig_free(void *v)
{
        trig_t *t = v;

        sl_pending_close(&t->pending);
        free(t);
}

/* --- per batch helpers
 * ------------------------------------------------------------------ */

void sl__tl_grow(void **v, size_t *cap, size_t need, size_t elem)
{
        void *p = sl_array_grow(*v, cap, need, elem, 64);

        if (!p)
                sl_oom("launch: batch arrays");
        *v = p;
}

void sl__tl_out_add(sl_launch_t *lc, out_t o)
{
        sl__tl_grow((void **)&lc->out, &lc->out_cap, lc->nout + 1, sizeof(*lc->out));
        lc->out[lc->nout++] = o;
}

void sl__tl_taken_add(sl_launch_t *lc, trig_t *t, const sl_pending_entry_t *e)
{
        sl__tl_grow((void **)&lc->taken, &lc->taken_cap, lc->ntaken + 1,
                    sizeof(*lc->taken));
        lc->taken[lc->ntaken++] = (taken_t){.t = t, .e = *e};
}

/* A failed batch: the results and expiries it took out wait again. */
void sl__tl_taken_restore(sl_launch_t *lc)
{
        for (size_t i = 0; i < lc->ntaken; i++) {
                taken_t *k = &lc->taken[i];
                (void)sl_pending_add(&k->t->pending, k->e.launch_id, k->e.launched_at,
                                     k->e.deadline, k->e.was_probe);
        }
        lc->ntaken = 0;
}

void sl__tl_wait_for_result(trig_t *t, const char *launch_id, int64_t launched_at,
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
size_t sl__tl_decode_batch(sl_launch_t *lc, rd_kafka_message_t **msgs, size_t cnt)
{
        size_t n = 0;

        sl__tl_grow((void **)&lc->in, &lc->in_cap, cnt + 1, sizeof(*lc->in));
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

void sl__tl_clear_batch(sl_launch_t *lc, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (lc->in[i].is_match)
                        sl_trigger_match_clear(&lc->in[i].m);
                else
                        sl_workflow_result_clear(&lc->in[i].r);
        }
        sl_hmap_close(&lc->seen, NULL);
}

/* --- the stage callbacks -------------------------------------------------------------
 */

/* True when a match of the batch may have been decided before and must be looked up
 * first: one of a partition in verify mode (read again after a restart or a
 * rebalance), or one replay-shed sent again. */
static bool batch_needs_lookup(sl_launch_t *lc, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const in_t *in = &lc->in[i];
                if (in->is_match && (in->replay || sl_pstate_verifying(lc->ps, in->part)))
                        return true;
        }
        return false;
}

/* Decide the batch's matches (found: what Postgres holds for them, sorted; NULL when
 * nothing was looked up) and feed results and overdue launches to the breakers. */
static void decide_batch(sl_launch_t *lc, size_t n, const tl_found_t *found,
                         size_t nfound, int64_t now)
{
        if (sl_pstate_begin(lc->ps, n + sl_hmap_count(&lc->trigs) + 1) != SL_OK)
                sl_oom("launch: the batch's working set");
        for (size_t i = 0; i < n; i++) {
                in_t *in = &lc->in[i];
                const sl_trigger_t *t;
                const tl_found_t *f;
                sl_tstate_t *st;
                bool added;

                if (!in->is_match) {
                        sl__tl_result_one(lc, in, now);
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
                f = found ? sl__tl_found_get(found, nfound, in->launch_id) : NULL;
                if (f)
                        sl__tl_match_recorded(lc, in, f, t, st, now);
                else
                        sl__tl_match_decide(lc, in, t, st, now);
        }
        sl__tl_expire_all(lc, now);
}

/* Take back what decide_batch() did: the working state, the pending launches it took
 * out, its outputs, its Postgres rows and counts (none of it was written). */
static void undo_batch(sl_launch_t *lc)
{
        sl_pstate_abort(lc->ps);
        sl__tl_taken_restore(lc);
        sl_hmap_close(&lc->seen, NULL);
        lc->nout = 0;
        memset(&lc->counts, 0, sizeof(lc->counts));
        sl__tl_pg_begin(&lc->pg);
}

static void count_batch(sl_launch_t *lc)
{
        for (int o = 0; o < SL_LAUNCH__CNT; o++)
                sl_metrics_add(lc->m_decisions[o], lc->counts.decisions[o]);
        for (int r = 0; r < 3; r++)
                sl_metrics_add(lc->m_results[r], lc->counts.results[r]);
        sl_metrics_add(lc->m_unknown_result, lc->counts.unknown_results);
        memset(&lc->counts, 0, sizeof(lc->counts));
}

static int launch_process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                          size_t cnt)
{
        sl_launch_t *lc = opaque;
        int64_t now = sl_wall_ms();
        size_t n, nids = 0, nfound = 0, records = 0;
        tl_found_t *found = NULL;
        bool conflict = false;
        char errstr[512];
        int err;

        if (!lc->ts)
                sl__tl_triggers_refresh(lc);
        for (int32_t p = 0; p < lc->last_cap; p++)
                lc->last_offsets[p] = -1;
        lc->nout = lc->ntaken = 0;
        memset(&lc->counts, 0, sizeof(lc->counts));
        sl__tl_pg_begin(&lc->pg);
        n = sl__tl_decode_batch(lc, msgs, cnt);

        /* 1-3, the common case: input past everything decided before (no partition in
         * verify mode) is decided without a lookup, and its rows inserted all or none:
         * a repeat of the match stage (at-least-once) fails the insert, and the batch
         * is taken back and decided again below, after the lookup. */
        if (!batch_needs_lookup(lc, n)) {
                decide_batch(lc, n, NULL, 0, now);
                err = sl__tl_pg_write(&lc->pg, true, &conflict, errstr, sizeof(errstr));
                if (err == SL_OK && !conflict)
                        goto written;
                if (err != SL_OK)
                        goto write_failed;
                sl_metrics_add(lc->m_redecided, 1);
                sl_log_debug("a match of the batch was decided before (a repeat): the "
                             "batch is decided again after a lookup");
                undo_batch(lc);
        }

        /* 1. what was decided before */
        sl__tl_grow((void **)&lc->ids, &lc->ids_cap, n + 1, sizeof(*lc->ids));
        for (size_t i = 0; i < n; i++)
                if (lc->in[i].is_match)
                        lc->ids[nids++] = lc->in[i].launch_id;
        err = sl__tl_pg_lookup(&lc->pg, lc->ids, nids, &found, &nfound, errstr,
                               sizeof(errstr));
        if (err != SL_OK) {
                sl_log_error("looking up the batch's deliveries: %s", errstr);
                sl__tl_clear_batch(lc, n);
                return err;
        }

        /* 2. decide, feed results and timeouts to the breakers */
        decide_batch(lc, n, found, nfound, now);
        free(found);

        /* 3. Postgres first */
        err = sl__tl_pg_write(&lc->pg, false, &conflict, errstr, sizeof(errstr));
        if (err != SL_OK)
                goto write_failed;
written:
        sl_pstate_end(lc->ps);
        count_batch(lc);

        /* 4. the launches */
        for (size_t i = 0; i < lc->nout && err == SL_OK; i++) {
                const out_t *o = &lc->out[i];
                const sl_trigger_t *t = sl_hmap_get(&lc->by_id, o->trigger_id);
                err = sl__tl_produce_launch(lc, rt, o);
                if (t && o->fresh) /* a new launch: wait for its result */
                        sl__tl_wait_for_result(
                            sl__tl_trig_get(lc, o->trigger_id, o->in->part),
                            o->in->launch_id, now, t->def.result_timeout_ms, o->probe);
        }
        /* 5. deferred queues with room (after what an assignment left to produce again)
         */
        if (err == SL_OK)
                err = sl__tl_relaunch(lc, rt);
        if (err == SL_OK)
                err = sl__tl_release_deferred(lc, rt, now);
        sl__tl_clear_batch(lc, n);
        if (err != SL_OK)
                return err;

        /* 6. the state after Postgres and the outputs; committed after delivery */
        err =
            sl_pstate_flush(lc->ps, sl_runtime_producer(rt), sl_runtime_output_opaque(rt),
                            lc->last_offsets, lc->last_cap, &records);
        sl_runtime_outputs_added(rt, records);
        return err;

write_failed:
        sl_log_error("writing the batch's deliveries: %s", errstr);
        sl_pstate_abort(lc->ps);
        sl__tl_taken_restore(lc);
        sl__tl_clear_batch(lc, n);
        return err;
}

static void launch_tick(void *opaque, sl_runtime_t *rt)
{
        sl_launch_t *lc = opaque;

        (void)rt;
        sl__tl_triggers_refresh(lc);
        sl__tl_mirror(lc, false);
}

/* Due work without records: a result timeout, or a deferred queue to look at. */
static int64_t launch_wait_ms(void *opaque)
{
        sl_launch_t *lc = opaque;
        int64_t next = INT64_MAX, now = sl_wall_ms();
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
        lc->eos = sl_conf_get_bool(conf, "exactly_once");
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
        sl__tl_triggers_refresh(lc);
        sl__tl_register_metrics(lc);

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
            .on_assign = sl__tl_assign,
            .on_revoke = sl__tl_revoke,
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
        sl_hmap_close(&lc->trigs, sl__tl_trig_free);
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
