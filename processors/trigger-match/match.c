/*
 * The match stage (see match.h): the stage callbacks, their wiring, and the batch they
 * run.  Per record of events.accepted:
 *   1. decode the envelope (ingress validated it: one that does not decode here is a
 *      bug upstream, logged with its topic/partition/offset, counted and skipped);
 *   2. match it against the current triggers snapshot (matcher.h);
 *   3. per match, encode a TriggerMatch into a reused buffer and enqueue it on
 *      trigger.matches keyed by the trigger id (the runtime's producer partitions by
 *      murmur2 of the key, so a trigger's matches share one partition).
 * The runtime then delivers the batch's matches and commits its offsets: a crash
 * between the two produces the same matches again (at-least-once; the launch stage's
 * launch ids make the repeats harmless).
 * The snapshot is polled in tick(), between batches, so a batch sees one snapshot; a
 * new one gets a candidates buffer and per-trigger counters once, at adoption.
 * Not here: the matching rules (matcher.c, src/trigger), offsets (src/runtime).
 */
#include "match.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "matcher.h"
#include "metrics/metrics.h"
#include "pg/triggers_watch.h"
#include "sluice/err.h"
#include "trigger/records.h"
#include "util/clock.h"

/* How often the per-trigger top-k family is re-rendered. */
#define SL_MATCH_TOP_MS 5000

struct sl_match_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        const char *topics[2];
        char topic_in[256], topic_out[256];

        sl_codec_t *codec;
        sl_envelope_t env; /* the record in hand, decoded (its arena reused) */
        sl_triggers_watch_t *tw;
        const sl_triggers_t *ts; /* the snapshot matched against */
        uint64_t loads;          /* sl_triggers_watch_loads() when ts was adopted */
        int fail;                /* SL_OK, or why ts could not be adopted */
        sl_matcher_t mt;
        sl_rec_buf_t rec;

        /* Matches per trigger of ts (by sl_triggers_index) since top_since, and the
         * triggers' names (copies: the snapshot goes at the next poll), for the
         * top-k family. */
        int64_t *counts;
        char **names;
        sl_metrics_top_t *top;
        size_t ntrig;
        int64_t top_since;
        size_t top_k;

        /* The record in hand, for on_match(). */
        sl_runtime_t *rt;
        sl_trigger_match_t tm;
        char traceparent[256];

        sl_metric_t *m_events, *m_matches, *m_undecodable, *m_payload_errors, *m_lag,
            *m_triggers;
};

/* --- per-trigger counts ------------------------------------------------------------ */

/* Publish the counts since top_since as per-second rates, and start over. */
static void render_top(sl_match_t *mat, int64_t now)
{
        size_t n = 0;

        for (size_t i = 0; i < mat->ntrig; i++) {
                if (mat->counts[i])
                        mat->top[n++] = (sl_metrics_top_t){.label = mat->names[i],
                                                           .count = mat->counts[i]};
                mat->counts[i] = 0;
        }
        sl_metrics_set_top(
            "trigger_match_top_triggers",
            "sluice_trigger_match_top_trigger_matches_per_second",
            "Matches per second of the trigger.top.triggers busiest "
            "triggers over the last few seconds; the rest are summed under "
            "trigger=\"_other\".",
            "trigger", mat->top, n, mat->top_k, (double)(now - mat->top_since) / 1000.0);
        mat->top_since = now;
}

static void free_counts(sl_match_t *mat)
{
        for (size_t i = 0; mat->names && i < mat->ntrig; i++)
                free(mat->names[i]);
        free(mat->names);
        free(mat->counts);
        free(mat->top);
        mat->names = NULL;
        mat->counts = NULL;
        mat->top = NULL;
        mat->ntrig = 0;
}

/* Match against ts from now on: room for its candidates, a counter per trigger.  The
 * counts of the previous snapshot are published first.  SL_OK or SL_ERR_NOMEM (then
 * nothing can be matched: process() stops the runtime). */
