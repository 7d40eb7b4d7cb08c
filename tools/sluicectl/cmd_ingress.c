/*
 * `sluicectl ingress rewind --from-db [--margin N] [--dry-run] [--accept-loss]`: after
 * Postgres was restored to an earlier point (docs/operations/backup.md), move
 * sluice-ingress's consumer group back to where the restored database ends, so the
 * records whose rows the restore took away are read and written again.
 *
 * Per partition of events.in: the highest kafka_offset the database holds a row for
 * (workflow_events, and dead_letters of that topic), the group's committed offset and
 * the partition's low watermark go through sl_rewind_decide() (src/kafka/rewind.h);
 * the margin defaults to ingress.batch.size.  It prints one line per partition, then
 * commits the new offsets for the group (ingress.group.id) in one OffsetCommit.  The
 * group must have no members: Kafka refuses a commit from outside a group that has
 * any (every sluice-ingress must be stopped first), and so does this command.  The
 * mock cluster (sluice-devbroker) refuses it for any group it has seen, members or
 * not, and cannot describe groups: there the command joins the group and commits as
 * its member, only when it was given every partition (no other member holds any).  It
 * never moves a partition forward, so running it twice changes nothing the second
 * time.  When the database lacks records that retention already deleted from the
 * topic it commits nothing and exits 1, unless --accept-loss (those partitions then
 * resume at their first offset).
 *
 * Reads workflow_events in full (one sequential scan: there is no index on the Kafka
 * position), which on a large history takes a while; nothing is written to Postgres.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "cmd_util.h"
#include "cmds.h"
#include "kafka/kafka.h"
#include "kafka/rewind.h"

#define REWIND_TIMEOUT_MS 15000
/* How long commit_as_member() waits for its assignment: the mock cluster holds a
 * group whose last member left in its rebalance for session.timeout.ms (45 s by
 * default) before a new member is let in. */
#define REWIND_JOIN_MS 60000

/* The highest input offset per partition the database holds a row for. */
#define DB_LAST_SQL                                                                      \
        "SELECT p, max(o) FROM ("                                                        \
        " SELECT kafka_partition AS p, max(kafka_offset) AS o FROM workflow_events"      \
        " GROUP BY 1"                                                                    \
        " UNION ALL"                                                                     \
        " SELECT kafka_partition, max(kafka_offset) FROM dead_letters WHERE topic = $1"  \
        " GROUP BY 1) x GROUP BY p"

static const char ingress_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... ingress rewind --from-db [OPTIONS]\n"
    "\n"
    "  ingress rewind --from-db\n"
    "      after a Postgres restore (point-in-time recovery): set sluice-ingress's\n"
    "      committed offsets (group ingress.group.id) on events.in back to the last\n"
    "      record each partition has a row for in workflow_events or dead_letters,\n"
    "      less --margin records; never forward.  Stop every sluice-ingress first.\n"
    "      Prints PARTITION, COMMITTED, DB_LAST, LOW, HIGH, ACTION (keep, move,\n"
    "      lost), TO, tab-separated after a header line\n"
    "  --margin N     records before each partition's last row read again too\n"
    "                 (default: ingress.batch.size, the most one batch holds)\n"
    "  --dry-run      print the plan, commit nothing\n"
    "  --accept-loss  when retention deleted records the database lacks, resume those\n"
    "                 partitions at their first offset instead of refusing\n";

typedef struct part_s {
        int64_t db_last, committed, low, high;
        sl_rewind_t r;
} part_t;

static int usage_error(const char *what, const char *arg)
{
        fprintf(stderr, "sluicectl ingress: %s '%s'\n\n%s", what, arg, ingress_usage);
        return 2;
}

