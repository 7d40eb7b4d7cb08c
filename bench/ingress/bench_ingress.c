/*
 * bench/ingress: events/s from sluice.events.in into Postgres through sluice-ingress,
 * next to baselines measured in the same run on the same data:
 *   - raw consumption of the topic (a librdkafka consumer reading to nowhere);
 *   - raw COPY of the same rows into the same table on an idle machine (text rows
 *     rendered beforehand, one COPY per connection, over 1 and ingress.pg.connections
 *     connections);
 *   - the simple pipeline (simple.c): consume, decode, binary COPY in ingress's batch
 *     size over the same connections, produce each record, commit; the like-for-like
 *     comparator, sharing the machine with the same broker as ingress does.
 * For each, the CPU per row of Postgres (all its processes), of the pipeline or stage
 * itself and of the broker, from /proc at the run's two ends.  Ingress's progress is
 * read from its own /metrics (its committed-events counter), never from Postgres: a
 * count(*) is a parallel scan that takes CPU from the backends being measured.  Its
 * rate is also computed afterwards from the rows' received_at alone, and a second run
 * probed ten times less often shows what the probe costs.  Ingress runs without
 * admission and with per-source rate limits for every source (limits high enough that
 * every event is admitted, so the runs write the same rows).  Peak RSS, and the RSS
 * while the first and the last quarter of the rows went in (flat, or growing).  One run
 * more has the rollup job beside it (what sluice-admin does every rollup.interval.ms,
 * here every second with rollup.lag.ms 0, on its own connection), against the mean of
 * the two plain runs: the cost of rollups to ingress (issue 15).  Last,
 * the time to restore one partition's admission state with 100,000 sources in its
 * changelog.  With --exactly-once, both ingress runs are made again with
 * exactly_once=true, then once more in the default mode, and the exactly_once figures
 * are printed against the mean of the default runs around them.
 * With BENCH_INGRESS_ONLY=N in the environment, only N plain ingress runs and one
 * with limits are made after the preload (quick_runs), for trying settings.
 * bench/ingress/run.sh starts the broker and a private Postgres and runs this; it is
 * not a test (no timing is asserted).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_ingress.h"
#include "config/config.h"
#include "envelope/envelope.h"
#include "history/rollup.h"
#include "kafka/kafka.h"
#include "limits/admission_codec.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "state/store.h"
#include "util/uuid.h"

extern char **environ;

/* The Postgres cluster's postmaster and the broker, from run.sh (BENCH_PG_PID,
 * BENCH_BROKER_PID): whose CPU each measured run accounts. */
static bench_cpu_t bench_cpus;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct ev_s {
        char id[37];
        char source[32];
        char payload[256];
        int64_t occurred_at;
} ev_t;

static const char usage[] =
    "usage: bench-ingress [--exactly-once] [-X key=value]... [N_EVENTS [SOURCES "
    "[INGRESS_BIN]]]\n"
    "Preloads N_EVENTS (default 300000) over SOURCES sources (default 10000) into\n"
    "events.in, measures raw consume, raw COPY and sluice-ingress (also with\n"
    "exactly_once=true when --exactly-once is given).\n";

static void die(const char *what, const char *why)
{
        fprintf(stderr, "bench-ingress: %s: %s\n", what, why);
        exit(1);
}

static void gen_events(ev_t *evs, size_t n, int sources)
{
        int64_t now = wall_ms();
        for (size_t i = 0; i < n; i++) {
                sl_uuid_random(evs[i].id);
                snprintf(evs[i].source, sizeof(evs[i].source), "svc-%04d",
                         (int)(i % (size_t)sources));
                snprintf(
                    evs[i].payload, sizeof(evs[i].payload),
                    "{\"order_id\":\"ord-%08zu\",\"amount\":%zu,\"currency\":\"EUR\","
                    "\"customer\":{\"id\":\"cus-%06zu\",\"tier\":\"gold\"},"
                    "\"items\":[{\"sku\":\"sku-%04zu\",\"qty\":%zu}],\"note\":\"bench\"}",
                    i, 100 + i % 9000, i % 50000, i % 1000, 1 + i % 5);
                evs[i].occurred_at = now - (int64_t)(n - i) % 60000;
        }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        if (m->err)
                (*(size_t *)opaque)++;
}

