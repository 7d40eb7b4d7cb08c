/*
 * librdkafka clients built from sl_conf_t: the bootstrap list (kafka.bootstrap.servers,
 * else the devbroker's bootstrap file), the settings sluice always wants for producers
 * and consumers, then every kafka.* key on top so users can override any of them, and
 * librdkafka's own log lines routed through sl_log.  Topic names and the catalogue are
 * topics.c's; the partitioner is murmur2.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"

void sl_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        sl_log_level_t lvl;

        /* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug */
        if (level <= 3)
                lvl = SL_LOG_ERROR;
        else if (level == 4)
                lvl = SL_LOG_WARN;
        else if (level <= 6)
                lvl = SL_LOG_INFO;
        else
                lvl = SL_LOG_DEBUG;
        sl_log(lvl, NULL, "librdkafka %s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

int sl_kafka_bootstrap(const sl_conf_t *conf, char *buf, size_t size, char *errstr,
                       size_t errstr_size)
{
        const char *servers = sl_conf_get(conf, "kafka.bootstrap.servers");
        const char *path;
        char line[4096], *s, *e;
        FILE *fp;

        if (servers && *servers) {
                if (strlen(servers) >= size) {
                        snprintf(errstr, errstr_size, "kafka.bootstrap.servers too long");
                        return SL_ERR_CONFIG;
                }
                snprintf(buf, size, "%s", servers);
                return SL_OK;
        }
        path = sl_conf_get(conf, "devbroker.bootstrap.file");
        fp = path ? fopen(path, "r") : NULL;
        if (!fp) {
                snprintf(errstr, errstr_size,
                         "no Kafka brokers: kafka.bootstrap.servers is unset and the "
                         "devbroker bootstrap file %s cannot be read (%s); start "
                         "sluice-devbroker or set -X kafka.bootstrap.servers=HOST:PORT",
                         path ? path : "(none)", strerror(errno));
                return SL_ERR_CONFIG;
        }
        s = fgets(line, sizeof(line), fp);
        fclose(fp);
        if (s) {
                /* Tolerate the devbroker's stdout form "bootstrap.servers=...". */
                if (strncmp(s, "bootstrap.servers=", 18) == 0)
                        s += 18;
                while (*s == ' ' || *s == '\t')
                        s++;
                e = s + strlen(s);
                while (e > s &&
                       (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                        *--e = '\0';
        }
        if (!s || !*s) {
                snprintf(errstr, errstr_size,
                         "no Kafka brokers: the devbroker bootstrap file %s is empty",
                         path);
                return SL_ERR_CONFIG;
        }
        if (strlen(s) >= size) {
                snprintf(errstr, errstr_size, "bootstrap list in %s too long", path);
                return SL_ERR_CONFIG;
        }
        snprintf(buf, size, "%s", s);
        return SL_OK;
}

/* Set name=value on kconf; errstr names the property. */
static int kset(rd_kafka_conf_t *kconf, const char *name, const char *value, char *errstr,
                size_t errstr_size)
{
        char kerr[256];

        if (rd_kafka_conf_set(kconf, name, value, kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka.%s: %s", name, kerr);
                return SL_ERR_CONFIG;
        }
        return SL_OK;
}

static int kset_all(rd_kafka_conf_t *kconf, const char *const *kv, char *errstr,
                    size_t errstr_size)
{
        for (; kv[0]; kv += 2)
                if (kset(kconf, kv[0], kv[1], errstr, errstr_size) != SL_OK)
                        return SL_ERR_CONFIG;
        return SL_OK;
}

/* A conf with the bootstrap list, the log callback and the given defaults, then the
 * user's kafka.* keys over them. */
static rd_kafka_conf_t *conf_new(const sl_conf_t *conf, const char *const *defaults,
                                 char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        char servers[4096];

        if (sl_kafka_bootstrap(conf, servers, sizeof(servers), errstr, errstr_size) !=
            SL_OK)
                goto fail;
        rd_kafka_conf_set_log_cb(kconf, sl_kafka_log_cb);
        if (kset(kconf, "bootstrap.servers", servers, errstr, errstr_size) != SL_OK ||
            kset(kconf, "client.id", "sluice", errstr, errstr_size) != SL_OK ||
            (defaults && kset_all(kconf, defaults, errstr, errstr_size) != SL_OK))
                goto fail;
        if (sl_conf_apply_kafka(conf, kconf, errstr, errstr_size) != 0)
                goto fail;
        return kconf;
fail:
        rd_kafka_conf_destroy(kconf);
        return NULL;
}

/* rd_kafka_new() takes ownership of kconf on success only. */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *kconf, char *errstr,
                              size_t errstr_size)
{
        char kerr[512];
        rd_kafka_t *rk = rd_kafka_new(type, kconf, kerr, sizeof(kerr));

        if (!rk) {
                snprintf(errstr, errstr_size, "rd_kafka_new: %s", kerr);
                rd_kafka_conf_destroy(kconf);
        }
        return rk;
}

/* A producer; transactional when transactional_id is not NULL. */
static rd_kafka_t *producer_new(const sl_conf_t *conf, const char *transactional_id,
                                void (*dr_msg_cb)(rd_kafka_t *,
                                                  const rd_kafka_message_t *, void *),
                                void *opaque, char *errstr, size_t errstr_size)
{
        /* Java-compatible key placement, no duplicates on retry, and batches big enough
         * for ~100k msg/s.  lz4 lets the devbroker keep ~4x more per partition. */
        /* clang-format off */
        static const char *const defaults[] = {
                "partitioner", "murmur2_random",
                "enable.idempotence", "true",
                "acks", "all",
                "linger.ms", "5",
                "batch.num.messages", "10000",
                "batch.size", "1000000",
                "queue.buffering.max.messages", "1000000",
                "queue.buffering.max.kbytes", "1048576",
                "compression.type", "lz4",
                NULL,
        };
        /* clang-format on */
        rd_kafka_conf_t *kconf = conf_new(conf, defaults, errstr, errstr_size);

        if (!kconf)
                return NULL;
        /* After the user's kafka.* keys: the id is the caller's alone. */
        if (transactional_id && kset(kconf, "transactional.id", transactional_id, errstr,
                                     errstr_size) != SL_OK) {
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        if (dr_msg_cb)
                rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
        rd_kafka_conf_set_opaque(kconf, opaque);
        return client_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
}

rd_kafka_t *sl_kafka_producer_new(const sl_conf_t *conf,
                                  void (*dr_msg_cb)(rd_kafka_t *,
                                                    const rd_kafka_message_t *, void *),
                                  void *opaque, char *errstr, size_t errstr_size)
{
        return producer_new(conf, NULL, dr_msg_cb, opaque, errstr, errstr_size);
}

rd_kafka_t *sl_kafka_txn_producer_new(const sl_conf_t *conf, const char *transactional_id,
                                      void (*dr_msg_cb)(rd_kafka_t *,
                                                        const rd_kafka_message_t *,
                                                        void *),
                                      void *opaque, char *errstr, size_t errstr_size)
{
        return producer_new(conf, transactional_id, dr_msg_cb, opaque, errstr,
                            errstr_size);
}

/* A consumer with sluice's defaults, kafka.* over them, then extra (may be NULL).
 * queued_min: the fetch queue's queued.min.messages default, 0 for sluice's. */
static rd_kafka_t *consumer_new(const sl_conf_t *conf, const char *group_id,
                                long queued_min, const char *const *extra,
                                void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                     rd_kafka_topic_partition_list_t *,
                                                     void *),
                                void *opaque, char *errstr, size_t errstr_size)
{
        /* Offsets are committed by the caller after its effects are durable.  The
         * fetch queue is librdkafka's own default (64 MiB, 100,000 messages) unless the
         * stage sizes it (sl_kafka_consumer_new_sized; ingress: 70,000 records or four
         * batches, and small fetches).  Sized for the 1.8M msg/s a bare consumer
         * reaches (1 GiB, 1,000,000), ingress held ~80 MiB more than with 100,000 for
         * 0.75-1.13x the throughput; below a second of its rate it ran dry (librdkafka
         * 2.0.2 looks at a full queue again only when its broker thread wakes, up to
         * ~1 s later): docs/benchmarks.md, bench/ingress, fifth and sixth passes.
         * kafka.* overrides them. */
        char min_msgs[32] = "100000";
        const char *part_bytes = "4194304", *fetch_bytes = "52428800";
        if (queued_min > 0) {
                /* A fetch response stays in memory until its last record is consumed:
                 * with 4 MiB partition fetches over 32 partitions, ingress held 420-440
                 * MiB on Apache Kafka whatever the queue; with 256 KiB / 8 MiB, 84-92
                 * MiB at the same rate (bench/ingress --broker kafka 1000000).  And
                 * the queue overshoots queued.min.messages by what the fetches in
                 * flight bring, one per broker: 64 KiB / 2 MiB keep that step small
                 * (bench/ingress, sixth pass). */
                snprintf(min_msgs, sizeof(min_msgs), "%ld", queued_min);
                part_bytes = "65536";
                fetch_bytes = "2097152";
        }
        /* clang-format off */
        const char *const defaults[] = {
                "enable.auto.commit", "false",
                "enable.auto.offset.store", "false",
                "auto.offset.reset", "earliest",
                "isolation.level", "read_committed",
                "queued.min.messages", min_msgs,
                "queued.max.messages.kbytes", "65536",
                "fetch.wait.max.ms", "10",
                "max.partition.fetch.bytes", part_bytes,
                "fetch.max.bytes", fetch_bytes,
                NULL,
        };
        /* clang-format on */
        rd_kafka_conf_t *kconf;
        rd_kafka_t *rk;
        rd_kafka_resp_err_t err;

        if (!group_id || !*group_id) {
                snprintf(errstr, errstr_size, "consumer: a group id is required");
                return NULL;
        }
        kconf = conf_new(conf, defaults, errstr, errstr_size);
        if (!kconf)
                return NULL;
        /* The stage's group wins over a stray kafka.group.id. */
        if (kset(kconf, "group.id", group_id, errstr, errstr_size) != SL_OK ||
            (extra && kset_all(kconf, extra, errstr, errstr_size) != SL_OK)) {
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        if (rebalance_cb)
                rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
        rd_kafka_conf_set_opaque(kconf, opaque);
        rk = client_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
        if (!rk)
                return NULL;
        /* One queue for messages, rebalances and errors: rd_kafka_consumer_poll(). */
        err = rd_kafka_poll_set_consumer(rk);
        if (err) {
                snprintf(errstr, errstr_size, "rd_kafka_poll_set_consumer: %s",
                         rd_kafka_err2str(err));
                rd_kafka_destroy(rk);
                return NULL;
        }
        return rk;
}

rd_kafka_t *sl_kafka_consumer_new(const sl_conf_t *conf, const char *group_id,
                                  void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                       rd_kafka_topic_partition_list_t *,
                                                       void *),
                                  void *opaque, char *errstr, size_t errstr_size)
{
        return consumer_new(conf, group_id, 0, NULL, rebalance_cb, opaque, errstr,
                            errstr_size);
}

rd_kafka_t *sl_kafka_consumer_new_sized(
    const sl_conf_t *conf, const char *group_id, long queued_min,
    void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                         rd_kafka_topic_partition_list_t *, void *),
    void *opaque, char *errstr, size_t errstr_size)
{
        return consumer_new(conf, group_id, queued_min, NULL, rebalance_cb, opaque,
                            errstr, errstr_size);
}

rd_kafka_t *sl_kafka_reader_new(const sl_conf_t *conf, const char *group_id, char *errstr,
                                size_t errstr_size)
{
        static const char *const eof[] = {"enable.partition.eof", "true", NULL};

        return consumer_new(conf, group_id, 0, eof, NULL, NULL, errstr, errstr_size);
}

rd_kafka_t *sl_kafka_admin_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *kconf = conf_new(conf, NULL, errstr, errstr_size);

        if (!kconf)
                return NULL;
        return client_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
}

int32_t sl_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms,
                                 char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t err =
            rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : rd_kafka_last_error();
        int32_t n = -1;

        if (rkt)
                rd_kafka_topic_destroy(rkt);
        if (err)
                snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                         rd_kafka_err2str(err));
        else if (md->topic_cnt != 1 || md->topics[0].err ||
                 md->topics[0].partition_cnt < 1)
                snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                         md->topic_cnt && md->topics[0].err
                             ? rd_kafka_err2str(md->topics[0].err)
                             : "no such topic");
        else
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        return n;
}
