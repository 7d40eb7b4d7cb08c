/*
 * The ingress stage (see ingress.h): the stage callbacks, their wiring, and the batch
 * they run.  Per batch:
 *   1. decode + validate every record into its slot (slots.c); an
 *      event on a partition that does not own its source is re-routed to the owner;
 *      the owner decides admission (admit.h) and encodes the event's row, with its
 *      decision, into a COPY pipe while the pipe's writers stream to Postgres (rows.c);
 *      invalid records become dead_letters rows (and count for their source's
 *      breaker, in input order with the decisions), held-back events
 *      event_ingress_retries rows; re-injected events are decided against their retry
 *      rows (reinjected.c);
 *   2. wait for every COPY (a replayed event id or offset is skipped, see copy_pipe.h),
 *      then settle the events Postgres already held (duplicates.c);
 *   3. enqueue events.accepted / retry tier / events.dlq / re-routed records
 *      (outputs.c) and the admission changelog; the runtime flushes them and commits
 *      the offsets.
 * Not here: the admission rules themselves (src/limits) or offsets and rebalances
 * (src/runtime).
 */
#include "ingress.h"
#include "ingress_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/clock.h"

#define SL_INGRESS_MAINT_MS (3600 * 1000)

static const char events_columns[] =
    "(id, type, source, occurred_at, payload, correlation_id, ttl_ms, metadata, "
    "kafka_partition, kafka_offset, status, reason, decided_at, attempt)";
static const char retries_columns[] =
    "(event_id, source, occurred_at, attempt, next_attempt_at, reason, state, envelope)";
static const char dead_letters_columns[] =
    "(topic, kafka_partition, kafka_offset, kafka_key, raw, reason, message, "
    "event_id, event_type, source, headers)";

static bool last_offsets_reserve(sl_ingress_t *ing, int32_t part)
{
        if (part < ing->last_cap)
                return true;
        int32_t cap = part + 1;
        int64_t *lo = realloc(ing->last_offsets, (size_t)cap * sizeof(*lo));
        if (!lo)
                return false;
        for (int32_t i = ing->last_cap; i < cap; i++)
                lo[i] = -1;
        ing->last_offsets = lo;
        ing->last_cap = cap;
        return true;
}

/* Steps 2 and 3 of a batch whose rows went into the pipes (ended there): wait for the
 * COPYs, settle, produce the outputs and the admission state they imply.  msgs are
 * the batch's records (kept by the runtime when the batch was deferred), ing->slots
 * their slots. */