static int adopt(sl_match_t *mat, const sl_triggers_t *ts)
{
        size_t n = sl_triggers_count(ts);

        if (mat->ntrig)
                render_top(mat, sl_mono_ms());
        free_counts(mat);
        mat->ts = ts;
        mat->loads = sl_triggers_watch_loads(mat->tw);
        if (sl_matcher_reserve(&mat->mt, ts) != SL_OK)
                return SL_ERR_NOMEM;
        mat->counts = calloc(n ? n : 1, sizeof(*mat->counts));
        mat->names = calloc(n ? n : 1, sizeof(*mat->names));
        mat->top = calloc(n ? n : 1, sizeof(*mat->top));
        if (!mat->counts || !mat->names || !mat->top)
                goto fail;
        for (size_t i = 0; i < n; i++, mat->ntrig++) {
                mat->names[i] = strdup(sl_triggers_at(ts, i)->def.name);
                if (!mat->names[i])
                        goto fail;
        }
        sl_metrics_set(mat->m_triggers, (double)n);
        sl_log_debug("matching against %zu triggers (at most %zu candidates an event)", n,
                     sl_triggers_max_candidates(ts));
        return SL_OK;

fail:
        free_counts(mat);
        return SL_ERR_NOMEM;
}

/* --- one record -------------------------------------------------------------------- */

/* Decode m into mat->env: SL_OK; SL_ERR_DECODE when it is no envelope ingress could
 * have accepted (logged); SL_ERR_NOMEM. */
static int decode(sl_match_t *mat, const rd_kafka_message_t *m)
{
        sl_reject_t rej;
        int err = sl_envelope_decode(mat->codec, m->payload, m->payload ? m->len : 0,
                                     &mat->env, &rej);

        if (err == SL_ERR_NOMEM)
                return err;
        if (err == SL_OK) {
                if (mat->env.id[0] && mat->env.type[0] && mat->env.source[0])
                        return SL_OK;
                rej.code = !mat->env.id[0]     ? SL_REJECT_BAD_ID
                           : !mat->env.type[0] ? SL_REJECT_EMPTY_TYPE
                                               : SL_REJECT_EMPTY_SOURCE;
                snprintf(rej.msg, sizeof(rej.msg), "no id, type or source");
        }
        sl_log_error(
            "undecodable record on %s [%d] @%lld skipped (ingress accepted it: a "
            "bug upstream): %s: %s",
            rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
            sl_reject_code_str(rej.code), rej.msg);
        return SL_ERR_DECODE;
}

/* The record's traceparent header, copied into mat->traceparent; NULL when absent
 * (or too long, or with a NUL in it, so not a W3C traceparent). */
static const char *traceparent_of(sl_match_t *mat, const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        const void *val = NULL;
        size_t size = 0;

        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            rd_kafka_header_get_last(hdrs, "traceparent", &val, &size) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            !val || size >= sizeof(mat->traceparent) || memchr(val, '\0', size))
                return NULL;
        memcpy(mat->traceparent, val, size);
        mat->traceparent[size] = '\0';
        return mat->traceparent;
}

/* One match of the record in hand (mat->tm holds its event's fields). */
static int on_match(void *opaque, const sl_trigger_t *t, const char *params,
                    size_t params_len)
{
        sl_match_t *mat = opaque;
        sl_trigger_match_t *tm = &mat->tm;
        sl_log_ctx_t ctx = {.event_id = tm->event_id,
                            .source = tm->source,
                            .trigger_id = t->def.id,
                            .correlation_id = tm->correlation_id};
        int err;

        (void)params_len;
        tm->trigger_id = t->def.id;
        tm->trigger_name = t->def.name;
        tm->workflow = t->def.workflow;
        tm->params = params;
        err = sl_trigger_match_encode(tm, &mat->rec);
        if (err != SL_OK) {
                sl_log(SL_LOG_ERROR, &ctx, "encoding the match of trigger %s: %s",
                       t->def.name, sl_err2str(err));
                return err;
        }
        err = sl_runtime_produce(mat->rt, mat->topic_out, t->def.id, strlen(t->def.id),
                                 mat->rec.p, mat->rec.len, NULL);
        if (err != SL_OK) {
                sl_log(SL_LOG_ERROR, &ctx, "producing the match of trigger %s: %s",
                       t->def.name, sl_err2str(err));
                return err;
        }
        mat->counts[sl_triggers_index(mat->ts, t)]++;
        sl_log(SL_LOG_DEBUG, &ctx, "matched trigger %s (workflow %s)", t->def.name,
               t->def.workflow);
        return SL_OK;
}

