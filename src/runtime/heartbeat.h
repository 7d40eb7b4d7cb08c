/*
 * Processor heartbeats: what every stage on the shared runtime tells Postgres about
 * itself (the processor_heartbeats table, migrations/0012_admin.sql), so the admin
 * server sees cluster-wide which stages run, the newest event time each instance
 * processed and which state restores are in progress.
 *
 * The runtime notes each batch and each assignment; a row is upserted at most every
 * runtime.heartbeat.ms (and at once when a restore starts or ends, and at a clean
 * stop).  A failed write is logged once per failure streak and tried again at the
 * next beat: heartbeats never stop or slow a stage beyond one statement a beat.  Not
 * thread-safe: the runtime's thread owns it.
 */
#ifndef SL_RUNTIME_HEARTBEAT_H
#define SL_RUNTIME_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

typedef struct sl_heartbeat_s sl_heartbeat_t;

/* stage and group are copied.  Connects lazily (at the first beat).  NULL with errstr
 * set (out of memory); a disabled writer (runtime.heartbeat.ms = 0) is a valid object
 * whose calls do nothing.  Caller frees with sl_heartbeat_destroy(). */
sl_heartbeat_t *sl_heartbeat_new(const sl_conf_t *conf, const char *stage,
                                 const char *group, char *errstr, size_t errstr_size);
/* Writes the stop (stopped_at) when stopped is set, closes the connection.
 * NULL-safe. */
void sl_heartbeat_destroy(sl_heartbeat_t *hb, int stopped);

/* A batch of cnt records was processed (borrowed; their timestamps are read). */
void sl_heartbeat_batch(sl_heartbeat_t *hb, rd_kafka_message_t **msgs, size_t cnt);
/* A restore of n partitions starts (written at once). */
void sl_heartbeat_restore_begin(sl_heartbeat_t *hb, int n);
/* The restore ended; assigned is the count of partitions now owned (written at once). */
void sl_heartbeat_restore_end(sl_heartbeat_t *hb, int assigned);
/* Partitions were revoked: none owned until the next assignment. */
void sl_heartbeat_revoked(sl_heartbeat_t *hb);
/* Write a beat when runtime.heartbeat.ms has passed since the last one. */
void sl_heartbeat_tick(sl_heartbeat_t *hb);

#endif
