/*
 * bench/trigger: the trigger stages, sluice-trigger-match and sluice-trigger-launch
 * (each its own process), over pre-rendered accepted events, next to a baseline
 * measured in the same run on the same records: a raw librdkafka consume -> produce
 * pass-through.  Not a test: no timing is asserted.  bench/trigger/run.sh starts the
 * broker and a private Postgres and runs this.
 *
 *   bench-trigger [N_EVENTS [TRIGGERS [MATCH_BIN [LAUNCH_BIN]]]]   (200000, 1000)
 *
 * The triggers (one INSERT ... unnest): 95% exact types with a filter, four on each
 * type, each filter passing half the events (amount, tier, region and the first item's
 * qty are drawn independently), so an event matches ~2; 5% globs, ten of them matching
 * a tenth of the types behind a 1% filter, the others no type at all.  No rate limits;
 * result_timeout_ms is 1 h: no workflow engine answers here, and a launch timing out
 * would count as a failure in its breaker.
 *
 *   0. baseline: the pass-through (topics.c) over the N records on events.accepted.
 *   1. burst, each stage with the machine to itself as the baseline had it: first the
 *      match stage alone over the same N records (matched events/s = N over the first
 *      matched_at to the last trigger.matches record's timestamp), then the launch
 *      stage alone over the matches it left (launches/s = launches over the first
 *      launched_at to the last workflow.launches record's timestamp).  The rates come
 *      from the records, read afterwards: while a stage runs, only its /metrics is read,
 *      every 500 ms, to see the end.
 *   2. paced, both stages running: BENCH_RATE events/s (5000) for BENCH_SECS s (20),
 *      each record's timestamp (accepted_at downstream) the time it was produced.
 *      BENCH_RATE may list several rates (1000,2000,5000): one paced phase each, in
 *      that order, each with its figures and CPU; the table's verdict is the last's.
 *      accepted -> launch per launch from workflow.launches: the record's timestamp
 *      (set when the launch stage produced it, after its Postgres write) minus
 *      accepted_at, 1 ms resolution; also the stage's launched_at (its decision) minus
 *      accepted_at, and the stage histograms' buckets.  Each launch's three times are
 *      written to BENCH_WORK/paced-RATE.tsv.
 * Peak RSS is VmHWM.  CPU is utime + stime from /proc (Postgres: the postmaster, its
 * live children and those it reaped).  Env: BENCH_WORK (the stages' logs),
 * BENCH_PG_DATA and BENCH_BROKER_PID (their CPU), BENCH_RATE, BENCH_SECS; SLUICE_*
 * variables reach the stages as configuration.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_trigger.h"
#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "pg/pgarray.h"
#include "sluice/err.h"
#include "trigger/records.h"
#include "util/uuid.h"

extern char **environ;

#define SLOTS      4  /* exact triggers per type */
#define RARE_GLOBS 10 /* globs that match some types */
#define HOUR_MS    3600000
#define MAX_RATES  8
#define LAUNCHED   "sluice_trigger_launch_decisions_total{outcome=\"launched\"}"

double bt_now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t bt_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bt_die(const char *what, const char *why)
{
        fprintf(stderr, "bench-trigger: %s: %s\n", what, why);
        exit(1);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t)((rng >> 11) % n);
}

static int cmp64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* The workload: how many triggers of each kind, over how many event types. */
typedef struct shape_s {
        int ntrig, nexact, nglob, ntypes;
} shape_t;

static shape_t shape_of(int ntrig)
{
        shape_t s = {.ntrig = ntrig};
        s.nexact = ntrig * 95 / 100;
        s.nglob = ntrig - s.nexact;
        s.ntypes = (s.nexact + SLOTS - 1) / SLOTS;
        if (s.ntypes < 1)
                s.ntypes = 1;
        return s;
}

