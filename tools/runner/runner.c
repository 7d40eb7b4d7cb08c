/*
 * sluice-runner's stage (see runner.h).  Per batch: each launch record is decoded,
 * checked against the seen launch ids, recorded, and its answer decided; an answer due
 * at once (latency 0, nothing waiting before it) is produced there, the others wait in
 * the answer queue with their offsets held.  Then every waiting answer now due is
 * produced and its offset released with this batch, and the record file is flushed.
 * The runtime's poll wait follows the oldest waiting answer (wait_ms), and with no
 * records it calls process() on an empty batch when that answer is due.  tick() looks
 * at the control file.
 */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answers.h"
#include "control.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "record.h"
#include "sluice/err.h"
#include "trigger/records.h"
#include "util/clock.h"
#include "util/hmap.h"

#define SL_RUNNER_BATCH_SIZE 1000
/* Also how often, at least, tick() runs, and so the control file's check. */
#define SL_RUNNER_BATCH_MS 20

#define SL_RUNNER_FAILURE "simulated failure (sluice-runner fail_rate)"

struct sl_runner_s {
        sl_stage_t stage;
        char group[256];
        char topic_in[256], topic_out[256];
        const char *topics[2];

        sl_runner_opts_t opts; /* in force */
        sl_runner_control_t control;
        sl_runner_record_t *rec; /* NULL: no --record */
        sl_hmap_t seen;          /* launch ids received (values unused) */
        sl_runner_answers_t answers;
        sl_rec_buf_t out; /* the result being encoded */
        sl_runner_counts_t counts;
};

static void log_opts(const sl_runner_t *rn, const char *why)
{
        sl_log_info("options (%s): fail_rate=%g latency_ms=%lld silent=%d", why,
                    rn->opts.fail_rate, (long long)rn->opts.latency_ms,
                    rn->opts.silent ? 1 : 0);
}

/* Produce a's result under the launch's key; when held, release the launch's offset
 * with the batch in process(). */
static int answer(sl_runner_t *rn, sl_runtime_t *rt, const sl_runner_answer_t *a,
                  bool held)
{
        sl_workflow_result_t r = {.launch_id = a->launch_id,
                                  .trigger_id = a->trigger_id,
                                  .status = a->failed ? "failed" : "succeeded",
                                  .error = a->failed ? SL_RUNNER_FAILURE : NULL,
                                  .finished_at = sl_wall_ms()};
        sl_log_ctx_t ctx = {.event_id = a->event_id,
                            .trigger_id = a->trigger_id,
                            .launch_id = a->launch_id};
        int err;

        if ((err = sl_workflow_result_encode(&r, &rn->out)) != SL_OK ||
            (err = sl_runtime_produce(rt, rn->topic_out, a->key, a->key_len, rn->out.p,
                                      rn->out.len, NULL)) != SL_OK) {
                sl_log(SL_LOG_ERROR, &ctx, "cannot produce the result: %s",
                       sl_err2str(err));
                return err;
        }
        if (held)
                sl_runtime_release_offset(rt, NULL, rn->topic_in, a->partition,
                                          a->offset);
        if (a->failed)
                rn->counts.failed++;
        else
                rn->counts.succeeded++;
        sl_log(SL_LOG_DEBUG, &ctx, "answered %s", r.status);
        return SL_OK;
}

static int record(sl_runner_t *rn, const sl_workflow_launch_t *l, int64_t now,
                  bool duplicate, const char *status)
{
        return rn->rec ? sl_runner_record_put(rn->rec, l, now, duplicate, status) : SL_OK;
}

/* One launch record: decode, drop a repeat, record, answer now or queue the answer. */
static int take(sl_runner_t *rn, sl_runtime_t *rt, const rd_kafka_message_t *m,
                int64_t now)
{
        sl_workflow_launch_t l;
        sl_runner_answer_t a;
        const char *status;
        bool added, failed;
        int err;

        err = m->payload ? sl_workflow_launch_decode(m->payload, m->len, &l)
                         : SL_ERR_DECODE;
        if (err == SL_ERR_NOMEM)
                return err;
        if (err != SL_OK) {
                rn->counts.invalid++;
                sl_log_warn("%s [%d] @%lld: not a WorkflowLaunch (%zu bytes): skipped",
                            rn->topic_in, (int)m->partition, (long long)m->offset,
                            m->len);
                return SL_OK;
        }
        rn->counts.received++;
        sl_log_ctx_t ctx = {.event_id = l.event_id,
                            .trigger_id = l.trigger_id,
                            .correlation_id = l.correlation_id,
                            .launch_id = l.launch_id};
        if (!sl_hmap_add(&rn->seen, l.launch_id, &added)) {
                err = SL_ERR_NOMEM;
                goto done;
        }
        if (!added) {
                rn->counts.duplicates++;
                sl_log(SL_LOG_DEBUG, &ctx,
                       "launch id seen before (%s [%d] @%lld): dropped, not answered "
                       "again",
                       rn->topic_in, (int)m->partition, (long long)m->offset);
                err = record(rn, &l, now, true, NULL);
                goto done;
        }
        if (rn->opts.silent) {
                sl_log(SL_LOG_DEBUG, &ctx, "launch of %s received while silent",
                       l.workflow);
                err = record(rn, &l, now, false, NULL);
                goto done;
        }
        failed = sl_runner_fails(l.launch_id, rn->opts.fail_rate);
        status = failed ? "failed" : "succeeded";
        sl_log(SL_LOG_DEBUG, &ctx, "launch of %s received: answer %s in %lld ms",
               l.workflow, status, (long long)rn->opts.latency_ms);
        if ((err = record(rn, &l, now, false, status)) != SL_OK)
                goto done;
        if ((err = sl_runner_answer_init(&a, &l, m->key, m->key_len)) != SL_OK)
                goto done;
        a.due_at = now + rn->opts.latency_ms;
        a.partition = m->partition;
        a.offset = m->offset;
        a.failed = failed;
        if (!rn->opts.latency_ms && !sl_runner_answers_count(&rn->answers)) {
                err = answer(rn, rt, &a, false);
        } else if ((err = sl_runner_answers_push(&rn->answers, &a)) == SL_OK) {
                /* Nothing at or past it is committed before its answer is delivered. */
                sl_runtime_hold_offset(rt, m);
        }
        sl_runner_answer_clear(&a);
done:
        sl_workflow_launch_clear(&l);
        return err;
}

