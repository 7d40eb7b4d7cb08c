/*
 * The ingress stage (see ingress.h).  Per batch:
 *   1. decode + validate every record into its slot (no allocation once warm); an
 *      event on a partition that does not own its source is re-routed to the owner;
 *      the owner decides admission (admit.h) and encodes the event's row, with its
 *      decision, into a COPY pipe while the pipe's writers stream to Postgres; invalid
 *      records become dead_letters rows, held-back events event_ingress_retries rows;
 *   2. wait for every COPY (a replayed event id or offset is skipped, see copy_pipe.h);
 *   3. enqueue events.accepted / retry tier / events.dlq / re-routed records and the
 *      admission changelog; the runtime flushes them and commits the offsets.
 * Not here: the admission rules themselves (src/limits) or offsets and rebalances
 * (src/runtime).
 */
#include "ingress.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "envelope/envelope.h"
#include "envelope/validate.h"
#include "kafka/kafka.h"
#include "limits/backoff.h"
#include "limits/sources.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/copy_pipe.h"
#include "pg/pg.h"
#include "pg/pgarray.h"
#include "pg/types_registry.h"
#include "retry/retry_record.h"
#include "retry/state.h"
#include "sluice/err.h"
#include "util/utf8.h"
#include "util/uuid.h"

#define SL_INGRESS_MAINT_MS (3600 * 1000)

static const char events_columns[] =
        "(id, type, source, occurred_at, payload, correlation_id, ttl_ms, metadata, "
        "kafka_partition, kafka_offset, status, reason, decided_at, attempt)";
static const char retries_columns[] =
        "(event_id, source, occurred_at, attempt, next_attempt_at, reason, state, envelope)";

#define SL_INGRESS_MAX_TIERS 16
static const char dead_letters_columns[] =
        "(topic, kafka_partition, kafka_offset, kafka_key, raw, reason, message, "
        "event_id, event_type, source, headers)";

typedef enum {
        SLOT_REJECTED,  /* invalid: dead letter */
        SLOT_REROUTED,  /* valid, on a partition that does not own its source */
        SLOT_DECIDED,   /* valid and owned: one admission decision */
        SLOT_STALE,     /* a re-injected attempt whose retry row is not due for it */
        SLOT_EXHAUSTED, /* held back again past retry.max.attempts: dead letter */
} slot_kind_t;

/* What became of one record of the batch. */
typedef struct slot_s {
        sl_envelope_t env;
        sl_reject_t rej; /* rej.code == SL_REJECT_NONE: valid */
        slot_kind_t kind;
        int32_t owner;       /* SLOT_REROUTED: the partition that owns the source */
        sl_admit_event_t ad; /* SLOT_DECIDED */
        bool decided;        /* ad holds the decision */
} slot_t;

/* What Postgres holds for a re-injected event (attempt > 0). */
typedef struct retried_s {
        char id[37];
        int32_t retry_attempt; /* event_ingress_retries.attempt */
        char state[16];
        int32_t event_attempt; /* workflow_events.attempt, -1 when no row */
        sl_decision_t decision;
        sl_admit_reason_t reason;
        int64_t decided_at;
        bool taken; /* decided by an earlier record of this batch */
} retried_t;

/* The row Postgres already holds for an event id (duplicate settling). */
typedef struct recorded_s {
        char id[37];
        int32_t partition;
        int64_t offset;
        int32_t attempt;
        sl_decision_t decision;
        sl_admit_reason_t reason;
        int64_t decided_at;
} recorded_t;

struct sl_ingress_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        const char *topics[2];
        char topic_in[256], topic_accepted[256], topic_dlq[256];

        sl_codec_t *codec;
        sl_types_watch_t *types;
        sl_sources_watch_t *sources;
        sl_admit_t *admit; /* NULL when admission.enabled is false */
        int32_t in_partitions; /* of events.in; 0 until known */
        int64_t *last_offsets; /* per input partition, this batch */
        int32_t last_cap;
        char tier_topics[SL_INGRESS_MAX_TIERS][256];
        int64_t tiers_ms[SL_INGRESS_MAX_TIERS];
        size_t ntiers;
        const char **verify_ids;
        retried_t *retried; /* this batch's lookups, sorted by id */
        size_t nretried;
        recorded_t *recorded; /* rows of duplicates, sorted by id */
        int max_attempts;
        sl_pgarr_t upd[12]; /* columns of the re-injected events' updates */
        sl_copy_pipe_t *events, *dead, *retries;
        PGconn *maint;
        int64_t maint_at;
        int days_back, days_ahead;
        sl_validate_opts_t vopts;

        slot_t *slots;
        size_t slot_cap;

        sl_metric_t *m_accepted, *m_rejected_total, *m_dups, *m_latency, *m_rerouted,
                *m_held, *m_rejected[SL_REJECT__CNT], *m_retried[4];
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

/* Append s to the open field, as JSON string content when json, replacing anything
 * that is not valid UTF-8 (and NUL) with '?': dead letters hold arbitrary bytes and
 * Postgres text must not fail the batch. */