/* db_last of every partition (< nparts) from Postgres; -1 where it holds none. */
static int read_db_last(const sl_conf_t *conf, const char *topic, part_t *parts,
                        int32_t nparts)
{
        const char *params[1] = {topic};
        PGconn *pg = sl__ctl_connect("ingress", conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, DB_LAST_SQL, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("ingress", pg, res, "reading the last offsets");
                goto out;
        }
        for (int r = 0; r < PQntuples(res); r++) {
                long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
                if (p < 0 || p >= nparts) {
                        fprintf(stderr,
                                "sluicectl ingress: the database has rows of partition "
                                "%ld, but %s has %" PRId32 " partitions: is this the "
                                "right cluster?\n",
                                p, topic, nparts);
                        goto out;
                }
                parts[p].db_last = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        }
        rc = 0;
out:
        PQclear(res);
        PQfinish(pg);
        return rc;
}

/* Committed offsets and watermarks of every partition from Kafka. */
static int read_kafka(rd_kafka_t *rk, const char *topic, part_t *parts, int32_t nparts)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
        rd_kafka_resp_err_t err;
        int rc = 1;

        for (int32_t p = 0; p < nparts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        err = rd_kafka_committed(rk, l, REWIND_TIMEOUT_MS);
        if (err) {
                fprintf(stderr, "sluicectl ingress: reading committed offsets: %s\n",
                        rd_kafka_err2str(err));
                goto out;
        }
        for (int i = 0; i < l->cnt; i++) {
                part_t *pt = &parts[l->elems[i].partition];
                if (l->elems[i].err) {
                        fprintf(stderr,
                                "sluicectl ingress: committed offset of %s [%" PRId32
                                "]: %s\n",
                                topic, l->elems[i].partition,
                                rd_kafka_err2str(l->elems[i].err));
                        goto out;
                }
                pt->committed = l->elems[i].offset >= 0 ? l->elems[i].offset : -1;
        }
        for (int32_t p = 0; p < nparts; p++) {
                err = rd_kafka_query_watermark_offsets(rk, topic, p, &parts[p].low,
                                                       &parts[p].high, REWIND_TIMEOUT_MS);
                if (err) {
                        fprintf(stderr,
                                "sluicectl ingress: watermarks of %s [%" PRId32 "]: %s\n",
                                topic, p, rd_kafka_err2str(err));
                        goto out;
                }
        }
        rc = 0;
out:
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
}

static void put_offset(int64_t v, char sep)
{
        if (v < 0)
                printf("-%c", sep);
        else
                printf("%" PRId64 "%c", v, sep);
}

/* The group's member count from DescribeConsumerGroups: >= 0, or -1 when the cluster
 * cannot say (sluice-devbroker: the mock cluster has no DescribeGroups).  On its own
 * client: when the cluster cannot answer, librdkafka 2.0.2 keeps the request's
 * references and a destroy of the client waits forever, so that client is left to
 * the process's exit (sluicectl exits right after). */