static int complete_batch(sl_ingress_t *ing, sl_runtime_t *rt,
                          rd_kafka_message_t *const *msgs, size_t cnt)
{
        const sl_sources_t *src =
            ing->sources ? sl_sources_watch_poll(ing->sources) : NULL;
        uint64_t rows = 0, dups = 0, dl_rows = 0, dl_dups = 0, r_rows = 0, r_dups = 0;
        uint64_t accepted = 0, held = 0, rerouted = 0, stale = 0;
        char errstr[512];
        int err;

        /* 2. Postgres first: every pipe's COPY waited for, the first error kept. */
        int64_t t_wait = sl_mono_ms();
        struct {
                sl_copy_pipe_t *cp;
                uint64_t *rows, *dups;
        } pipes[3] = {{ing->events, &rows, &dups},
                      {ing->dead, &dl_rows, &dl_dups},
                      {ing->retries, &r_rows, &r_dups}};
        err = SL_OK;
        for (int k = 0; k < 3; k++) {
                char e[512];
                int r = sl_copy_pipe_wait(pipes[k].cp, pipes[k].rows, pipes[k].dups, e,
                                          sizeof(e));
                if (r != SL_OK && err == SL_OK) {
                        err = r;
                        snprintf(errstr, sizeof(errstr), "%s", e);
                }
        }
        if (err == SL_OK)
                err = sl__ingress_apply_retried(ing, errstr, sizeof(errstr));
        if (err == SL_OK && dups)
                err =
                    sl__ingress_settle_duplicates(ing, src, cnt, errstr, sizeof(errstr));
        if (err != SL_OK) {
                sl_log_error("Postgres write failed: %s", errstr);
                /* Admission has counted this batch already: process() again on the
                 * same records would count it twice (the runtime retries transient
                 * errors).  Stop instead; the restart replays the batch through
                 * verify mode, which re-uses recorded decisions. */
                return err == SL_ERR_PG_TRANSIENT ? SL_ERR_PG : err;
        }
        int64_t t_written = sl_mono_ms();

        /* 3. then the outputs, and the admission state they imply. */
        double now_s = (double)sl_wall_ms() / 1000.0;
        for (int32_t p = 0; p < ing->last_cap; p++)
                ing->last_offsets[p] = -1;
        for (size_t i = 0; i < cnt && err == SL_OK; i++) {
                const rd_kafka_message_t *m = msgs[i];
                const slot_t *s = &ing->slots[i];

                if (!last_offsets_reserve(ing, m->partition))
                        return SL_ERR_NOMEM;
                if (m->offset > ing->last_offsets[m->partition])
                        ing->last_offsets[m->partition] = m->offset;
                switch (s->kind) {
                case SLOT_REJECTED:
                case SLOT_EXHAUSTED:
                        err = sl__ingress_produce_dead_letter(ing, rt, m, s);
                        sl_metrics_add(ing->m_rejected[s->rej], 1);
                        break;
                case SLOT_STALE:
                        stale++;
                        break;
                case SLOT_REROUTED:
                        err = sl__ingress_produce_reroute(ing, rt, m, s);
                        rerouted++;
                        break;
                case SLOT_DECIDED:
                        if (s->ad.decision == SL_DECISION_ACCEPTED) {
                                err = sl__ingress_produce_accepted(ing, rt, m, s);
                                int64_t ts = rd_kafka_message_timestamp(m, NULL);
                                if (ts > 0)
                                        sl_metrics_observe(ing->m_latency,
                                                           now_s - (double)ts / 1000.0);
                                accepted++;
                        } else {
                                err =
                                    sl__ingress_produce_retry(ing, rt, m, s, ing->fl.now);
                                held++;
                        }
                        break;
                }
        }
        if (err == SL_OK && ing->admit) {
                size_t records = 0;
                err = sl_admit_flush(ing->admit, sl_runtime_producer(rt),
                                     sl_runtime_output_opaque(rt), ing->last_offsets,
                                     ing->last_cap, &records);
                sl_runtime_outputs_added(rt, records);
        }
        if (err != SL_OK)
                return err;
        sl_log_debug("ingress batch of %zu: decode %lld ms, Postgres wait %lld ms (%lld "
                     "ms after the rows were sent), produce %lld ms",
                     cnt, (long long)(ing->fl.t_sent - ing->fl.t_start),
                     (long long)(t_written - t_wait),
                     (long long)(t_written - ing->fl.t_sent),
                     (long long)(sl_mono_ms() - t_written));
        sl_metrics_add(ing->m_accepted, accepted);
        sl_metrics_add(ing->m_held, held);
        sl_metrics_add(ing->m_rerouted, rerouted);
        sl_metrics_add(ing->m_rejected_total, cnt - accepted - held - rerouted - stale);
        sl_metrics_add(ing->m_retried[3], stale);
        sl_metrics_add(ing->m_dups, dups + dl_dups + r_dups);
        if (dups || dl_dups || r_dups)
                sl_log_info("batch of %zu: %llu events, %llu dead letters and %llu retry "
                            "intents were already in Postgres (replay), skipped",
                            cnt, (unsigned long long)dups, (unsigned long long)dl_dups,
                            (unsigned long long)r_dups);
        return SL_OK;
}

/* Complete the batch whose COPYs are ending, if one is (its outputs go to it). */
static int complete_inflight(sl_ingress_t *ing, sl_runtime_t *rt)
{
        sl_runtime_batch_t *b = ing->fl.batch, *prev;
        rd_kafka_message_t *const *msgs;
        size_t cnt;
        int err;

        if (!b)
                return SL_OK;
        ing->fl.batch = NULL;
        msgs = sl_runtime_batch_records(b, &cnt);
        prev = sl_runtime_output_batch(rt, b);
        err = complete_batch(ing, rt, msgs, cnt);
        sl_runtime_output_batch(rt, prev);
        sl_runtime_deferred_done(rt, b, err);
        return err;
}

static int ingress_finish(void *opaque, sl_runtime_t *rt)
{
        return complete_inflight(opaque, rt);
}