static void preload(const sl_conf_t *conf, const ev_t *evs, size_t n)
{
        char errstr[512], topic[256];
        size_t failed = 0;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        rd_kafka_t *rk;

        if (!codec)
                die("codec", errstr);
        rk = sl_kafka_producer_new(conf, dr_cb, &failed, errstr, sizeof(errstr));
        if (!rk)
                die("producer", errstr);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        for (size_t i = 0; i < n; i++) {
                sl_envelope_t env;
                void *buf;
                size_t len;
                memset(&env, 0, sizeof(env));
                memcpy(env.id, evs[i].id, sizeof(env.id));
                env.type = "order.created";
                env.source = evs[i].source;
                env.occurred_at = evs[i].occurred_at;
                env.payload = evs[i].payload;
                env.payload_len = strlen(evs[i].payload);
                if (sl_envelope_encode(codec, &env, &buf, &len) != SL_OK)
                        die("encode", "failed");
                for (;;) {
                        rd_kafka_resp_err_t err = rd_kafka_producev(
                            rk, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_KEY(env.source, strlen(env.source)),
                            RD_KAFKA_V_VALUE(buf, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
                        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                rd_kafka_poll(rk, 10);
                                continue;
                        }
                        if (err)
                                die("produce", rd_kafka_err2str(err));
                        break;
                }
        }
        while (rd_kafka_outq_len(rk) > 0)
                rd_kafka_flush(rk, 1000);
        if (failed)
                die("preload", "some records were not delivered");
        rd_kafka_destroy(rk);
        sl_codec_destroy(codec);
}

/* Baseline 1: read every record of events.in and drop it. */
static double raw_consume(const sl_conf_t *conf, size_t n)
{
        char errstr[512], topic[256], group[64];
        rd_kafka_message_t *msgs[10000];
        size_t got = 0;
        double t0 = 0;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);

        snprintf(group, sizeof(group), "bench-raw-%d", (int)getpid());
        rk = sl_kafka_consumer_new(conf, group, NULL, NULL, errstr, sizeof(errstr));
        if (!rk)
                die("consumer", errstr);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rk, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        q = rd_kafka_queue_get_consumer(rk);
        double idle_since = now_s();
        while (got < n) {
                ssize_t r = rd_kafka_consume_batch_queue(q, 1000, msgs, 10000);
                if (r > 0)
                        idle_since = now_s();
                else if (now_s() - idle_since > 15)
                        die("raw consume",
                            "the topic holds fewer records than were "
                            "produced (the mock keeps ~5 MiB a partition)");
                for (ssize_t i = 0; i < r; i++) {
                        if (!msgs[i]->err) {
                                if (!got)
                                        t0 = now_s();
                                got++;
                        }
                        rd_kafka_message_destroy(msgs[i]);
                }
        }
        double rate = (double)(got - 1) / (now_s() - t0);
        rd_kafka_queue_destroy(q);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return rate;
}

static PGconn *connect_or_die(const sl_conf_t *conf)
{
        char errstr[512];
        PGconn *pg = sl_pg_connect(conf, errstr, sizeof(errstr));
        if (!pg)
                die("postgres", errstr);
        return pg;
}

static void exec_or_die(PGconn *pg, const char *sql)
{
        PGresult *res = PQexec(pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK &&
            PQresultStatus(res) != PGRES_TUPLES_OK)
                die(sql, PQresultErrorMessage(res));
        PQclear(res);
}

static long long count_rows(PGconn *pg)
{
        PGresult *res = PQexecParams(pg, "SELECT count(*) FROM workflow_events", 0, NULL,
                                     NULL, NULL, NULL, 0);
        long long c = -1;
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
                c = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        return c;
}

typedef struct copy_job_s {
        const sl_conf_t *conf;
        const char *buf;
        size_t len;
        const char *err;
} copy_job_t;

static void *copy_thread(void *arg)
{
        copy_job_t *job = arg;
        char errstr[512];
        PGconn *pg = sl_pg_connect(job->conf, errstr, sizeof(errstr));
        PGresult *res;

        if (!pg) {
                job->err = "connect";
                return NULL;
        }
        res =
            PQexec(pg, "COPY workflow_events (id, type, source, occurred_at, payload, "
                       "correlation_id, ttl_ms, metadata, kafka_partition, kafka_offset) "
                       "FROM STDIN");
        if (PQresultStatus(res) != PGRES_COPY_IN)
                job->err = "COPY";
        PQclear(res);
        for (size_t off = 0; !job->err && off < job->len; off += 65536) {
                size_t chunk = job->len - off < 65536 ? job->len - off : 65536;
                if (PQputCopyData(pg, job->buf + off, (int)chunk) != 1)
                        job->err = "COPY data";
        }
        PQputCopyEnd(pg, NULL);
        while ((res = PQgetResult(pg))) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK)
                        job->err = "COPY result";
                PQclear(res);
        }
        PQfinish(pg);
        return NULL;
}

/* Baseline 2: COPY the same rows (text format) into the same table over nconn
 * connections at once, each with an equal share. */