static int match_process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                         size_t cnt)
{
        sl_match_t *mat = opaque;
        uint64_t events = 0, matches = 0, undecodable = 0, bad_payloads = 0;
        int64_t t_start = sl_mono_ms();
        int err = SL_OK;

        if (mat->fail != SL_OK)
                return mat->fail;
        mat->rt = rt;
        for (size_t i = 0; i < cnt && err == SL_OK; i++) {
                const rd_kafka_message_t *m = msgs[i];
                sl_trigger_match_t *tm = &mat->tm;
                sl_matcher_result_t res;
                int64_t now;

                err = decode(mat, m);
                if (err == SL_ERR_DECODE) {
                        undecodable++;
                        err = SL_OK;
                        continue;
                }
                if (err != SL_OK)
                        break;
                now = sl_wall_ms();
                tm->event_id = mat->env.id;
                tm->event_type = mat->env.type;
                tm->source = mat->env.source;
                tm->correlation_id = mat->env.correlation_id;
                tm->occurred_at = mat->env.occurred_at;
                tm->accepted_at = rd_kafka_message_timestamp(m, NULL);
                if (tm->accepted_at < 0)
                        tm->accepted_at = now; /* no timestamp: as good as any */
                tm->matched_at = now;
                tm->traceparent = traceparent_of(mat, m);
                err = sl_matcher_event(&mat->mt, mat->ts, &mat->env, on_match, mat, &res);
                events++;
                matches += res.matches;
                sl_metrics_observe(mat->m_lag, (double)(now - tm->accepted_at) / 1000.0);
                if (res.payload_bad) {
                        sl_log_ctx_t ctx = {.event_id = mat->env.id,
                                            .source = mat->env.source,
                                            .correlation_id = mat->env.correlation_id};
                        bad_payloads++;
                        sl_log(SL_LOG_WARN, &ctx,
                               "payload of %s [%d] @%lld does not parse (%s): %zu "
                               "triggers that read it not matched",
                               rd_kafka_topic_name(m->rkt), (int)m->partition,
                               (long long)m->offset, res.payload_err, res.payload_skips);
                }
                /* The matcher's own errors (on_match logs its own). */
                if (err == SL_ERR_NOMEM || err == SL_ERR_STATE) {
                        sl_log_ctx_t ctx = {.event_id = mat->env.id,
                                            .source = mat->env.source,
                                            .correlation_id = mat->env.correlation_id};
                        sl_log(SL_LOG_ERROR, &ctx, "matching %s [%d] @%lld: %s",
                               rd_kafka_topic_name(m->rkt), (int)m->partition,
                               (long long)m->offset, sl_err2str(err));
                }
        }
        sl_metrics_add(mat->m_events, events);
        sl_metrics_add(mat->m_matches, matches);
        sl_metrics_add(mat->m_undecodable, undecodable);
        sl_metrics_add(mat->m_payload_errors, bad_payloads);
        if (err == SL_OK)
                sl_log_debug("match batch of %zu: %llu events, %llu matches, %llu "
                             "undecodable, %lld ms",
                             cnt, (unsigned long long)events, (unsigned long long)matches,
                             (unsigned long long)undecodable,
                             (long long)(sl_mono_ms() - t_start));
        return err;
}

static void match_tick(void *opaque, sl_runtime_t *rt)
{
        sl_match_t *mat = opaque;
        const sl_triggers_t *ts = sl_triggers_watch_poll(mat->tw);
        int64_t now = sl_mono_ms();

        (void)rt;
        if (sl_triggers_watch_loads(mat->tw) != mat->loads && mat->fail == SL_OK) {
                mat->fail = adopt(mat, ts);
                if (mat->fail != SL_OK)
                        sl_log_error("triggers: out of memory adopting a new snapshot");
        }
        if (now - mat->top_since >= SL_MATCH_TOP_MS && mat->fail == SL_OK)
                render_top(mat, now);
}

