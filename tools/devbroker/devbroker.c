/*
 * sluice-devbroker's cluster: librdkafka's mock cluster (rdkafka_mock.h), a real
 * Kafka-protocol broker set served over TCP from a thread of this process, so every
 * other process talks to it as to Kafka.  It exists for development and tests only:
 *   - memory only: everything is lost when the process exits;
 *   - bounded: each partition keeps about 5 MiB or 100,000 message sets, older data
 *     is dropped silently (consumers that fall that far behind lose records);
 *   - no log compaction (cleanup.policy=compact topics behave as delete topics);
 *   - no CreateTopics (Admin API), which is why every catalogue topic is created here
 *     before the bootstrap file appears.
 * Production uses real Apache Kafka with `sluicectl topics ensure`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "devbroker.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"

struct sl_devbroker_s {
        rd_kafka_t *rk; /* hosts (and owns) the mock cluster */
        rd_kafka_mock_cluster_t *mcluster;
        char *bootstraps;
        char *path; /* the bootstrap file we wrote, NULL until written */
};

/* mkdir -p of path's directory part. */
static int mkdirs_for(const char *path, char *errstr, size_t errstr_size)
{
        char dir[4096], *p;

        if (strlen(path) >= sizeof(dir)) {
                snprintf(errstr, errstr_size, "%s: path too long", path);
                return SL_ERR_IO;
        }
        strcpy(dir, path);
        p = strrchr(dir, '/');
        if (!p || p == dir)
                return SL_OK;
        *p = '\0';
        for (p = dir + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                        goto fail;
                *p = '/';
        }
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                goto fail;
        return SL_OK;
fail:
        snprintf(errstr, errstr_size, "mkdir %s: %s", dir, strerror(errno));
        return SL_ERR_IO;
}

/* Write "list\n" to path via path.tmp.<pid> + rename, so readers never see half. */
static int write_atomic(const char *path, const char *list, char *errstr,
                        size_t errstr_size)
{
        char tmp[4200];
        FILE *fp;

        if (mkdirs_for(path, errstr, errstr_size) != SL_OK)
                return SL_ERR_IO;
        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
        fp = fopen(tmp, "w");
        if (!fp) {
                snprintf(errstr, errstr_size, "open %s: %s", tmp, strerror(errno));
                return SL_ERR_IO;
        }
        if (fprintf(fp, "%s\n", list) < 0 || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
                snprintf(errstr, errstr_size, "write %s: %s", tmp, strerror(errno));
                fclose(fp);
                unlink(tmp);
                return SL_ERR_IO;
        }
        if (fclose(fp) != 0 || rename(tmp, path) != 0) {
                snprintf(errstr, errstr_size, "rename %s -> %s: %s", tmp, path,
                         strerror(errno));
                unlink(tmp);
                return SL_ERR_IO;
        }
        return SL_OK;
}

static int create_topics(sl_devbroker_t *db, const sl_conf_t *conf, int brokers,
                         char *errstr, size_t errstr_size)
{
        sl_topic_spec_t specs[SL_KAFKA_CATALOGUE_MAX];
        size_t n = sl_kafka_topic_catalogue(conf, specs, SL_KAFKA_CATALOGUE_MAX);

        for (size_t i = 0; i < n; i++) {
                int repl = specs[i].replication > 0 ? specs[i].replication : 1;
                rd_kafka_resp_err_t err;

                if (repl > brokers)
                        repl = brokers;
                err = rd_kafka_mock_topic_create(db->mcluster, specs[i].name,
                                                 specs[i].partitions, repl);
                if (err) {
                        snprintf(errstr, errstr_size, "create topic %s: %s",
                                 specs[i].name, rd_kafka_err2str(err));
                        return SL_ERR_KAFKA;
                }
                sl_log_info("topic %s: %d partitions, replication %d%s", specs[i].name,
                            specs[i].partitions, repl,
                            specs[i].compact ? " (compact requested; the mock does not "
                                               "compact)"
                                             : "");
        }
        return SL_OK;
}

sl_devbroker_t *sl_devbroker_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        int brokers = (int)sl_conf_get_int(conf, "devbroker.brokers");
        const char *path = sl_conf_get(conf, "devbroker.bootstrap.file");
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        sl_devbroker_t *db = calloc(1, sizeof(*db));
        char kerr[512], brokers_s[16];

        if (!db) {
                snprintf(errstr, errstr_size, "out of memory");
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        snprintf(brokers_s, sizeof(brokers_s), "%d", brokers);
        rd_kafka_conf_set_log_cb(kconf, sl_kafka_log_cb);
        /* test.mock.num.brokers: the handle starts the mock cluster itself and points
         * its own bootstrap.servers at it. */
        if (rd_kafka_conf_set(kconf, "client.id", "sluice-devbroker", kerr,
                              sizeof(kerr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kconf, "test.mock.num.brokers", brokers_s, kerr,
                              sizeof(kerr)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "mock cluster conf: %s", kerr);
                rd_kafka_conf_destroy(kconf);
                goto fail_db;
        }
        db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, kerr, sizeof(kerr));
        if (!db->rk) {
                snprintf(errstr, errstr_size,
                         "cannot start a mock cluster of %d brokers: %s", brokers, kerr);
                rd_kafka_conf_destroy(kconf);
                goto fail_db;
        }
        db->mcluster = rd_kafka_handle_mock_cluster(db->rk);
        if (!db->mcluster) {
                snprintf(errstr, errstr_size, "cannot start a mock cluster of %d brokers",
                         brokers);
                goto fail_rk;
        }
        db->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(db->mcluster));
        if (!db->bootstraps) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_rk;
        }
        if (create_topics(db, conf, brokers, errstr, errstr_size) != SL_OK)
                goto fail_bootstraps;
        if (write_atomic(path, db->bootstraps, errstr, errstr_size) != SL_OK)
                goto fail_bootstraps;
        db->path = strdup(path);
        if (!db->path) {
                unlink(path);
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_bootstraps;
        }
        return db;

fail_bootstraps:
        free(db->bootstraps);
fail_rk:
        rd_kafka_destroy(db->rk);
fail_db:
        free(db);
        return NULL;
}

const char *sl_devbroker_bootstraps(const sl_devbroker_t *db)
{
        return db->bootstraps;
}

/* The file is removed only while it still names our brokers: a newer devbroker that
 * replaced it keeps its own. */
static void remove_file(const sl_devbroker_t *db)
{
        char line[4096];
        FILE *fp = fopen(db->path, "r");
        int ours = 0;

        if (!fp)
                return;
        if (fgets(line, sizeof(line), fp)) {
                line[strcspn(line, "\r\n")] = '\0';
                ours = strcmp(line, db->bootstraps) == 0;
        }
        fclose(fp);
        if (ours && unlink(db->path) != 0)
                sl_log_warn("remove %s: %s", db->path, strerror(errno));
}

void sl_devbroker_destroy(sl_devbroker_t *db)
{
        if (!db)
                return;
        if (db->path)
                remove_file(db);
        rd_kafka_destroy(db->rk); /* owns the mock cluster */
        free(db->bootstraps);
        free(db->path);
        free(db);
}