static double raw_copy(const sl_conf_t *conf, const ev_t *evs, size_t n, int nconn,
                       bench_cpu_t *cpu)
{
        PGconn *pg = connect_or_die(conf);
        size_t cap = n * 400 + 1024, len = 0;
        char *buf = malloc(cap);
        copy_job_t jobs[8];
        pthread_t thr[8];
        double t0, t1;

        for (size_t i = 0; i < n; i++) {
                time_t secs = (time_t)(evs[i].occurred_at / 1000);
                struct tm tm;
                gmtime_r(&secs, &tm);
                len += (size_t)snprintf(buf + len, cap - len,
                                        "%s\torder.created\t%s\t%04d-%02d-%02d "
                                        "%02d:%02d:%02d.%03d+00\t%s\t\\N\t"
                                        "\\N\t{}\t%zu\t%zu\n",
                                        evs[i].id, evs[i].source, tm.tm_year + 1900,
                                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                        tm.tm_sec, (int)(evs[i].occurred_at % 1000),
                                        evs[i].payload, i % 32, i);
        }
        exec_or_die(pg, "TRUNCATE workflow_events");
        exec_or_die(pg, "CHECKPOINT");
        /* Split at line ends into nconn shares. */
        size_t start = 0;
        for (int k = 0; k < nconn; k++) {
                size_t end = k == nconn - 1 ? len : len * (size_t)(k + 1) / (size_t)nconn;
                while (end < len && buf[end - 1] != '\n')
                        end++;
                jobs[k] =
                    (copy_job_t){.conf = conf, .buf = buf + start, .len = end - start};
                start = end;
        }
        *cpu = bench_cpus;
        bench_cpu_begin(cpu);
        t0 = now_s();
        for (int k = 0; k < nconn; k++)
                pthread_create(&thr[k], NULL, copy_thread, &jobs[k]);
        for (int k = 0; k < nconn; k++) {
                pthread_join(thr[k], NULL);
                if (jobs[k].err)
                        die("raw COPY", jobs[k].err);
        }
        t1 = now_s();
        bench_cpu_end(cpu);
        if (count_rows(pg) != (long long)n)
                die("raw COPY", "row count differs");
        exec_or_die(pg, "TRUNCATE workflow_events");
        exec_or_die(pg, "VACUUM ANALYZE workflow_events");
        exec_or_die(pg, "CHECKPOINT");
        PQfinish(pg);
        free(buf);
        return (double)n / (t1 - t0);
}

static long status_kib(pid_t pid, const char *field)
{
        char path[64], line[256], fmt[32];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        snprintf(fmt, sizeof(fmt), "%s: %%ld kB", field);
        FILE *fp = fopen(path, "r");
        if (!fp)
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (sscanf(line, fmt, &kib) == 1)
                        break;
        fclose(fp);
        return kib;
}

/* A free TCP port on 127.0.0.1 (for the stage's HTTP server). */
static int free_port(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        if (fd >= 0)
                close(fd);
        if (port <= 0)
                die("free port", "none");
        return port;
}

/* The progress probe: ingress's own counter of events committed to Postgres
 * (sluice_ingress_events_total{outcome="accepted"}, added after each batch's COPY has
 * committed), read from its /metrics.  One small HTTP request to the stage; nothing
 * touches Postgres or the broker.  -1 while the stage does not answer. */
static long long accepted_of(int port)
{
        static char buf[1 << 20];
        static const char key[] = "sluice_ingress_events_total{outcome=\"accepted\"} ";
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        size_t len = 0;
        ssize_t r;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        long long v = -1;

        if (fd < 0)
                return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
                close(fd);
                return -1;
        }
        while (len < sizeof(buf) - 1 &&
               (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t)r;
        close(fd);
        buf[len] = '\0';
        const char *p = strstr(buf, key);
        if (p)
                v = atoll(p + sizeof(key) - 1);
        return v;
}

/* What one ingress run measured. */
typedef struct run_s {
        double rate;      /* events/s by the probe: first batch committed to the last */
        double rate_rows; /* the same from the rows' own received_at (no probe at all) */
        long rss_kib;     /* peak RSS (VmHWM) */
        long rss_q1_kib, rss_q4_kib; /* highest RSS while the first / last quarter of
                                      * the rows went in */
        bench_cpu_t cpu;
} run_t;

/* The rate the rows' received_at (now() of each batch's COPY transaction) gives: the
 * rows of every batch but the last over the span from the first batch's start to the
 * last's.  Read once after the run. */
static double rate_of_rows(PGconn *pg)
{
        PGresult *res = PQexecParams(
            pg,
            "WITH s AS (SELECT min(received_at) lo, max(received_at) hi FROM "
            "workflow_events) SELECT (SELECT count(*) FROM workflow_events, s WHERE "
            "received_at < s.hi) / nullif(extract(epoch FROM s.hi - s.lo), 0) FROM s",
            0, NULL, NULL, NULL, NULL, 0);
        double r = 0;
        if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
                r = atof(PQgetvalue(res, 0, 0));
        PQclear(res);
        return r;
}

