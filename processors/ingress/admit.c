/*
 * Admission in sluice-ingress (see admit.h).  Per batch: look up recorded decisions
 * for partitions in verify mode, then decide the rest on the per-batch working copy of
 * each touched source's state (src/state/pstate.h: decoded once per batch, written
 * back once), so the per-event cost is a hash lookup and a few comparisons.  What to
 * do with a recorded decision is the replay table of src/state/replay.h; this file
 * supplies what Postgres holds and what a decision does to a source's window.
 */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limits/admission_codec.h"
#include "limits/backoff.h"
#include "limits/window.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/state_mirror.h"
#include "sluice/err.h"
#include "state/pstate.h"
#include "util/clock.h"
#include "util/fatal.h"

#define SL_ADMIT_KEY_PREFIX "s:" /* changelog key of a source's state: "s:<source>" */

/* A decision found in Postgres. */
typedef struct found_s {
        char id[37];
        int32_t attempt;
        sl_decision_t decision;
        sl_admit_reason_t reason;
        int64_t decided_at;
} found_t;

struct sl_admit_s {
        const sl_conf_t *conf;
        sl_pstate_t *ps; /* a sl_source_state_t per source, per input partition */

        /* the batch in hand */
        const sl_sources_t *src;
        int64_t now;
        found_t *found; /* sorted by id */
        size_t nfound;

        sl_backoff_t backoff;
        uint64_t rng;
        sl_state_mirror_t *mirror;
        int top_k;

        sl_metric_t *m_decisions[4], *m_paused, *m_replayed, *m_mirror_errors,
            *m_auto_pauses[SL_PAUSE_CAUSE__CNT];
};

static double uniform(sl_admit_t *ad)
{
        ad->rng ^= ad->rng << 13;
        ad->rng ^= ad->rng >> 7;
        ad->rng ^= ad->rng << 17;
        return (double)(ad->rng >> 11) / 9007199254740992.0;
}

static int state_decode(const void *buf, size_t len, void *value)
{
        return sl_admission_state_decode(buf, len, value);
}

static size_t state_encode(const void *value, unsigned char *buf)
{
        return sl_admission_state_encode(value, buf);
}

static void register_metrics(sl_admit_t *ad)
{
        static const char *const outcomes[] = {"", "accepted", "throttled", "paused"};
        char labels[64];

        for (int d = SL_DECISION_ACCEPTED; d <= SL_DECISION_PAUSED; d++) {
                snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcomes[d]);
                ad->m_decisions[d] = sl_metrics_counter(
                    "sluice_ingress_decisions_total", labels,
                    "Admission decisions by outcome (replayed decisions not counted).");
        }
        ad->m_replayed = sl_metrics_counter(
            "sluice_ingress_decisions_replayed_total", NULL,
            "Decisions re-used from Postgres for records read again after a restart "
            "or rebalance.");
        for (int c = SL_PAUSE_CAUSE_FLOOD; c < SL_PAUSE_CAUSE__CNT; c++) {
                snprintf(labels, sizeof(labels), "cause=\"%s\"",
                         sl_pause_cause_str((sl_pause_cause_t)c));
                ad->m_auto_pauses[c] = sl_metrics_counter(
                    "sluice_ingress_auto_pauses_total", labels,
                    "Auto-pauses started, by cause: flood (pause_after throttles in a "
                    "window), dlq_rate (the source breaker: too large a dead-lettered "
                    "share in a window).");
        }
        ad->m_paused = sl_metrics_gauge(
            "sluice_ingress_paused_sources", NULL,
            "Sources paused now (manual pauses plus auto-pauses of the sources this "
            "worker owns).");
        ad->m_mirror_errors =
            sl_metrics_counter("sluice_ingress_mirror_errors_total", NULL,
                               "Failed scheduler_state mirror writes.");
}

