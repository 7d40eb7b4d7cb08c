/*
 * A partitioned in-memory key-value store whose durable truth is a compacted Kafka
 * changelog topic co-partitioned with the stage's input (the Kafka Streams model,
 * DESIGN.md §3).  Every put or delete marks the key dirty; sl_store_flush() appends
 * each dirty key's latest value (or a tombstone) to the changelog partition of the
 * same number; sl_store_restore() rebuilds a partition by reading its changelog
 * from the beginning to the end before the stage processes anything of it.
 *
 * A restore reads what a read_committed consumer sees: records of an aborted
 * transaction (exactly_once, src/runtime) are not state, and it ends at the partition's
 * end as the consumer reports it (the transaction markers there are never delivered).
 *
 * Values are opaque bytes (a stage encodes its own records, e.g. Avro).  Keys are
 * NUL-terminated strings.  Not thread-safe: the stage thread owns it.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

typedef struct sl_store_s sl_store_t;

/* name: for logs and metrics ("admission"); changelog: full topic name.  conf is
 * borrowed (used to build the restore consumer).  Caller frees with sl_store_destroy().
 */
sl_store_t *sl_store_new(const sl_conf_t *conf, const char *name, const char *changelog);
void sl_store_destroy(sl_store_t *st);

/* Copy val under key in partition part; marks it dirty. */
int sl_store_put(sl_store_t *st, int32_t part, const char *key, const void *val,
                 size_t len);
/* Borrowed, valid until the next put/delete/drop of that key; NULL when absent. */
const void *sl_store_get(const sl_store_t *st, int32_t part, const char *key,
                         size_t *len);
/* Remove key; a tombstone goes to the changelog at the next flush. */
int sl_store_delete(sl_store_t *st, int32_t part, const char *key);
size_t sl_store_count(const sl_store_t *st, int32_t part);
void sl_store_foreach(const sl_store_t *st, int32_t part,
                      void (*cb)(const char *key, const void *val, size_t len,
                                 void *opaque),
                      void *opaque);

/* Produce every dirty entry of part (all partitions when part < 0) to the changelog
 * through producer, each with msg_opaque as its message opaque (may be NULL); the
 * caller makes sure they are delivered before committing input offsets.  *records
 * (may be NULL) gets the count. */
int sl_store_flush(sl_store_t *st, int32_t part, rd_kafka_t *producer, void *msg_opaque,
                   size_t *records);

/* Read the changelog partition part from the beginning to its end, replacing the
 * partition's contents.  *records (may be NULL): records read.  SL_ERR_KAFKA with
 * errstr set when the changelog cannot be read within timeout_ms. */
int sl_store_restore(sl_store_t *st, int32_t part, int timeout_ms, size_t *records,
                     char *errstr, size_t errstr_size);

/* Forget partition part (after its flush, on revocation). */
void sl_store_drop(sl_store_t *st, int32_t part);

#endif
