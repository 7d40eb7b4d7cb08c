/*
 * `sluicectl topics ensure|list`: the topic catalogue (src/kafka/topics.c) on a
 * cluster.
 *
 * ensure: CreateTopics (Admin API) for every catalogue topic with its partitions,
 * replication (-1: the broker's default) and cleanup.policy=compact where the catalogue
 * says so; an existing topic is fine.  The devbroker (librdkafka's mock cluster) has no
 * CreateTopics: when the request is refused as a whole, the topics are looked up in the
 * metadata instead.  Either way it finishes by checking the metadata: every topic must
 * exist with exactly its catalogue partitions (more would move sources to other
 * partitions than murmur2 gives them and break co-partitioning; Kafka cannot shrink a
 * topic, so a wrong count is reported, never silently used), and on a cluster that
 * answers DescribeConfigs every changelog must have cleanup.policy=compact.  Prints
 * one line per topic; exit 0 when all are right, 1 otherwise.  Running it again
 * creates and changes nothing.
 *
 * list: name and partition count of every sluice topic the cluster knows (catalogue
 * topics that are missing are listed as such); exit 1 if any is missing.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "config/config.h"
#include "kafka/kafka.h"
#include "sluice/err.h"

#define TOPICS_TIMEOUT_MS 15000

static const char topics_usage[] =
    "usage: sluicectl topics ensure|list\n"
    "\n"
    "  ensure  create every sluice topic that does not exist (Admin API), then check\n"
    "          that each exists with enough partitions; against sluice-devbroker,\n"
    "          which cannot create topics, only the check runs\n"
    "  list    every sluice topic on the cluster with its partition count\n";

/* CreateTopics for the catalogue.  Returns SL_OK (created or already there, per topic
 * outcome printed), SL_ERR_NOTFOUND when the cluster refused the request as a whole
 * (e.g. the devbroker: CreateTopics unsupported), or SL_ERR_KAFKA. */