sl_admit_t *sl_admit_new(const sl_conf_t *conf, const char *changelog, char *errstr,
                         size_t errstr_size)
{
        sl_pstate_conf_t pc = {
            .stage = "ingress",
            .name = "admission",
            .keys = "sources",
            .changelog = changelog,
            .restore_timeout_ms =
                (int)sl_conf_get_int(conf, "admission.restore.timeout.ms"),
            .codec = {.value_size = sizeof(sl_source_state_t),
                      .encoded_max = SL_ADMISSION_STATE_MAX,
                      .key_prefix = SL_ADMIT_KEY_PREFIX,
                      .decode = state_decode,
                      .encode = state_encode,
                      .progress_key = SL_ADMISSION_PROGRESS_KEY,
                      .progress_encode = sl_admission_progress_encode,
                      .progress_decode = sl_admission_progress_decode},
        };
        sl_admit_t *ad = calloc(1, sizeof(*ad));

        if (!ad) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ad->conf = conf;
        ad->ps = sl_pstate_new(conf, &pc, errstr, errstr_size);
        if (!ad->ps)
                goto fail;
        ad->mirror = sl_state_mirror_new(
            "ingress", sl_conf_get_int(conf, "admission.mirror.ms"), errstr, errstr_size);
        if (!ad->mirror)
                goto fail;
        ad->backoff.initial_ms = sl_conf_get_int(conf, "retry.backoff.initial.ms");
        ad->backoff.max_ms = sl_conf_get_int(conf, "retry.backoff.max.ms");
        ad->backoff.multiplier = sl_conf_get_double(conf, "retry.backoff.multiplier");
        ad->backoff.jitter = sl_conf_get_double(conf, "retry.backoff.jitter");
        ad->backoff.max_attempts = (int)sl_conf_get_int(conf, "retry.max.attempts");
        ad->top_k = (int)sl_conf_get_int(conf, "admission.top.sources");
        ad->rng =
            (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
        register_metrics(ad);
        return ad;

fail:
        sl_admit_destroy(ad);
        return NULL;
}

void sl_admit_destroy(sl_admit_t *ad)
{
        if (!ad)
                return;
        sl_pstate_destroy(ad->ps);
        sl_state_mirror_destroy(ad->mirror);
        free(ad->found);
        free(ad);
}

static void touch_restored(int32_t part, const char *key, const void *value, void *opaque)
{
        sl_admit_t *ad = opaque;

        (void)value;
        (void)sl_pstate_touch(ad->ps, part, key,
                              0); /* out of memory: at its next change */
}

int sl_admit_assign(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                    char *errstr, size_t errstr_size)
{
        int err = sl_pstate_assign(ad->ps, parts, errstr, errstr_size);

        /* The next mirror writes every source the new owner restored, so scheduler_state
         * shows what this worker holds after a restart or a rebalance (with its
         * worker name and a fresh mirrored_at), not only the sources it changes later. */
        if (err == SL_OK)
                sl_pstate_foreach(ad->ps, touch_restored, ad);
        return err;
}

void sl_admit_revoke(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                     rd_kafka_t *producer)
{
        sl_pstate_revoke(ad->ps, parts, producer);
}

/* --- verify mode: decisions already recorded ---------------------------------- */

static const found_t *found_get(const found_t *found, size_t n, const char *id)
{
        /* sorted by id */
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(found[mid].id, id);
                if (c == 0)
                        return &found[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int found_cmp(const void *a, const void *b)
{
        return strcmp(((const found_t *)a)->id, ((const found_t *)b)->id);
}

static sl_admit_reason_t reason_parse(const char *s)
{
        for (int r = SL_ADMIT_WINDOW_FULL; r <= SL_ADMIT_MANUALLY_PAUSED; r++)
                if (strcmp(s, sl_admit_reason_str((sl_admit_reason_t)r)) == 0)
                        return (sl_admit_reason_t)r;
        return SL_ADMIT_OK;
}

/* What Postgres holds for the attempt of an event (f: its row, NULL when none). */
static sl_replay_record_t record_of(const found_t *f, int32_t attempt)
{
        if (!f || f->attempt != attempt)
                return SL_REPLAY_NO_RECORD; /* an older attempt: this one is new */
        return f->decision == SL_DECISION_NONE ? SL_REPLAY_RECORD_UNDECIDED
                                               : SL_REPLAY_RECORD_DECIDED;
}

/* ms since the epoch as timestamptz text, so the planner prunes partitions with it. */
static void timestamp_text(int64_t ms, char *buf, size_t size)
{
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;

        gmtime_r(&secs, &tm);
        snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)secs * 1000));
}