/* The pipes after a failed lookup: every COPY ended, nothing of the batch kept. */
static void abandon_rows(sl_ingress_t *ing)
{
        char errstr[512];
        sl_copy_pipe_finish(ing->events, NULL, NULL, errstr, sizeof(errstr));
        sl_copy_pipe_finish(ing->dead, NULL, NULL, errstr, sizeof(errstr));
        sl_copy_pipe_finish(ing->retries, NULL, NULL, errstr, sizeof(errstr));
}

static int ingress_process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                           size_t cnt)
{
        sl_ingress_t *ing = opaque;
        const sl_types_t *types = sl_types_watch_poll(ing->types);
        size_t deferred = 0;
        bool two_pass = false;
        int64_t now = sl_wall_ms(), t_start = sl_mono_ms();
        char errstr[512];
        int err;

        if (!sl__ingress_slots_reserve(&ing->next_slots, &ing->next_cap, cnt))
                return SL_ERR_NOMEM;
        ing->vopts.now_ms = now;

        /* 1. decode and validate every record into the spare slots, while the COPYs of
         * the batch before end (overlap) */
        for (size_t i = 0; i < cnt; i++)
                sl__ingress_classify(ing, msgs[i], &ing->next_slots[i], types);
        if ((err = complete_inflight(ing, rt)) != SL_OK)
                return err;
        slot_t *sw = ing->slots;
        size_t swcap = ing->slot_cap;
        ing->slots = ing->next_slots;
        ing->slot_cap = ing->next_cap;
        ing->next_slots = sw;
        ing->next_cap = swcap;

        /* 2. decide and encode rows; the writers stream them meanwhile.  Right after an
         * assignment, recorded decisions are looked up first (two passes); otherwise
         * each event is decided in input order. */
        const sl_sources_t *src =
            ing->sources ? sl_sources_watch_poll(ing->sources) : NULL;
        if (ing->admit) {
                if (sl_admit_begin(ing->admit, src, cnt, now) != SL_OK)
                        return SL_ERR_NOMEM;
                for (size_t i = 0; i < cnt && !two_pass; i++)
                        two_pass = sl_admit_verifying(ing->admit, msgs[i]->partition);
        }
        for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_message_t *m = msgs[i];
                slot_t *s = &ing->slots[i];

                s->decided = false;
                if (s->kind == SLOT_REJECTED) {
                        sl__ingress_write_dead_letter_row(ing, m, s);
                        if (!two_pass)
                                sl__ingress_count_dead_letter(ing, m, s);
                } else if (s->kind == SLOT_DECIDED && s->ad.attempt > 0)
                        deferred++;
                else if (s->kind == SLOT_DECIDED && !two_pass) {
                        sl__ingress_admit_and_write(ing, m, s, now);
                        s->decided = true;
                }
        }
        if (two_pass || deferred) {
                size_t n = 0;
                int64_t lo = INT64_MAX, hi = INT64_MIN;
                for (size_t i = 0; two_pass && i < cnt; i++) {
                        const slot_t *s = &ing->slots[i];
                        if (s->kind != SLOT_DECIDED || s->ad.attempt != 0 ||
                            !sl_admit_verifying(ing->admit, msgs[i]->partition))
                                continue;
                        ing->verify_ids[n++] = s->env.id;
                        if (s->env.occurred_at < lo)
                                lo = s->env.occurred_at;
                        if (s->env.occurred_at > hi)
                                hi = s->env.occurred_at;
                }
                err = two_pass
                          ? sl_admit_lookup(ing->admit, sl_pg_session_conn(ing->maint),
                                            ing->verify_ids, n, lo, hi, errstr,
                                            sizeof(errstr))
                          : SL_OK;
                if (err == SL_OK && deferred)
                        err =
                            sl__ingress_lookup_retried(ing, cnt, errstr, sizeof(errstr));
                if (err != SL_OK) {
                        sl_log_error("%s", errstr);
                        if (ing->admit)
                                sl_admit_end(ing->admit);
                        abandon_rows(ing);
                        return err;
                }
                /* In input order, so an event after a dead letter that tripped its
                 * source's breaker is paused in both passes alike. */
                for (size_t i = 0; i < cnt; i++) {
                        slot_t *s = &ing->slots[i];
                        if (s->kind == SLOT_REJECTED && two_pass)
                                sl__ingress_count_dead_letter(ing, msgs[i], s);
                        if (s->kind != SLOT_DECIDED || s->decided)
                                continue;
                        if (s->ad.attempt > 0)
                                sl__ingress_decide_retried(ing, msgs[i], s, now);
                        else
                                sl__ingress_admit_and_write(ing, msgs[i], s, now);
                        s->decided = true;
                }
        }
        if (ing->admit)
                sl_admit_end(ing->admit);

        /* 3. end the COPYs: the batch completes when the next one is decoded (or when
         * the runtime asks, see ingress_finish), unless overlap is off. */
        sl_copy_pipe_end(ing->events);
        sl_copy_pipe_end(ing->dead);
        sl_copy_pipe_end(ing->retries);
        ing->fl.now = now;
        ing->fl.t_start = t_start;
        ing->fl.t_sent = sl_mono_ms();
        if (ing->overlap && cnt) {
                ing->fl.batch = sl_runtime_defer_keep(rt);
                return SL_OK;
        }
        return complete_batch(ing, rt, msgs, cnt);
}

