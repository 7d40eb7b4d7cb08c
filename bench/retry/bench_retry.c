/*
 * bench-retry: N held-back events across S sources through sluice-retry's 1 s tier.
 * Writes N retry rows (state 'scheduled', attempt 1) in one INSERT ... unnest, then
 * produces their wake-ups to <prefix>retry.1s as ingress would (due 1.0..1.2 s after
 * being produced), waits until events.in holds N more records, then reads them.
 * Prints retries processed per second (N over the time from the first due to the last
 * re-injection) and p50/p99 lateness (re-injection timestamp, set by sluice-retry's
 * producer, minus the wake-up's due_at).  sluice-retry must be running
 * (bench/retry/run.sh starts everything).  The rows' next_attempt_at is only roughly
 * the wake-ups' due_at (written before them), so sluice-retry's own lateness metric
 * is not the figure here.
 *
 *   bench-retry [N [SOURCES [RATE]]]     defaults 100000, 1000, 0
 *
 * RATE 0 produces the wake-ups as fast as possible (a burst: all N fall due within a
 * few hundred ms); RATE > 0 paces them at RATE per second, as a flood held back by
 * ingress at that rate would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "pg/pgarray.h"
#include "retry/retry_record.h"
#include "retry/state.h"
#include "sluice/err.h"
#include "util/uuid.h"

extern char **environ;

typedef struct {
        char id[37];
        int64_t due;
        int64_t back;
} ev_t;

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int by_id(const void *a, const void *b)
{
        return strcmp(((const ev_t *)a)->id, ((const ev_t *)b)->id);
}

static int cmp64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int n = -1;

        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

/* Records on topic so far: the sum of its partitions' high watermarks. */
static long injected(rd_kafka_t *rk, const char *topic, int nparts)
{
        long sum = 0;
        for (int p = 0; p < nparts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
                        return -1;
                sum += (long)hi;
        }
        return sum;
}

/* The 'due' marks sluice-retry writes behind the re-injections (no ingress runs here to
 * decide the rows first): wait until all n rows are 'due', print how long after the
 * last re-injection that was, and how many copies events.in received. */
static void marks_report(PGconn *pg, long n, int64_t last_back, long copies)
{
        long due = 0;
        int64_t deadline = wall_ms() + 30000;

        for (;;) {
                PGresult *res = PQexec(pg, "SELECT count(*) FROM event_ingress_retries "
                                           "WHERE state = 'due'");
                due = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0))
                                                             : -1;
                PQclear(res);
                if (due >= n || due < 0 || wall_ms() > deadline)
                        break;
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
        }
        printf(
            "'due' marks: %ld of %ld rows, %.2f s after the last re-injection; events.in "
            "got %ld copies\n",
            due, n, (double)(wall_ms() - last_back) / 1e3, copies);
}

/* Run sql ($1 ids, $2 attempts of rows [0, n) of ev) on nc connections at once, each
 * taking every nc-th chunk of the rows.  Rows/s, or -1. */
static double run_chunks(PGconn **c, int nc, const char *sql, ExecStatusType ok,
                         const ev_t *ev, long n, long chunk)
{
        sl_pgarr_t ids[2] = {{0}}, att[2] = {{0}};
        long next[2] = {0, 1}; /* connection k's next chunk */
        int64_t t0 = wall_ms();
        bool failed = false;
        PGresult *res;

        for (;;) {
                bool sent[2] = {false, false}, any = false;
                for (int k = 0; k < nc; k++) {
                        long from = next[k] * chunk,
                             to = from + chunk < n ? from + chunk : n;
                        if (from >= n)
                                continue;
                        sl_pgarr_begin(&ids[k]);
                        sl_pgarr_begin(&att[k]);
                        for (long i = from; i < to; i++) {
                                sl_pgarr_text(&ids[k], ev[i].id);
                                sl_pgarr_num(&att[k], 1);
                        }
                        const char *p[2] = {sl_pgarr_end(&ids[k]), sl_pgarr_end(&att[k])};
                        sent[k] =
                            PQsendQueryParams(c[k], sql, 2, NULL, p, NULL, NULL, 0) == 1;
                        next[k] += nc;
                        any = true;
                }
                if (!any)
                        break;
                for (int k = 0; k < nc; k++)
                        while (sent[k] && (res = PQgetResult(c[k])) != NULL) {
                                if (PQresultStatus(res) != ok) {
                                        fprintf(stderr, "bench-retry: baseline: %s",
                                                PQresultErrorMessage(res));
                                        failed = true;
                                }
                                PQclear(res);
                        }
        }
        for (int k = 0; k < 2; k++) {
                sl_pgarr_free(&ids[k]);
                sl_pgarr_free(&att[k]);
        }
        return failed ? -1 : (double)n / ((double)(wall_ms() - t0) / 1e3);
}

