/*
 * bench/ingress: the simple pipeline baseline and the CPU accounting (bench_ingress.h).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_ingress.h"
#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "sluice/err.h"

/* --- CPU ------------------------------------------------------------------------- */

/* utime + stime of /proc/<pid>/stat (fields 14 and 15, after the comm in parens),
 * its ppid (field 4), and, when reaped is not NULL, cutime + cstime (16 and 17): the
 * CPU of its children that have exited and been waited for. */
static double stat_of(pid_t pid, pid_t *ppid, double *reaped)
{
        char path[64], buf[1024];
        unsigned long ut = 0, st = 0;
        long cut = 0, cst = 0;
        int pp = 0;
        FILE *fp;
        char *p;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!(fp = fopen(path, "r")))
                return 0;
        p = fgets(buf, sizeof(buf), fp);
        fclose(fp);
        if (!p || !(p = strrchr(buf, ')')))
                return 0;
        if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld",
                   &pp, &ut, &st, &cut, &cst) != 5)
                return 0;
        if (ppid)
                *ppid = pp;
        if (reaped)
                *reaped = (double)(cut + cst) / (double)sysconf(_SC_CLK_TCK);
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double bench_cpu_of(pid_t pid)
{
        return pid > 0 ? stat_of(pid, NULL, NULL) : 0;
}

double bench_cpu_of_cluster(pid_t postmaster)
{
        double sum = 0;
        struct dirent *de;
        DIR *d;

        if (postmaster <= 0 || !(d = opendir("/proc")))
                return 0;
        while ((de = readdir(d))) {
                pid_t pid = (pid_t)atoi(de->d_name), pp = 0;
                double s;
                if (pid <= 0)
                        continue;
                if (pid == postmaster) {
                        /* A backend that ended during the run (the raw COPY's, an
                         * autovacuum or parallel worker) is no longer in /proc: its
                         * CPU is in the postmaster's reaped children's. */
                        double reaped = 0;
                        sum += stat_of(pid, &pp, &reaped) + reaped;
                } else if (s = stat_of(pid, &pp, NULL), pp == postmaster) {
                        sum += s;
                }
        }
        closedir(d);
        return sum;
}

void bench_cpu_begin(bench_cpu_t *c)
{
        c->pg0 = bench_cpu_of_cluster(c->postmaster_pid);
        c->broker0 = bench_cpu_of(c->broker_pid);
        c->stage0 = bench_cpu_of(c->stage_pid);
}

void bench_cpu_end(bench_cpu_t *c)
{
        c->pg = bench_cpu_of_cluster(c->postmaster_pid) - c->pg0;
        c->broker = bench_cpu_of(c->broker_pid) - c->broker0;
        c->stage = bench_cpu_of(c->stage_pid) - c->stage0;
}

/* --- the simple pipeline --------------------------------------------------------- */

static double mono_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
        fprintf(stderr, "bench-ingress: simple pipeline: %s: %s\n", what, why);
        exit(1);
}

typedef struct buf_s {
        char *p;
        size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *v, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2;
                if (!(b->p = realloc(b->p, b->cap)))
                        die("memory", "realloc");
        }
        memcpy(b->p + b->len, v, n);
        b->len += n;
}

static void put16(buf_t *b, int16_t v)
{
        uint16_t u = (uint16_t)v;
        unsigned char x[2] = {(unsigned char)(u >> 8), (unsigned char)u};
        put(b, x, 2);
}

static void put32(buf_t *b, int32_t v)
{
        uint32_t u = (uint32_t)v;
        unsigned char x[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 8), (unsigned char)u};
        put(b, x, 4);
}

static void put64(buf_t *b, int64_t v)
{
        put32(b, (int32_t)((uint64_t)v >> 32));
        put32(b, (int32_t)(uint64_t)v);
}

static void field_text(buf_t *b, const char *s, size_t n)
{
        put32(b, (int32_t)n);
        put(b, s, n);
}

static void field_jsonb(buf_t *b, const char *s, size_t n)
{
        put32(b, (int32_t)n + 1);
        put(b, "\1", 1); /* jsonb binary format version */
        put(b, s, n);
}