/* The rollup job beside an ingress run: what sluice-admin's rollup thread does
 * (processors/admin/rollups.c), on its own connection: advance the event and the
 * delivery rollups (sl_rollup_advance, lag_ms behind the present), then wait
 * interval_ms.  Ingress sets every row's decided_at, so each advance recomputes the
 * minute buckets of the rows committed since the one before, from all of their raw
 * rows.  The counts are the events rollup's, for the report. */
typedef struct rollup_job_s {
        const sl_conf_t *conf;
        int interval_ms;
        int64_t lag_ms;
        pthread_t thr;
        atomic_bool stop;
        long runs, runs_with_work;
        long long buckets, hours;
        double busy_s; /* time spent inside the advances */
} rollup_job_t;

static void *rollup_job_main(void *arg)
{
        rollup_job_t *job = arg;
        PGconn *pg = connect_or_die(job->conf);
        int minute_days =
            (int)sl_conf_get_int(job->conf, "retention.rollups.minute.days");
        char errstr[512];

        while (!atomic_load(&job->stop)) {
                double t0 = now_s();
                for (int k = 0; k < SL_ROLLUP__CNT; k++) {
                        sl_rollup_result_t res;
                        if (sl_rollup_advance(
                                pg, (sl_rollup_kind_t)k, job->lag_ms,
                                sl_conf_get_int(job->conf, "rollup.settle.ms"),
                                minute_days, &res, errstr, sizeof(errstr)) != SL_OK)
                                die("rollup job", errstr);
                        if (k != SL_ROLLUP_EVENTS || res.busy)
                                continue;
                        job->runs++;
                        job->runs_with_work += res.buckets > 0;
                        job->buckets += res.buckets;
                        job->hours += res.hours;
                }
                job->busy_s += now_s() - t0;
                for (int waited = 0;
                     waited < job->interval_ms && !atomic_load(&job->stop); waited += 10)
                        usleep(10000);
        }
        PQfinish(pg);
        return NULL;
}

/* The real thing: sluice-ingress as its own process, timed by its own counter from
 * its first committed batch to its last, probed every probe_ms; with job, the rollup
 * job runs beside it from its start to its last batch. */
static run_t run_ingress_beside(const sl_conf_t *conf, const char *bin, char **xargs,
                                int nx, const char *const *extra, size_t n, int probe_ms,
                                rollup_job_t *job)
{
        PGconn *pg = connect_or_die(conf);
        char group[64], http[32];
        char *argv[64];
        int argc = 0, port = free_port();
        long long c0 = 0, c = 0;
        double t0 = 0, t1;
        pid_t pid;
        run_t run = {.cpu = bench_cpus};

        static int nrun;
        snprintf(group, sizeof(group), "ingress.group.id=bench-ingress-%d-%d",
                 (int)getpid(), ++nrun);
        snprintf(http, sizeof(http), "http.port=%d", port);
        argv[argc++] = (char *)bin;
        for (int i = 0; i < nx && argc < 58; i++) {
                argv[argc++] = "-X";
                argv[argc++] = xargs[i];
        }
        argv[argc++] = "-X";
        argv[argc++] = group;
        argv[argc++] = "-X";
        argv[argc++] = http;
        for (size_t i = 0; extra && extra[i] && argc < 62; i++) {
                argv[argc++] = "-X";
                argv[argc++] = (char *)extra[i];
        }
        argv[argc] = NULL;
        pid = fork();
        if (pid == 0) {
                execv(bin, argv);
                _exit(127);
        }
        run.cpu.stage_pid = pid;
        bench_cpu_begin(&run.cpu);
        if (job && pthread_create(&job->thr, NULL, rollup_job_main, job) != 0)
                die("rollup job", "cannot start its thread");
        for (;;) {
                int st;
                long rss;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        die("sluice-ingress", "exited early (see its log above)");
                c = accepted_of(port);
                if (c > 0 && t0 == 0) {
                        t0 = now_s();
                        c0 = c;
                }
                rss = status_kib(pid, "VmRSS");
                if (c >= 0 && c <= (long long)n / 4 && rss > run.rss_q1_kib)
                        run.rss_q1_kib = rss;
                if (c >= (long long)n * 3 / 4 && rss > run.rss_q4_kib)
                        run.rss_q4_kib = rss;
                if (c >= (long long)n)
                        break;
                usleep((useconds_t)probe_ms * 1000);
        }
        t1 = now_s();
        if (job) {
                atomic_store(&job->stop, true);
                pthread_join(job->thr, NULL);
        }
        bench_cpu_end(&run.cpu);
        run.rss_kib = status_kib(pid, "VmHWM");
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        if (count_rows(pg) != (long long)n)
                die("ingress", "row count in Postgres differs");
        run.rate = (double)(c - c0) / (t1 - t0);
        run.rate_rows = rate_of_rows(pg);
        exec_or_die(pg,
                    "TRUNCATE workflow_events, event_ingress_retries, scheduler_state");
        exec_or_die(pg, "CHECKPOINT");
        PQfinish(pg);
        return run;
}

