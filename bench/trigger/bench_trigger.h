/*
 * bench-trigger's parts (bench/trigger/): topics.c moves records (the events produced,
 * the pass-through baseline, topics read back after a run); stages.c runs the stages
 * as processes and reads what they expose (/metrics, /proc).  bench_trigger.c holds
 * the workload and the phases.  Bench code only: errors end the process (bt_die).
 */
#ifndef BENCH_TRIGGER_H
#define BENCH_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

#define BT_MAX_PARTS 1024

double bt_now_s(void);    /* monotonic seconds */
int64_t bt_wall_ms(void); /* ms since the epoch */
void bt_die(const char *what, const char *why);

/* --- topics.c --- */

/* One pre-rendered accepted event. */
typedef struct bt_event_s {
        void *buf; /* the envelope, single-object encoded (malloc()ed) */
        size_t len;
        char key[16]; /* its source: ingress keys events.accepted by source */
        char traceparent[56];
} bt_event_t;

/* Produce evs onto events.accepted with the stages' producer settings, each with its
 * traceparent header; rate > 0 paces them (every 5 ms, those due by then, so a
 * record's timestamp is when it was accepted).  Returns the seconds it took. */
double bt_produce(const sl_conf_t *conf, const bt_event_t *evs, long n, long rate);

/* The baseline: a consumer in its own group reads n records of events.accepted and
 * produces each unchanged (key, value, headers) to events.in, in batches of up to
 * 5,000 / 20 ms, at most four in flight, each committed once delivered.  Records/s
 * from the first record in hand to the last handed to the producer. */
double bt_passthrough(const sl_conf_t *conf, long n);

/* Low and high watermarks of every partition of a topic. */
typedef struct bt_range_s {
        int nparts;
        int64_t lo[BT_MAX_PARTS], hi[BT_MAX_PARTS];
} bt_range_t;

void bt_watermarks(rd_kafka_t *rk, const char *topic, bt_range_t *r);
/* Records between from's and to's high watermarks (from NULL: from 0). */
long bt_range_count(const bt_range_t *from, const bt_range_t *to);
/* Wait (polling every 500 ms, at most 30 s) until topic holds want records past from:
 * a stage counts a decision before its record is delivered.  *to: the watermarks. */
bool bt_wait_count(rd_kafka_t *rk, const char *topic, const bt_range_t *from, long want,
                   bt_range_t *to);
/* Read the records of topic in [from->hi, to->hi) of every partition (from NULL: from
 * the start), calling fn on each.  Returns how many were read; a record the mock
 * dropped (below to->lo) is missing from the count. */
long bt_read_range(const sl_conf_t *conf, const char *topic, const bt_range_t *from,
                   const bt_range_t *to, void (*fn)(const rd_kafka_message_t *, void *),
                   void *opaque);

/* --- stages.c --- */

int bt_free_port(void);
/* Start bin with http.port=port and log.level=warn, its output in WORK/NAME.log. */
pid_t bt_spawn(const char *bin, int port, const char *work, const char *name);
/* SIGTERM, wait; says so on stderr unless it exited 0. */
void bt_stop(pid_t pid, const char *name);
/* The value of one series ("name" or "name{labels}") on the stage's /metrics; -1 when
 * absent or unreachable. */
double bt_metric(int port, const char *series);
/* Wait until the series reaches want (true), polling every 500 ms; false when the
 * process exited or the series did not move for 30 s.  *got: its last value. */
bool bt_wait_series(pid_t pid, int port, const char *series, double want, double *got);

long bt_vmhwm_kib(pid_t pid); /* peak RSS */
double bt_cpu_s(pid_t pid);   /* utime + stime, seconds */
double bt_pg_cpu_s(pid_t pm); /* the postmaster, its live children, and reaped ones */
pid_t bt_postmaster_of(const char *data_dir);

/* A histogram's cumulative buckets as /metrics shows them. */
#define BT_HMAX 32
typedef struct bt_hist_s {
        int n;
        char le[BT_HMAX][16];
        double cum[BT_HMAX];
} bt_hist_t;

void bt_hist_read(int port, const char *name, bt_hist_t *h);
/* Observations between snapshots a and b. */
double bt_hist_total(const bt_hist_t *a, const bt_hist_t *b);
/* The upper bound ("0.05", seconds) of the bucket holding quantile q of them. */
const char *bt_hist_quantile(const bt_hist_t *a, const bt_hist_t *b, double q);

#endif