static void append_clean(sl_copy_pipe_t *cp, const char *s, size_t len, bool json)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0, run = 0;

        while (i < len) {
                size_t n = sl_utf8_seq(p + i, len - i);
                bool esc = json && n == 1 && (p[i] < 0x20 || p[i] == '"' || p[i] == '\\');
                if (n && !esc) {
                        i += n;
                        continue;
                }
                if (i > run)
                        sl_copy_field_append(cp, p + run, i - run);
                if (!n) {
                        sl_copy_field_append(cp, "?", 1);
                        i++;
                } else {
                        char buf[8];
                        int bl = snprintf(buf, sizeof(buf), "\\u%04x", p[i]);
                        if (p[i] == '"' || p[i] == '\\') {
                                buf[0] = '\\';
                                buf[1] = (char)p[i];
                                bl = 2;
                        }
                        sl_copy_field_append(cp, buf, (size_t)bl);
                        i++;
                }
                run = i;
        }
        if (len > run)
                sl_copy_field_append(cp, p + run, len - run);
}

static void field_clean_text(sl_copy_pipe_t *cp, const char *s, size_t len)
{
        sl_copy_field_open(cp);
        append_clean(cp, s, len, false);
        sl_copy_field_close(cp);
}

static void field_json_string(sl_copy_pipe_t *cp, const char *s, size_t len)
{
        sl_copy_field_append(cp, "\"", 1);
        append_clean(cp, s, len, true);
        sl_copy_field_append(cp, "\"", 1);
}

static void write_event_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                            const sl_envelope_t *env, const sl_admit_event_t *ad)
{
        sl_copy_pipe_t *cp = ing->events;
        uint8_t uuid[16];
        const char *status = sl_decision_str(ad->decision);
        const char *reason = sl_admit_reason_str(ad->reason);

        sl_uuid_parse(env->id, uuid); /* validated already */
        sl_copy_row_begin(cp, 14);
        sl_copy_field_uuid(cp, uuid);
        sl_copy_field(cp, env->type, strlen(env->type));
        sl_copy_field(cp, env->source, strlen(env->source));
        sl_copy_field_timestamp_ms(cp, env->occurred_at);
        sl_copy_field_jsonb(cp, env->payload, env->payload_len);
        if (env->correlation_id)
                sl_copy_field(cp, env->correlation_id, strlen(env->correlation_id));
        else
                sl_copy_field_null(cp);
        if (env->has_ttl)
                sl_copy_field_int8(cp, env->ttl_ms);
        else
                sl_copy_field_null(cp);
        if (env->meta_cnt == 0) {
                sl_copy_field_jsonb(cp, "{}", 2);
        } else {
                sl_copy_field_open(cp);
                sl_copy_field_append(cp, "\1{", 2);
                for (size_t i = 0; i < env->meta_cnt; i++) {
                        if (i)
                                sl_copy_field_append(cp, ",", 1);
                        field_json_string(cp, env->meta_keys[i], strlen(env->meta_keys[i]));
                        sl_copy_field_append(cp, ":", 1);
                        field_json_string(cp, env->meta_vals[i], strlen(env->meta_vals[i]));
                }
                sl_copy_field_append(cp, "}", 1);
                sl_copy_field_close(cp);
        }
        sl_copy_field_int4(cp, m->partition);
        sl_copy_field_int8(cp, m->offset);
        sl_copy_field(cp, status, strlen(status));
        if (*reason)
                sl_copy_field(cp, reason, strlen(reason));
        else
                sl_copy_field_null(cp);
        sl_copy_field_timestamp_ms(cp, ad->decided_at);
        sl_copy_field_int4(cp, ad->attempt);
        sl_copy_row_end(cp);
}

/* The retry intent of a held-back event: attempt is the next one. */
static void write_retry_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                            const sl_envelope_t *env, const sl_admit_event_t *ad)
{
        sl_copy_pipe_t *cp = ing->retries;
        uint8_t uuid[16];
        const char *reason = sl_admit_reason_str(ad->reason);

        sl_uuid_parse(env->id, uuid); /* validated already */
        sl_copy_row_begin(cp, 8);
        sl_copy_field_uuid(cp, uuid);
        sl_copy_field(cp, env->source, strlen(env->source));
        sl_copy_field_timestamp_ms(cp, env->occurred_at);
        sl_copy_field_int4(cp, ad->attempt + 1);
        sl_copy_field_timestamp_ms(cp, ad->next_attempt_at);
        sl_copy_field(cp, reason, strlen(reason));
        sl_copy_field(cp, "scheduled", 9);
        sl_copy_field(cp, m->payload ? m->payload : "", m->payload ? m->len : 0);
        sl_copy_row_end(cp);
}

/* The attempt an event is on: 0 when fresh, n when sluice-retry re-injected it. */
static int32_t attempt_of(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        const void *val;
        size_t size;
        char buf[16];

        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            rd_kafka_header_get_last(hdrs, SL_RETRY_HDR_ATTEMPT, &val, &size) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
            !val || size == 0 || size >= sizeof(buf))
                return 0;
        memcpy(buf, val, size);
        buf[size] = '\0';
        return (int32_t)atoi(buf);
}

static bool decoded(const sl_reject_t *rej)
{
        return rej->code != SL_REJECT_FRAMING && rej->code != SL_REJECT_UNKNOWN_SCHEMA &&
               rej->code != SL_REJECT_DECODE;
}