static int hexval(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

static void field_uuid(buf_t *b, const char *text)
{
        unsigned char u[16];
        int k = 0;

        for (const char *p = text; *p && k < 16; p++) {
                if (*p == '-')
                        continue;
                u[k++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
                p++;
        }
        put32(b, 16);
        put(b, u, 16);
}

/* One workflow_events row in COPY binary: the columns ingress writes. */
static void row(buf_t *b, const sl_envelope_t *e, const rd_kafka_message_t *m)
{
        static const int64_t pg_epoch_ms = 946684800000LL; /* 2000-01-01 */

        put16(b, 10);
        field_uuid(b, e->id);
        field_text(b, e->type, strlen(e->type));
        field_text(b, e->source, strlen(e->source));
        put32(b, 8);
        put64(b, (e->occurred_at - pg_epoch_ms) * 1000);
        field_jsonb(b, e->payload, e->payload_len);
        if (e->correlation_id)
                field_text(b, e->correlation_id, strlen(e->correlation_id));
        else
                put32(b, -1);
        if (e->has_ttl) {
                put32(b, 8);
                put64(b, e->ttl_ms);
        } else {
                put32(b, -1);
        }
        field_jsonb(b, "{}", 2); /* the bench's events carry no metadata */
        put32(b, 4);
        put32(b, m->partition);
        put32(b, 8);
        put64(b, m->offset);
}

typedef struct conn_s {
        PGconn *pg;
        buf_t rows;
        const char *err;
        pthread_t thr;
} conn_t;

static void *copy_rows(void *arg)
{
        static const char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
        conn_t *c = arg;
        PGresult *res = PQexec(
            c->pg, "COPY workflow_events (id, type, source, occurred_at, payload, "
                   "correlation_id, ttl_ms, metadata, kafka_partition, kafka_offset) "
                   "FROM STDIN (FORMAT binary)");
        static const unsigned char trailer[2] = {0xff, 0xff};

        c->err = NULL;
        if (PQresultStatus(res) != PGRES_COPY_IN)
                c->err = PQerrorMessage(c->pg);
        PQclear(res);
        if (!c->err && (PQputCopyData(c->pg, hdr, sizeof(hdr)) != 1 ||
                        PQputCopyData(c->pg, c->rows.p, (int)c->rows.len) != 1 ||
                        PQputCopyData(c->pg, (const char *)trailer, 2) != 1))
                c->err = PQerrorMessage(c->pg);
        if (PQputCopyEnd(c->pg, NULL) != 1 && !c->err)
                c->err = PQerrorMessage(c->pg);
        while ((res = PQgetResult(c->pg))) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK && !c->err)
                        c->err = PQresultErrorMessage(res);
                PQclear(res);
        }
        return NULL;
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        if (m->err)
                (*(size_t *)opaque)++;
}