/* The partition count of events.in, for the owner of a source. */
static int learn_partitions(sl_ingress_t *ing, sl_runtime_t *rt)
{
        char errstr[512];
        int32_t n = sl_kafka_partition_count(sl_runtime_producer(rt), ing->topic_in,
                                             10000, errstr, sizeof(errstr));

        if (n < 1) {
                sl_log_error("%s", errstr);
                return SL_ERR_KAFKA;
        }
        ing->in_partitions = n;
        sl_log_info(
            "%s has %d partitions: each source is owned by murmur2(source) mod %d",
            ing->topic_in, (int)n, (int)n);
        return SL_OK;
}

static int ingress_assign(void *opaque, sl_runtime_t *rt,
                          const rd_kafka_topic_partition_list_t *parts)
{
        sl_ingress_t *ing = opaque;
        char errstr[512];
        int err;

        if (!ing->admit)
                return SL_OK;
        if (!ing->in_partitions && (err = learn_partitions(ing, rt)) != SL_OK)
                return err;
        err = sl_admit_assign(ing->admit, parts, errstr, sizeof(errstr));
        if (err != SL_OK)
                sl_log_error("restoring admission state: %s", errstr);
        return err;
}

static int ingress_revoke(void *opaque, sl_runtime_t *rt,
                          const rd_kafka_topic_partition_list_t *parts)
{
        sl_ingress_t *ing = opaque;
        if (ing->admit) {
                sl_admit_tick(ing->admit, sl_pg_session_conn(ing->maint),
                              ing->sources ? sl_sources_watch_poll(ing->sources) : NULL,
                              sl_wall_ms(), true);
                sl_admit_revoke(ing->admit, parts, sl_runtime_producer(rt));
        }
        return SL_OK;
}

static void ingress_tick(void *opaque, sl_runtime_t *rt)
{
        sl_ingress_t *ing = opaque;
        char errstr[512];
        (void)rt;

        sl_types_watch_poll(ing->types);
        if (ing->admit)
                sl_admit_tick(ing->admit, sl_pg_session_conn(ing->maint),
                              sl_sources_watch_poll(ing->sources), sl_wall_ms(), false);
        if (sl_mono_ms() < ing->maint_at)
                return;
        ing->maint_at = sl_mono_ms() + SL_INGRESS_MAINT_MS;
        if (PQstatus(sl_pg_session_conn(ing->maint)) != CONNECTION_OK &&
            sl_pg_session_reset(ing->maint, errstr, sizeof(errstr)) != SL_OK)
                sl_log_warn("%s", errstr);
        if (sl_pg_ensure_partitions(sl_pg_session_conn(ing->maint), ing->days_back,
                                    ing->days_ahead, errstr, sizeof(errstr)) != SL_OK)
                sl_log_warn("event partitions: %s", errstr);
}