int sl_admit_lookup(sl_admit_t *ad, PGconn *pg, const char *const *ids, size_t n,
                    int64_t occurred_lo, int64_t occurred_hi, char *errstr,
                    size_t errstr_size)
{
        size_t len = 1;
        char *arr, lo[64], hi[64];
        PGresult *res;

        free(ad->found);
        ad->found = NULL;
        ad->nfound = 0;
        if (!n)
                return SL_OK;
        arr = malloc(n * 38 + 3);
        if (!arr)
                return SL_ERR_NOMEM;
        arr[0] = '{';
        for (size_t i = 0; i < n; i++) {
                if (i)
                        arr[len++] = ',';
                memcpy(arr + len, ids[i], 36);
                len += 36;
        }
        arr[len++] = '}';
        arr[len] = '\0';
        timestamp_text(occurred_lo, lo, sizeof(lo));
        timestamp_text(occurred_hi, hi, sizeof(hi));
        const char *params[3] = {arr, lo, hi};
        /* The range, with the parameters as timestamptz constants, keeps the planner
         * from estimating and the executor from probing all 22 or so daily partitions
         * (and the default one) per batch. */
        res =
            PQexecParams(pg,
                         "SELECT id::text, attempt, status, coalesce(reason, ''), "
                         "(extract(epoch FROM coalesce(decided_at, received_at)) * 1000)"
                         "::bigint FROM workflow_events WHERE id = ANY($1::uuid[]) "
                         "AND occurred_at BETWEEN $2::timestamptz AND $3::timestamptz",
                         3, NULL, params, NULL, NULL, 0);
        free(arr);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                snprintf(errstr, errstr_size, "recorded decisions: %s",
                         PQresultErrorMessage(res));
                PQclear(res);
                return SL_ERR_PG;
        }
        int rows = PQntuples(res);
        found_t *f = calloc((size_t)rows + 1, sizeof(*f));
        if (!f) {
                PQclear(res);
                return SL_ERR_NOMEM;
        }
        for (int r = 0; r < rows; r++) {
                snprintf(f[r].id, sizeof(f[r].id), "%s", PQgetvalue(res, r, 0));
                f[r].attempt = atoi(PQgetvalue(res, r, 1));
                f[r].decision = sl_decision_parse(PQgetvalue(res, r, 2));
                f[r].reason = reason_parse(PQgetvalue(res, r, 3));
                f[r].decided_at = atoll(PQgetvalue(res, r, 4));
        }
        PQclear(res);
        qsort(f, (size_t)rows, sizeof(*f), found_cmp);
        ad->found = f;
        ad->nfound = (size_t)rows;
        return SL_OK;
}

/* --- deciding -------------------------------------------------------------------- */

static int64_t next_attempt(sl_admit_t *ad, const sl_limits_t *lim,
                            const sl_manual_pause_t *pause, const sl_source_state_t *st,
                            sl_admit_reason_t why, int32_t attempt, int64_t now)
{
        int64_t at = now + sl_backoff_delay(&ad->backoff, attempt + 1, uniform(ad));
        int64_t floor = 0;

        if (why == SL_ADMIT_WINDOW_FULL)
                floor = st->window_start + lim->window_ms;
        else if (why == SL_ADMIT_AUTO_PAUSED)
                floor = st->paused_until;
        else if (why == SL_ADMIT_MANUALLY_PAUSED && pause && pause->until)
                floor = pause->until;
        return at > floor ? at : floor;
}

int sl_admit_begin(sl_admit_t *ad, const sl_sources_t *src, size_t max_events,
                   int64_t now)
{
        ad->src = src;
        ad->now = now;
        free(ad->found);
        ad->found = NULL;
        ad->nfound = 0;
        return sl_pstate_begin(ad->ps, max_events);
}

