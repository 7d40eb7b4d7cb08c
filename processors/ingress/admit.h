/*
 * Admission inside sluice-ingress: per input partition, the admission state of every
 * source it owns (src/limits/admission.h) kept as a stage's partitioned state
 * (src/state/pstate.h), replay-safe decisions (the table of src/state/replay.h), and
 * the scheduler_state mirror (src/pg/state_mirror.h, stage 'ingress').
 *
 * Replay safety.  Each partition's state carries the last input offset it includes
 * (the progress record).  After an assignment the partition is in verify mode: the
 * decisions recorded in Postgres for the batch's events are looked up first, reused as
 * they are, and counted in their window only when their offset is past the progress
 * record (Postgres is written before the changelog, so a crash between the two leaves
 * decisions the state lacks).  A partition leaves verify mode with the first batch in
 * which none of its new events had a decision yet; the common path pays nothing.
 * Dead letters are not decisions: they count for their source's breaker only when
 * their offset is past the progress record (sl_admit_dead_letter).
 */
#ifndef SL_INGRESS_ADMIT_H
#define SL_INGRESS_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config/config.h"
#include "limits/admission.h"
#include "limits/sources.h"

typedef struct sl_admit_s sl_admit_t;

/* changelog: full topic name.  NULL with errstr set; caller frees with
 * sl_admit_destroy(). */
sl_admit_t *sl_admit_new(const sl_conf_t *conf, const char *changelog, char *errstr,
                         size_t errstr_size);
void sl_admit_destroy(sl_admit_t *ad);

/* Restore every partition of parts from the changelog (before any of its records is
 * processed) and put it in verify mode. */
int sl_admit_assign(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                    char *errstr, size_t errstr_size);
/* Flush (the batch in hand was finished already) and forget parts. */
void sl_admit_revoke(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                     rd_kafka_t *producer);

/* One event to decide. */
typedef struct sl_admit_event_s {
        int32_t partition;
        int64_t offset;
        const char *event_id;
        const char *source;
        const char *correlation_id;
        int32_t attempt;
        /* out */
        sl_decision_t decision;
        sl_admit_reason_t reason;
        int64_t decided_at;      /* ms */
        int64_t next_attempt_at; /* ms, for throttled and paused */
        bool replayed;           /* the decision came from Postgres */
} sl_admit_event_t;

/*
 * Deciding a batch: sl_admit_begin(), then, only when some record of the batch is of a
 * partition in verify mode (sl_admit_verifying), one sl_admit_lookup() with the ids of
 * those records, then sl_admit_one() per event in input order, then sl_admit_end().
 * max_events bounds the batch.  src is borrowed until sl_admit_end().
 */
int sl_admit_begin(sl_admit_t *ad, const sl_sources_t *src, size_t max_events,
                   int64_t now);
bool sl_admit_verifying(const sl_admit_t *ad, int32_t partition);
/* ids: canonical UUID text; occurred_lo and occurred_hi (ms): the earliest and the
 * latest occurred_at of those records.  An event's row is keyed by (id, occurred_at),
 * so only the daily partitions of workflow_events spanning them are searched, not
 * every one kept.  SL_OK or SL_ERR_PG with errstr set. */
int sl_admit_lookup(sl_admit_t *ad, PGconn *pg, const char *const *ids, size_t n,
                    int64_t occurred_lo, int64_t occurred_hi, char *errstr,
                    size_t errstr_size);
void sl_admit_one(sl_admit_t *ad, sl_admit_event_t *ev);
/* Take a decision already recorded for ev's attempt (a re-injected event read again
 * after a crash) instead of deciding: counts it in its window when ev's offset is past
 * the partition's progress. */
void sl_admit_recorded(sl_admit_t *ad, sl_admit_event_t *ev, sl_decision_t d,
                       sl_admit_reason_t reason, int64_t decided_at);
/* A dead letter of the batch whose envelope named its source, read at (partition,
 * offset) of the partition that owns that source (the caller checks both), on its
 * first delivery: counted by the source's breaker (limits/admission.h), which may
 * auto-pause the source for the events after it.  Not counted when the breaker is off,
 * or when offset is at or before the partition's progress (a record read again after
 * a restart: the restored state has it).  Between sl_admit_begin() and
 * sl_admit_end(), in input order with sl_admit_one(); strings borrowed for the call. */
void sl_admit_dead_letter(sl_admit_t *ad, int32_t partition, int64_t offset,
                          const char *source, const char *event_id,
                          const char *correlation_id);
/* The reason a workflow_events.reason string names (SL_ADMIT_OK when none). */
sl_admit_reason_t sl_admit_reason_parse(const char *s);
void sl_admit_end(sl_admit_t *ad);

/* Take back the effect of a decision made in this batch for an event that turned out
 * to be a duplicate of one decided earlier (its row was already in Postgres): the
 * window count or throttle count it added is removed, and the event it added to the
 * source breaker's count.  After sl_admit_end(). */
void sl_admit_unapply(sl_admit_t *ad, const sl_sources_t *src,
                      const sl_admit_event_t *ev);

/* Append the batch's state changes and progress (offset of the batch's last record per
 * partition, including rerouted and rejected records: last_offsets[p] or -1) to the
 * changelog, each record with msg_opaque; *records gets how many. */
int sl_admit_flush(sl_admit_t *ad, rd_kafka_t *producer, void *msg_opaque,
                   const int64_t *last_offsets, int32_t nparts, size_t *records);

/* Upsert the state of sources changed since the last mirror into scheduler_state and
 * refresh the gauges, when admission.mirror.ms has passed.  Never fails the stage. */
void sl_admit_tick(sl_admit_t *ad, PGconn *pg, const sl_sources_t *src, int64_t now,
                   bool force);

#endif