static const char *const tiers[] = {"gold", "silver", "bronze", "free"};
static const char *const regions[] = {"eu", "us"};
/* The exact triggers of a type, by slot: each filter passes half the events. */
static const char *const slot_filter[SLOTS] = {
    "payload.amount >= 500",
    "payload.tier in [\"gold\", \"silver\"]",
    "payload.region == \"eu\" && exists payload.order_id",
    "payload.items[0].qty <= 2 && source != \"svc-blocked\"",
};
static const char *const slot_template[SLOTS] = {
    "{\"order\": \"{{payload.order_id}}\", \"amount\": \"{{payload.amount}}\"}",
    "{\"customer\": \"{{payload.customer}}\", \"tier\": \"{{payload.tier}}\"}",
    "{\"ref\": \"order {{payload.order_id}} from {{source}}\"}",
    "{\"sku\": \"{{payload.items[0].sku}}\", \"qty\": \"{{payload.items[0].qty}}\"}",
};

/* All the triggers in one parameterised INSERT (the audit trigger fires per row). */
static void insert_triggers(PGconn *pg, const shape_t *s)
{
        sl_pgarr_t a[5] = {{0}};
        char name[64], type[64], wf[64], timeout[32];
        const char *filter, *tmpl;

        for (int k = 0; k < 5; k++)
                sl_pgarr_begin(&a[k]);
        for (int j = 0; j < s->ntrig; j++) {
                int g = j - s->nexact;
                if (g < 0) {
                        snprintf(name, sizeof(name), "bench-exact-%04d", j);
                        snprintf(type, sizeof(type), "shop.t%03d.created", j / SLOTS);
                        filter = slot_filter[j % SLOTS];
                        tmpl = slot_template[j % SLOTS];
                } else if (g < RARE_GLOBS) { /* types t0g0..t0g9, 1% of their events */
                        snprintf(name, sizeof(name), "bench-glob-rare-%02d", g);
                        snprintf(type, sizeof(type), "shop.t0%d?.created", g);
                        filter = "payload.amount >= 990";
                        tmpl = slot_template[0];
                } else { /* no type: scanned for every event, never matched */
                        snprintf(name, sizeof(name), "bench-glob-none-%02d", g);
                        snprintf(type, sizeof(type),
                                 g % 2 ? "shop.t*.refund%02d" : "*.archived.%02d", g);
                        filter = "payload.amount >= 0";
                        tmpl = "{}";
                }
                snprintf(wf, sizeof(wf), "bench.workflow-%d", j % 50);
                sl_pgarr_text(&a[0], name);
                sl_pgarr_text(&a[1], type);
                sl_pgarr_text(&a[2], filter);
                sl_pgarr_text(&a[3], wf);
                sl_pgarr_text(&a[4], tmpl);
        }
        snprintf(timeout, sizeof(timeout), "%d", HOUR_MS);
        const char *p[6] = {sl_pgarr_end(&a[0]), sl_pgarr_end(&a[1]), sl_pgarr_end(&a[2]),
                            sl_pgarr_end(&a[3]), sl_pgarr_end(&a[4]), timeout};
        PGresult *res = PQexecParams(
            pg,
            "INSERT INTO triggers (name, event_type, filter, workflow, params_template, "
            "result_timeout_ms) SELECT n, t, f, w, p::jsonb, $6::bigint "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
            "AS u(n, t, f, w, p)",
            6, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                bt_die("insert triggers", PQresultErrorMessage(res));
        PQclear(res);
        for (int k = 0; k < 5; k++)
                sl_pgarr_free(&a[k]);
}

/* n events into evs, encoded; returns how many matches the triggers above give them. */
static long render_events(sl_codec_t *codec, bt_event_t *evs, long n, const shape_t *s,
                          long first)
{
        int64_t now = bt_wall_ms();
        long matches = 0;
        char payload[512], type[64], corr[32];

        for (long i = 0; i < n; i++) {
                int ti = (int)rnd((uint32_t)s->ntypes);
                int amount = (int)rnd(1000), tier = (int)rnd(4), region = (int)rnd(2);
                int qty = 1 + (int)rnd(4);
                sl_envelope_t env;

                snprintf(type, sizeof(type), "shop.t%03d.created", ti);
                snprintf(evs[i].key, sizeof(evs[i].key), "svc-%03d", (int)rnd(1000));
                snprintf(payload, sizeof(payload),
                         "{\"order_id\":\"o-%08ld\",\"amount\":%d,\"tier\":\"%s\","
                         "\"region\":\"%s\",\"customer\":\"c-%05u\",\"items\":[{\"sku\":"
                         "\"sku-%04u\",\"qty\":%d}],\"note\":\"bench\"}",
                         first + i, amount, tiers[tier], regions[region], rnd(50000),
                         rnd(2000), qty);
                snprintf(evs[i].traceparent, sizeof(evs[i].traceparent),
                         "00-%016" PRIx64 "%016" PRIx64 "-%016" PRIx64 "-01",
                         (uint64_t)rnd(1u << 31) << 32 | rnd(1u << 31),
                         (uint64_t)(first + i),
                         (uint64_t)rnd(1u << 31) << 20 | (uint64_t)i);
                memset(&env, 0, sizeof(env));
                sl_uuid_random(env.id);
                env.type = type;
                env.source = evs[i].key;
                env.occurred_at = now - 1000 + i % 1000;
                env.payload = payload;
                env.payload_len = strlen(payload);
                if (i % 2) {
                        snprintf(corr, sizeof(corr), "corr-%ld", first + i);
                        env.correlation_id = corr;
                }
                if (sl_envelope_encode(codec, &env, &evs[i].buf, &evs[i].len) != SL_OK)
                        bt_die("encode", "failed");

                bool pass[SLOTS] = {amount >= 500, tier < 2, region == 0, qty <= 2};
                for (int k = 0; k < SLOTS; k++)
                        if (ti * SLOTS + k < s->nexact && pass[k])
                                matches++;
                if (ti < 10 * RARE_GLOBS && ti / 10 < s->nglob && amount >= 990)
                        matches++;
        }
        return matches;
}

/* What a topic read back holds: its count, the first decision time (matched_at or
 * launched_at), the last record timestamp; for launches, optionally every launch's
 * accepted_at, launched_at and record timestamp. */
typedef struct span_s {
        long n, bad;
        int64_t first, last;
        int64_t *acc, *at, *ts;
        size_t cap;
} span_t;

static void span_add(span_t *s, int64_t decided, int64_t ts)
{
        if (!s->n || decided < s->first)
                s->first = decided;
        if (ts > s->last)
                s->last = ts;
        s->n++;
}

static void on_match_rec(const rd_kafka_message_t *m, void *opaque)
{
        span_t *s = opaque;
        sl_trigger_match_t tm;

        if (sl_trigger_match_decode(m->payload, m->len, &tm) != SL_OK) {
                s->bad++;
                return;
        }
        span_add(s, tm.matched_at, rd_kafka_message_timestamp(m, NULL));
        sl_trigger_match_clear(&tm);
}

static void on_launch_rec(const rd_kafka_message_t *m, void *opaque)
{
        span_t *s = opaque;
        sl_workflow_launch_t l;
        int64_t ts = rd_kafka_message_timestamp(m, NULL);

        if (sl_workflow_launch_decode(m->payload, m->len, &l) != SL_OK) {
                s->bad++;
                return;
        }
        if (s->acc && (size_t)s->n < s->cap) {
                s->acc[s->n] = l.accepted_at;
                s->at[s->n] = l.launched_at;
                s->ts[s->n] = ts;
        }
        span_add(s, l.launched_at, ts);
        sl_workflow_launch_clear(&l);
}

static double span_rate(const span_t *s, long n)
{
        return s->last > s->first ? (double)n / ((double)(s->last - s->first) / 1e3) : 0;
}

/* CPU seconds so far of everything on the machine that the run involves. */
typedef struct cpu_s {
        double match, launch, pg, broker, self;
} cpu_t;

static pid_t g_match, g_launch, g_pg, g_broker;

static cpu_t cpu_now(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (cpu_t){
            .match = bt_cpu_s(g_match),
            .launch = bt_cpu_s(g_launch),
            .pg = bt_pg_cpu_s(g_pg),
            .broker = bt_cpu_s(g_broker),
            .self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6};
}

static void print_cpu(const char *what, cpu_t a, cpu_t b, double secs)
{
        printf(
            "  CPU during %s (%.1f s wall, 2 cores = %.1f s): match %.2f s, launch %.2f "
            "s, Postgres %.2f s, broker %.2f s, this bench %.2f s\n",
            what, secs, 2 * secs, b.match - a.match, b.launch - a.launch, b.pg - a.pg,
            b.broker - a.broker, b.self - a.self);
}

/* True when no partition of r lost records below from (the mock's retention). */
static bool kept_from(const bt_range_t *r, const bt_range_t *from)
{
        for (int p = 0; p < r->nparts; p++)
                if (r->lo[p] > (from ? from->hi[p] : 0))
                        return false;
        return true;
}

static int64_t pct(const int64_t *v, size_t k, double q)
{
        size_t i = (size_t)((double)k * q);
        return v[i < k ? i : k - 1];
}

static const char *verdict(bool ok)
{
        return ok ? "PASS" : "MISS";
}

/* What the paced phases share: the clients, the workload, the stages' ports, and the
 * counts so far (events produced, matches and launches the stages reported). */
typedef struct paced_ctx_s {
        const sl_conf_t *conf;
        rd_kafka_t *rk;
        sl_codec_t *codec;
        const shape_t *shape;
        const char *t_launches, *work;
        int mport, lport;
        long events;
        double matches, launched;
} paced_ctx_t;

typedef struct paced_s {
        int64_t p99;
        size_t k;
        long expect;
        bool valid;
} paced_t;

/* One paced phase: rate events/s for secs s, both stages running, once Postgres is
 * quiet again (a burst leaves autovacuum work).  Prints its figures; moves px's
 * counts on. */
static paced_t paced_run(paced_ctx_t *px, long rate, long secs)
{
        long n2 = rate * secs;
        bt_event_t *evs2 = calloc((size_t)n2, sizeof(*evs2));
        paced_t out = {0};

        if (!evs2)
                bt_die("events", "out of memory");
        long expect2 = render_events(px->codec, evs2, n2, px->shape, px->events);
        double wq = bt_now_s(), pq = bt_pg_cpu_s(g_pg);
        for (int i = 0; i < 120; i++) {
                sleep(1);
                double pn = bt_pg_cpu_s(g_pg);
                if (pn - pq < 0.05)
                        break;
                pq = pn;
        }
        printf("  waited %.0f s for Postgres to be idle\n", bt_now_s() - wq);
        const struct {
                int port;
                const char *name;
        } hs[4] = {
            {px->lport, "sluice_trigger_accepted_to_launch_seconds"},
            {px->mport, "sluice_trigger_match_lag_seconds"},
            {px->mport, "sluice_trigger_match_batch_duration_seconds"},
            {px->lport, "sluice_trigger_launch_batch_duration_seconds"},
        };
        bt_hist_t h[4][2];
        for (int i = 0; i < 4; i++)
                bt_hist_read(hs[i].port, hs[i].name, &h[i][0]);
        bt_range_t l1, l2;
        bt_watermarks(px->rk, px->t_launches, &l1);
        double launched0 = px->launched, launched = launched0;
        cpu_t c4 = cpu_now();
        double w4 = bt_now_s();
        double t_paced = bt_produce(px->conf, evs2, n2, rate);
        bool ok3 =
            bt_wait_series(g_match, px->mport, "sluice_trigger_match_records_total",
                           (double)(px->events + n2), NULL);
        double matches2 =
            bt_metric(px->mport, "sluice_trigger_match_matches_total") - px->matches;
        bool ok4 = ok3 && bt_wait_series(g_launch, px->lport, LAUNCHED,
                                         launched0 + matches2, &launched);
        double w5 = bt_now_s();
        cpu_t c5 = cpu_now();
        for (int i = 0; i < 4; i++)
                bt_hist_read(hs[i].port, hs[i].name, &h[i][1]);
        long rss_m2 = bt_vmhwm_kib(g_match), rss_l2 = bt_vmhwm_kib(g_launch);
        bt_wait_count(px->rk, px->t_launches, &l1, (long)(launched - launched0), &l2);
        span_t sp = {.cap = (size_t)bt_range_count(&l1, &l2) + 1};
        sp.acc = calloc(sp.cap, sizeof(int64_t));
        sp.at = calloc(sp.cap, sizeof(int64_t));
        sp.ts = calloc(sp.cap, sizeof(int64_t));
        int64_t *lat = calloc(sp.cap, sizeof(int64_t)),
                *lat_at = calloc(sp.cap, sizeof(int64_t));
        if (!sp.acc || !sp.at || !sp.ts || !lat || !lat_at)
                bt_die("latencies", "out of memory");
        bt_read_range(px->conf, px->t_launches, &l1, &l2, on_launch_rec, &sp);
        size_t k = (size_t)sp.n < sp.cap ? (size_t)sp.n : sp.cap;
        char path[4096];
        snprintf(path, sizeof(path), "%s/paced-%ld.tsv", px->work, rate);
        FILE *fp = fopen(path, "w");
        for (size_t i = 0; i < k; i++) {
                lat[i] = sp.ts[i] - sp.acc[i];
                lat_at[i] = sp.at[i] - sp.acc[i];
                if (fp)
                        fprintf(fp, "%lld\t%lld\t%lld\n", (long long)sp.acc[i],
                                (long long)sp.at[i], (long long)sp.ts[i]);
        }
        if (fp)
                fclose(fp);
        qsort(lat, k, sizeof(int64_t), cmp64);
        qsort(lat_at, k, sizeof(int64_t), cmp64);
        int64_t p99 = k ? pct(lat, k, 0.99) : -1;
        printf("  paced, both stages: %ld events at %ld/s asked, %.0f/s produced; %.0f "
               "launched, %ld on workflow.launches\n",
               n2, rate, (double)n2 / t_paced, launched - launched0, sp.n);
        if (k) {
                printf(
                    "  accepted -> launch produced, per launch (ms): p50 %lld, p90 %lld, "
                    "p99 %lld, max %lld\n",
                    (long long)pct(lat, k, 0.5), (long long)pct(lat, k, 0.9),
                    (long long)p99, (long long)lat[k - 1]);
                printf("  accepted -> the launch stage's decision (launched_at, ms): p50 "
                       "%lld, p99 %lld, max %lld\n",
                       (long long)pct(lat_at, k, 0.5), (long long)pct(lat_at, k, 0.99),
                       (long long)lat_at[k - 1]);
        }
        printf(
            "  the launch stage's histogram (le 5, 10, 25, 50, 100, 250 ms, ...): p50 <= "
            "%s s, p99 <= %s s\n",
            bt_hist_quantile(&h[0][0], &h[0][1], 0.5),
            bt_hist_quantile(&h[0][0], &h[0][1], 0.99));
        printf(
            "  match stage: accepted -> matched p50 <= %s s, p99 <= %s s; %.0f batches "
            "(process, deliver, commit) p50 <= %s s, p99 <= %s s\n",
            bt_hist_quantile(&h[1][0], &h[1][1], 0.5),
            bt_hist_quantile(&h[1][0], &h[1][1], 0.99), bt_hist_total(&h[2][0], &h[2][1]),
            bt_hist_quantile(&h[2][0], &h[2][1], 0.5),
            bt_hist_quantile(&h[2][0], &h[2][1], 0.99));
        printf(
            "  launch stage: %.0f batches (process, deliver, commit) p50 <= %s s, p99 <= "
            "%s s\n",
            bt_hist_total(&h[3][0], &h[3][1]), bt_hist_quantile(&h[3][0], &h[3][1], 0.5),
            bt_hist_quantile(&h[3][0], &h[3][1], 0.99));
        print_cpu("the paced run", c4, c5, w5 - w4);
        printf("  peak RSS (VmHWM) at the end: match %.1f MiB, launch %.1f MiB\n",
               (double)rss_m2 / 1024, (double)rss_l2 / 1024);
        bool valid2 = ok3 && ok4 && (long)matches2 == expect2 &&
                      sp.n == (long)(launched - launched0) && sp.n == expect2 &&
                      !sp.bad && kept_from(&l2, &l1);
        if (!valid2)
                printf(
                    "  WARNING: INVALID PACED RUN: %ld launches expected; a count above "
                    "differs or records were dropped\n",
                    expect2);

        for (long i = 0; i < n2; i++)
                free(evs2[i].buf);
        free(evs2);
        free(sp.acc);
        free(sp.at);
        free(sp.ts);
        free(lat);
        free(lat_at);
        px->events += n2;
        px->matches += matches2;
        px->launched = launched;
        out.p99 = p99;
        out.k = k;
        out.expect = expect2;
        out.valid = valid2;
        return out;
}

/* BENCH_RATE: one rate or several, comma-separated (e.g. 1000,2000,5000). */
static int parse_rates(const char *s, long *rates)
{
        int n = 0;

        while (*s && n < MAX_RATES) {
                char *end;
                long r = strtol(s, &end, 10);
                if (end == s || r < 1)
                        return 0;
                rates[n++] = r;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                        return 0;
        }
        return n;
}

int main(int argc, char **argv)
{
        char errstr[512], t_matches[256], t_launches[256];
        long n = argc > 1 ? atol(argv[1]) : 200000;
        int ntrig = argc > 2 ? atoi(argv[2]) : 1000;
        const char *match_bin = argc > 3 ? argv[3] : "build/sluice-trigger-match";
        const char *launch_bin = argc > 4 ? argv[4] : "build/sluice-trigger-launch";
        const char *work = getenv("BENCH_WORK") ? getenv("BENCH_WORK") : "/tmp";
        long rates[MAX_RATES];
        int nrates =
            parse_rates(getenv("BENCH_RATE") ? getenv("BENCH_RATE") : "5000", rates);
        long secs = getenv("BENCH_SECS") ? atol(getenv("BENCH_SECS")) : 20;
        sl_conf_t *conf = sl_conf_new();
        shape_t s = shape_of(ntrig);
        PGconn *pg;
        sl_codec_t *codec;
        rd_kafka_t *rk;

        sl_log_init("bench", "warn");
        if (n < 1 || ntrig < 1 || nrates < 1 || secs < 1)
                bt_die("usage", "bench-trigger [N_EVENTS [TRIGGERS [MATCH_BIN "
                                "[LAUNCH_BIN]]]]");
        if (sl_conf_load_env(conf, environ, errstr, sizeof(errstr)) != SL_OK)
                bt_die("config", errstr);
        if (!(pg = sl_pg_connect(conf, errstr, sizeof(errstr))))
                bt_die("postgres", errstr);
        if (!(codec = sl_codec_new(errstr, sizeof(errstr))))
                bt_die("codec", errstr);
        if (!(rk = sl_kafka_producer_new(conf, NULL, NULL, errstr, sizeof(errstr))))
                bt_die("producer", errstr);
        sl_kafka_topic_name(conf, SL_TOPIC_TRIGGER_MATCHES, t_matches, sizeof(t_matches));
        sl_kafka_topic_name(conf, SL_TOPIC_WORKFLOW_LAUNCHES, t_launches,
                            sizeof(t_launches));
        g_pg = bt_postmaster_of(getenv("BENCH_PG_DATA"));
        g_broker = getenv("BENCH_BROKER_PID") ? atoi(getenv("BENCH_BROKER_PID")) : 0;

        insert_triggers(pg, &s);
        bt_event_t *evs = calloc((size_t)n, sizeof(*evs));
        if (!evs)
                bt_die("events", "out of memory");
        long expect1 = render_events(codec, evs, n, &s, 0);
        size_t bytes = 0;
        for (long i = 0; i < n; i++)
                bytes += evs[i].len;
        printf(
            "bench/trigger: %ld events (~%zu-byte envelopes), %d triggers (%d exact over "
            "%d types, %d globs); partitions: events %d, trigger topics %d\n",
            n, bytes / (size_t)n, ntrig, s.nexact, s.ntypes, s.nglob,
            (int)sl_conf_get_int(conf, "topic.partitions"),
            (int)sl_conf_get_int(conf, "trigger.partitions"));
        printf("  the triggers' matches, computed here: %ld (%.3f an event)\n", expect1,
               (double)expect1 / (double)n);
        fflush(stdout);

        /* 0. The baseline. */
        double t_pre = bt_produce(conf, evs, n, 0);
        printf("  preload onto events.accepted: %.0f events/s\n", (double)n / t_pre);
        fflush(stdout);
        double base = bt_passthrough(conf, n);
        printf("  baseline, raw pass-through (consume -> produce -> commit): %.0f "
               "events/s\n",
               base);
        fflush(stdout);

        /* 1a. The match stage alone. */
        bt_range_t m0, m1, l0, l1;
        int mport = bt_free_port(), lport = bt_free_port();
        while (lport == mport)
                lport = bt_free_port();
        bt_watermarks(rk, t_matches, &m0);
        cpu_t c0 = cpu_now();
        double w0 = bt_now_s(), got_events = 0, launched = 0;
        g_match = bt_spawn(match_bin, mport, work, "trigger-match");
        bool ok1 = bt_wait_series(g_match, mport, "sluice_trigger_match_records_total",
                                  (double)n, &got_events);
        double matches = bt_metric(mport, "sluice_trigger_match_matches_total");
        double loaded = bt_metric(mport, "sluice_trigger_match_triggers");
        double w1 = bt_now_s();
        cpu_t c1 = cpu_now();
        long rss_m = bt_vmhwm_kib(g_match);
        bt_wait_count(rk, t_matches, &m0, (long)matches, &m1);
        span_t sm = {0};
        bt_read_range(conf, t_matches, &m0, &m1, on_match_rec, &sm);
        double match_rate = span_rate(&sm, n);
        printf("  match stage alone: %.0f of %d triggers loaded; %.0f of %ld events "
               "committed; %.0f matches (%.3f an event), %ld on trigger.matches\n",
               loaded, ntrig, got_events, n, matches, matches / (double)n, sm.n);
        printf("  matched events/s: %.0f  (first matched_at to last match produced: %.2f "
               "s)\n",
               match_rate, (double)(sm.last - sm.first) / 1e3);
        print_cpu("the match stage's burst", c0, c1, w1 - w0);
        fflush(stdout);

        /* 1b. The launch stage alone, over the matches the match stage left. */
        bt_watermarks(rk, t_launches, &l0);
        cpu_t c2 = cpu_now();
        double w2 = bt_now_s();
        g_launch = bt_spawn(launch_bin, lport, work, "trigger-launch");
        bool ok2 = ok1 && bt_wait_series(g_launch, lport, LAUNCHED, matches, &launched);
        double w3 = bt_now_s();
        cpu_t c3 = cpu_now();
        long rss_l = bt_vmhwm_kib(g_launch);
        bt_watermarks(rk, t_matches, &m1);
        bt_wait_count(rk, t_launches, &l0, (long)launched, &l1);
        span_t sl = {0};
        bt_read_range(conf, t_launches, &l0, &l1, on_launch_rec, &sl);
        double launch_rate = span_rate(&sl, sl.n);
        printf("  launch stage alone: %.0f launched, %ld on workflow.launches\n",
               launched, sl.n);
        printf(
            "  launches/s: %.0f  (first launched_at to last launch produced: %.2f s)\n",
            launch_rate, (double)(sl.last - sl.first) / 1e3);
        print_cpu("the launch stage's burst", c2, c3, w3 - w2);
        printf("  peak RSS (VmHWM) after the bursts: match %.1f MiB, launch %.1f MiB\n",
               (double)rss_m / 1024, (double)rss_l / 1024);
        bool valid1 = ok1 && ok2 && (long)loaded == ntrig && (long)matches == expect1 &&
                      sm.n == expect1 && sl.n == expect1 && (long)launched == expect1 &&
                      !sm.bad && !sl.bad && kept_from(&m1, &m0) && kept_from(&l1, &l0);
        if (!valid1)
                printf(
                    "  WARNING: INVALID RUN: a count above differs from the %ld matches "
                    "expected, or records were dropped (the mock keeps ~5 MiB a "
                    "partition): see %s/trigger-*.log\n",
                    expect1, work);
        fflush(stdout);

        /* 2. Paced, at each rate of BENCH_RATE in turn. */
        paced_t pr[MAX_RATES];
        bool valid2 = true;
        long expect2 = 0;
        paced_ctx_t px = {.conf = conf,
                          .rk = rk,
                          .codec = codec,
                          .shape = &s,
                          .t_launches = t_launches,
                          .work = work,
                          .mport = mport,
                          .lport = lport,
                          .events = n,
                          .matches = matches,
                          .launched = launched};
        for (int r = 0; r < nrates; r++) {
                pr[r] = paced_run(&px, rates[r], secs);
                valid2 = valid2 && pr[r].valid;
                expect2 += pr[r].expect;
        }
        int64_t p99 = pr[nrates - 1].p99;
        size_t k = pr[nrates - 1].k;
        long rss_m2 = bt_vmhwm_kib(g_match), rss_l2 = bt_vmhwm_kib(g_launch);

        bt_stop(g_match, "sluice-trigger-match");
        bt_stop(g_launch, "sluice-trigger-launch");
        PGresult *res = PQexec(pg, "SELECT count(*), count(*) FILTER (WHERE outcome = "
                                   "'launched') FROM trigger_deliveries");
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
                printf("  trigger_deliveries: %s rows, %s launched (expected %ld)\n",
                       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), expect1 + expect2);
        PQclear(res);

        double per_event = matches / (double)n;
        printf("\n  %-38s %10s %10s %7s  %-20s\n", "figure", "value", "baseline", "ratio",
               "target");
        printf("  %-38s %10.0f %10.0f %6.2fx  %-20s %s\n",
               "matched events/s (match stage)", match_rate, base, match_rate / base,
               ">= 50000, >= 0.5x",
               verdict(match_rate >= 50000 && match_rate >= 0.5 * base));
        printf("  %-38s %10.0f %10.0f %6.2fx  %-20s\n", "launches/s (launch stage)",
               launch_rate, base, launch_rate / base, "-");
        printf("  %-38s %10.0f %10.0f %6.2fx  %-20s\n", "events/s both stages sustain",
               launch_rate / per_event, base, launch_rate / per_event / base, "-");
        printf("  %-38s %10.2f %10s %7s  %-20s\n", "matches an event", per_event, "", "",
               "~2");
        for (int r = 0; r < nrates - 1; r++) {
                char what[64];
                snprintf(what, sizeof(what), "p99 accepted -> launch, %ld/s (ms)",
                         rates[r]);
                printf("  %-38s %10lld %10s %7s  %-20s\n", what, (long long)pr[r].p99, "",
                       "", "-");
        }
        char what[64];
        snprintf(what, sizeof(what), "p99 accepted -> launch, %ld/s (ms)",
                 rates[nrates - 1]);
        printf("  %-38s %10lld %10s %7s  %-20s %s\n", what, (long long)p99, "", "",
               rates[nrates - 1] == 5000 ? "< 50 at 5000/s" : "-",
               rates[nrates - 1] == 5000 ? verdict(k && p99 < 50) : "");
        printf("  %-38s %10.1f %10s %7s  %-20s\n", "peak RSS, match stage (MiB)",
               (double)rss_m2 / 1024, "", "", "-");
        printf("  %-38s %10.1f %10s %7s  %-20s\n", "peak RSS, launch stage (MiB)",
               (double)rss_l2 / 1024, "", "", "-");
        if (!valid1 || !valid2)
                printf("  INVALID: see the warnings above\n");

        for (long i = 0; i < n; i++)
                free(evs[i].buf);
        free(evs);
        rd_kafka_destroy(rk);
        sl_codec_destroy(codec);
        PQfinish(pg);
        sl_conf_destroy(conf);
        return valid1 && valid2 ? 0 : 1;
}