static int group_members(const sl_conf_t *conf, const char *group)
{
        char errstr[512];
        rd_kafka_t *rk = sl_kafka_admin_new(conf, errstr, sizeof(errstr));
        rd_kafka_queue_t *q;
        rd_kafka_AdminOptions_t *opts;
        const rd_kafka_ConsumerGroupDescription_t **descs;
        rd_kafka_event_t *ev;
        size_t n = 0;
        int members = -1;

        if (!rk)
                return -1;
        q = rd_kafka_queue_new(rk);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        rd_kafka_AdminOptions_set_request_timeout(opts, REWIND_TIMEOUT_MS, NULL, 0);
        rd_kafka_DescribeConsumerGroups(rk, &group, 1, opts, q);
        ev = rd_kafka_queue_poll(q, REWIND_TIMEOUT_MS + 1000);
        if (ev && !rd_kafka_event_error(ev)) {
                descs = rd_kafka_DescribeConsumerGroups_result_groups(
                    rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
                if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(descs[0]))
                        members =
                            (int)rd_kafka_ConsumerGroupDescription_member_count(descs[0]);
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        if (members >= 0) {
                rd_kafka_queue_destroy(q);
                rd_kafka_destroy(rk);
        }
        return members;
}

/* Join the group and commit from inside it: for a broker that refuses commits from
 * outside a group it knows even when the group is empty (librdkafka's mock cluster,
 * so sluice-devbroker).  Only when this consumer is given every partition of topic,
 * that is, when no other member holds any. */
static rd_kafka_resp_err_t commit_as_member(const sl_conf_t *conf, const char *group,
                                            const char *topic, int32_t nparts,
                                            rd_kafka_topic_partition_list_t *offsets,
                                            bool *others)
{
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_t *asg = NULL;
        rd_kafka_resp_err_t err;
        char errstr[512];
        rd_kafka_t *rk =
            sl_kafka_consumer_new(conf, group, NULL, NULL, errstr, sizeof(errstr));

        *others = false;
        if (!rk) {
                fprintf(stderr, "sluicectl ingress: %s\n", errstr);
                rd_kafka_topic_partition_list_destroy(sub);
                return RD_KAFKA_RESP_ERR__FAIL;
        }
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rk, sub);
        for (int waited = 0; !err && waited < REWIND_JOIN_MS; waited += 100) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m)
                        rd_kafka_message_destroy(m); /* read, never committed */
                if (asg)
                        rd_kafka_topic_partition_list_destroy(asg);
                asg = NULL;
                err = rd_kafka_assignment(rk, &asg);
                if (!err && asg->cnt > 0)
                        break;
        }
        if (!err && (!asg || asg->cnt == 0))
                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        else if (!err && asg->cnt < nparts) {
                *others = true;
                err = RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
        } else if (!err) {
                err = rd_kafka_commit(rk, offsets, 0 /* sync */);
                for (int i = 0; !err && i < offsets->cnt; i++)
                        err = offsets->elems[i].err;
        }
        if (asg)
                rd_kafka_topic_partition_list_destroy(asg);
        rd_kafka_topic_partition_list_destroy(sub);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return err;
}

static bool not_a_member(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* Commit the MOVE offsets for group.  Kafka takes a commit from outside a group only
 * while it has no members: the group is described first, and refused when it has
 * any.  A cluster that cannot describe groups (the mock cluster) gets the commit from
 * a member instead (commit_as_member).  Never a refused commit from outside: it
 * leaves librdkafka's group handle waiting on a join, and rk's destroy with it. */
static int commit(const sl_conf_t *conf, rd_kafka_t *rk, const char *topic,
                  const char *group, const part_t *parts, int32_t nparts, int *moved)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
        rd_kafka_resp_err_t err;
        bool others = false;
        int rc = 1, members;

        for (int32_t p = 0; p < nparts; p++)
                if (parts[p].r.action == SL_REWIND_MOVE)
                        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                            parts[p].r.to;
        *moved = l->cnt;
        if (l->cnt == 0) {
                rc = 0;
                goto out;
        }
        members = group_members(conf, group);
        if (members > 0) {
                others = true;
                err = RD_KAFKA_RESP_ERR_NO_ERROR;
        } else if (members == 0) {
                err = rd_kafka_commit(rk, l, 0 /* sync */);
                for (int i = 0; !err && i < l->cnt; i++)
                        err = l->elems[i].err;
                others = not_a_member(err); /* one joined meanwhile */
        } else {
                err = commit_as_member(conf, group, topic, nparts, l, &others);
        }
        if (others) {
                fprintf(stderr,
                        "sluicectl ingress: group %s has members: stop every "
                        "sluice-ingress, then run this again; nothing was committed\n",
                        group);
                goto out;
        }
        if (err) {
                fprintf(stderr, "sluicectl ingress: committing offsets for %s: %s\n",
                        group, rd_kafka_err2str(err));
                goto out;
        }
        rc = 0;
out:
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
}

