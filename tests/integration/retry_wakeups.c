/*
 * sluice-it-retry_wakeups: stands in for ingress's side of the retry lifecycle in the
 * retry stage's tests and benchmark, so sluice-retry is tested on its own.
 *
 *   rows N SOURCES DELAY_MIN_MS DELAY_MAX_MS [SEED]
 *       prints N retry intents, tab-separated: event id (random UUID), source
 *       (src-0..SOURCES-1), due time (ms since the epoch: now + a delay drawn in
 *       [min, max]), envelope bytes as hex (stand-in bytes naming the event).  The test
 *       \copy's them into event_ingress_retries.
 *   produce FILE [COPIES]
 *       for each line of FILE (the format above), produces its RetryRecord (attempt 1)
 *       COPIES times (default 1) to the tier ingress would pick (the longest tier <=
 *       due - now), key = source, and waits for delivery.  Prints "produced N".
 *   reinject FILE [COPIES]
 *       for each line of FILE (event id, source, attempt, envelope bytes as hex,
 *       tab-separated: what `select event_id, source, attempt, encode(envelope, 'hex')
 *       from event_ingress_retries` prints), produces the envelope to events.in COPIES
 *       times with the headers sluice-retry re-injects with, and no 'due' mark: as if
 *       ingress met the re-injection before sluice-retry's mark landed.
 *   mark FILE
 *       runs sluice-retry's 'due' mark statement (SL_RETRY_MARK_DUE_SQL) once for the
 *       (event id, attempt) of each line of FILE (the reinject format) and prints
 *       "marked N" with the rows it moved.
 *
 * Bootstrap and topic names come from the usual configuration (SLUICE_* variables).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "kafka/kafka.h"
#include "limits/backoff.h"
#include "pg/pg.h"
#include "pg/pgarray.h"
#include "retry/retry_record.h"
#include "retry/state.h"
#include "sluice/err.h"
#include "util/uuid.h"

extern char **environ;

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rows(int argc, char **argv)
{
        long n, sources, lo, hi;
        int64_t now = wall_ms();

        if (argc < 6)
                return 2;
        n = atol(argv[2]);
        sources = atol(argv[3]);
        lo = atol(argv[4]);
        hi = atol(argv[5]);
        srand(argc > 6 ? (unsigned)atoi(argv[6]) : 1);
        if (n < 1 || sources < 1 || lo < 0 || hi < lo)
                return 2;
        for (long i = 0; i < n; i++) {
                char id[37], env[64];
                long delay = lo + (hi > lo ? rand() % (hi - lo + 1) : 0);

                sl_uuid_random(id);
                snprintf(env, sizeof(env), "envelope:%s", id);
                printf("%s\tsrc-%ld\t%lld\t", id, i % sources, (long long)(now + delay));
                for (const char *p = env; *p; p++)
                        printf("%02x", (unsigned char)*p);
                putchar('\n');
        }
        return 0;
}

static size_t dr_failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        (void)opaque;
        if (m->err && dr_failed++ < 3)
                fprintf(stderr, "not delivered: %s\n", rd_kafka_err2str(m->err));
}

/* Hex text into out (at most cap bytes); the byte count. */
static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
        size_t len = 0;
        for (; hex[0] && hex[1] && len < cap; hex += 2, len++) {
                unsigned v;
                sscanf(hex, "%2x", &v);
                out[len] = (unsigned char)v;
        }
        return len;
}

/* What produce and reinject share: FILE (argv[2]), COPIES (argv[3]), the
 * configuration from the environment and a producer. */
typedef struct job_s {
        sl_conf_t *conf;
        FILE *fp;
        int copies;
        rd_kafka_t *rk;
} job_t;