static int create_topics(rd_kafka_t *rk, const sl_topic_spec_t *specs, size_t n)
{
        rd_kafka_NewTopic_t *nts[SL_KAFKA_CATALOGUE_MAX];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **trs;
        rd_kafka_resp_err_t err;
        char kerr[512];
        size_t i, made = 0, cnt = 0;
        int rc = SL_ERR_KAFKA;

        rd_kafka_AdminOptions_set_request_timeout(opts, TOPICS_TIMEOUT_MS, kerr,
                                                  sizeof(kerr));
        rd_kafka_AdminOptions_set_operation_timeout(opts, TOPICS_TIMEOUT_MS, kerr,
                                                    sizeof(kerr));
        for (i = 0; i < n; i++) {
                nts[i] = rd_kafka_NewTopic_new(specs[i].name, specs[i].partitions,
                                               specs[i].replication, kerr, sizeof(kerr));
                if (!nts[i]) {
                        fprintf(stderr, "sluicectl topics: %s: %s\n", specs[i].name,
                                kerr);
                        goto done;
                }
                made++;
                if (specs[i].compact &&
                    rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", "compact")) {
                        fprintf(stderr,
                                "sluicectl topics: %s: cannot set cleanup.policy\n",
                                specs[i].name);
                        goto done;
                }
        }
        rd_kafka_CreateTopics(rk, nts, made, opts, q);
        ev = rd_kafka_queue_poll(q, TOPICS_TIMEOUT_MS + 5000);
        if (!ev) {
                fprintf(stderr, "sluicectl topics: CreateTopics: no answer in %d s\n",
                        TOPICS_TIMEOUT_MS / 1000 + 5);
                goto done;
        }
        err = rd_kafka_event_error(ev);
        if (err) {
                /* The request as a whole failed: unsupported (the mock cluster), or the
                 * cluster is unreachable.  The metadata check tells which. */
                printf("CreateTopics refused (%s); checking the topics instead\n",
                       rd_kafka_event_error_string(ev));
                rc = SL_ERR_NOTFOUND;
                goto done;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
        rc = SL_OK;
        for (i = 0; i < cnt; i++) {
                err = rd_kafka_topic_result_error(trs[i]);
                if (!err)
                        printf("created %s\n", rd_kafka_topic_result_name(trs[i]));
                else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        printf("exists  %s\n", rd_kafka_topic_result_name(trs[i]));
                else {
                        fprintf(stderr, "sluicectl topics: create %s: %s\n",
                                rd_kafka_topic_result_name(trs[i]),
                                rd_kafka_topic_result_error_string(trs[i])
                                    ? rd_kafka_topic_result_error_string(trs[i])
                                    : rd_kafka_err2str(err));
                        rc = SL_ERR_KAFKA;
                }
        }
done:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy_array(nts, made);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
        return rc;
}

/* Print "NAME PARTITIONS" per catalogue topic from the cluster's metadata.  Returns how
 * many are missing or have another partition count than the catalogue (if
 * check_parts), or -1 when the metadata cannot be read. */
static int check_topics(rd_kafka_t *rk, const sl_topic_spec_t *specs, size_t n,
                        int check_parts, int quiet)
{
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, TOPICS_TIMEOUT_MS);
        int bad = 0;

        if (err) {
                fprintf(stderr, "sluicectl topics: metadata: %s\n",
                        rd_kafka_err2str(err));
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                const struct rd_kafka_metadata_topic *t = NULL;

                for (int j = 0; j < md->topic_cnt; j++)
                        if (strcmp(md->topics[j].topic, specs[i].name) == 0)
                                t = &md->topics[j];
                if (quiet) {
                        bad += !t || t->err ||
                               (check_parts && t->partition_cnt != specs[i].partitions);
                } else if (!t || t->err) {
                        printf("%-40s missing%s%s\n", specs[i].name, t ? ": " : "",
                               t ? rd_kafka_err2str(t->err) : "");
                        bad++;
                } else if (check_parts && t->partition_cnt != specs[i].partitions) {
                        printf("%-40s %d partitions, not the %d configured (recreate it, "
                               "or set the partition count to match)\n",
                               specs[i].name, t->partition_cnt, specs[i].partitions);
                        bad++;
                } else {
                        printf("%-40s %d partitions%s\n", specs[i].name, t->partition_cnt,
                               specs[i].compact ? " compact" : "");
                }
        }
        rd_kafka_metadata_destroy(md);
        return bad;
}

/* DescribeConfigs of every compacted catalogue topic: prints each one whose
 * cleanup.policy lacks "compact".  Returns how many, or -1 when the cluster did not
 * answer. */
static int check_compaction(rd_kafka_t *rk, const sl_topic_spec_t *specs, size_t n)
{
        rd_kafka_ConfigResource_t *crs[SL_KAFKA_CATALOGUE_MAX];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        const rd_kafka_ConfigResource_t **res;
        rd_kafka_event_t *ev;
        size_t cnt = 0, made = 0;
        char kerr[256];
        int bad = -1;

        rd_kafka_AdminOptions_set_request_timeout(opts, TOPICS_TIMEOUT_MS, kerr,
                                                  sizeof(kerr));
        for (size_t i = 0; i < n; i++)
                if (specs[i].compact)
                        crs[made++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC,
                                                                  specs[i].name);
        rd_kafka_DescribeConfigs(rk, crs, made, opts, q);
        ev = rd_kafka_queue_poll(q, TOPICS_TIMEOUT_MS + 5000);
        if (!ev || rd_kafka_event_error(ev)) {
                fprintf(stderr, "sluicectl topics: DescribeConfigs: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "no answer");
                goto done;
        }
        res = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &cnt);
        bad = 0;
        for (size_t i = 0; i < cnt; i++) {
                const rd_kafka_ConfigEntry_t **ents;
                const char *policy = NULL;
                size_t ne = 0;

                ents = rd_kafka_ConfigResource_configs(res[i], &ne);
                for (size_t j = 0; j < ne; j++)
                        if (!strcmp(rd_kafka_ConfigEntry_name(ents[j]), "cleanup.policy"))
                                policy = rd_kafka_ConfigEntry_value(ents[j]);
                if (rd_kafka_ConfigResource_error(res[i]) || !policy ||
                    !strstr(policy, "compact")) {
                        printf(
                            "%-40s cleanup.policy=%s, not compact (a changelog must be "
                            "compacted: kafka-configs --alter --add-config "
                            "cleanup.policy=compact)\n",
                            rd_kafka_ConfigResource_name(res[i]), policy ? policy : "?");
                        bad++;
                }
        }
done:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy_array(crs, made);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
        return bad;
}

