/*
 * sluice-ingress's private state, shared by the files of the stage:
 *   ingress.c     the stage callbacks and wiring, and the batch they run;
 *   slots.c       what becomes of one record: decoded, validated, rejected,
 *                 re-routed or decided (its slot);
 *   rows.c        the COPY rows (workflow_events, dead_letters, event_ingress_retries);
 *   outputs.c     what a batch produces: events.accepted, events.dlq, retry tiers,
 *                 re-routed records;
 *   reinjected.c  re-injected events (attempt > 0, from sluice-retry);
 *   duplicates.c  events Postgres already held at another offset;
 *   decide.c      the pure decisions of the last two (decide.h).
 */
#ifndef SL_INGRESS_INT_H
#define SL_INGRESS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "admit.h"
#include "decide.h"
#include "envelope/envelope.h"
#include "envelope/validate.h"
#include "ingress.h"
#include "limits/sources.h"
#include "metrics/metrics.h"
#include "pg/copy_pipe.h"
#include "pg/pgarray.h"
#include "pg/session.h"
#include "pg/sources_watch.h"
#include "pg/types_registry.h"

#define SL_INGRESS_MAX_TIERS 16
/* The fetch queue's least records (queued.min.messages), see ingress.c. */
#define SL_INGRESS_QUEUE_RECORDS 70000L

typedef enum {
        SLOT_REJECTED,  /* invalid: dead letter */
        SLOT_REROUTED,  /* valid, on a partition that does not own its source */
        SLOT_DECIDED,   /* valid and owned: one admission decision */
        SLOT_STALE,     /* a re-injected attempt whose retry row is not due for it */
        SLOT_EXHAUSTED, /* held back again past retry.max.attempts: dead letter */
} slot_kind_t;

/* What became of one record of the batch.  Two batches of slots are alive at once, so
 * a slot keeps its rejection's words on the heap, only when it has some, rather than
 * a 256-byte buffer per record: 5 MiB less at 10,000-record batches. */
typedef struct slot_s {
        sl_envelope_t env;
        sl_reject_code_t rej; /* SL_REJECT_NONE: valid */
        char *rej_msg;        /* its words, or NULL; freed when the slot is reused */
        slot_kind_t kind;
        int32_t owner;       /* SLOT_REROUTED: the partition that owns the source */
        sl_admit_event_t ad; /* SLOT_DECIDED */
        bool decided;        /* ad holds the decision */
} slot_t;

/* Columns of the re-injected events' updates (reinjected.c). */
enum {
        UPD_EV_ID,
        UPD_EV_OCC,
        UPD_EV_STATUS,
        UPD_EV_REASON,
        UPD_EV_DEC,
        UPD_EV_ATT,
        UPD_R_ID,
        UPD_R_ATT,
        UPD_R_STATE,
        UPD_R_NEXT_ATT,
        UPD_R_NEXT_AT,
        UPD_R_REASON,
        UPD__CNT
};

struct sl_ingress_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        const char *topics[2];
        char topic_in[256], topic_accepted[256], topic_dlq[256];

        sl_codec_t *codec;
        sl_types_watch_t *types;
        sl_sources_watch_t *sources;
        sl_admit_t *admit;     /* NULL when admission.enabled is false */
        int32_t in_partitions; /* of events.in; 0 until known */
        int64_t *last_offsets; /* per input partition, this batch */
        int32_t last_cap;
        char tier_topics[SL_INGRESS_MAX_TIERS][256];
        int64_t tiers_ms[SL_INGRESS_MAX_TIERS];
        size_t ntiers;
        const char **verify_ids;
        sl_ingress_retried_t *retried; /* this batch's lookups, sorted by id */
        size_t nretried;
        sl_ingress_recorded_t *recorded; /* rows of duplicates, sorted by id */
        int max_attempts;
        sl_pgarr_t upd[UPD__CNT]; /* columns of the re-injected events' updates */
        sl_copy_pipe_t *events, *dead, *retries;
        sl_pg_session_t *maint; /* lookups, updates, maintenance, admission's mirror */
        int64_t maint_at;
        int days_back, days_ahead;
        sl_validate_opts_t vopts;

        slot_t *slots; /* the batch being decided, or completed */
        size_t slot_cap;
        slot_t *next_slots; /* the next batch, decoded while the COPYs of this one end */
        size_t next_cap;
        bool overlap; /* ingress.overlap */
        /* The batch whose COPYs are ending (its outputs not produced yet). */
        struct {
                sl_runtime_batch_t *batch; /* NULL: none */
                int64_t now;               /* wall clock its decisions were made at */
                int64_t t_start, t_sent;   /* mono: process() began, rows all sent */
        } fl;

        sl_metric_t *m_accepted, *m_rejected_total, *m_dups, *m_latency, *m_rerouted,
            *m_held, *m_rejected[SL_REJECT__CNT], *m_retried[4];
};

