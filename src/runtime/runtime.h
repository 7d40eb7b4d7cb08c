/*
 * The stage runtime: the one consume-process-produce-commit loop every sluice
 * processor runs (DESIGN.md §4, §8).  A stage hands it callbacks:
 *
 *   on_assign(parts)   before any record of parts is processed (restore state)
 *   process(batch)     decode, write Postgres, produce outputs with sl_runtime_produce()
 *   on_revoke(parts)   after the batch in hand was finished and committed (flush state)
 *   tick()             between batches and when idle (reload config, housekeeping)
 *   finish()           complete work process() deferred (see sl_runtime_defer)
 *
 * Per batch the order of work is fixed: process (Postgres writes, then produces), then
 * every output delivered, then the batch's offsets committed.  The outputs of a batch
 * are delivered while the next batch is processed (four batches at most in flight), so
 * the stage does not idle on each flush.  A batch whose outputs fail to deliver is not
 * committed: the runtime stops with an error and the records are re-read after a
 * restart (every effect is idempotent).  On revocation and on SIGTERM/SIGINT the batch
 * in hand is finished and everything processed is delivered and committed first.
 *
 * Errors.  A callback's error says whether to retry (sl_err_retriable(): a transient
 * Postgres failure, a timeout).  When process() fails with a retriable error, the
 * runtime logs it once and calls process() again on the same records after an
 * exponential backoff (runtime.retry.backoff.ms, doubling up to
 * runtime.retry.backoff.max.ms, for at most runtime.retry.max.ms in all); /healthz
 * answers 503 meanwhile.  Before each retry it takes back what the failed call gave
 * it (commit_before marks, held offsets, releases); outputs the failed call produced
 * are still delivered (duplicates, as after a restart) and the batch waits for them.
 * So a stage returns a retriable error only when a second call on the same records
 * is safe: its Postgres effects are idempotent and it kept nothing in memory that the
 * second call would count twice.  Not retried, and stopping the runtime without
 * committing as any other error does: a non-retriable error, one that outlasts
 * runtime.retry.max.ms or a stop, an error of a process() that had deferred its batch
 * or that came while an earlier deferred batch had failed,
 * a deferred batch completed with an error (its records are gone and later batches
 * were processed on top of it), and errors of on_assign() and finish().
 *
 * exactly_once (config; real Apache Kafka only, docs/operations.md).  The producer is
 * transactional and one transaction is open at a time: a batch's process() (and the
 * finish() of what it deferred, called at once), its outputs, the changelog records a
 * stage produced through sl_runtime_output_opaque(), and its input offsets (held
 * offsets and commit_before marks respected, as for a commit) are committed together
 * before the next batch is polled; on_assign(), on_revoke() and tick() each run in a
 * transaction of their own.  No pipelining: the stage waits for each commit.  A
 * retriable process() error aborts the transaction before the retry, so the failed
 * call's outputs are never seen.  A transaction that fails to commit is aborted and
 * the runtime rewinds: as if every partition were revoked (on_revoke, whose flush is
 * aborted) and assigned again (on_assign restores the committed state), then each
 * partition is read again from its last commit.  A fatal producer error re-creates
 * the producer and rewinds the same way; a fenced producer (another process with the
 * same transactional.id) stops the runtime.  Postgres writes are outside the
 * transaction and must stay idempotent: a rewind runs them again.
 *
 * The runtime also owns the process's HTTP server (/metrics, /healthz).  Every
 * callback, healthy() included, runs on the thread that called sl_runtime_run(); the
 * server's threads read only the health the runtime publishes (an atomic) after each
 * batch and tick.
 */
#ifndef SL_RUNTIME_H
#define SL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

typedef struct sl_runtime_s sl_runtime_t;

typedef struct sl_stage_s {
        const char *name;     /* component and metric prefix: "ingress" */
        const char *group_id; /* consumer group */
        const char **topics;  /* full topic names to subscribe to, NULL-terminated */
        size_t batch_size;    /* most records per batch */
        int batch_ms;         /* longest wait to fill a batch */
        long queued_records;  /* the fetch queue's records (0: sluice's default) */
        void *opaque;         /* passed to every callback */

        /* Return SL_OK, or an error: a retriable one runs process() again on the same
         * records (see above), any other stops the runtime (the batch is not
         * committed). */
        int (*process)(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs,
                       size_t cnt);
        int (*on_assign)(void *opaque, sl_runtime_t *rt,
                         const rd_kafka_topic_partition_list_t *parts); /* may be NULL */
        int (*on_revoke)(void *opaque, sl_runtime_t *rt,
                         const rd_kafka_topic_partition_list_t *parts); /* may be NULL */
        void (*tick)(void *opaque, sl_runtime_t *rt);                   /* may be NULL */
        /* Complete every batch deferred with sl_runtime_defer(); called before the
         * runtime waits on one (a full pipeline, a revocation, a shutdown) and when a
         * poll brought no records.  Returns SL_OK or an error that stops the runtime.
         * May be NULL when the stage never defers. */
        int (*finish)(void *opaque, sl_runtime_t *rt);
        /* How long, at most, the runtime may wait for records before it calls tick()
         * again (a stage's own timer, e.g. a paused partition to resume); a value
         * >= batch_ms or NULL: batch_ms.  When it is <= 0 and no record came, the
         * runtime calls process() with cnt 0, so the timer's work has a batch. */
        int64_t (*wait_ms)(void *opaque);
        /* Whether the stage is healthy (its Postgres connections up): called on the
         * runtime's thread after every batch and tick; /healthz answers the last
         * result.  May be NULL. */
        bool (*healthy)(void *opaque);
} sl_stage_t;