/* True when the cluster names a controller among its brokers.  The mock cluster names
 * broker 0, which does not exist, and has no CreateTopics. */
static int has_controller(rd_kafka_t *rk)
{
        const struct rd_kafka_metadata *md;
        int32_t ctrl = rd_kafka_controllerid(rk, 5000);
        int found = 0;

        if (ctrl < 0 || rd_kafka_metadata(rk, 0, NULL, &md, TOPICS_TIMEOUT_MS))
                return 0;
        for (int i = 0; i < md->broker_cnt; i++)
                found |= md->brokers[i].id == ctrl;
        rd_kafka_metadata_destroy(md);
        return found;
}

int sl_cmd_topics(sl_conf_t *conf, int argc, char **argv)
{
        sl_topic_spec_t specs[SL_KAFKA_CATALOGUE_MAX];
        size_t n = sl_kafka_topic_catalogue(conf, specs, SL_KAFKA_CATALOGUE_MAX);
        char errstr[512];
        rd_kafka_t *rk;
        int ensure, bad, rc, ctrl;

        if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                fputs(topics_usage, stdout);
                return 0;
        }
        if (argc != 2 ||
            (strcmp(argv[1], "ensure") != 0 && strcmp(argv[1], "list") != 0)) {
                fputs(topics_usage, stderr);
                return 2;
        }
        ensure = strcmp(argv[1], "ensure") == 0;
        rk = sl_kafka_admin_new(conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "sluicectl topics: %s\n", errstr);
                return 1;
        }
        rc = SL_OK;
        bad = ensure ? check_topics(rk, specs, n, 1, 1) : 0;
        ctrl = ensure && has_controller(rk);
        if (bad > 0) {
                /* Something to create.  No controller means no CreateTopics (the
                 * devbroker's mock cluster): say so instead of waiting it out. */
                if (!ctrl) {
                        printf("no controller: this cluster cannot create topics "
                               "(sluice-devbroker creates its own at start)\n");
                } else {
                        rc = create_topics(rk, specs, n);
                        /* New topics take a moment to reach every broker's metadata. */
                        for (int tries = 0; rc == SL_OK && tries < 50; tries++) {
                                if (check_topics(rk, specs, n, 1, 1) <= 0)
                                        break;
                                rd_kafka_poll(rk, 200);
                        }
                }
        }
        if (bad < 0) {
                rd_kafka_destroy(rk);
                return 1;
        }
        bad = check_topics(rk, specs, n, ensure, 0);
        /* The mock cluster keeps no topic configs (and compacts nothing). */
        if (bad >= 0 && ctrl) {
                int uncompacted = check_compaction(rk, specs, n);
                bad = uncompacted < 0 ? -1 : bad + uncompacted;
        }
        rd_kafka_destroy(rk);
        if (bad < 0)
                return 1;
        if (bad) {
                fprintf(stderr, "sluicectl topics: %d of %zu topics missing%s\n", bad, n,
                        ensure ? " or not as configured" : "");
                return 1;
        }
        return rc == SL_ERR_KAFKA ? 1 : 0;
}