static void register_metrics(sl_ingress_t *ing)
{
        static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,  5,     10,   30,  60};
        static const char help[] =
            "Events by outcome: accepted (into Postgres and events.accepted), held "
            "(throttled or paused: retry scheduled), rerouted (sent to the partition "
            "owning the source), rejected (dead letters).";
        char labels[64];

        ing->m_accepted = sl_metrics_counter("sluice_ingress_events_total",
                                             "outcome=\"accepted\"", help);
        ing->m_held =
            sl_metrics_counter("sluice_ingress_events_total", "outcome=\"held\"", help);
        ing->m_rerouted = sl_metrics_counter("sluice_ingress_events_total",
                                             "outcome=\"rerouted\"", help);
        ing->m_rejected_total = sl_metrics_counter("sluice_ingress_events_total",
                                                   "outcome=\"rejected\"", help);
        static const char *const retried[] = {"completed", "rescheduled", "exhausted",
                                              "stale"};
        for (int k = 0; k < 4; k++) {
                snprintf(labels, sizeof(labels), "outcome=\"%s\"", retried[k]);
                ing->m_retried[k] = sl_metrics_counter(
                    "sluice_ingress_retried_total", labels,
                    "Re-injected events (attempt > 0) by outcome: completed (admitted), "
                    "rescheduled (held back again), exhausted (past retry.max.attempts, "
                    "dead-lettered), stale (the retry row was not due for that attempt: "
                    "dropped).");
        }
        for (int c = SL_REJECT_NONE + 1; c < SL_REJECT__CNT; c++) {
                snprintf(labels, sizeof(labels), "reason=\"%s\"",
                         sl_reject_code_str((sl_reject_code_t)c));
                ing->m_rejected[c] =
                    sl_metrics_counter("sluice_ingress_rejected_total", labels,
                                       "Rejected events by reason code.");
        }
        ing->m_dups = sl_metrics_counter(
            "sluice_ingress_replayed_total", NULL,
            "Rows already in Postgres when written again (replays), skipped.");
        ing->m_latency = sl_metrics_histogram(
            "sluice_ingress_event_latency_seconds", NULL,
            "From the record's Kafka timestamp to its Postgres commit.", lat_bounds,
            sizeof(lat_bounds) / sizeof(lat_bounds[0]));
}