/*
 * The baseline, measured in the same run: sluice-retry's own Postgres statements alone,
 * on a copy of the table (same columns, indexes and fillfactor) holding the same n
 * rows, committing as the stage does (synchronous_commit off), with the stage's default
 * settings.  *guard: the wake-up guard, the one statement on the re-injection path, in
 * batches of 2,000 over two connections at once (the floor of what the stage can do on
 * this machine, without Kafka).  *mark: then the 'due' mark of all n rows, written
 * behind the re-injections on one connection, in batches of 20,000.  Rows/s, or -1.
 */
static void baseline(const sl_conf_t *conf, const ev_t *ev, long n, double *guard,
                     double *mark)
{
        static const char guard_sql[] = SL_RETRY_GUARD_SQL("bench_retry_baseline");
        static const char mark_sql[] = SL_RETRY_MARK_DUE_SQL("bench_retry_baseline");
        char errstr[512];
        PGconn *c[2] = {sl_pg_connect(conf, errstr, sizeof(errstr)),
                        sl_pg_connect(conf, errstr, sizeof(errstr))};
        PGresult *res;

        *guard = *mark = -1;
        if (!c[0] || !c[1])
                goto out;
        res = PQexec(c[0],
                     "DROP TABLE IF EXISTS bench_retry_baseline;"
                     "CREATE TABLE bench_retry_baseline (LIKE event_ingress_retries "
                     "INCLUDING ALL) WITH (fillfactor = 70);"
                     "INSERT INTO bench_retry_baseline (event_id, source, occurred_at, "
                     "attempt, next_attempt_at, reason, state, envelope) "
                     "SELECT event_id, source, occurred_at, 1, next_attempt_at, reason, "
                     "'scheduled', envelope FROM event_ingress_retries");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "bench-retry: baseline table: %s",
                        PQresultErrorMessage(res));
                PQclear(res);
                goto out;
        }
        PQclear(res);
        for (int k = 0; k < 2;
             k++) /* as sluice-retry's sessions (retry.pg.async.commit) */
                PQclear(PQexec(c[k], "SET synchronous_commit = off"));
        *guard = run_chunks(c, 2, guard_sql, PGRES_TUPLES_OK, ev, n, 2000);
        *mark = run_chunks(c, 1, mark_sql, PGRES_COMMAND_OK, ev, n, 20000);
        PQclear(PQexec(c[0], "DROP TABLE bench_retry_baseline"));
out:
        PQfinish(c[0]);
        PQfinish(c[1]);
}