bool sl_admit_verifying(const sl_admit_t *ad, int32_t partition)
{
        return sl_pstate_verifying(ad->ps, partition);
}

/* Count one event of a source in its breaker's window at time at (see
 * sl_admission_observe); when that trips the breaker, count and log the pause. */
static void observe(sl_admit_t *ad, const sl_limits_t *lim,
                    const sl_manual_pause_t *pause, sl_source_state_t *st, int64_t at,
                    bool dead_lettered, const sl_log_ctx_t *ctx)
{
        sl_dlq_trip_t trip;

        if (!sl_admission_observe(lim, pause, st, at, dead_lettered, &trip))
                return;
        sl_metrics_add(ad->m_auto_pauses[SL_PAUSE_CAUSE_DLQ_RATE], 1);
        sl_log(SL_LOG_WARN, ctx,
               "source %s auto-paused until %lld: %lld of %lld events dead-lettered in "
               "the %lld ms window from %lld (dlq_rate %lld%%, dlq_min %lld)",
               ctx->source, (long long)st->paused_until, (long long)trip.dead,
               (long long)trip.seen, (long long)lim->dlq_window_ms,
               (long long)st->dlq_window_start, (long long)lim->dlq_rate,
               (long long)lim->dlq_min);
}

void sl_admit_one(sl_admit_t *ad, sl_admit_event_t *ev)
{
        int32_t p = ev->partition;
        const sl_sources_t *src = ad->src;
        const sl_limits_t *lim = sl_sources_limits(src, ev->source);
        const sl_manual_pause_t *pause = sl_sources_pause(src, ev->source);
        const found_t *f = NULL;
        sl_source_state_t *st = sl_pstate_work(ad->ps, p, ev->source);
        sl_replay_action_t act;
        bool started = false;
        sl_log_ctx_t ctx = {.event_id = ev->event_id,
                            .source = ev->source,
                            .correlation_id = ev->correlation_id};

        if (!st)
                sl_oom("admission: a source's working state");
        if (sl_pstate_verifying(ad->ps, p))
                f = found_get(ad->found, ad->nfound, ev->event_id);
        act = sl_pstate_replay(ad->ps, p, ev->offset, record_of(f, ev->attempt));
        ev->replayed = false;
        if (act != SL_REPLAY_DECIDE) {
                ev->decision = f->decision;
                ev->reason = f->reason;
                ev->decided_at = f->decided_at;
                ev->replayed = true;
                if (act == SL_REPLAY_REUSE_COUNT) {
                        sl_admission_apply(lim, st, f->decision, f->decided_at);
                        /* A fresh event decided (not paused) counts for the breaker
                         * too, in the window of its decision. */
                        if (ev->attempt == 0 && f->decision != SL_DECISION_PAUSED)
                                observe(ad, lim, pause, st, f->decided_at, false, &ctx);
                }
                if (f->decision != SL_DECISION_ACCEPTED)
                        ev->next_attempt_at = next_attempt(ad, lim, pause, st, f->reason,
                                                           ev->attempt, ad->now);
                sl_metrics_add(ad->m_replayed, 1);
                /* Out of memory: the source is mirrored at its next change. */
                (void)sl_pstate_touch(ad->ps, p, ev->source, 0);
                return;
        }
        ev->decision =
            sl_admission_decide(lim, pause, st, ad->now, &ev->reason, &started);
        ev->decided_at = ad->now;
        if (ev->decision != SL_DECISION_ACCEPTED)
                ev->next_attempt_at =
                    next_attempt(ad, lim, pause, st, ev->reason, ev->attempt, ad->now);
        if (started) {
                sl_metrics_add(ad->m_auto_pauses[SL_PAUSE_CAUSE_FLOOD], 1);
                sl_log(SL_LOG_INFO, &ctx,
                       "source %s auto-paused until %lld: %lld throttled in the window "
                       "(pause_after %lld)",
                       ev->source, (long long)st->paused_until, (long long)st->throttled,
                       (long long)lim->pause_after);
        }
        /* The breaker counts what the publisher sent: fresh events only (a re-injected
         * one was counted at attempt 0, or held by a pause then). */
        if (ev->attempt == 0 && ev->decision != SL_DECISION_PAUSED)
                observe(ad, lim, pause, st, ad->now, false, &ctx);
        sl_metrics_add(ad->m_decisions[ev->decision], 1);
        (void)sl_pstate_touch(ad->ps, p, ev->source,
                              ev->decision == SL_DECISION_ACCEPTED);
}