sl_ingress_t *sl_ingress_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        sl_ingress_t *ing = calloc(1, sizeof(*ing));
        int nconn = (int)sl_conf_get_int(conf, "ingress.pg.connections");
        const char *schemas_dir = sl_conf_get(conf, "schemas.dir");

        if (!ing) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ing->conf = conf;
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, ing->topic_in,
                            sizeof(ing->topic_in));
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, ing->topic_accepted,
                            sizeof(ing->topic_accepted));
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_DLQ, ing->topic_dlq,
                            sizeof(ing->topic_dlq));
        ing->topics[0] = ing->topic_in;
        ing->topics[1] = NULL;
        ing->days_back = (int)sl_conf_get_int(conf, "events.partitions.days.back");
        ing->days_ahead = (int)sl_conf_get_int(conf, "events.partitions.days.ahead");
        ing->vopts.max_future_ms = sl_conf_get_int(conf, "envelope.max.future.ms");
        ing->max_attempts = (int)sl_conf_get_int(conf, "retry.max.attempts");
        register_metrics(ing);

        ing->codec = sl_codec_new(errstr, errstr_size);
        if (!ing->codec)
                goto fail;
        if (schemas_dir && *schemas_dir &&
            sl_codec_add_writers_dir(ing->codec, schemas_dir, errstr, errstr_size) !=
                SL_OK)
                goto fail;
        ing->maint = sl_pg_session_new(conf, NULL, errstr, errstr_size);
        if (!ing->maint)
                goto fail;
        if (sl_pg_ensure_partitions(sl_pg_session_conn(ing->maint), ing->days_back,
                                    ing->days_ahead, errstr, errstr_size) != SL_OK)
                goto fail; /* most likely: migrations not applied */
        ing->maint_at = sl_mono_ms() + SL_INGRESS_MAINT_MS;
        ing->types = sl_types_watch_new(conf, errstr, errstr_size);
        if (!ing->types)
                goto fail;
        if (sl_conf_get_bool(conf, "admission.enabled")) {
                char changelog[256];
                ing->sources = sl_sources_watch_new(conf, errstr, errstr_size);
                if (!ing->sources)
                        goto fail;
                sl_kafka_topic_name(conf, SL_TOPIC_ADMISSION_CHANGELOG, changelog,
                                    sizeof(changelog));
                ing->admit = sl_admit_new(conf, changelog, errstr, errstr_size);
                if (!ing->admit)
                        goto fail;
        }
        ing->ntiers = sl_kafka_retry_topics(conf, ing->tier_topics, ing->tiers_ms,
                                            SL_INGRESS_MAX_TIERS);
        if (!ing->ntiers) {
                snprintf(errstr, errstr_size, "retry.tiers: no tiers");
                goto fail;
        }
        ing->events = sl_copy_pipe_new(conf, "workflow_events", events_columns, nconn,
                                       errstr, errstr_size);
        if (!ing->events)
                goto fail;
        ing->dead = sl_copy_pipe_new(conf, "dead_letters", dead_letters_columns, 1,
                                     errstr, errstr_size);
        if (!ing->dead)
                goto fail;
        ing->retries = sl_copy_pipe_new(conf, "event_ingress_retries", retries_columns, 1,
                                        errstr, errstr_size);
        if (!ing->retries)
                goto fail;

        ing->stage.name = "ingress";
        ing->stage.group_id = sl_conf_get(conf, "ingress.group.id");
        ing->stage.topics = ing->topics;
        ing->stage.batch_size = (size_t)sl_conf_get_int(conf, "ingress.batch.size");
        ing->stage.batch_ms = (int)sl_conf_get_int(conf, "ingress.batch.ms");
        /* About a second of ingress's rate on a 2-core machine: librdkafka 2.0.2 stops
         * fetching a partition while the queue is full and looks again only when its
         * broker thread wakes, up to a second later.  Four batches (40,000) ran dry
         * 3-4 times in a 5 s run, idle ~25% of it; 100,000 did not, but held peak RSS
         * at 116-135 MiB; 70,000 with 64 KiB partition fetches ran as fast at 96-118
         * (docs/benchmarks.md, sixth pass).  A faster machine wants a second of its
         * own rate: kafka.queued.min.messages. */
        ing->stage.queued_records = 4 * (long)ing->stage.batch_size;
        if (ing->stage.queued_records < SL_INGRESS_QUEUE_RECORDS)
                ing->stage.queued_records = SL_INGRESS_QUEUE_RECORDS;
        ing->stage.opaque = ing;
        ing->stage.process = ingress_process;
        ing->stage.tick = ingress_tick;
        ing->stage.on_assign = ingress_assign;
        ing->stage.on_revoke = ingress_revoke;
        ing->stage.finish = ingress_finish;
        ing->overlap = sl_conf_get_bool(conf, "ingress.overlap");
        ing->verify_ids = calloc(ing->stage.batch_size, sizeof(*ing->verify_ids));
        if (!ing->verify_ids) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!sl__ingress_slots_reserve(&ing->slots, &ing->slot_cap,
                                       ing->stage.batch_size) ||
            !sl__ingress_slots_reserve(&ing->next_slots, &ing->next_cap,
                                       ing->stage.batch_size)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        return ing;

fail:
        sl_ingress_destroy(ing);
        return NULL;
}

void sl_ingress_destroy(sl_ingress_t *ing)
{
        if (!ing)
                return;
        for (size_t i = 0; i < ing->slot_cap; i++) {
                sl_envelope_clear(&ing->slots[i].env);
                free(ing->slots[i].rej_msg);
        }
        for (size_t i = 0; i < ing->next_cap; i++) {
                sl_envelope_clear(&ing->next_slots[i].env);
                free(ing->next_slots[i].rej_msg);
        }
        free(ing->slots);
        free(ing->next_slots);
        free(ing->verify_ids);
        free(ing->retried);
        free(ing->recorded);
        for (size_t i = 0; i < UPD__CNT; i++)
                sl_pgarr_free(&ing->upd[i]);
        free(ing->last_offsets);
        sl_admit_destroy(ing->admit);
        sl_sources_watch_destroy(ing->sources);
        sl_copy_pipe_destroy(ing->retries);
        sl_copy_pipe_destroy(ing->dead);
        sl_copy_pipe_destroy(ing->events);
        sl_types_watch_destroy(ing->types);
        sl_pg_session_destroy(ing->maint);
        sl_codec_destroy(ing->codec);
        free(ing);
}

const sl_stage_t *sl_ingress_stage(sl_ingress_t *ing)
{
        return &ing->stage;
}