static run_t run_ingress(const sl_conf_t *conf, const char *bin, char **xargs, int nx,
                         const char *const *extra, size_t n, int probe_ms)
{
        return run_ingress_beside(conf, bin, xargs, nx, extra, n, probe_ms, NULL);
}

/* Restore time of one partition whose changelog holds `sources` source states. */
static double restore_time(const sl_conf_t *conf, int sources, size_t *records)
{
        char errstr[512], changelog[256], key[64];
        size_t n = 0;
        sl_store_t *st;
        rd_kafka_t *rk;
        double t0;

        sl_kafka_topic_name(conf, SL_TOPIC_ADMISSION_CHANGELOG, changelog,
                            sizeof(changelog));
        rk = sl_kafka_producer_new(conf, NULL, NULL, errstr, sizeof(errstr));
        if (!rk)
                die("producer", errstr);
        st = sl_store_new(conf, "bench", changelog);
        for (int i = 0; i < sources; i++) {
                sl_source_state_t s = {.window_start = 1795000000000LL,
                                       .count = i % 100,
                                       .throttled = i % 7,
                                       .updated_at = 1795000000000LL + i};
                unsigned char buf[SL_ADMISSION_STATE_MAX];
                snprintf(key, sizeof(key), "s:restore-bench-%06d", i);
                sl_store_put(st, 0, key, buf, sl_admission_state_encode(&s, buf));
        }
        if (sl_store_flush(st, 0, rk, NULL, &n) != SL_OK)
                die("changelog", "flush failed");
        while (rd_kafka_outq_len(rk) > 0)
                rd_kafka_flush(rk, 1000);
        rd_kafka_destroy(rk);
        sl_store_destroy(st);

        st = sl_store_new(conf, "bench", changelog);
        t0 = now_s();
        if (sl_store_restore(st, 0, 60000, records, errstr, sizeof(errstr)) != SL_OK)
                die("restore", errstr);
        double secs = now_s() - t0;
        if (sl_store_count(st, 0) < (size_t)sources)
                die("restore", "fewer sources restored than written");
        sl_store_destroy(st);
        return secs;
}

/* The simple pipeline over every record, then its rows checked and cleared. */
static double run_simple(const sl_conf_t *conf, size_t n, int nconn, int batch,
                         int batch_ms, bench_cpu_t *cpu)
{
        *cpu = bench_cpus;
        double rate = bench_simple_pipeline(conf, n, nconn, batch, batch_ms, cpu);
        PGconn *pg = connect_or_die(conf);
        if (count_rows(pg) != (long long)n)
                die("simple pipeline", "row count differs");
        exec_or_die(pg, "TRUNCATE workflow_events");
        exec_or_die(pg, "CHECKPOINT");
        PQfinish(pg);
        return rate;
}

/* Ingress without admission, and with per-source limits for every source, high enough
 * that every event is admitted (so the runs write the same rows). */
static const char *const no_limits[] = {"admission.enabled=false", NULL};
static const char *const limits[] = {"admission.enabled=true",
                                     "admission.default.limit=1000000",
                                     "admission.default.window.ms=1000", NULL};

#define PER_ROW(c, rows)                                                                 \
        (c).pg * 1e6 / (double)(rows), (c).stage * 1e6 / (double)(rows),                 \
            (c).broker * 1e6 / (double)(rows)

/* runs plain ingress runs, then one with limits (a second would restore the first's
 * changelog: see main), each printed with its CPU a row and RSS. */
static int quick_runs(const sl_conf_t *conf, const char *bin, char **xargs, int nx,
                      size_t n, int runs)
{
        double sum = 0;

        for (int k = 0; k <= runs; k++) {
                run_t r = run_ingress(conf, bin, xargs, nx, k < runs ? no_limits : limits,
                                      n, 100);
                printf(
                    "  sluice-ingress%s: %6.0f events/s  CPU/row: Postgres %5.1f, self "
                    "%5.1f, broker %5.1f; peak RSS %.1f MiB (first quarter %.1f, last "
                    "%.1f)\n",
                    k < runs ? "" : ", limits on", r.rate, PER_ROW(r.cpu, n),
                    r.rss_kib / 1024.0, r.rss_q1_kib / 1024.0, r.rss_q4_kib / 1024.0);
                if (k < runs)
                        sum += r.rate;
                else if (runs > 0)
                        printf("  limits on / off: %.2fx\n", r.rate * runs / sum);
                fflush(stdout);
        }
        return 0;
}