static void write_dead_letter_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                  const slot_t *s)
{
        sl_copy_pipe_t *cp = ing->dead;
        const char *topic = rd_kafka_topic_name(m->rkt);
        const char *reason = sl_reject_code_str(s->rej.code);
        rd_kafka_headers_t *hdrs = NULL;
        bool have_env = decoded(&s->rej);

        sl_copy_row_begin(cp, 11);
        sl_copy_field(cp, topic, strlen(topic));
        sl_copy_field_int4(cp, m->partition);
        sl_copy_field_int8(cp, m->offset);
        if (m->key)
                sl_copy_field(cp, m->key, m->key_len);
        else
                sl_copy_field_null(cp);
        sl_copy_field(cp, m->payload ? m->payload : "", m->payload ? m->len : 0);
        sl_copy_field(cp, reason, strlen(reason));
        field_clean_text(cp, s->rej.msg, strlen(s->rej.msg));
        if (have_env) {
                field_clean_text(cp, s->env.id, strlen(s->env.id));
                if (s->env.type)
                        field_clean_text(cp, s->env.type, strlen(s->env.type));
                else
                        sl_copy_field_null(cp);
                if (s->env.source)
                        field_clean_text(cp, s->env.source, strlen(s->env.source));
                else
                        sl_copy_field_null(cp);
        } else {
                sl_copy_field_null(cp);
                sl_copy_field_null(cp);
                sl_copy_field_null(cp);
        }
        sl_copy_field_open(cp);
        sl_copy_field_append(cp, "\1{", 2);
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size;
                for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
                     i++) {
                        if (i)
                                sl_copy_field_append(cp, ",", 1);
                        field_json_string(cp, name, strlen(name));
                        sl_copy_field_append(cp, ":", 1);
                        if (val)
                                field_json_string(cp, val, size);
                        else
                                sl_copy_field_append(cp, "null", 4);
                }
        }
        sl_copy_field_append(cp, "}", 1);
        sl_copy_field_close(cp);
        sl_copy_row_end(cp);
}

static rd_kafka_headers_t *copy_headers(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return NULL;
        return rd_kafka_headers_copy(hdrs);
}