void sl_admit_recorded(sl_admit_t *ad, sl_admit_event_t *ev, sl_decision_t d,
                       sl_admit_reason_t reason, int64_t decided_at)
{
        int32_t p = ev->partition;
        const sl_limits_t *lim = sl_sources_limits(ad->src, ev->source);
        sl_source_state_t *st = sl_pstate_work(ad->ps, p, ev->source);

        if (!st)
                sl_oom("admission: a source's working state");
        ev->decision = d;
        ev->reason = reason;
        ev->decided_at = decided_at;
        ev->replayed = true;
        if (sl_pstate_is_new(ad->ps, p, ev->offset))
                sl_admission_apply(lim, st, d, decided_at);
        if (d != SL_DECISION_ACCEPTED)
                ev->next_attempt_at =
                    next_attempt(ad, lim, sl_sources_pause(ad->src, ev->source), st,
                                 reason, ev->attempt, ad->now);
        sl_metrics_add(ad->m_replayed, 1);
        (void)sl_pstate_touch(ad->ps, p, ev->source, 0);
}

void sl_admit_dead_letter(sl_admit_t *ad, int32_t partition, int64_t offset,
                          const char *source, const char *event_id,
                          const char *correlation_id)
{
        const sl_limits_t *lim = sl_sources_limits(ad->src, source);
        sl_log_ctx_t ctx = {
            .event_id = event_id, .source = source, .correlation_id = correlation_id};
        sl_source_state_t *st;

        /* Off: no working copy, so a source that only ever sends dead letters gets no
         * state record.  At or before progress: the restored state counted it. */
        if (!sl_admission_breaker_on(lim) || !sl_pstate_is_new(ad->ps, partition, offset))
                return;
        st = sl_pstate_work(ad->ps, partition, source);
        if (!st)
                sl_oom("admission: a source's working state");
        observe(ad, lim, sl_sources_pause(ad->src, source), st, ad->now, true, &ctx);
        (void)sl_pstate_touch(ad->ps, partition, source, 0);
}

void sl_admit_unapply(sl_admit_t *ad, const sl_sources_t *src, const sl_admit_event_t *ev)
{
        const sl_limits_t *lim = sl_sources_limits(src, ev->source);
        sl_source_state_t st;

        if (sl_pstate_get(ad->ps, ev->partition, ev->source, &st) != SL_OK)
                return;
        /* The breaker counted it as one event seen (sl_admit_one), unless its window
         * is over or a trip started the count afresh since. */
        if (sl_admission_breaker_on(lim) && ev->attempt == 0 &&
            ev->decision != SL_DECISION_PAUSED && st.dlq_seen > st.dlq_dead &&
            sl_window_start_of(lim->dlq_window_ms, ev->decided_at) == st.dlq_window_start)
                st.dlq_seen--;
        if (lim->window_ms <= 0 ||
            sl_window_start_of(lim->window_ms, ev->decided_at) == st.window_start) {
                if (ev->decision == SL_DECISION_ACCEPTED && st.count > 0)
                        st.count--;
                else if (ev->decision == SL_DECISION_THROTTLED && st.throttled > 0)
                        st.throttled--;
        } /* else its window is over: nothing left to correct */
        sl_pstate_put(ad->ps, ev->partition, ev->source, &st);
}

sl_admit_reason_t sl_admit_reason_parse(const char *s)
{
        return reason_parse(s);
}

void sl_admit_end(sl_admit_t *ad)
{
        sl_pstate_end(ad->ps);
        free(ad->found);
        ad->found = NULL;
        ad->nfound = 0;
        ad->src = NULL;
}

