/*
 * Kafka plumbing shared by every executable: topic names, client construction from
 * sl_conf_t (kafka.* keys, the devbroker's bootstrap file as a fallback, the settings
 * sluice always wants), and the topic catalogue used by sluice-devbroker and
 * `sluicectl topics ensure`.
 */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

/* The logical topics.  Full names are topic.prefix + suffix ("sluice.events.in"). */
typedef enum sl_topic {
        SL_TOPIC_EVENTS_IN,
        SL_TOPIC_EVENTS_ACCEPTED,
        SL_TOPIC_EVENTS_DLQ,
        SL_TOPIC_ADMISSION_CHANGELOG, /* compacted, co-partitioned with events.in */
        SL_TOPIC_TRIGGER_MATCHES,     /* key: trigger id */
        SL_TOPIC_WORKFLOW_LAUNCHES,   /* key: trigger id */
        SL_TOPIC_WORKFLOW_RESULTS,    /* key: trigger id, co-partitioned with matches */
        SL_TOPIC_LAUNCH_CHANGELOG,    /* compacted, co-partitioned with trigger.matches */
        SL_TOPIC__CNT
} sl_topic_t;

/* The full topic name for t under conf's topic.prefix.  Writes into buf and returns it.
 */
const char *sl_kafka_topic_name(const sl_conf_t *conf, sl_topic_t t, char *buf,
                                size_t size);

/* The retry tier topics, <topic.prefix>retry.<tier> for each tier of retry.tiers
 * ("sluice.retry.1s"), with their delays in ms, ascending.  Returns the count (up to
 * cap). */
size_t sl_kafka_retry_topics(const sl_conf_t *conf, char (*names)[256],
                             int64_t *delays_ms, size_t cap);

/* The catalogue: every topic sluice uses, with partitions and cleanup policy.
 * Later issues append their own (retry tiers, changelogs, ...). */
typedef struct sl_topic_spec_s {
        char name[256];
        int partitions;
        int replication;
        int compact; /* cleanup.policy=compact */
} sl_topic_spec_t;
/* Fills specs (up to cap) from conf; returns the count. */
size_t sl_kafka_topic_catalogue(const sl_conf_t *conf, sl_topic_spec_t *specs,
                                size_t cap);
/* Enough room for the whole catalogue. */
#define SL_KAFKA_CATALOGUE_MAX 64

/* A topic named on a command line: a full name ("sluice.events.dlq") or a catalogue
 * suffix ("events.dlq", completed with topic.prefix).  Names that match neither are
 * taken as they are.  Writes into buf and returns it. */
const char *sl_kafka_topic_resolve(const sl_conf_t *conf, const char *name, char *buf,
                                   size_t size);

/* kafka.bootstrap.servers, or the first line of devbroker.bootstrap.file when unset.
 * Writes into buf; returns SL_ERR_CONFIG with errstr set when neither is available. */
int sl_kafka_bootstrap(const sl_conf_t *conf, char *buf, size_t size, char *errstr,
                       size_t errstr_size);

/* A producer with kafka.* applied plus sluice's defaults (partitioner=murmur2_random,
 * enable.idempotence=true, acks=all) unless kafka.* overrides them.  dr_cb may be NULL.
 * Returns NULL with errstr set.  Caller frees with rd_kafka_destroy(). */
rd_kafka_t *sl_kafka_producer_new(const sl_conf_t *conf,
                                  void (*dr_msg_cb)(rd_kafka_t *,
                                                    const rd_kafka_message_t *, void *),
                                  void *opaque, char *errstr, size_t errstr_size);

/* The same, transactional (exactly_once, src/runtime): transactional.id set to
 * transactional_id over any kafka.* key.  The caller runs rd_kafka_init_transactions().
 * Returns NULL with errstr set.  Caller frees with rd_kafka_destroy(). */
rd_kafka_t *sl_kafka_txn_producer_new(const sl_conf_t *conf, const char *transactional_id,
                                      void (*dr_msg_cb)(rd_kafka_t *,
                                                        const rd_kafka_message_t *,
                                                        void *),
                                      void *opaque, char *errstr, size_t errstr_size);

/* A consumer in group_id with kafka.* applied plus sluice's defaults
 * (enable.auto.commit=false, auto.offset.reset=earliest, isolation.level=read_committed,
 * raised queued.min.messages
 * and queued.max.messages.kbytes, partition.assignment.strategy=cooperative-sticky is
 * NOT set: eager range/roundrobin so rebalance callbacks see whole assignments).
 * rebalance_cb may be NULL.  Returns NULL with errstr set.  Caller closes with
 * rd_kafka_consumer_close() and frees with rd_kafka_destroy(). */
rd_kafka_t *sl_kafka_consumer_new(const sl_conf_t *conf, const char *group_id,
                                  void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                       rd_kafka_topic_partition_list_t *,
                                                       void *),
                                  void *opaque, char *errstr, size_t errstr_size);

/* sl_kafka_consumer_new() whose fetch queue holds queued_min records by default
 * (queued.min.messages), fetched 256 KiB a partition and 8 MiB a response at most
 * (max.partition.fetch.bytes, fetch.max.bytes); kafka.* still overrides them.  0:
 * sluice's defaults (100,000 records, 4 MiB, 50 MiB).  A stage sizes it to a few of its
 * batches: the queue and the fetch responses its records point into are most of a
 * consumer's memory. */
rd_kafka_t *sl_kafka_consumer_new_sized(
    const sl_conf_t *conf, const char *group_id, long queued_min,
    void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                         rd_kafka_topic_partition_list_t *, void *),
    void *opaque, char *errstr, size_t errstr_size);

/* An assign-only consumer in group_id for reading partitions to their end (state
 * restores): sl_kafka_consumer_new()'s settings plus enable.partition.eof=true, so the
 * reader learns where the end is even when the last offsets are transaction markers,
 * which are never delivered.  Returns NULL with errstr set.  Caller closes with
 * rd_kafka_consumer_close() and frees with rd_kafka_destroy(). */
rd_kafka_t *sl_kafka_reader_new(const sl_conf_t *conf, const char *group_id, char *errstr,
                                size_t errstr_size);

/* A client for the Admin API and metadata (a producer handle without sluice's producer
 * defaults): bootstrap and kafka.* applied, logs routed to sl_log.  Returns NULL with
 * errstr set.  Caller frees with rd_kafka_destroy(). */
rd_kafka_t *sl_kafka_admin_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/* librdkafka log_cb that writes through sl_log (set by every constructor above; exposed
 * for handles made elsewhere, e.g. sluice-devbroker's mock cluster host). */
void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* The partition count of topic from a metadata request through rk (waiting up to
 * timeout_ms): > 0, or -1 with errstr set (no such topic, the broker did not answer). */
int32_t sl_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                 char *errstr, size_t errstr_size);

/* Java's murmur2 partitioner: (murmur2(key) & 0x7fffffff) % partitions.  -1 when
 * partitions <= 0. */
int32_t sl_kafka_partition_for(const void *key, size_t len, int32_t partitions);
/* The raw 32-bit murmur2 (Utils.murmur2 as an unsigned value), for tests. */
uint32_t sl__kafka_murmur2(const void *key, size_t len);

#endif