int main(int argc, char **argv)
{
        char errstr[512];
        int argi = 0;
        sl_conf_t *conf = sl_conf_new();
        char *xargs[32];
        int nx = 0;

        bool eos = false;

        sl_log_init("bench", "warn");
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--exactly-once") == 0) {
                        eos = true;
                        memmove(argv + i, argv + i + 1,
                                (size_t)(argc - i) * sizeof(*argv));
                        argc--;
                        break;
                }
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "-X") == 0 && nx < 32)
                        xargs[nx++] = argv[i + 1];
        int rc =
            sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc != 0)
                die("config", errstr);
        size_t n = argi < argc ? strtoul(argv[argi], NULL, 10) : 300000;
        int sources = argi + 1 < argc ? atoi(argv[argi + 1]) : 10000;
        const char *bin = argi + 2 < argc ? argv[argi + 2] : "build/sluice-ingress";
        ev_t *evs = calloc(n, sizeof(*evs));
        int batch = (int)sl_conf_get_int(conf, "ingress.batch.size");
        int batch_ms = (int)sl_conf_get_int(conf, "ingress.batch.ms");
        int nconn = (int)sl_conf_get_int(conf, "ingress.pg.connections");
        bench_cpu_t cpu;

        bench_cpus.postmaster_pid =
            (pid_t)atoi(getenv("BENCH_PG_PID") ? getenv("BENCH_PG_PID") : "0");
        bench_cpus.broker_pid =
            (pid_t)atoi(getenv("BENCH_BROKER_PID") ? getenv("BENCH_BROKER_PID") : "0");
        gen_events(evs, n, sources);
        printf(
            "bench/ingress: %zu events, %d sources, %d partitions, ~%zu-byte payloads\n",
            n, sources, (int)sl_conf_get_int(conf, "topic.partitions"),
            strlen(evs[0].payload));
        fflush(stdout);
        double tp = now_s();
        preload(conf, evs, n);
        printf("  preload (SDK encode + produce): %.0f events/s\n",
               (double)n / (now_s() - tp));
        fflush(stdout);
        /* BENCH_INGRESS_ONLY=N: N runs of sluice-ingress at its defaults and one with
         * limits, nothing else, for trying a setting (-X) in a minute instead of
         * five. */
        if (getenv("BENCH_INGRESS_ONLY"))
                return quick_runs(conf, bin, xargs, nx, n,
                                  atoi(getenv("BENCH_INGRESS_ONLY")));
        double consume = raw_consume(conf, n);
        printf("  baseline raw consume:           %.0f events/s\n", consume);
        printf("  CPU per row (us): Postgres = all its processes; 'self' = the pipeline "
               "or stage;\n  broker = %s\n",
               bench_cpus.broker_pid ? "its process" : "not measured (BENCH_BROKER_PID)");
        fflush(stdout);
        double copy1 = raw_copy(conf, evs, n, 1, &cpu);
        printf(
            "  baseline raw COPY, idle machine, 1 connection:  %6.0f rows/s   CPU/row: "
            "Postgres %5.1f\n",
            copy1, cpu.pg * 1e6 / (double)n);
        fflush(stdout);
        double copy = raw_copy(conf, evs, n, nconn, &cpu);
        printf(
            "  baseline raw COPY, idle machine, %d connections: %6.0f rows/s   CPU/row: "
            "Postgres %5.1f\n"
            "    (text rows rendered beforehand, one COPY of %zu rows per connection, "
            "no broker at work)\n",
            nconn, copy, cpu.pg * 1e6 / (double)n, n / (size_t)nconn);
        fflush(stdout);
        /* The simple pipeline and ingress run twice, interleaved, and their means are
         * compared: on a 2-core machine one run's figure moves by 10-30% with whatever
         * else runs.  The limits run is made once: a second one would restore the
         * first one's admission changelog and, reading events.in again under a new
         * group, look every record up in Postgres as a replay (a slower path). */
        static const char *const old_queue[] = {
            "admission.enabled=false", "kafka.queued.min.messages=1000000",
            "kafka.queued.max.messages.kbytes=1048576", NULL};
        static const char *const no_overlap[] = {"admission.enabled=false",
                                                 "ingress.overlap=false", NULL};
        /* Twice the batch: what a larger batch would give, against the memory it
         * takes (the peak RSS target is measured at the default batch size). */
        static char big_batch_kv[64];
        static const char *big_batch[] = {"admission.enabled=false", big_batch_kv, NULL};
        snprintf(big_batch_kv, sizeof(big_batch_kv), "ingress.batch.size=%d", 2 * batch);
        bench_cpu_t scpu[2];
        double simple_r[2];
        run_t r1[2];

        simple_r[0] = run_simple(conf, n, nconn, batch, batch_ms, &scpu[0]);
        r1[0] = run_ingress(conf, bin, xargs, nx, no_limits, n, 100);
        run_t r2 = run_ingress(conf, bin, xargs, nx, no_limits, n, 1000);
        run_t ro = run_ingress(conf, bin, xargs, nx, old_queue, n, 100);
        run_t rl = run_ingress(conf, bin, xargs, nx, limits, n, 100);
        /* The rollup job every second with no lag (sluice-admin with
         * rollup.interval.ms=1000, rollup.lag.ms=0): as often and as close behind as
         * it can be configured to run in practice, so its cost is at its highest. */
        rollup_job_t job = {.conf = conf, .interval_ms = 1000, .lag_ms = 0};
        run_t rr = run_ingress_beside(conf, bin, xargs, nx, no_limits, n, 100, &job);
        run_t rn = run_ingress(conf, bin, xargs, nx, no_overlap, n, 100);
        run_t rb = run_ingress(conf, bin, xargs, nx, big_batch, n, 100);
        simple_r[1] = run_simple(conf, n, nconn, batch, batch_ms, &scpu[1]);
        r1[1] = run_ingress(conf, bin, xargs, nx, no_limits, n, 100);
        double simple = (simple_r[0] + simple_r[1]) / 2;
        double ingress = (r1[0].rate + r1[1].rate) / 2;
        double limited = rl.rate;
        for (int k = 0; k < 2; k++)
                printf(
                    "  baseline simple pipeline:       %6.0f events/s  CPU/row: Postgres "
                    "%5.1f, self %5.1f, broker %5.1f\n",
                    simple_r[k], PER_ROW(scpu[k], n));
        printf("    (consume, decode, binary COPY over %d connections in %d-row batches, "
               "produce, commit; one step after another)\n",
               nconn, batch);
        for (int k = 0; k < 2; k++)
                printf(
                    "  sluice-ingress:                 %6.0f events/s  CPU/row: Postgres "
                    "%5.1f, self %5.1f, broker %5.1f\n"
                    "    (timed by its /metrics every 100 ms; by its rows' received_at: "
                    "%.0f); peak RSS %.1f MiB\n",
                    r1[k].rate, PER_ROW(r1[k].cpu, n), r1[k].rate_rows,
                    r1[k].rss_kib / 1024.0);
        printf("    RSS while the first quarter of the rows went in %.1f MiB, the last "
               "%.1f MiB\n",
               r1[0].rss_q1_kib / 1024.0, r1[0].rss_q4_kib / 1024.0);
        printf("  sluice-ingress, probed every 1000 ms: %6.0f events/s (by received_at: "
               "%.0f)\n",
               r2.rate, r2.rate_rows);
        printf(
            "  sluice-ingress, fetch queue raised as before (1 GiB, 1000000 messages): "
            "%6.0f events/s; peak RSS %.1f MiB\n",
            ro.rate, ro.rss_kib / 1024.0);
        printf("  sluice-ingress, rate limits on for %d sources: %6.0f events/s  "
               "CPU/row: Postgres %5.1f, self %5.1f, broker %5.1f; peak RSS %.1f MiB\n",
               sources, rl.rate, PER_ROW(rl.cpu, n), rl.rss_kib / 1024.0);
        printf(
            "  sluice-ingress, the rollup job beside it every %d ms (rollup.lag.ms 0): "
            "%6.0f events/s  CPU/row: Postgres %5.1f, self %5.1f, broker %5.1f\n"
            "    (%ld rollup runs, %ld with new rows; %lld minute and %lld hour "
            "buckets recomputed; %.1f s inside the runs)\n",
            job.interval_ms, rr.rate, PER_ROW(rr.cpu, n), job.runs, job.runs_with_work,
            job.buckets, job.hours, job.busy_s);
        printf("  sluice-ingress, ingress.overlap=false (decode after the COPY ends): "
               "%6.0f events/s  CPU/row: Postgres %5.1f, self %5.1f, broker %5.1f; peak "
               "RSS %.1f MiB\n",
               rn.rate, PER_ROW(rn.cpu, n), rn.rss_kib / 1024.0);
        printf("  sluice-ingress, %s (twice the batch): %6.0f events/s  CPU/row: "
               "Postgres %5.1f, self %5.1f, broker %5.1f; peak RSS %.1f MiB\n",
               big_batch_kv, rb.rate, PER_ROW(rb.cpu, n), rb.rss_kib / 1024.0);
        fflush(stdout);
        long hwm = r1[0].rss_kib;
        for (int k = 1; k < 2; k++)
                if (r1[k].rss_kib > hwm)
                        hwm = r1[k].rss_kib;
        if (rl.rss_kib > hwm)
                hwm = rl.rss_kib;
        double rss_mib = (double)hwm / 1024.0;
        double rows_mean = (r1[0].rate_rows + r1[1].rate_rows) / 2;
        printf("\n  %-44s %9s %9s %7s  %s\n", "figure", "value", "baseline", "ratio",
               "target");
        printf("  %-44s %9.0f %9.0f %6.2fx  >= 0.9x   %s\n",
               "ingress / simple pipeline (means of 2)", ingress, simple,
               ingress / simple, ingress >= 0.9 * simple ? "met" : "MISS");
        printf("  %-44s %9.0f %9.0f %6.2fx  >= 0.65x  %s\n", "ingress / idle raw COPY",
               ingress, copy, ingress / copy, ingress >= 0.65 * copy ? "met" : "MISS");
        printf("  %-44s %9.0f %9.0f %6.2fx  >= 0.9x   %s\n",
               "limits on / off (mean of 2 without)", limited, ingress, limited / ingress,
               limited >= 0.9 * ingress ? "met" : "MISS");
        printf("  %-44s %9.0f %9.0f %6.2fx  (the cost of rollups; %ld runs)\n",
               "rollup job beside / none (mean of 2 without)", rr.rate, ingress,
               rr.rate / ingress, job.runs);
        printf("  %-44s %9.0f %9.0f %6.2fx  ~1x (probe costs nothing)\n",
               "received_at rate, probe 1 s / 100 ms", r2.rate_rows, rows_mean,
               r2.rate_rows / rows_mean);
        printf("  %-44s %9.1f %9s %7s  <= 128    %s\n", "peak RSS (MiB)", rss_mib, "", "",
               rss_mib <= 128 ? "met" : "MISS");
        printf("  %-44s %9.0f %9.0f %6.2fx  ~1x (no throughput lost)\n",
               "default fetch queue / the old 1 GiB one", ingress, ro.rate,
               ingress / ro.rate);
        printf("  %-44s %9.0f %9.0f %6.2fx  ~1x (costs nothing on 2 cores)\n",
               "overlap on (mean of 2) / off", ingress, rn.rate, ingress / rn.rate);
        printf("  %-44s %9.0f %9.0f %6.2fx  (peak RSS %.1f MiB)\n",
               "twice the batch / idle raw COPY", rb.rate, copy, rb.rate / copy,
               rb.rss_kib / 1024.0);
        printf("  %-44s %9.1f %9.1f %6.2fx  flat\n", "RSS last quarter / first (MiB)",
               r1[0].rss_q4_kib / 1024.0, r1[0].rss_q1_kib / 1024.0,
               (double)r1[0].rss_q4_kib /
                   (double)(r1[0].rss_q1_kib ? r1[0].rss_q1_kib : 1));
        fflush(stdout);
        if (eos) {
                /* Default, exactly_once, default again, per setting: the machine's
                 * drift (the JVM broker warming up, Postgres's caches) shows in the two
                 * default runs, and the ratio is against their mean. */
                static const char *const eos_no_limits[] = {"admission.enabled=false",
                                                            "exactly_once=true", NULL};
                static const char *const eos_limits[] = {
                    "admission.enabled=true", "admission.default.limit=1000000",
                    "admission.default.window.ms=1000", "exactly_once=true", NULL};
                double e1 = run_ingress(conf, bin, xargs, nx, eos_no_limits, n, 100).rate;
                double e2 = run_ingress(conf, bin, xargs, nx, eos_limits, n, 100).rate;
                double d1 = run_ingress(conf, bin, xargs, nx, no_limits, n, 100).rate;
                double d2 = run_ingress(conf, bin, xargs, nx, limits, n, 100).rate;
                printf(
                    "  exactly_once=true, same records and broker (one transaction per "
                    "batch, no pipelining),\n"
                    "  against the default mode run before and after it:\n");
                printf(
                    "  sluice-ingress into Postgres:   %.0f events/s  (%.2fx the default "
                    "mode's %.0f and %.0f)\n",
                    e1, 2 * e1 / (r1[1].rate + d1), r1[1].rate, d1);
                printf("  with rate limits on, %d sources: %.0f events/s  (%.2fx the "
                       "default mode's %.0f and %.0f)\n",
                       sources, e2, 2 * e2 / (rl.rate + d2), rl.rate, d2);
                fflush(stdout);
        }
        size_t records = 0;
        double secs = restore_time(conf, 100000, &records);
        printf(
            "  restore of one partition, 100000 sources: %.3f s (%zu changelog records; "
            "target < 2 s: %s)\n",
            secs, records, secs < 2 ? "met" : "NOT met");
        free(evs);
        sl_conf_destroy(conf);
        return 0;
}