/* slots.c: what becomes of one record.  Grow a slot array to cnt slots (new ones
 * empty). */
bool sl__ingress_slots_reserve(slot_t **slots, size_t *cap, size_t cnt);
/* Decode, validate and classify record m into s (no row written yet). */
void sl__ingress_classify(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                          const sl_types_t *types);
/* Mark the slot rejected with rej's code and words. */
void sl__ingress_reject(slot_t *s, const sl_reject_t *rej);
/* Decide a valid, owned event now (admission, or accepted at now when admission is
 * off). */
void sl__ingress_admit(sl_ingress_t *ing, slot_t *s, int64_t now);
/* Decide and encode one valid event that its partition owns. */
void sl__ingress_admit_and_write(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 slot_t *s, int64_t now);
/* Count a rejected record for its source's breaker, where it may (slots.c says when). */
void sl__ingress_count_dead_letter(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                   const slot_t *s);

/* rows.c: encode one row into its COPY pipe (the pipe's writers stream it). */
void sl__ingress_write_event_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 const sl_envelope_t *env, const sl_admit_event_t *ad);
/* The retry intent of a held-back event: attempt is the next one. */
void sl__ingress_write_retry_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 const sl_envelope_t *env, const sl_admit_event_t *ad);
void sl__ingress_write_dead_letter_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                       const slot_t *s);
/* Whether the record was decoded (its envelope fields can be read) before rejected. */
bool sl__ingress_decoded(sl_reject_code_t rej);
/* The slot's rejection words ("" when none). */
static inline const char *sl__ingress_rej_msg(const slot_t *s)
{
        return s->rej_msg ? s->rej_msg : "";
}

/* outputs.c: produce one output of the batch through rt. */
int sl__ingress_produce_accepted(sl_ingress_t *ing, sl_runtime_t *rt,
                                 const rd_kafka_message_t *m, const slot_t *s);
int sl__ingress_produce_dead_letter(sl_ingress_t *ing, sl_runtime_t *rt,
                                    const rd_kafka_message_t *m, const slot_t *s);
/* The wake-up of a held-back event, to the tier its next attempt falls in. */
int sl__ingress_produce_retry(sl_ingress_t *ing, sl_runtime_t *rt,
                              const rd_kafka_message_t *m, const slot_t *s, int64_t now);
/* An event to the partition that owns its source, unchanged. */
int sl__ingress_produce_reroute(sl_ingress_t *ing, sl_runtime_t *rt,
                                const rd_kafka_message_t *m, const slot_t *s);

/* reinjected.c: the attempt an event is on, from its sluice.attempt header: 0 when
 * fresh, n when sluice-retry re-injected it. */
int32_t sl__ingress_attempt_of(const rd_kafka_message_t *m);
/* Load the retry rows and recorded decisions of the batch's re-injected
 * events (the first cnt slots); then decide each (its updates queued), and apply the
 * queued updates in one transaction once the COPYs are done.  SL_OK, or
 * SL_ERR_PG_TRANSIENT / SL_ERR_PG / SL_ERR_NOMEM with errstr set. */
int sl__ingress_lookup_retried(sl_ingress_t *ing, size_t cnt, char *errstr,
                               size_t errstr_size);
void sl__ingress_decide_retried(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                                int64_t now);
int sl__ingress_apply_retried(sl_ingress_t *ing, char *errstr, size_t errstr_size);

/* duplicates.c: after the events COPY found rows already there, settle the batch's
 * fresh events whose id Postgres held at another offset.  As above. */
int sl__ingress_settle_duplicates(sl_ingress_t *ing, const sl_sources_t *src, size_t cnt,
                                  char *errstr, size_t errstr_size);

#endif