int main(int argc, char **argv)
{
        long n = argc > 1 ? atol(argv[1]) : 100000,
             sources = argc > 2 ? atol(argv[2]) : 1000;
        long rate = argc > 3 ? atol(argv[3]) : 0;
        int64_t start;
        char errstr[512], names[16][256], topic_in[256];
        int64_t delays[16], first_due = INT64_MAX, last_due = 0, last_back = 0;
        sl_conf_t *conf = sl_conf_new();
        ev_t *ev = calloc((size_t)n, sizeof(*ev));
        sl_pgarr_t ids = {0}, srcs = {0};
        size_t got = 0;
        int nparts;
        long base;
        PGconn *pg;
        PGresult *res;
        rd_kafka_t *prod, *cons;

        if (n < 1 || sources < 1 || rate < 0 || !ev)
                return 2;
        if (sl_conf_load_env(conf, environ, errstr, sizeof(errstr)) != SL_OK ||
            !(pg = sl_pg_connect(conf, errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench-retry: %s\n", errstr);
                return 1;
        }
        sl_kafka_retry_topics(conf, names, delays, 16);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, topic_in, sizeof(topic_in));

        sl_pgarr_begin(&ids);
        sl_pgarr_begin(&srcs);
        for (long i = 0; i < n; i++) {
                char src[32];
                sl_uuid_random(ev[i].id);
                snprintf(src, sizeof(src), "src-%ld", i % sources);
                sl_pgarr_text(&ids, ev[i].id);
                sl_pgarr_text(&srcs, src);
        }
        {
                const char *p[2] = {sl_pgarr_end(&ids), sl_pgarr_end(&srcs)};
                res = PQexecParams(
                    pg,
                    "INSERT INTO event_ingress_retries (event_id, source, "
                    "occurred_at, attempt, next_attempt_at, reason, state, "
                    "envelope) SELECT i, s, now(), 1, now() + interval '1 s', "
                    "'throttled', 'scheduled', convert_to(i::text, 'UTF8') "
                    "FROM unnest($1::uuid[], $2::text[]) AS u(i, s)",
                    2, NULL, p, NULL, NULL, 0);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                        fprintf(stderr, "bench-retry: insert: %s",
                                PQresultErrorMessage(res));
                        return 1;
                }
                PQclear(res);
                sl_pgarr_free(&ids);
                sl_pgarr_free(&srcs);
        }
        prod = sl_kafka_producer_new(conf, NULL, NULL, errstr, sizeof(errstr));
        cons = sl_kafka_consumer_new(conf, "bench-retry-reader", NULL, NULL, errstr,
                                     sizeof(errstr));
        if (!prod || !cons) {
                fprintf(stderr, "bench-retry: %s\n", errstr);
                return 1;
        }
        if ((nparts = partitions_of(prod, topic_in)) < 1) {
                fprintf(stderr, "bench-retry: no partitions for %s\n", topic_in);
                return 1;
        }
        base = injected(prod, topic_in, nparts);
        start = wall_ms();
        for (long i = 0; i < n; i++) {
                char src[32];
                void *buf;
                size_t len;
                /* Paced: wake-ups produced (held back, as ingress would) at rate/s. */
                while (rate > 0 && wall_ms() < start + (int64_t)(i * 1000 / rate))
                        rd_kafka_poll(prod, 1);
                snprintf(src, sizeof(src), "src-%ld", i % sources);
                ev[i].due = wall_ms() + 1000 + (i * 7919) % 200;
                if (ev[i].due < first_due)
                        first_due = ev[i].due;
                sl_retry_record_t rr = {.event_id = ev[i].id,
                                        .source = src,
                                        .attempt = 1,
                                        .due_at = ev[i].due,
                                        .reason = "throttled",
                                        .envelope = ev[i].id,
                                        .envelope_len = 36};
                sl_retry_record_encode(&rr, &buf, &len);
                while (rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(names[0]),
                                         RD_KAFKA_V_KEY(src, strlen(src)),
                                         RD_KAFKA_V_VALUE(buf, len),
                                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(prod, 5);
                free(buf);
        }
        rd_kafka_flush(prod, 60000);
        for (long i = 0; i < n; i++)
                if (ev[i].due > last_due)
                        last_due = ev[i].due;
        qsort(ev, (size_t)n, sizeof(*ev), by_id);
        /* Wait for the re-injections by events.in's end offsets only, and read them
         * afterwards: their timestamps are set when sluice-retry produced them, so the
         * reading need not compete with sluice-retry for the CPU while it works. */
        for (int64_t deadline = wall_ms() + 120000;
             injected(prod, topic_in, nparts) - base < n && wall_ms() < deadline;)
                nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        {
                rd_kafka_topic_partition_list_t *t =
                    rd_kafka_topic_partition_list_new(nparts);
                for (int p = 0; p < nparts; p++)
                        rd_kafka_topic_partition_list_add(t, topic_in, p)->offset =
                            RD_KAFKA_OFFSET_BEGINNING;
                rd_kafka_assign(cons, t);
                rd_kafka_topic_partition_list_destroy(t);
        }
        for (int64_t deadline = wall_ms() + 60000;
             got < (size_t)n && wall_ms() < deadline;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 200);
                ev_t key, *e;
                if (!m)
                        continue;
                if (!m->err && m->len == 36) {
                        memcpy(key.id, m->payload, 36);
                        key.id[36] = '\0';
                        e = bsearch(&key, ev, (size_t)n, sizeof(*ev), by_id);
                        if (e && !e->back) {
                                e->back = rd_kafka_message_timestamp(m, NULL);
                                if (e->back > last_back)
                                        last_back = e->back;
                                got++;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        {
                int64_t *late = malloc(got * sizeof(*late));
                size_t k = 0;
                for (long i = 0; i < n; i++)
                        if (ev[i].back)
                                late[k++] = ev[i].back - ev[i].due;
                qsort(late, k, sizeof(*late), cmp64);
                printf("retries: %zu of %ld re-injected (%ld sources); their due times "
                       "span %.2f s\n",
                       got, n, sources, (double)(last_due - first_due) / 1e3);
                if (k) {
                        double secs = (double)(last_back - first_due) / 1e3;
                        printf(
                            "throughput: %.0f retries/s (first due to last re-injection "
                            "%.2f s)\n",
                            secs > 0 ? (double)k / secs : 0.0, secs);
                        printf("lateness 1s tier: p50 %lld ms, p99 %lld ms, max %lld ms "
                               "(target p99 < 1000 ms)\n",
                               (long long)late[k / 2],
                               (long long)late[(size_t)(k * 0.99)],
                               (long long)late[k - 1]);
                        marks_report(pg, n, last_back,
                                     injected(prod, topic_in, nparts) - base);
                        double guard, mark;
                        baseline(conf, ev, n, &guard, &mark);
                        if (guard > 0)
                                printf(
                                    "baseline: the wake-up guard alone, 2 connections: "
                                    "%.0f rows/s (sluice-retry: %.2fx of it); the 'due' "
                                    "mark alone, 1 connection: %.0f rows/s\n",
                                    guard, secs > 0 ? (double)k / secs / guard : 0.0,
                                    mark);
                }
                free(late);
        }
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        rd_kafka_destroy(prod);
        PQfinish(pg);
        return got == (size_t)n ? 0 : 1;
}
