/*
 * Replay: stored events (workflow_events) re-published to events.in as new events
 * that name their original.  One implementation with three users: `sluicectl replay`
 * (jobs in the foreground), sluice-admin's POST /admin/replay-jobs (jobs on its
 * runner thread) and POST /admin/replay (a bounded replay answered at once).
 *
 * A replayed event: the original's type, source, occurred_at, payload and correlation
 * id, its metadata plus sluice.replay_of (the original id) and sluice.replayed_by, the
 * Kafka header sluice.replay.of, no ttl and no sluice.attempt header: ingress
 * validates and admits it like any new event (rate limits and pauses apply), and the
 * triggers match it like any other.
 *
 * Selection (a JSON object, stored as replay_jobs.filter): {"ids": [UUID, ...]} or
 * {"from": T, "to": T, "type"?, "source"?, "status"?, "correlation_id"?} (occurred_at
 * in [from, to)), and in both cases only events received before `asof` (a job's
 * creation): a job never selects the replays it makes (they carry the original's
 * occurred_at).  Events go in (occurred_at, id) order.
 *
 * A job (replay_jobs, migration 0015) is paced at `rate` events a second, publishes in
 * batches, and after each batch is delivered moves its cursor (the last event's
 * occurred_at and id) and counts in one UPDATE that also sees a cancellation.  The new
 * event id of a job's replay is UUIDv5(namespace, "<job id>/<original id>"): a batch
 * published again after a crash (published, cursor not yet moved) carries the same ids,
 * and ingress drops the repeats, so a resumed job replays each event once.  A job runs
 * under a session advisory lock on its id: two runners never run one job.
 *
 * Not here: HTTP and command-line parsing of the selection (its checks are here).
 */
#ifndef SL_HISTORY_REPLAY_H
#define SL_HISTORY_REPLAY_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "envelope/envelope.h"

#define SL_REPLAY_HDR "sluice.replay.of"

/* Where replays go: a producer whose delivery report callback is sl_replay_dr (or
 * calls it), the codec and the events.in topic.  All borrowed. */
typedef struct sl_replay_out_s {
        rd_kafka_t *producer;
        const sl_codec_t *codec;
        const char *topic;
        int64_t flush_timeout_ms; /* longest wait for a batch's delivery reports */
} sl_replay_out_t;

/* The delivery report callback replays need (librdkafka's dr_msg_cb): counts each
 * message's report into the batch that produced it. */
void sl_replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* Check a selection (see above): SL_OK, or SL_ERR_INVALID with errstr in words
 * ("filter.from must be ..."). */
int sl_replay_filter_check(const json_t *sel, char *errstr, size_t errstr_size);

/* Up to limit selected events after the cursor (cursor_at NULL: from the start),
 * received before asof.  On SL_OK *out holds rows: original id, source, the replay's
 * envelope as JSON (sl_envelope_from_json), occurred_at (timestamptz text); caller
 * PQclear()s.  by: who replays (sluice.replayed_by). */
int sl_replay_fetch(PGconn *pg, const char *sel_json, const char *by, const char *asof,
                    const char *cursor_at, const char *cursor_id, int64_t limit,
                    PGresult **out, char *errstr, size_t errstr_size);

/* Publish rows [0, n) of a fetch result and wait for their delivery reports.  job_id
 * > 0: the ids are UUIDv5 of the job and the original (above); 0: random.  pace_ms
 * (may be NULL): called before each event with its index, to wait for its turn.
 * new_ids (may be NULL): a JSON array to append {"original_id", "id"} to.
 * *published and *failed get the counts.  SL_OK, or an error with errstr (a row whose
 * envelope does not build is counted failed, not an error). */
int sl_replay_publish(const sl_replay_out_t *out, PGresult *rows, int64_t job_id,
                      void (*pace)(void *opaque, int64_t i), void *pace_opaque,
                      json_t *new_ids, int64_t *published, int64_t *failed, char *errstr,
                      size_t errstr_size);

/* Dry run: how many events the selection holds (received before asof) and, per
 * enabled trigger (in name order), how many of them its type, source and filter
 * would match (the match stage's own code: the triggers snapshot and the filter
 * evaluator).  *out: {"count": N, "triggers": [{"name", "id", "matched"}, ...]};
 * caller json_decref()s.  Reads the events in batches (a cursor), never all at once. */
int sl_replay_dry_run(PGconn *pg, const char *sel_json, const char *asof, json_t **out,
                      char *errstr, size_t errstr_size);

/* A new job row (state 'pending'): *id its id.  SL_OK or SL_ERR_PG. */
int sl_replay_job_create(PGconn *pg, const char *sel_json, const char *by,
                         const char *reason, int64_t rate, int64_t *id, char *errstr,
                         size_t errstr_size);

/* Run job id to its end on pg (which holds the job's advisory lock meanwhile) and
 * out: from its cursor on, paced at its rate, until every selected event is published
 * (state 'done'), the job is cancelled, or *stop becomes non-zero (state stays
 * 'running': resume it later).  runner: who runs it ("<host>:<pid>").  SL_OK;
 * SL_ERR_STATE when the job is not pending/running; SL_ERR_NOTFOUND; SL_ERR_DUPLICATE
 * when another runner holds its lock (a runner killed a moment ago holds it until
 * Postgres sees its connection close); SL_ERR_PG / SL_ERR_KAFKA on failure (the job is
 * left 'running' with its error, resumable).  errstr says which. */
int sl_replay_job_run(PGconn *pg, const sl_replay_out_t *out, int64_t id,
                      const char *runner, volatile sig_atomic_t *stop, char *errstr,
                      size_t errstr_size);

/* Cancel job id (pending or running: its runner stops after the batch in hand).
 * SL_OK, SL_ERR_NOTFOUND (no such job), SL_ERR_STATE (already over), SL_ERR_PG. */
int sl_replay_job_cancel(PGconn *pg, int64_t id, char *errstr, size_t errstr_size);

/* Jobs as one JSON array text, newest first (GET /admin/replay-jobs, sluicectl replay
 * list/show): $1 a job id (NULL: any), $2 the most to list. */
extern const char sl_replay_jobs_json_sql[];

#endif