static int rewind_from_db(const sl_conf_t *conf, int argc, char **argv)
{
        const char *group = sl_conf_get(conf, "ingress.group.id");
        int64_t margin = sl_conf_get_int(conf, "ingress.batch.size");
        bool from_db = false, dry = false, accept_loss = false;
        char topic[256], errstr[512];
        rd_kafka_t *rk = NULL;
        part_t *parts = NULL;
        int32_t nparts;
        int rc = 1, lost = 0, moved = 0;

        for (int i = 2; i < argc; i++) {
                bool missing = false;
                const char *v = sl__ctl_opt_value(argc, argv, &i, "--margin", &missing);
                if (missing)
                        return usage_error("no value for", "--margin");
                if (v) {
                        char *end;
                        margin = strtoll(v, &end, 10);
                        if (*v == '\0' || *end != '\0' || margin < 0)
                                return usage_error("--margin takes a count >= 0, not", v);
                } else if (strcmp(argv[i], "--from-db") == 0)
                        from_db = true;
                else if (strcmp(argv[i], "--dry-run") == 0)
                        dry = true;
                else if (strcmp(argv[i], "--accept-loss") == 0)
                        accept_loss = true;
                else
                        return usage_error("unexpected argument", argv[i]);
        }
        if (!from_db) {
                fprintf(stderr,
                        "sluicectl ingress rewind: --from-db is the only source of "
                        "offsets (say it, so it is never run by accident)\n\n%s",
                        ingress_usage);
                return 2;
        }
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        rk = sl_kafka_consumer_new(conf, group, NULL, NULL, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "sluicectl ingress: %s\n", errstr);
                return 1;
        }
        nparts = sl_kafka_partition_count(rk, topic, REWIND_TIMEOUT_MS, errstr,
                                          sizeof(errstr));
        if (nparts <= 0) {
                fprintf(stderr, "sluicectl ingress: %s\n", errstr);
                goto out;
        }
        if (!(parts = calloc((size_t)nparts, sizeof(*parts)))) {
                fprintf(stderr, "sluicectl ingress: out of memory\n");
                goto out;
        }
        for (int32_t p = 0; p < nparts; p++)
                parts[p].db_last = -1;
        if (read_db_last(conf, topic, parts, nparts) != 0 ||
            read_kafka(rk, topic, parts, nparts) != 0)
                goto out;

        printf("PARTITION\tCOMMITTED\tDB_LAST\tLOW\tHIGH\tACTION\tTO\n");
        for (int32_t p = 0; p < nparts; p++) {
                part_t *pt = &parts[p];
                sl_rewind_in_t in = {.db_last = pt->db_last,
                                     .committed = pt->committed,
                                     .low = pt->low,
                                     .margin = margin};
                pt->r = sl_rewind_decide(&in);
                printf("%" PRId32 "\t", p);
                put_offset(pt->committed, '\t');
                put_offset(pt->db_last, '\t');
                printf("%" PRId64 "\t%" PRId64 "\t%s\t", pt->low, pt->high,
                       sl_rewind_action_str(pt->r.action));
                put_offset(pt->r.to, '\n');
                if (pt->r.action == SL_REWIND_LOST) {
                        lost++;
                        fprintf(stderr,
                                "sluicectl ingress: %s [%" PRId32 "]: the database "
                                "ends at offset %" PRId64 " but the topic now starts at "
                                "%" PRId64 ": records %" PRId64 "..%" PRId64
                                " are gone and cannot be written again\n",
                                topic, p, pt->db_last, pt->low, pt->db_last + 1,
                                pt->low - 1);
                        if (accept_loss) {
                                sl_rewind_in_t again = in;
                                again.db_last = -1; /* from the topic's start */
                                pt->r = sl_rewind_decide(&again);
                        }
                }
        }
        if (lost && !accept_loss) {
                fprintf(stderr,
                        "sluicectl ingress: %d partition(s) lost records; nothing was "
                        "committed (--accept-loss resumes them at their first offset)\n",
                        lost);
                goto out;
        }
        if (dry) {
                printf("dry run: nothing committed\n");
                rc = 0;
                goto out;
        }
        if (commit(conf, rk, topic, group, parts, nparts, &moved) != 0)
                goto out;
        printf("group %s: %d of %" PRId32 " partitions of %s rewound\n", group, moved,
               nparts, topic);
        rc = 0;
out:
        free(parts);
        /* Never subscribed nor assigned: nothing to close, and a close after the
         * refused commit waits on a group join that never comes. */
        if (rk)
                rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return rc;
}

int sl_cmd_ingress(sl_conf_t *conf, int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                fputs(ingress_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "rewind") == 0)
                return rewind_from_db(conf, argc, argv);
        return usage_error("unknown subcommand", argv[1]);
}