static int process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt)
{
        sl_runner_t *rn = opaque;
        int64_t now = sl_wall_ms();
        sl_runner_answer_t a;
        int err = SL_OK;

        for (size_t i = 0; i < cnt && err == SL_OK; i++)
                err = take(rn, rt, msgs[i], now);
        while (err == SL_OK && sl_runner_answers_pop_due(&rn->answers, now, &a)) {
                err = answer(rn, rt, &a, true);
                sl_runner_answer_clear(&a);
        }
        if (err == SL_OK && rn->rec)
                err = sl_runner_record_flush(rn->rec);
        return err;
}

/* A waiting answer of a revoked partition: its launch is read again by the partition's
 * next owner, which may be this runner, and must be answered then. */
static void forget(void *opaque, const sl_runner_answer_t *a)
{
        sl_runner_t *rn = opaque;
        sl_hmap_remove(&rn->seen, a->launch_id);
}

static int on_revoke(void *opaque, sl_runtime_t *rt,
                     const rd_kafka_topic_partition_list_t *parts)
{
        sl_runner_t *rn = opaque;
        size_t dropped = 0;
        (void)rt;

        for (int i = 0; i < parts->cnt; i++)
                if (strcmp(parts->elems[i].topic, rn->topic_in) == 0)
                        dropped += sl_runner_answers_drop_partition(
                            &rn->answers, parts->elems[i].partition, forget, rn);
        if (dropped)
                sl_log_info("revoked: %zu answers waiting out their latency dropped "
                            "uncommitted (the next owner answers them)",
                            dropped);
        return SL_OK;
}

static void tick(void *opaque, sl_runtime_t *rt)
{
        sl_runner_t *rn = opaque;
        (void)rt;

        if (sl_runner_control_poll(&rn->control, sl_mono_ms(), &rn->opts))
                log_opts(rn, rn->control.path);
}

/* Until the oldest waiting answer is due. */
static int64_t wait_ms(void *opaque)
{
        sl_runner_t *rn = opaque;
        int64_t due = sl_runner_answers_next_due(&rn->answers);

        return due == INT64_MAX ? INT64_MAX : due - sl_wall_ms();
}

sl_runner_t *sl_runner_new(const sl_conf_t *conf, const sl_runner_args_t *args,
                           char *errstr, size_t errstr_size)
{
        sl_runner_t *rn = calloc(1, sizeof(*rn));

        if (!rn) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rn->opts = args->opts;
        snprintf(rn->group, sizeof(rn->group), "%s", args->group);
        sl_hmap_init(&rn->seen);
        sl_runner_answers_init(&rn->answers);
        if (sl_runner_control_init(&rn->control, args->control_path, &args->opts) !=
            SL_OK) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (args->record_path &&
            !(rn->rec = sl_runner_record_open(args->record_path, errstr, errstr_size)))
                goto fail;
        sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_LAUNCHES, rn->topic_in,
                            sizeof(rn->topic_in));
        sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_RESULTS, rn->topic_out,
                            sizeof(rn->topic_out));
        rn->topics[0] = rn->topic_in;
        rn->topics[1] = NULL;
        /* A control file present at start applies before the first launch. */
        sl_runner_control_poll(&rn->control, sl_mono_ms(), &rn->opts);
        log_opts(rn, rn->control.present ? rn->control.path : "flags");
        sl_log_info("answering %s on %s under the launch's key%s%s", rn->topic_in,
                    rn->topic_out, rn->rec ? ", recording to " : "",
                    rn->rec ? args->record_path : "");

        rn->stage.name = "runner";
        rn->stage.group_id = rn->group;
        rn->stage.topics = rn->topics;
        rn->stage.batch_size = SL_RUNNER_BATCH_SIZE;
        rn->stage.batch_ms = SL_RUNNER_BATCH_MS;
        rn->stage.opaque = rn;
        rn->stage.process = process;
        rn->stage.on_revoke = on_revoke;
        rn->stage.tick = tick;
        rn->stage.wait_ms = wait_ms;
        return rn;

fail:
        sl_runner_control_close(&rn->control);
        free(rn);
        return NULL;
}

void sl_runner_destroy(sl_runner_t *rn)
{
        if (!rn)
                return;
        sl_runner_record_close(rn->rec);
        sl_runner_control_close(&rn->control);
        sl_hmap_close(&rn->seen, NULL);
        sl_runner_answers_close(&rn->answers);
        sl_rec_buf_free(&rn->out);
        free(rn);
}

const sl_stage_t *sl_runner_stage(sl_runner_t *rn)
{
        return &rn->stage;
}

void sl_runner_counts(const sl_runner_t *rn, sl_runner_counts_t *out)
{
        *out = rn->counts;
        out->unanswered = out->received - out->duplicates - out->succeeded - out->failed;
}