int sl_admit_flush(sl_admit_t *ad, rd_kafka_t *producer, void *msg_opaque,
                   const int64_t *last_offsets, int32_t nparts, size_t *records)
{
        return sl_pstate_flush(ad->ps, producer, msg_opaque, last_offsets, nparts,
                               records);
}

/* --- mirror and gauges ------------------------------------------------------------ */

/* Admissions of a touched source, for the top-k family. */
typedef struct top_fill_s {
        sl_metrics_top_t *top;
        size_t n;
} top_fill_t;

static void top_add(int32_t part, const char *key, int64_t n, void *opaque)
{
        top_fill_t *tf = opaque;

        (void)part;
        tf->top[tf->n++] = (sl_metrics_top_t){.label = key, .count = n};
}

static void render_top(sl_admit_t *ad, double secs)
{
        top_fill_t tf = {
            .top = malloc((sl_pstate_touched_count(ad->ps) + 1) * sizeof(*tf.top))};

        if (!tf.top)
                return;
        sl_pstate_touched_foreach(ad->ps, top_add, &tf);
        sl_metrics_set_top("ingress_top_sources",
                           "sluice_ingress_top_source_admissions_per_second",
                           "Admissions per second of the admission.top.sources busiest "
                           "sources over the last mirror interval; the rest are summed "
                           "under source=\"_other\".",
                           "source", tf.top, tf.n, (size_t)ad->top_k, secs);
        free(tf.top);
}

typedef struct paused_count_s {
        int64_t now;
        size_t n;
} paused_count_t;

static void count_paused(int32_t part, const char *key, const void *value, void *opaque)
{
        const sl_source_state_t *st = value;
        paused_count_t *pc = opaque;

        (void)part;
        (void)key;
        if (st->paused_until > pc->now)
                pc->n++;
}

static void mirror_add(int32_t part, const char *key, int64_t n, void *opaque)
{
        sl_admit_t *ad = opaque;
        sl_source_state_t st;
        char detail[192];

        (void)n;
        if (sl_pstate_get(ad->ps, part, key, &st) != SL_OK)
                return;
        /* The source breaker and the cause of the last auto-pause, for sources that
         * have either (NULL otherwise, as before the breaker). */
        snprintf(detail, sizeof(detail),
                 "{\"pause_cause\":\"%s\",\"dlq_window_start\":%lld,\"dlq_seen\":%lld,"
                 "\"dlq_dead\":%lld}",
                 sl_pause_cause_str((sl_pause_cause_t)st.pause_cause),
                 (long long)st.dlq_window_start, (long long)st.dlq_seen,
                 (long long)st.dlq_dead);
        sl_state_mirror_row_t row = {.key = key,
                                     .partition = part,
                                     .window_start = st.window_start,
                                     .window_count = st.count,
                                     .throttled = st.throttled,
                                     .paused_until = st.paused_until,
                                     .updated_at = st.updated_at,
                                     .detail = st.pause_cause != SL_PAUSE_CAUSE_NONE ||
                                                       st.dlq_window_start != 0
                                                   ? detail
                                                   : NULL};
        sl_state_mirror_add(ad->mirror, &row);
}

void sl_admit_tick(sl_admit_t *ad, PGconn *pg, const sl_sources_t *src, int64_t now,
                   bool force)
{
        paused_count_t pc = {.now = now};
        char errstr[512];
        double secs;

        if (!sl_state_mirror_due(ad->mirror, sl_mono_ms(), force, &secs))
                return;
        sl_pstate_foreach(ad->ps, count_paused, &pc);
        sl_metrics_set(ad->m_paused,
                       (double)(pc.n + (src ? sl_sources_paused(src, now) : 0)));
        render_top(ad, secs);
        if (!sl_pstate_touched_count(ad->ps))
                return;
        sl_pstate_touched_foreach(ad->ps, mirror_add, ad);
        sl_pstate_touched_clear(ad->ps);
        if (sl_state_mirror_write(ad->mirror, pg, errstr, sizeof(errstr)) != SL_OK) {
                sl_metrics_add(ad->m_mirror_errors, 1);
                sl_log_warn("%s", errstr);
        }
}