double bench_simple_pipeline(const sl_conf_t *conf, size_t n, int nconn, int batch,
                             int batch_ms, bench_cpu_t *cpu)
{
        char errstr[512], in[256], out[256], group[64];
        rd_kafka_message_t **msgs = calloc((size_t)batch, sizeof(*msgs));
        sl_envelope_t *env = calloc((size_t)batch, sizeof(*env));
        conn_t conns[8];
        size_t done = 0, first = 0, failed = 0;
        double t0 = 0;
        sl_reject_t rej;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        rd_kafka_t *rk, *prod;
        rd_kafka_queue_t *q;
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);

        if (!msgs || !env || !codec || nconn < 1 || nconn > 8)
                die("set-up", codec ? "memory" : errstr);
        for (int i = 0; i < batch; i++)
                sl_envelope_init(&env[i]);
        static int run;
        snprintf(group, sizeof(group), "bench-simple-%d-%d", (int)getpid(), ++run);
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, in, sizeof(in));
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_ACCEPTED, out, sizeof(out));
        if (!(rk =
                  sl_kafka_consumer_new(conf, group, NULL, NULL, errstr, sizeof(errstr))))
                die("consumer", errstr);
        if (!(prod = sl_kafka_producer_new(conf, delivered, &failed, errstr,
                                           sizeof(errstr))))
                die("producer", errstr);
        for (int k = 0; k < nconn; k++) {
                memset(&conns[k], 0, sizeof(conns[k]));
                if (!(conns[k].pg = sl_pg_connect(conf, errstr, sizeof(errstr))))
                        die("postgres", errstr);
        }
        rd_kafka_topic_partition_list_add(subs, in, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rk, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        q = rd_kafka_queue_get_consumer(rk);
        cpu->stage = 0;
        bench_cpu_begin(cpu);
        double cpu_self0 = bench_cpu_of(getpid()), idle_since = mono_s();
        while (done < n) {
                size_t got = 0;
                double until = mono_s() + batch_ms / 1000.0;
                rd_kafka_topic_partition_list_t *offs;

                /* 1. a batch: batch records, or what batch_ms brings */
                while (got < (size_t)batch) {
                        int wait = (int)((until - mono_s()) * 1000);
                        ssize_t r = rd_kafka_consume_batch_queue(
                            q, got ? (wait > 0 ? wait : 0) : 1000, msgs + got,
                            (size_t)batch - got);
                        if (r > 0) {
                                got += (size_t)r;
                                idle_since = mono_s();
                        } else if (got || mono_s() - idle_since > 15) {
                                break;
                        }
                }
                if (!got)
                        die("consume", "the topic holds fewer records than expected");
                /* 2. decode, rows split over the connections */
                for (int k = 0; k < nconn; k++)
                        conns[k].rows.len = 0;
                for (size_t i = 0; i < got; i++) {
                        if (msgs[i]->err)
                                die("consume", rd_kafka_message_errstr(msgs[i]));
                        if (sl_envelope_decode(codec, msgs[i]->payload, msgs[i]->len,
                                               &env[i], &rej) != SL_OK)
                                die("decode", rej.msg);
                        row(&conns[i % (size_t)nconn].rows, &env[i], msgs[i]);
                }
                /* 3. COPY on every connection at once */
                for (int k = 0; k < nconn; k++)
                        pthread_create(&conns[k].thr, NULL, copy_rows, &conns[k]);
                for (int k = 0; k < nconn; k++) {
                        pthread_join(conns[k].thr, NULL);
                        if (conns[k].err)
                                die("COPY", conns[k].err);
                }
                /* 4. each record to events.accepted; wait for the deliveries */
                for (size_t i = 0; i < got; i++) {
                        rd_kafka_resp_err_t err;
                        while ((err = rd_kafka_producev(
                                    prod, RD_KAFKA_V_TOPIC(out),
                                    RD_KAFKA_V_KEY(env[i].source, strlen(env[i].source)),
                                    RD_KAFKA_V_VALUE(msgs[i]->payload, msgs[i]->len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(prod, 10);
                        if (err)
                                die("produce", rd_kafka_err2str(err));
                }
                if (rd_kafka_flush(prod, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed)
                        die("produce", "records not delivered");
                /* 5. commit the batch's offsets */
                offs = rd_kafka_topic_partition_list_new(64);
                for (size_t i = 0; i < got; i++) {
                        rd_kafka_topic_partition_t *tp =
                            rd_kafka_topic_partition_list_find(offs, in,
                                                               msgs[i]->partition);
                        if (!tp)
                                tp = rd_kafka_topic_partition_list_add(
                                    offs, in, msgs[i]->partition);
                        if (msgs[i]->offset + 1 > tp->offset)
                                tp->offset = msgs[i]->offset + 1;
                        rd_kafka_message_destroy(msgs[i]);
                }
                if (rd_kafka_commit(rk, offs, 0))
                        die("commit", "failed");
                rd_kafka_topic_partition_list_destroy(offs);
                done += got;
                if (!t0) {
                        t0 = mono_s();
                        first = done;
                }
        }
        double rate = (double)(done - first) / (mono_s() - t0);
        bench_cpu_end(cpu);
        cpu->stage = bench_cpu_of(getpid()) - cpu_self0;
        for (int k = 0; k < nconn; k++) {
                PQfinish(conns[k].pg);
                free(conns[k].rows.p);
        }
        for (int i = 0; i < batch; i++)
                sl_envelope_clear(&env[i]);
        rd_kafka_queue_destroy(q);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rd_kafka_destroy(prod);
        sl_codec_destroy(codec);
        free(env);
        free(msgs);
        return rate;
}