/* Unhealthy only when a new snapshot could not be adopted (out of memory): the next
 * batch stops the runtime.  Postgres being away is not a reason: the stage matches
 * against the last snapshot meanwhile. */
static bool match_healthy(void *opaque)
{
        const sl_match_t *mat = opaque;
        return mat->fail == SL_OK;
}

static void register_metrics(sl_match_t *mat)
{
        static const double lag_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,  5,     10,   30,  60};

        mat->m_events = sl_metrics_counter(
            "sluice_trigger_match_events_total", NULL,
            "Accepted events matched against the triggers (decoded ones).");
        mat->m_matches =
            sl_metrics_counter("sluice_trigger_match_matches_total", NULL,
                               "(trigger, event) matches produced to trigger.matches.");
        mat->m_undecodable = sl_metrics_counter(
            "sluice_trigger_match_undecodable_total", NULL,
            "Records of events.accepted that do not decode as an envelope (a bug "
            "upstream: ingress validated them); logged and skipped.");
        mat->m_payload_errors = sl_metrics_counter(
            "sluice_trigger_match_payload_errors_total", NULL,
            "Events whose payload a trigger reads but which does not parse here (an "
            "integer beyond 64 bits, a real beyond a double); the triggers reading it "
            "do not match.");
        mat->m_lag = sl_metrics_histogram(
            "sluice_trigger_match_lag_seconds", NULL,
            "From the events.accepted record's timestamp to its matching.", lag_bounds,
            sizeof(lag_bounds) / sizeof(lag_bounds[0]));
        mat->m_triggers = sl_metrics_gauge("sluice_trigger_match_triggers", NULL,
                                           "Triggers in the snapshot matched against.");
}

sl_match_t *sl_match_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        sl_match_t *mat = calloc(1, sizeof(*mat));
        const char *schemas_dir = sl_conf_get(conf, "schemas.dir");

        if (!mat) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        mat->conf = conf;
        sl_envelope_init(&mat->env);
        sl_matcher_init(&mat->mt);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, mat->topic_in,
                            sizeof(mat->topic_in));
        sl_kafka_topic_name(conf, SL_TOPIC_TRIGGER_MATCHES, mat->topic_out,
                            sizeof(mat->topic_out));
        mat->topics[0] = mat->topic_in;
        mat->topics[1] = NULL;
        mat->top_k = (size_t)sl_conf_get_int(conf, "trigger.top.triggers");
        mat->top_since = sl_mono_ms();
        register_metrics(mat);

        mat->codec = sl_codec_new(errstr, errstr_size);
        if (!mat->codec)
                goto fail;
        if (schemas_dir && *schemas_dir &&
            sl_codec_add_writers_dir(mat->codec, schemas_dir, errstr, errstr_size) !=
                SL_OK)
                goto fail;
        mat->tw = sl_triggers_watch_new(conf, errstr, errstr_size);
        if (!mat->tw)
                goto fail;
        if (adopt(mat, sl_triggers_watch_poll(mat->tw)) != SL_OK) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }

        mat->stage.name = "trigger_match";
        mat->stage.group_id = sl_conf_get(conf, "trigger.match.group.id");
        mat->stage.topics = mat->topics;
        mat->stage.batch_size = (size_t)sl_conf_get_int(conf, "trigger.match.batch.size");
        mat->stage.batch_ms = (int)sl_conf_get_int(conf, "trigger.match.batch.ms");
        mat->stage.opaque = mat;
        mat->stage.process = match_process;
        mat->stage.tick = match_tick;
        mat->stage.healthy = match_healthy;
        return mat;

fail:
        sl_match_destroy(mat);
        return NULL;
}

void sl_match_destroy(sl_match_t *mat)
{
        if (!mat)
                return;
        free_counts(mat);
        sl_rec_buf_free(&mat->rec);
        sl_matcher_close(&mat->mt);
        sl_triggers_watch_destroy(mat->tw);
        sl_envelope_clear(&mat->env);
        sl_codec_destroy(mat->codec);
        free(mat);
}

const sl_stage_t *sl_match_stage(sl_match_t *mat)
{
        return &mat->stage;
}