/* 0, 2 for bad arguments, 1 for a failure (said on stderr). */
static int job_open(job_t *j, int argc, char **argv)
{
        char errstr[512];

        j->copies = argc > 3 ? atoi(argv[3]) : 1;
        if (!(j->fp = argc > 2 ? fopen(argv[2], "r") : NULL) || j->copies < 1)
                return 2;
        j->conf = sl_conf_new();
        if (sl_conf_load_env(j->conf, environ, errstr, sizeof(errstr)) != SL_OK ||
            !(j->rk =
                  sl_kafka_producer_new(j->conf, dr_cb, NULL, errstr, sizeof(errstr)))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        return 0;
}

/* Deliver everything, print "VERB N", and free j; 1 when a record was not delivered. */
static int job_close(job_t *j, const char *verb, size_t n)
{
        fclose(j->fp);
        rd_kafka_flush(j->rk, 30000);
        rd_kafka_destroy(j->rk);
        sl_conf_destroy(j->conf);
        printf("%s %zu\n", verb, n);
        return dr_failed ? 1 : 0;
}

static int produce(int argc, char **argv)
{
        char line[512], names[16][256];
        int64_t delays[16];
        size_t ntiers, produced = 0;
        job_t j;
        int rc;

        if ((rc = job_open(&j, argc, argv)) != 0)
                return rc;
        if (!(ntiers = sl_kafka_retry_topics(j.conf, names, delays, 16))) {
                fprintf(stderr, "retry.tiers: no tiers\n");
                return 1;
        }
        while (fgets(line, sizeof(line), j.fp)) {
                char *id = strtok(line, "\t\n"), *src = strtok(NULL, "\t\n"),
                     *due = strtok(NULL, "\t\n"), *hex = strtok(NULL, "\t\n");
                unsigned char env[256];
                size_t len;
                void *buf;
                size_t blen;

                if (!id || !src || !due || !hex)
                        continue;
                len = unhex(hex, env, sizeof(env));
                sl_retry_record_t rr = {.event_id = id,
                                        .source = src,
                                        .attempt = 1,
                                        .due_at = atoll(due),
                                        .reason = "throttled",
                                        .envelope = env,
                                        .envelope_len = len};
                size_t tier = sl_backoff_tier(delays, ntiers, rr.due_at - wall_ms());
                if (sl_retry_record_encode(&rr, &buf, &blen) != SL_OK)
                        return 1;
                for (int c = 0; c < j.copies; c++) {
                        while (rd_kafka_producev(j.rk, RD_KAFKA_V_TOPIC(names[tier]),
                                                 RD_KAFKA_V_KEY(src, strlen(src)),
                                                 RD_KAFKA_V_VALUE(buf, blen),
                                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                 RD_KAFKA_V_END) ==
                               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(j.rk, 10);
                        produced++;
                }
                free(buf);
        }
        return job_close(&j, "produced", produced);
}

static int reinject(int argc, char **argv)
{
        char line[8192], topic[256];
        size_t produced = 0;
        job_t j;
        int rc;

        if ((rc = job_open(&j, argc, argv)) != 0)
                return rc;
        sl_kafka_topic_name(j.conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        while (fgets(line, sizeof(line), j.fp)) {
                char *id = strtok(line, "\t\n"), *src = strtok(NULL, "\t\n"),
                     *att = strtok(NULL, "\t\n"), *hex = strtok(NULL, "\t\n");
                unsigned char env[4096];
                char rid[128];
                size_t len;

                if (!id || !src || !att || !hex)
                        continue;
                len = unhex(hex, env, sizeof(env));
                sl_retry_record_id(id, atoi(att), rid, sizeof(rid));
                for (int c = 0; c < j.copies; c++) {
                        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
                        rd_kafka_header_add(h, SL_RETRY_HDR_ATTEMPT, -1, att, -1);
                        rd_kafka_header_add(h, SL_RETRY_HDR_RETRY_ID, -1, rid, -1);
                        while (rd_kafka_producev(
                                   j.rk, RD_KAFKA_V_TOPIC(topic),
                                   RD_KAFKA_V_KEY(src, strlen(src)),
                                   RD_KAFKA_V_VALUE(env, len), RD_KAFKA_V_HEADERS(h),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(j.rk, 10);
                        produced++;
                }
        }
        return job_close(&j, "re-injected", produced);
}

static int mark(int argc, char **argv)
{
        char errstr[512], line[8192];
        sl_conf_t *conf = sl_conf_new();
        sl_pgarr_t ids = {0}, atts = {0};
        FILE *fp = argc > 2 ? fopen(argv[2], "r") : NULL;
        PGconn *pg;
        PGresult *res;
        int rc = 0;

        if (!fp)
                return 2;
        if (sl_conf_load_env(conf, environ, errstr, sizeof(errstr)) != SL_OK ||
            !(pg = sl_pg_connect(conf, errstr, sizeof(errstr)))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        sl_pgarr_begin(&ids);
        sl_pgarr_begin(&atts);
        while (fgets(line, sizeof(line), fp)) {
                char *id = strtok(line, "\t\n"), *src = strtok(NULL, "\t\n"),
                     *att = strtok(NULL, "\t\n");
                if (id && src && att) {
                        sl_pgarr_text(&ids, id);
                        sl_pgarr_num(&atts, atoi(att));
                }
        }
        fclose(fp);
        const char *params[2] = {sl_pgarr_end(&ids), sl_pgarr_end(&atts)};
        res = PQexecParams(pg, SL_RETRY_MARK_DUE_SQL("event_ingress_retries"), 2, NULL,
                           params, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                printf("marked %s\n", PQcmdTuples(res));
        } else {
                fprintf(stderr, "mark: %s", PQresultErrorMessage(res));
                rc = 1;
        }
        PQclear(res);
        PQfinish(pg);
        sl_pgarr_free(&ids);
        sl_pgarr_free(&atts);
        sl_conf_destroy(conf);
        return rc;
}

int main(int argc, char **argv)
{
        int rc = 2;

        if (argc > 1 && strcmp(argv[1], "rows") == 0)
                rc = rows(argc, argv);
        else if (argc > 1 && strcmp(argv[1], "produce") == 0)
                rc = produce(argc, argv);
        else if (argc > 1 && strcmp(argv[1], "reinject") == 0)
                rc = reinject(argc, argv);
        else if (argc > 1 && strcmp(argv[1], "mark") == 0)
                rc = mark(argc, argv);
        if (rc == 2)
                fprintf(stderr,
                        "usage: sluice-it-retry_wakeups rows N SOURCES MIN_MS MAX_MS "
                        "[SEED] | produce FILE [COPIES] | reinject FILE [COPIES] | mark "
                        "FILE\n");
        return rc;
}