static int produce_dead_letter(sl_ingress_t *ing, sl_runtime_t *rt,
                               const rd_kafka_message_t *m, const slot_t *s)
{
        rd_kafka_headers_t *hdrs = copy_headers(m);
        const char *reason = sl_reject_code_str(s->rej.code);
        const char *topic = rd_kafka_topic_name(m->rkt);
        char num[32];

        if (!hdrs)
                hdrs = rd_kafka_headers_new(5);
        rd_kafka_header_add(hdrs, "sluice.reason", -1, reason, -1);
        rd_kafka_header_add(hdrs, "sluice.reason.message", -1, s->rej.msg, -1);
        rd_kafka_header_add(hdrs, "sluice.source.topic", -1, topic, -1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(hdrs, "sluice.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)m->offset);
        rd_kafka_header_add(hdrs, "sluice.source.offset", -1, num, -1);
        return sl_runtime_produce(rt, ing->topic_dlq, m->key, m->key_len, m->payload,
                                  m->len, hdrs);
}

static bool slots_reserve(sl_ingress_t *ing, size_t cnt)
{
        if (cnt <= ing->slot_cap)
                return true;
        slot_t *s = realloc(ing->slots, cnt * sizeof(*s));
        if (!s)
                return false;
        for (size_t i = ing->slot_cap; i < cnt; i++)
                sl_envelope_init(&s[i].env);
        ing->slots = s;
        ing->slot_cap = cnt;
        return true;
}

static void log_rejection(const rd_kafka_message_t *m, const slot_t *s)
{
        sl_log_ctx_t ctx = {0};
        if (decoded(&s->rej)) {
                ctx.event_id = s->env.id;
                ctx.source = s->env.source;
                ctx.correlation_id = s->env.correlation_id;
        }
        sl_log(SL_LOG_WARN, &ctx, "rejected %s [%d] @%lld: %s: %s",
               rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
               sl_reject_code_str(s->rej.code), s->rej.msg);
}

static int produce_retry(sl_ingress_t *ing, sl_runtime_t *rt, const rd_kafka_message_t *m,
                         const slot_t *s, int64_t now)
{
        sl_retry_record_t rr = {.event_id = s->env.id,
                                .source = s->env.source,
                                .attempt = s->ad.attempt + 1,
                                .due_at = s->ad.next_attempt_at,
                                .reason = sl_admit_reason_str(s->ad.reason),
                                .envelope = m->payload,
                                .envelope_len = m->len};
        size_t tier = sl_backoff_tier(ing->tiers_ms, ing->ntiers, s->ad.next_attempt_at - now);
        void *buf;
        size_t len;
        int err = sl_retry_record_encode(&rr, &buf, &len);

        if (err != SL_OK)
                return err;
        err = sl_runtime_produce(rt, ing->tier_topics[tier], s->env.source,
                                 strlen(s->env.source), buf, len, NULL);
        free(buf);
        return err;
}

/* Send an event to the partition that owns its source, unchanged. */
static int produce_reroute(sl_ingress_t *ing, sl_runtime_t *rt, const rd_kafka_message_t *m,
                           const slot_t *s)
{
        rd_kafka_headers_t *hdrs = copy_headers(m);
        char num[16];

        if (!hdrs)
                hdrs = rd_kafka_headers_new(1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(hdrs, "sluice.rerouted.from", -1, num, -1);
        return sl_runtime_produce_partition(rt, ing->topic_in, s->owner, m->key, m->key_len,
                                            m->payload, m->len, hdrs);
}

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

/* Decide and encode one valid event that its partition owns. */
static void admit_and_write(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                            int64_t now)
{
        if (ing->admit) {
                sl_admit_one(ing->admit, &s->ad);
        } else {
                s->ad.decision = SL_DECISION_ACCEPTED;
                s->ad.reason = SL_ADMIT_OK;
                s->ad.decided_at = now;
        }
        write_event_row(ing, m, &s->env, &s->ad);
        if (s->ad.decision != SL_DECISION_ACCEPTED)
                write_retry_row(ing, m, &s->env, &s->ad);
}

/* Decode, validate and classify record i; rows of rejected records are written here. */
static void classify(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                     const sl_types_t *types)
{
        s->rej.code = SL_REJECT_NONE;
        s->rej.msg[0] = '\0';
        if (sl_envelope_decode(ing->codec, m->payload, m->payload ? m->len : 0, &s->env,
                               &s->rej) == SL_OK)
                sl_envelope_validate(&s->env, &ing->vopts, types, &s->rej);
        if (s->rej.code != SL_REJECT_NONE) {
                s->kind = SLOT_REJECTED;
                write_dead_letter_row(ing, m, s);
                log_rejection(m, s);
                return;
        }
        if (ing->admit && ing->in_partitions > 0) {
                int32_t owner = sl_kafka_partition_for(s->env.source, strlen(s->env.source),
                                                       ing->in_partitions);
                if (owner != m->partition) {
                        s->kind = SLOT_REROUTED;
                        s->owner = owner;
                        return;
                }
        }
        s->kind = SLOT_DECIDED;
        s->ad.partition = m->partition;
        s->ad.offset = m->offset;
        s->ad.event_id = s->env.id;
        s->ad.source = s->env.source;
        s->ad.correlation_id = s->env.correlation_id;
        s->ad.attempt = attempt_of(m);
}

/* --- re-injected events (attempt > 0, from sluice-retry) ------------------------- */

static int retried_cmp(const void *a, const void *b)
{
        return strcmp(((const retried_t *)a)->id, ((const retried_t *)b)->id);
}

/* Load the retry rows and recorded decisions of the batch's re-injected events. */
static int lookup_retried(sl_ingress_t *ing, size_t cnt, char *errstr, size_t errstr_size)
{
        sl_pgarr_t ids = {0};
        PGresult *res;
        size_t n = 0;

        sl_pgarr_begin(&ids);
        for (size_t i = 0; i < cnt; i++) {
                const slot_t *s = &ing->slots[i];
                if (s->kind == SLOT_DECIDED && s->ad.attempt > 0) {
                        sl_pgarr_text(&ids, s->env.id);
                        n++;
                }
        }
        ing->nretried = 0;
        if (!n) {
                sl_pgarr_free(&ids);
                return SL_OK;
        }
        const char *params[1] = {sl_pgarr_end(&ids)};
        res = PQexecParams(ing->maint,
                           "SELECT r.event_id::text, r.attempt, r.state, coalesce(w.attempt, -1), "
                           "coalesce(w.status, ''), coalesce(w.reason, ''), "
                           "coalesce((extract(epoch FROM w.decided_at) * 1000)::bigint, 0) "
                           "FROM event_ingress_retries r LEFT JOIN workflow_events w "
                           "ON w.id = r.event_id AND w.occurred_at = r.occurred_at "
                           "WHERE r.event_id = ANY($1::uuid[])",
                           1, NULL, params, NULL, NULL, 0);
        sl_pgarr_free(&ids);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                snprintf(errstr, errstr_size, "retry rows: %s", PQresultErrorMessage(res));
                PQclear(res);
                return SL_ERR_PG;
        }
        size_t rows = (size_t)PQntuples(res);
        retried_t *r = realloc(ing->retried, (rows + 1) * sizeof(*r));
        if (!r) {
                PQclear(res);
                return SL_ERR_NOMEM;
        }
        ing->retried = r;
        for (size_t k = 0; k < rows; k++) {
                int row = (int)k;
                snprintf(r[k].id, sizeof(r[k].id), "%s", PQgetvalue(res, row, 0));
                r[k].retry_attempt = atoi(PQgetvalue(res, row, 1));
                snprintf(r[k].state, sizeof(r[k].state), "%s", PQgetvalue(res, row, 2));
                r[k].event_attempt = atoi(PQgetvalue(res, row, 3));
                r[k].decision = sl_decision_parse(PQgetvalue(res, row, 4));
                r[k].reason = sl_admit_reason_parse(PQgetvalue(res, row, 5));
                r[k].decided_at = atoll(PQgetvalue(res, row, 6));
                r[k].taken = false;
        }
        PQclear(res);
        qsort(r, rows, sizeof(*r), retried_cmp);
        ing->nretried = rows;
        return SL_OK;
}

static retried_t *retried_get(const sl_ingress_t *ing, const char *id)
{
        retried_t key;
        snprintf(key.id, sizeof(key.id), "%s", id);
        return ing->nretried ? bsearch(&key, ing->retried, ing->nretried,
                                       sizeof(*ing->retried), retried_cmp)
                             : NULL;
}

enum { UPD_EV_ID, UPD_EV_OCC, UPD_EV_STATUS, UPD_EV_REASON, UPD_EV_DEC, UPD_EV_ATT,
       UPD_R_ID, UPD_R_ATT, UPD_R_STATE, UPD_R_NEXT_ATT, UPD_R_NEXT_AT, UPD_R_REASON };

/* Queue the updates of a freshly decided re-injected event: its row gets the new
 * decision for attempt N, its retry row moves on from 'due' (or from 'scheduled' /
 * 'rescheduled' when the 'due' mark has not landed yet). */
static void queue_retried_update(sl_ingress_t *ing, const slot_t *s, const char *retry_state)
{
        const sl_admit_event_t *ad = &s->ad;

        if (!ing->upd[UPD_EV_ID].n)
                for (size_t i = 0; i < sizeof(ing->upd) / sizeof(ing->upd[0]); i++)
                        sl_pgarr_begin(&ing->upd[i]);
        sl_pgarr_text(&ing->upd[UPD_EV_ID], s->env.id);
        sl_pgarr_num(&ing->upd[UPD_EV_OCC], s->env.occurred_at);
        sl_pgarr_text(&ing->upd[UPD_EV_STATUS], sl_decision_str(ad->decision));
        sl_pgarr_text(&ing->upd[UPD_EV_REASON], sl_admit_reason_str(ad->reason));
        sl_pgarr_num(&ing->upd[UPD_EV_DEC], ad->decided_at);
        sl_pgarr_num(&ing->upd[UPD_EV_ATT], ad->attempt);
        sl_pgarr_text(&ing->upd[UPD_R_ID], s->env.id);
        sl_pgarr_num(&ing->upd[UPD_R_ATT], ad->attempt);
        sl_pgarr_text(&ing->upd[UPD_R_STATE], retry_state);
        sl_pgarr_num(&ing->upd[UPD_R_NEXT_ATT],
                     strcmp(retry_state, "rescheduled") == 0 ? ad->attempt + 1 : ad->attempt);
        sl_pgarr_num(&ing->upd[UPD_R_NEXT_AT],
                     strcmp(retry_state, "rescheduled") == 0 ? ad->next_attempt_at : 0);
        sl_pgarr_text(&ing->upd[UPD_R_REASON], sl_admit_reason_str(ad->reason));
}

/* Apply the queued updates in one transaction on the maintenance connection. */
static int apply_retried_updates(sl_ingress_t *ing, char *errstr, size_t errstr_size)
{
        const char *ev[6], *rr[6];
        int err;

        if (!ing->upd[UPD_EV_ID].n)
                return SL_OK;
        for (int i = 0; i < 6; i++) {
                ev[i] = sl_pgarr_end(&ing->upd[UPD_EV_ID + i]);
                rr[i] = sl_pgarr_end(&ing->upd[UPD_R_ID + i]);
        }
        err = sl_pg_exec(ing->maint, "BEGIN", 0, NULL, errstr, errstr_size);
        if (err == SL_OK)
                err = sl_pg_exec(
                        ing->maint,
                        "UPDATE workflow_events w SET status = u.status, "
                        "reason = nullif(u.reason, ''), decided_at = to_timestamp(u.dec / 1000.0), "
                        "attempt = u.att FROM unnest($1::uuid[], $2::bigint[], $3::text[], "
                        "$4::text[], $5::bigint[], $6::int[]) AS u(id, occ, status, reason, dec, "
                        "att) WHERE w.id = u.id AND w.occurred_at = to_timestamp(u.occ / 1000.0) "
                        "AND w.attempt < u.att",
                        6, ev, errstr, errstr_size);
        if (err == SL_OK)
                err = sl_pg_exec(
                        ing->maint,
                        "UPDATE event_ingress_retries r SET state = u.state, "
                        "attempt = u.next_att, next_attempt_at = CASE WHEN u.next_at > 0 "
                        "THEN to_timestamp(u.next_at / 1000.0) ELSE r.next_attempt_at END, "
                        "reason = coalesce(nullif(u.reason, ''), r.reason), updated_at = now() "
                        "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], "
                        "$5::bigint[], $6::text[]) AS u(id, att, state, next_att, next_at, "
                        "reason) WHERE r.event_id = u.id AND r.attempt = u.att "
                        "AND r.state IN ('scheduled', 'rescheduled', 'due')",
                        6, rr, errstr, errstr_size);
        if (err == SL_OK)
                err = sl_pg_exec(ing->maint, "COMMIT", 0, NULL, errstr, errstr_size);
        else
                PQclear(PQexec(ing->maint, "ROLLBACK"));
        for (size_t i = 0; i < sizeof(ing->upd) / sizeof(ing->upd[0]); i++)
                ing->upd[i].n = 0;
        return err;
}

static bool retry_open(const char *state)
{
        sl_retry_state_t st;
        return sl_retry_state_parse(state, &st) == SL_OK && !sl_retry_state_final(st);
}

/* Decide a re-injected event: only the attempt its retry row is due for counts; a
 * decision already recorded for it is reused (a replay); past retry.max.attempts the
 * event is exhausted and dead-lettered. */
static void decide_retried(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                           int64_t now)
{
        retried_t *r = retried_get(ing, s->env.id);
        int32_t n = s->ad.attempt;
        bool recorded = r && r->event_attempt == n && r->decision != SL_DECISION_NONE;

        /* Only an open row waiting on attempt n counts: 'due', or still 'scheduled' /
         * 'rescheduled' when sluice-retry's 'due' mark, written behind the re-injection,
         * has not landed yet.  A second copy of the same attempt in this batch is a
         * duplicate wake-up. */
        if (!r || (!recorded && (r->taken || !retry_open(r->state) || r->retry_attempt != n))) {
                sl_log_ctx_t ctx = {.event_id = s->env.id, .source = s->env.source,
                                    .correlation_id = s->env.correlation_id};
                sl_log(SL_LOG_DEBUG, &ctx, "attempt %d dropped: retry row is %s (attempt %d)",
                       (int)n, r ? r->state : "missing", r ? (int)r->retry_attempt : 0);
                s->kind = SLOT_STALE;
                return;
        }
        if (recorded) {
                if (ing->admit)
                        sl_admit_recorded(ing->admit, &s->ad, r->decision, r->reason,
                                          r->decided_at);
                else {
                        s->ad.decision = r->decision;
                        s->ad.decided_at = r->decided_at;
                }
                if (strcmp(r->state, "exhausted") == 0)
                        goto exhausted;
                return;
        }
        r->taken = true;
        if (ing->admit) {
                sl_admit_one(ing->admit, &s->ad);
        } else {
                s->ad.decision = SL_DECISION_ACCEPTED;
                s->ad.reason = SL_ADMIT_OK;
                s->ad.decided_at = now;
        }
        if (s->ad.decision == SL_DECISION_ACCEPTED) {
                queue_retried_update(ing, s, "completed");
                sl_metrics_add(ing->m_retried[0], 1);
                return;
        }
        if (n + 1 <= ing->max_attempts) {
                queue_retried_update(ing, s, "rescheduled");
                sl_metrics_add(ing->m_retried[1], 1);
                return;
        }
        queue_retried_update(ing, s, "exhausted");
        sl_metrics_add(ing->m_retried[2], 1);
exhausted:
        s->kind = SLOT_EXHAUSTED;
        s->rej.code = SL_REJECT_RETRIES_EXHAUSTED;
        snprintf(s->rej.msg, sizeof(s->rej.msg),
                 "held back on %d attempts (retry.max.attempts %d), last: %s", (int)n + 1,
                 ing->max_attempts, sl_admit_reason_str(s->ad.reason));
        write_dead_letter_row(ing, m, s);
}

/*
 * The rare batch whose events COPY found rows already there (dups > 0): an event id
 * seen before at another offset (a publisher's resend, a re-routed record produced
 * twice) keeps the decision it already had.  This batch's decision for it is taken
 * back from the state, a retry intent it added in error is removed, and its outputs
 * follow the recorded decision.  The common batch never comes here.
 */
static int recorded_cmp(const void *a, const void *b)
{
        return strcmp(((const recorded_t *)a)->id, ((const recorded_t *)b)->id);
}

static int settle_duplicates(sl_ingress_t *ing, const sl_sources_t *src, size_t cnt,
                             char *errstr, size_t errstr_size)
{
        sl_pgarr_t ids = {0}, wrong = {0};
        PGresult *res;
        size_t n = 0, fixed = 0;
        int err = SL_OK;

        sl_pgarr_begin(&ids);
        sl_pgarr_begin(&wrong);
        for (size_t i = 0; i < cnt; i++) {
                const slot_t *s = &ing->slots[i];
                if (s->kind == SLOT_DECIDED && s->ad.attempt == 0 && !s->ad.replayed) {
                        sl_pgarr_text(&ids, s->env.id);
                        n++;
                }
        }
        if (!n)
                goto out;
        const char *params[1] = {sl_pgarr_end(&ids)};
        res = PQexecParams(ing->maint,
                           "SELECT id::text, kafka_partition, kafka_offset, status, "
                           "coalesce(reason, ''), "
                           "(extract(epoch FROM coalesce(decided_at, received_at)) * 1000)"
                           "::bigint, attempt FROM workflow_events WHERE id = ANY($1::uuid[])",
                           1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                snprintf(errstr, errstr_size, "duplicates: %s", PQresultErrorMessage(res));
                PQclear(res);
                err = SL_ERR_PG;
                goto out;
        }
        int rows = PQntuples(res);
        recorded_t *rec = realloc(ing->recorded, ((size_t)rows + 1) * sizeof(*rec));
        if (!rec) {
                PQclear(res);
                err = SL_ERR_NOMEM;
                goto out;
        }
        ing->recorded = rec;
        for (int r = 0; r < rows; r++) {
                snprintf(rec[r].id, sizeof(rec[r].id), "%s", PQgetvalue(res, r, 0));
                rec[r].partition = atoi(PQgetvalue(res, r, 1));
                rec[r].offset = atoll(PQgetvalue(res, r, 2));
                rec[r].decision = sl_decision_parse(PQgetvalue(res, r, 3));
                rec[r].reason = sl_admit_reason_parse(PQgetvalue(res, r, 4));
                rec[r].decided_at = atoll(PQgetvalue(res, r, 5));
                rec[r].attempt = atoi(PQgetvalue(res, r, 6));
        }
        PQclear(res);
        qsort(rec, (size_t)rows, sizeof(*rec), recorded_cmp);
        for (size_t i = 0; i < cnt; i++) {
                slot_t *s = &ing->slots[i];
                recorded_t key;
                if (s->kind != SLOT_DECIDED || s->ad.attempt != 0 || s->ad.replayed)
                        continue;
                snprintf(key.id, sizeof(key.id), "%s", s->env.id);
                const recorded_t *r = bsearch(&key, rec, (size_t)rows, sizeof(*rec),
                                              recorded_cmp);
                if (!r || (r->partition == s->ad.partition && r->offset == s->ad.offset))
                        continue; /* no row, or this very record's row */
                if (ing->admit)
                        sl_admit_unapply(ing->admit, src, &s->ad);
                if (s->ad.decision != SL_DECISION_ACCEPTED && r->attempt == 0 &&
                    r->decision == SL_DECISION_ACCEPTED)
                        sl_pgarr_text(&wrong, s->env.id);
                fixed++;
                if (r->attempt > 0) {
                        s->kind = SLOT_STALE; /* in the retry flow already */
                        continue;
                }
                s->ad.decision = r->decision;
                s->ad.reason = r->reason;
                s->ad.decided_at = r->decided_at;
                s->ad.replayed = true;
        }
        if (wrong.n) {
                const char *p1[1] = {sl_pgarr_end(&wrong)};
                err = sl_pg_exec(ing->maint,
                                 "DELETE FROM event_ingress_retries r WHERE r.event_id = "
                                 "ANY($1::uuid[]) AND r.attempt = 1 AND r.state = 'scheduled' "
                                 "AND EXISTS (SELECT 1 FROM workflow_events w WHERE w.id = "
                                 "r.event_id AND w.status = 'accepted' AND w.attempt = 0)",
                                 1, p1, errstr, errstr_size);
        }
        if (fixed)
                sl_log_info("%zu events of this batch were decided before (duplicates): "
                            "their recorded decisions stand",
                            fixed);
out:
        sl_pgarr_free(&ids);
        sl_pgarr_free(&wrong);
        return err;
}

static int ingress_process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                           size_t cnt)
{
        sl_ingress_t *ing = opaque;
        const sl_types_t *types = sl_types_watch_poll(ing->types);
        const sl_sources_t *src = ing->sources ? sl_sources_watch_poll(ing->sources) : NULL;
        uint64_t rows = 0, dups = 0, dl_rows = 0, dl_dups = 0, r_rows = 0, r_dups = 0;
        uint64_t accepted = 0, held = 0, rerouted = 0, stale = 0;
        size_t deferred = 0;
        bool two_pass = false;
        int64_t now = wall_ms(), t_start = mono_ms();
        char errstr[512];
        int err;

        if (!slots_reserve(ing, cnt))
                return SL_ERR_NOMEM;
        ing->vopts.now_ms = now;
        for (int32_t p = 0; p < ing->last_cap; p++)
                ing->last_offsets[p] = -1;
        if (ing->admit) {
                if (sl_admit_begin(ing->admit, src, cnt, now) != SL_OK)
                        return SL_ERR_NOMEM;
                for (size_t i = 0; i < cnt && !two_pass; i++)
                        two_pass = sl_admit_verifying(ing->admit, msgs[i]->partition);
        }

        /* 1. decode, validate, decide, encode rows; the writers stream them meanwhile.
         * Right after an assignment, recorded decisions are looked up first (two
         * passes); otherwise each event is decided as soon as it is decoded. */
        for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_message_t *m = msgs[i];
                slot_t *s = &ing->slots[i];

                if (!last_offsets_reserve(ing, m->partition))
                        return SL_ERR_NOMEM;
                if (m->offset > ing->last_offsets[m->partition])
                        ing->last_offsets[m->partition] = m->offset;
                classify(ing, m, s, types);
                s->decided = false;
                if (s->kind == SLOT_DECIDED && s->ad.attempt > 0)
                        deferred++;
                else if (s->kind == SLOT_DECIDED && !two_pass) {
                        admit_and_write(ing, m, s, now);
                        s->decided = true;
                }
        }
        if (two_pass || deferred) {
                size_t n = 0;
                for (size_t i = 0; two_pass && i < cnt; i++)
                        if (ing->slots[i].kind == SLOT_DECIDED &&
                            ing->slots[i].ad.attempt == 0 &&
                            sl_admit_verifying(ing->admit, msgs[i]->partition))
                                ing->verify_ids[n++] = ing->slots[i].env.id;
                err = two_pass ? sl_admit_lookup(ing->admit, ing->maint, ing->verify_ids, n,
                                                 errstr, sizeof(errstr))
                               : SL_OK;
                if (err == SL_OK && deferred)
                        err = lookup_retried(ing, cnt, errstr, sizeof(errstr));
                if (err != SL_OK) {
                        sl_log_error("%s", errstr);
                        if (ing->admit)
                                sl_admit_end(ing->admit);
                        sl_copy_pipe_finish(ing->events, NULL, NULL, errstr, sizeof(errstr));
                        sl_copy_pipe_finish(ing->dead, NULL, NULL, errstr, sizeof(errstr));
                        sl_copy_pipe_finish(ing->retries, NULL, NULL, errstr, sizeof(errstr));
                        return err;
                }
                for (size_t i = 0; i < cnt; i++) {
                        slot_t *s = &ing->slots[i];
                        if (s->kind != SLOT_DECIDED || s->decided)
                                continue;
                        if (s->ad.attempt > 0)
                                decide_retried(ing, msgs[i], s, now);
                        else
                                admit_and_write(ing, msgs[i], s, now);
                        s->decided = true;
                }
        }
        if (ing->admit)
                sl_admit_end(ing->admit);

        /* 2. Postgres first. */
        int64_t t_decoded = mono_ms();
        err = sl_copy_pipe_finish(ing->events, &rows, &dups, errstr, sizeof(errstr));
        if (err == SL_OK)
                err = sl_copy_pipe_finish(ing->dead, &dl_rows, &dl_dups, errstr,
                                          sizeof(errstr));
        if (err == SL_OK)
                err = sl_copy_pipe_finish(ing->retries, &r_rows, &r_dups, errstr,
                                          sizeof(errstr));
        if (err == SL_OK)
                err = apply_retried_updates(ing, errstr, sizeof(errstr));
        if (err == SL_OK && dups)
                err = settle_duplicates(ing, src, cnt, errstr, sizeof(errstr));
        if (err != SL_OK) {
                sl_log_error("Postgres write failed: %s", errstr);
                return err;
        }
        int64_t t_written = mono_ms();

        /* 3. then the outputs, and the admission state they imply. */
        double now_s = (double)wall_ms() / 1000.0;
        for (size_t i = 0; i < cnt && err == SL_OK; i++) {
                const rd_kafka_message_t *m = msgs[i];
                const slot_t *s = &ing->slots[i];

                switch (s->kind) {
                case SLOT_REJECTED:
                case SLOT_EXHAUSTED:
                        err = produce_dead_letter(ing, rt, m, s);
                        sl_metrics_add(ing->m_rejected[s->rej.code], 1);
                        break;
                case SLOT_STALE:
                        stale++;
                        break;
                case SLOT_REROUTED:
                        err = produce_reroute(ing, rt, m, s);
                        rerouted++;
                        break;
                case SLOT_DECIDED:
                        if (s->ad.decision == SL_DECISION_ACCEPTED) {
                                err = sl_runtime_produce(rt, ing->topic_accepted,
                                                         s->env.source, strlen(s->env.source),
                                                         m->payload, m->len, copy_headers(m));
                                int64_t ts = rd_kafka_message_timestamp(m, NULL);
                                if (ts > 0)
                                        sl_metrics_observe(ing->m_latency,
                                                           now_s - (double)ts / 1000.0);
                                accepted++;
                        } else {
                                err = produce_retry(ing, rt, m, s, now);
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
        sl_log_debug("ingress batch of %zu: decode %lld ms, Postgres wait %lld ms, produce "
                     "%lld ms",
                     cnt, (long long)(t_decoded - t_start), (long long)(t_written - t_decoded),
                     (long long)(mono_ms() - t_written));
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

/* The partition count of events.in, for the owner of a source. */
static int learn_partitions(sl_ingress_t *ing, sl_runtime_t *rt)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_t *rk = sl_runtime_producer(rt);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, ing->topic_in, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);

        rd_kafka_topic_destroy(rkt);
        if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
                sl_log_error("metadata of %s: %s", ing->topic_in,
                             err ? rd_kafka_err2str(err)
                                 : md->topic_cnt ? rd_kafka_err2str(md->topics[0].err)
                                                 : "no such topic");
                if (md)
                        rd_kafka_metadata_destroy(md);
                return SL_ERR_KAFKA;
        }
        ing->in_partitions = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        sl_log_info("%s has %d partitions: each source is owned by murmur2(source) mod %d",
                    ing->topic_in, (int)ing->in_partitions, (int)ing->in_partitions);
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
                sl_admit_tick(ing->admit, ing->maint,
                              ing->sources ? sl_sources_watch_poll(ing->sources) : NULL,
                              wall_ms(), true);
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
                sl_admit_tick(ing->admit, ing->maint, sl_sources_watch_poll(ing->sources),
                              wall_ms(), false);
        if (mono_ms() < ing->maint_at)
                return;
        ing->maint_at = mono_ms() + SL_INGRESS_MAINT_MS;
        if (PQstatus(ing->maint) != CONNECTION_OK)
                PQreset(ing->maint);
        if (sl_pg_ensure_partitions(ing->maint, ing->days_back, ing->days_ahead, errstr,
                                    sizeof(errstr)) != SL_OK)
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

        ing->m_accepted =
                sl_metrics_counter("sluice_ingress_events_total", "outcome=\"accepted\"", help);
        ing->m_held = sl_metrics_counter("sluice_ingress_events_total", "outcome=\"held\"", help);
        ing->m_rerouted =
                sl_metrics_counter("sluice_ingress_events_total", "outcome=\"rerouted\"", help);
        ing->m_rejected_total =
                sl_metrics_counter("sluice_ingress_events_total", "outcome=\"rejected\"", help);
        static const char *const retried[] = {"completed", "rescheduled", "exhausted", "stale"};
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
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, ing->topic_in, sizeof(ing->topic_in));
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
            sl_codec_add_writers_dir(ing->codec, schemas_dir, errstr, errstr_size) != SL_OK)
                goto fail;
        ing->maint = sl_pg_connect(conf, errstr, errstr_size);
        if (!ing->maint)
                goto fail;
        if (sl_pg_ensure_partitions(ing->maint, ing->days_back, ing->days_ahead, errstr,
                                    errstr_size) != SL_OK)
                goto fail; /* most likely: migrations not applied */
        ing->maint_at = mono_ms() + SL_INGRESS_MAINT_MS;
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
        ing->dead = sl_copy_pipe_new(conf, "dead_letters", dead_letters_columns, 1, errstr,
                                     errstr_size);
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
        ing->stage.opaque = ing;
        ing->stage.process = ingress_process;
        ing->stage.tick = ingress_tick;
        ing->stage.on_assign = ingress_assign;
        ing->stage.on_revoke = ingress_revoke;
        ing->verify_ids = calloc(ing->stage.batch_size, sizeof(*ing->verify_ids));
        if (!ing->verify_ids) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!slots_reserve(ing, ing->stage.batch_size)) {
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
        for (size_t i = 0; i < ing->slot_cap; i++)
                sl_envelope_clear(&ing->slots[i].env);
        free(ing->slots);
        free(ing->verify_ids);
        free(ing->retried);
        free(ing->recorded);
        for (size_t i = 0; i < sizeof(ing->upd) / sizeof(ing->upd[0]); i++)
                sl_pgarr_free(&ing->upd[i]);
        free(ing->last_offsets);
        sl_admit_destroy(ing->admit);
        sl_sources_watch_destroy(ing->sources);
        sl_copy_pipe_destroy(ing->retries);
        sl_copy_pipe_destroy(ing->dead);
        sl_copy_pipe_destroy(ing->events);
        sl_types_watch_destroy(ing->types);
        if (ing->maint)
                PQfinish(ing->maint);
        sl_codec_destroy(ing->codec);
        free(ing);
}

const sl_stage_t *sl_ingress_stage(sl_ingress_t *ing)
{
        return &ing->stage;
}
