/*
 * bench/ingress: events/s from sluice.events.in into Postgres through sluice-ingress,
 * next to two baselines measured in the same run on the same data:
 *   - raw consumption of the topic (a librdkafka consumer reading to nowhere);
 *   - raw COPY of the same rows into the same table (one connection, text format).
 * Also prints ingress's peak RSS.  Ingress runs twice over the same records: without
 * admission (admission.enabled=false), and with per-source rate limiting on for every
 * source (state in memory and the changelog; limits high enough that every event is
 * admitted, so both runs write the same rows).  Last, the time to restore one
 * partition's admission state with 100,000 sources in its changelog.  With
 * --exactly-once, both ingress runs are made again with exactly_once=true (Kafka
 * transactions, one batch at a time), then once more in the default mode, and the
 * exactly_once figures are printed against the mean of the default runs around them.
 * bench/ingress/run.sh starts the devbroker and a private Postgres and runs this; it is
 * not a test (no timing is asserted).
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "limits/admission_codec.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "state/store.h"
#include "util/uuid.h"

extern char **environ;

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
static double raw_copy(const sl_conf_t *conf, const ev_t *evs, size_t n, int nconn)
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
        t0 = now_s();
        for (int k = 0; k < nconn; k++)
                pthread_create(&thr[k], NULL, copy_thread, &jobs[k]);
        for (int k = 0; k < nconn; k++) {
                pthread_join(thr[k], NULL);
                if (jobs[k].err)
                        die("raw COPY", jobs[k].err);
        }
        t1 = now_s();
        if (count_rows(pg) != (long long)n)
                die("raw COPY", "row count differs");
        exec_or_die(pg, "TRUNCATE workflow_events");
        exec_or_die(pg, "VACUUM ANALYZE workflow_events");
        exec_or_die(pg, "CHECKPOINT");
        PQfinish(pg);
        free(buf);
        return (double)n / (t1 - t0);
}

static long peak_rss_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
                        break;
        fclose(fp);
        return kib;
}

/* The real thing: sluice-ingress as its own process, timed from its first row in
 * Postgres to its last. */
static double run_ingress(const sl_conf_t *conf, const char *bin, char **xargs, int nx,
                          const char *const *extra, size_t n, long *rss_kib)
{
        PGconn *pg = connect_or_die(conf);
        char group[64];
        char *argv[64];
        int argc = 0;
        long long c0 = 0, c = 0;
        double t0 = 0, t1;
        pid_t pid;

        static int run;
        snprintf(group, sizeof(group), "ingress.group.id=bench-ingress-%d-%d",
                 (int)getpid(), ++run);
        argv[argc++] = (char *)bin;
        for (int i = 0; i < nx && argc < 58; i++) {
                argv[argc++] = "-X";
                argv[argc++] = xargs[i];
        }
        argv[argc++] = "-X";
        argv[argc++] = group;
        argv[argc++] = "-X";
        argv[argc++] = "http.port=0";
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
        for (;;) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        die("sluice-ingress", "exited early (see its log above)");
                c = count_rows(pg);
                if (c > 0 && t0 == 0) {
                        t0 = now_s();
                        c0 = c;
                }
                if (c >= (long long)n)
                        break;
                usleep(200000); /* count(*) is not free: poll gently */
        }
        t1 = now_s();
        *rss_kib = peak_rss_kib(pid);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        if (c != (long long)n)
                die("ingress", "row count differs");
        exec_or_die(pg,
                    "TRUNCATE workflow_events, event_ingress_retries, scheduler_state");
        exec_or_die(pg, "CHECKPOINT");
        PQfinish(pg);
        return (double)(c - c0) / (t1 - t0);
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
        long rss = 0;

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
        double consume = raw_consume(conf, n);
        printf("  baseline raw consume:           %.0f events/s\n", consume);
        fflush(stdout);
        double copy1 = raw_copy(conf, evs, n, 1);
        printf("  baseline raw COPY, 1 connection:  %.0f rows/s\n", copy1);
        fflush(stdout);
        double copy = raw_copy(conf, evs, n, 2);
        printf("  baseline raw COPY, 2 connections: %.0f rows/s (the comparator below: "
               "ingress writes over 2)\n",
               copy);
        fflush(stdout);
        static const char *const no_limits[] = {"admission.enabled=false", NULL};
        static const char *const limits[] = {"admission.enabled=true",
                                             "admission.default.limit=1000000",
                                             "admission.default.window.ms=1000", NULL};
        double ingress = run_ingress(conf, bin, xargs, nx, no_limits, n, &rss);
        printf(
            "  sluice-ingress into Postgres:   %.0f events/s  (%.2fx raw COPY, %.2fx raw "
            "consume)\n",
            ingress, ingress / copy, ingress / consume);
        printf("  sluice-ingress peak RSS:        %.1f MiB\n", (double)rss / 1024.0);
        printf("  targets: >= 70000 events/s and >= 0.60x raw COPY: %s\n",
               ingress >= 70000 && ingress >= 0.6 * copy ? "met" : "NOT met");
        fflush(stdout);
        long rss2 = 0;
        double limited = run_ingress(conf, bin, xargs, nx, limits, n, &rss2);
        printf("  with rate limits on, %d sources: %.0f events/s  (%.2fx without limits; "
               "target >= 0.80x: %s)\n",
               sources, limited, limited / ingress,
               limited >= 0.8 * ingress ? "met" : "NOT met");
        printf("  sluice-ingress peak RSS:        %.1f MiB\n", (double)rss2 / 1024.0);
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
                long r = 0;
                double e1 = run_ingress(conf, bin, xargs, nx, eos_no_limits, n, &r);
                double e2 = run_ingress(conf, bin, xargs, nx, eos_limits, n, &r);
                double d1 = run_ingress(conf, bin, xargs, nx, no_limits, n, &r);
                double d2 = run_ingress(conf, bin, xargs, nx, limits, n, &r);
                printf(
                    "  exactly_once=true, same records and broker (one transaction per "
                    "batch, no pipelining),\n"
                    "  against the default mode run before and after it:\n");
                printf(
                    "  sluice-ingress into Postgres:   %.0f events/s  (%.2fx the default "
                    "mode's %.0f and %.0f)\n",
                    e1, 2 * e1 / (ingress + d1), ingress, d1);
                printf("  with rate limits on, %d sources: %.0f events/s  (%.2fx the "
                       "default mode's %.0f and %.0f)\n",
                       sources, e2, 2 * e2 / (limited + d2), limited, d2);
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
