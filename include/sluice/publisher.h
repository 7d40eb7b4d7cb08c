/*
 * The sluice publisher SDK: publish event envelopes to sluice.events.in from C.
 *
 * Records are Avro single-object encoded (schemas/envelope.avsc), keyed by source so
 * that every event of a source lands on the partition Java's murmur2 partitioner picks
 * (partitioner=murmur2_random), through an idempotent producer (acks=all).  Delivery
 * is asynchronous: sl_publisher_flush() waits for outstanding records and reports how
 * many failed; a delivery callback can be set for per-record outcomes.
 *
 * A publisher is thread-safe for sl_publisher_publish(); create and destroy it from
 * one thread.
 */
#ifndef SLUICE_PUBLISHER_H
#define SLUICE_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_publisher_s sl_publisher_t;

/* An event to publish.  All pointers are borrowed for the duration of the call. */
typedef struct sl_event_s {
        const char *id;             /* UUID text; NULL: a new random UUID */
        const char *type;           /* required, non-empty */
        const char *source;         /* required, non-empty; the partition key */
        int64_t occurred_at;        /* ms since the epoch; 0: now */
        const char *payload;        /* JSON object text; NULL: "{}" */
        const char *correlation_id; /* NULL: none */
        int64_t ttl_ms;             /* 0: none */
        size_t meta_cnt;            /* metadata entries */
        const char *const *meta_keys;
        const char *const *meta_vals;
} sl_event_t;

/* Outcome of one record: err is SL_OK or SL_ERR_KAFKA with errstr set; id is the
 * event id.  Called from the thread that calls publish/flush/poll. */
typedef void(sl_publisher_dr_cb_t)(const char *id, int err, const char *errstr,
                                   void *opaque);

/*
 * A new publisher.  props: NULL-terminated key/value pairs of sluice configuration
 * ("kafka.bootstrap.servers", "localhost:9092", "topic.prefix", "sluice.", NULL), the
 * same keys the processors take; kafka.* goes to librdkafka.  dr_cb may be NULL.
 * Returns NULL with errstr set.  Caller frees with sl_publisher_destroy().
 */
sl_publisher_t *sl_publisher_new(const char *const *props, sl_publisher_dr_cb_t *dr_cb,
                                 void *opaque, char *errstr, size_t errstr_size);

/* Encode and enqueue ev.  Returns SL_OK, SL_ERR_INVALID (bad event, errstr says why:
 * nothing is sent), or SL_ERR_KAFKA (queue full after waiting, or fatal producer
 * error).  id_out (may be NULL, 37 bytes) receives the event id used. */
int sl_publisher_publish(sl_publisher_t *pub, const sl_event_t *ev, char *id_out,
                         char *errstr, size_t errstr_size);

/* Publish an already-encoded envelope with the given key (the raw path for tests and
 * `sluicectl publish --raw`). */
int sl_publisher_publish_raw(sl_publisher_t *pub, const void *key, size_t key_len,
                             const void *value, size_t value_len, char *errstr,
                             size_t errstr_size);

/* Wait up to timeout_ms for every enqueued record.  Returns SL_OK when all were
 * delivered, SL_ERR_TIMEOUT if some are still in flight, SL_ERR_KAFKA if any failed
 * since the last flush (*failed, may be NULL, gets the count). */
int sl_publisher_flush(sl_publisher_t *pub, int timeout_ms, size_t *failed);

/* Flush (up to 10 s) and free.  NULL-safe. */
void sl_publisher_destroy(sl_publisher_t *pub);

#ifdef __cplusplus
}
#endif
#endif
