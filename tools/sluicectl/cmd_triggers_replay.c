/*
 * `sluicectl triggers replay-shed NAME [--since T] [--until T] [--dry-run]`: the matches
 * trigger NAME shed (outcome throttled, paused or open in trigger_deliveries, decided in
 * [since, until), never launched by an earlier replay) go back onto
 * sluice.trigger.matches, in match order, each a TriggerMatch with the
 * SL_TRIGGER_REPLAY_HDR header, keyed by the trigger id.  The launch stage decides each
 * again through the trigger's current limit and breaker (src/trigger/replay_shed.h):
 * launched once under its own launch id, deferred, or shed again.  Running it twice is
 * safe: a match launched by the first run is no longer shed, and one still in flight is
 * decided once (its row changes only while it is shed).
 *
 * Prints how many matches were sent (or, with --dry-run, would be).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "cmd_util.h"
#include "kafka/kafka.h"
#include "sluice/err.h"
#include "trigger/records.h"
#include "trigger/replay_shed.h"
#include "util/clock.h"

#define SHED_SQL                                                                         \
        "SELECT d.trigger_id::text, coalesce(d.trigger_name, t.name), "                  \
        "d.event_id::text, "                                                             \
        "coalesce(d.event_type, ''), d.correlation_id, d.traceparent, d.workflow, "      \
        "coalesce(d.params, '{}'), "                                                     \
        "coalesce((extract(epoch FROM d.accepted_at) * 1000)::bigint, 0), "              \
        "(extract(epoch FROM d.matched_at) * 1000)::bigint "                             \
        "FROM trigger_deliveries d JOIN triggers t ON t.id = d.trigger_id "              \
        "WHERE t.name = $1 AND d.outcome IN ('throttled', 'paused', 'open') "            \
        "AND d.decided_at >= to_timestamp($2 / 1000.0) "                                 \
        "AND d.decided_at < to_timestamp($3 / 1000.0) "                                  \
        "ORDER BY d.match_offset, d.matched_at"

static int time_arg(const char *s, int64_t *out)
{
        int64_t d;

        if (sl__ctl_parse_rfc3339(s, out) == 0)
                return 0;
        if (sl__ctl_parse_duration(s, &d) == 0) { /* "7d": that long ago */
                *out = sl_wall_ms() - d;
                return 0;
        }
        return -1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)opaque;
        if (m->err)
                (*(int *)rd_kafka_opaque(rk))++;
}

static const char *col(const PGresult *res, int r, int c)
{
        return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

int sl__ctl_triggers_replay_shed(const sl_conf_t *conf, int argc, char **argv)
{
        const char *name = NULL, *since = NULL, *until = NULL;
        int64_t since_ms = 0, until_ms = 253402300799000LL; /* 9999-12-31T23:59:59Z */
        bool dry = false, missing = false;
        char topic[256], from[24], to[24], errstr[512], started[24];
        const char *params[3];
        PGconn *pg;
        PGresult *res;
        rd_kafka_t *rk = NULL;
        sl_rec_buf_t buf = {0};
        int rc = 1, rows, failed = 0;

        for (int i = 2; i < argc; i++) {
                const char *v;
                if ((v = sl__ctl_opt_value(argc, argv, &i, "--since", &missing)))
                        since = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--until", &missing)))
                        until = v;
                else if (!missing && strcmp(argv[i], "--dry-run") == 0)
                        dry = true;
                else if (!missing && argv[i][0] != '-' && !name)
                        name = argv[i];
                else {
                        fprintf(stderr,
                                "sluicectl triggers replay-shed: %s '%s'\n"
                                "usage: sluicectl triggers replay-shed NAME [--since T] "
                                "[--until T] [--dry-run]\n",
                                missing ? "no value for" : "unexpected argument",
                                argv[i]);
                        return 2;
                }
        }
        if (!name) {
                fprintf(stderr, "sluicectl triggers replay-shed: needs a trigger NAME\n");
                return 2;
        }
        if ((since && time_arg(since, &since_ms)) ||
            (until && time_arg(until, &until_ms))) {
                fprintf(
                    stderr,
                    "sluicectl triggers replay-shed: --since/--until take an RFC 3339 "
                    "time or a duration ago (7d, 90m)\n");
                return 2;
        }
        snprintf(from, sizeof(from), "%" PRId64, since_ms);
        snprintf(to, sizeof(to), "%" PRId64, until_ms);
        params[0] = name;
        params[1] = from;
        params[2] = to;
        if (!(pg = sl__ctl_connect("triggers", conf)))
                return 1;
        res = PQexecParams(pg, SHED_SQL, 3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("triggers", pg, res, "reading the shed matches");
                goto out;
        }
        rows = PQntuples(res);
        if (dry || rows == 0) {
                printf("%d shed matches of %s%s\n", rows, name,
                       dry ? " would be replayed" : "");
                rc = 0;
                goto out;
        }
        rk = sl_kafka_producer_new(conf, on_delivery, &failed, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "sluicectl triggers replay-shed: %s\n", errstr);
                goto out;
        }
        sl_kafka_topic_name(conf, SL_TOPIC_TRIGGER_MATCHES, topic, sizeof(topic));
        snprintf(started, sizeof(started), "%" PRId64, sl_wall_ms());
        for (int r = 0; r < rows; r++) {
                sl_trigger_match_t m = {
                    .trigger_id = col(res, r, 0),
                    .trigger_name = col(res, r, 1),
                    .event_id = col(res, r, 2),
                    .event_type = col(res, r, 3),
                    .source = "",
                    .correlation_id = col(res, r, 4),
                    .traceparent = col(res, r, 5),
                    .workflow = col(res, r, 6),
                    .params = col(res, r, 7),
                    .occurred_at = 0,
                    .accepted_at = atoll(col(res, r, 8)),
                    .matched_at = atoll(col(res, r, 9)),
                };
                rd_kafka_resp_err_t err;
                if (sl_trigger_match_encode(&m, &buf) != SL_OK) {
                        fprintf(stderr, "sluicectl triggers replay-shed: encoding %s\n",
                                m.event_id);
                        goto out;
                }
                do {
                        err = rd_kafka_producev(
                            rk, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_KEY(m.trigger_id, strlen(m.trigger_id)),
                            RD_KAFKA_V_VALUE(buf.p, buf.len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADER(SL_TRIGGER_REPLAY_HDR, started,
                                              (ssize_t)strlen(started)),
                            RD_KAFKA_V_END);
                        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(rk, 100);
                } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
                if (err) {
                        fprintf(stderr, "sluicectl triggers replay-shed: %s\n",
                                rd_kafka_err2str(err));
                        goto out;
                }
        }
        if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            rd_kafka_outq_len(rk) > 0 || failed) {
                fprintf(stderr,
                        "sluicectl triggers replay-shed: %d matches were not "
                        "delivered (run it again: it is safe)\n",
                        failed ? failed : rd_kafka_outq_len(rk));
                goto out;
        }
        printf("%d shed matches of %s replayed\n", rows, name);
        rc = 0;
out:
        if (rk)
                rd_kafka_destroy(rk);
        sl_rec_buf_free(&buf);
        PQclear(res);
        PQfinish(pg);
        return rc;
}