/* Builds the consumer (group stage->group_id), the producer and the HTTP server
 * (http.bind/http.port).  stage and conf are borrowed and must outlive the runtime.
 * Returns NULL with errstr set.  Caller frees with sl_runtime_destroy(). */
sl_runtime_t *sl_runtime_new(const sl_conf_t *conf, const sl_stage_t *stage, char *errstr,
                             size_t errstr_size);
/* Closes the consumer if still open, flushes the producer, stops HTTP.  NULL-safe. */
void sl_runtime_destroy(sl_runtime_t *rt);

/* Run until sl_runtime_stop() or a fatal error.  Returns SL_OK after a clean stop. */
int sl_runtime_run(sl_runtime_t *rt);
/* Ask the loop to stop after the batch in hand.  Async-signal-safe. */
void sl_runtime_stop(sl_runtime_t *rt);
/* Route SIGTERM and SIGINT to sl_runtime_stop(rt); ignore SIGPIPE. */
void sl_runtime_handle_signals(sl_runtime_t *rt);

/* Enqueue one output record (value and key copied).  hdrs: taken over by librdkafka
 * on success, destroyed here on failure; may be NULL.  Waits while the local queue is
 * full.  Delivery failures surface at the end of the batch and fail it. */
int sl_runtime_produce(sl_runtime_t *rt, const char *topic, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       rd_kafka_headers_t *hdrs);

/* For outputs a stage produces itself (a state store's changelog): the message opaque
 * to give them (RD_KAFKA_V_OPAQUE), and how many were enqueued, so that the batch is
 * committed only after they were delivered too.  Only during process(). */
void *sl_runtime_output_opaque(sl_runtime_t *rt);
void sl_runtime_outputs_added(sl_runtime_t *rt, size_t n);

/*
 * Deferred outputs.  During process(), a stage whose outputs wait on work still running
 * (a Postgres statement sent with PQsendQueryParams) takes a handle to the batch and
 * returns: the runtime goes on polling the next batch while that work runs.  The stage
 * produces the deferred batch's outputs later with sl_runtime_produce_to() and then
 * calls sl_runtime_deferred_done(); the batch (and every batch after it) is committed
 * only after that and after those outputs were delivered.  The runtime calls
 * stage->finish() whenever it must not wait any longer.  A batch completed with an
 * error stops the runtime with that error.  When process() itself fails, the runtime
 * stops and the batch's handle is void (never complete it).
 */
typedef struct sl_rt_batch_s sl_runtime_batch_t;
sl_runtime_batch_t *sl_runtime_defer(sl_runtime_t *rt);
/* sl_runtime_defer(), and the batch's records stay valid after process() returns,
 * until sl_runtime_deferred_done(): sl_runtime_batch_records() gives them.  For a stage
 * that reads them again to produce the batch's outputs later (ingress: the next batch
 * is decoded while this one's COPY ends). */
sl_runtime_batch_t *sl_runtime_defer_keep(sl_runtime_t *rt);
/* The records of b, deferred with sl_runtime_defer_keep(), in input order (*cnt set);
 * NULL before process() returned. */
rd_kafka_message_t *const *sl_runtime_batch_records(const sl_runtime_batch_t *b,
                                                    size_t *cnt);
/* Make b (a deferred batch, or NULL: none) the batch that sl_runtime_produce(),
 * sl_runtime_produce_partition(), sl_runtime_output_opaque() and
 * sl_runtime_outputs_added() apply to, and return the one they applied to: a stage
 * completing a deferred batch with the code that produces a batch's outputs in
 * process() switches to it, then back. */
sl_runtime_batch_t *sl_runtime_output_batch(sl_runtime_t *rt, sl_runtime_batch_t *b);
/* sl_runtime_produce() for an output of the deferred batch b. */
int sl_runtime_produce_to(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                          const void *key, size_t key_len, const void *value,
                          size_t value_len, rd_kafka_headers_t *hdrs);
/* Every output of b was produced; err != SL_OK fails b (never committed, the runtime
 * stops and its records are re-read after a restart). */
void sl_runtime_deferred_done(sl_runtime_t *rt, sl_runtime_batch_t *b, int err);

/*
 * Offsets kept in memory.  During process(), a stage that keeps m to act on it later
 * (instead of pausing its partition) holds m's offset: no batch commits m's partition
 * at or past m until the stage releases it, naming the batch whose outputs carry what
 * it did with m (a deferred batch, or NULL: the one in process()); the floor goes when
 * that batch is committed.  A revoked partition's floors are forgotten: its next owner
 * reads again from below them.
 */
void sl_runtime_hold_offset(sl_runtime_t *rt, const rd_kafka_message_t *m);
void sl_runtime_release_offset(sl_runtime_t *rt, sl_runtime_batch_t *b, const char *topic,
                               int32_t partition, int64_t offset);

/* During process(): m was not processed (a stage holding it back for later): the
 * batch's commit of m's partition stops before m, so m and what follows it are read
 * again by whoever owns the partition next. */
void sl_runtime_commit_before(sl_runtime_t *rt, const rd_kafka_message_t *m);

/* The same to an explicit partition (RD_KAFKA_PARTITION_UA: the partitioner's). */
int sl_runtime_produce_partition(sl_runtime_t *rt, const char *topic, int32_t partition,
                                 const void *key, size_t key_len, const void *value,
                                 size_t value_len, rd_kafka_headers_t *hdrs);

/* The runtime's producer and consumer (borrowed).  With exactly_once the producer is
 * valid until the callback returns (it may be re-created between callbacks): ask for
 * it again each time, keep no topic handle of it. */
rd_kafka_t *sl_runtime_producer(sl_runtime_t *rt);
rd_kafka_t *sl_runtime_consumer(sl_runtime_t *rt);

#endif
