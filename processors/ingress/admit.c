/*
 * Admission in sluice-ingress (see admit.h).  Per batch: look up recorded decisions
 * for partitions in verify mode, then decide the rest on a per-batch working copy of
 * each touched source's state (decoded once per batch, written back once), so the
 * per-event cost is a hash lookup and a few comparisons.
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
#include "pg/pgarray.h"
#include "sluice/err.h"
#include "state/store.h"

#define SL_ADMIT_MAX_TIERS 16

/* A source touched by the current batch: its working state. */
typedef struct work_s {
        const char *source; /* borrowed from the batch's envelopes */
        uint64_t hash;
        int32_t partition;
        sl_source_state_t st;
} work_t;

/* A source changed since the last mirror. */
typedef struct touched_s {
        char *source;
        uint64_t hash;
        int32_t partition;
        int64_t admitted; /* since the last mirror */
} touched_t;

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
        sl_store_t *st;
        int64_t *progress; /* per partition: last input offset the state includes */
        bool *verify;
        bool *assigned;
        int32_t nparts;

        work_t *work; /* open addressing, cap a power of two */
        size_t work_cap;
        size_t *work_used; /* slots in use this batch */
        size_t work_cnt;

        touched_t *touched; /* open addressing */
        size_t touched_cap, touched_cnt;

        /* the batch in hand */
        const sl_sources_t *src;
        int64_t now;
        found_t *found;
        size_t nfound;
        bool *saw_new, *found_new; /* per partition, verify mode bookkeeping */

        sl_backoff_t backoff;
        uint64_t rng;
        int64_t mirror_ms, next_mirror;
        int top_k;
        char worker[128];

        sl_metric_t *m_decisions[4], *m_restore_seconds, *m_restore_records, *m_paused,
                *m_replayed, *m_mirror_errors, *m_auto_pauses;
};

static uint64_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
        return h ? h : 1;
}

static double uniform(sl_admit_t *ad)
{
        ad->rng ^= ad->rng << 13;
        ad->rng ^= ad->rng >> 7;
        ad->rng ^= ad->rng << 17;
        return (double)(ad->rng >> 11) / 9007199254740992.0;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ensure_parts(sl_admit_t *ad, int32_t part)
{
        if (part < ad->nparts)
                return SL_OK;
        int32_t n = part + 1;
        int64_t *pr = realloc(ad->progress, (size_t)n * sizeof(*pr));
        bool *v = realloc(ad->verify, (size_t)n * sizeof(*v));
        bool *a = realloc(ad->assigned, (size_t)n * sizeof(*a));
        bool *sn = realloc(ad->saw_new, (size_t)n * sizeof(*sn));
        bool *fn = realloc(ad->found_new, (size_t)n * sizeof(*fn));
        if (pr)
                ad->progress = pr;
        if (v)
                ad->verify = v;
        if (a)
                ad->assigned = a;
        if (sn)
                ad->saw_new = sn;
        if (fn)
                ad->found_new = fn;
        if (!pr || !v || !a || !sn || !fn)
                return SL_ERR_NOMEM;
        for (int32_t i = ad->nparts; i < n; i++) {
                ad->progress[i] = -1;
                ad->verify[i] = true;
                ad->assigned[i] = false;
                ad->saw_new[i] = ad->found_new[i] = false;
        }
        ad->nparts = n;
        return SL_OK;
}

static void register_metrics(sl_admit_t *ad)
{
        static const double restore_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};
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
        ad->m_auto_pauses = sl_metrics_counter("sluice_ingress_auto_pauses_total", NULL,
                                               "Auto-pauses started.");
        ad->m_paused = sl_metrics_gauge(
                "sluice_ingress_paused_sources", NULL,
                "Sources paused now (manual pauses plus auto-pauses of the sources this "
                "worker owns).");
        ad->m_restore_seconds = sl_metrics_histogram(
                "sluice_ingress_state_restore_seconds", NULL,
                "Time to restore one partition's admission state from its changelog.",
                restore_bounds, sizeof(restore_bounds) / sizeof(restore_bounds[0]));
        ad->m_restore_records = sl_metrics_counter(
                "sluice_ingress_state_restore_records_total", NULL,
                "Changelog records read while restoring admission state.");
        ad->m_mirror_errors = sl_metrics_counter("sluice_ingress_mirror_errors_total", NULL,
                                                 "Failed scheduler_state mirror writes.");
}

sl_admit_t *sl_admit_new(const sl_conf_t *conf, const char *changelog, char *errstr,
                         size_t errstr_size)
{
        sl_admit_t *ad = calloc(1, sizeof(*ad));
        char host[64] = "";

        if (!ad) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ad->conf = conf;
        ad->st = sl_store_new(conf, "admission", changelog);
        if (!ad->st) {
                free(ad);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ad->backoff.initial_ms = sl_conf_get_int(conf, "retry.backoff.initial.ms");
        ad->backoff.max_ms = sl_conf_get_int(conf, "retry.backoff.max.ms");
        ad->backoff.multiplier = sl_conf_get_double(conf, "retry.backoff.multiplier");
        ad->backoff.jitter = sl_conf_get_double(conf, "retry.backoff.jitter");
        ad->backoff.max_attempts = (int)sl_conf_get_int(conf, "retry.max.attempts");
        ad->mirror_ms = sl_conf_get_int(conf, "admission.mirror.ms");
        ad->top_k = (int)sl_conf_get_int(conf, "admission.top.sources");
        ad->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
        gethostname(host, sizeof(host) - 1);
        snprintf(ad->worker, sizeof(ad->worker), "%s:%d", host, (int)getpid());
        register_metrics(ad);
        return ad;
}

void sl_admit_destroy(sl_admit_t *ad)
{
        if (!ad)
                return;
        sl_store_destroy(ad->st);
        for (size_t i = 0; i < ad->touched_cap; i++)
                free(ad->touched[i].source);
        free(ad->touched);
        free(ad->work);
        free(ad->work_used);
        free(ad->progress);
        free(ad->verify);
        free(ad->assigned);
        free(ad->found);
        free(ad->saw_new);
        free(ad->found_new);
        free(ad);
}

int sl_admit_assign(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                    char *errstr, size_t errstr_size)
{
        int timeout = (int)sl_conf_get_int(ad->conf, "admission.restore.timeout.ms");

        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                int64_t t0 = mono_ms(), off = -1;
                size_t records = 0, len;
                const void *v;
                int err;

                if (ensure_parts(ad, p) != SL_OK) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return SL_ERR_NOMEM;
                }
                err = sl_store_restore(ad->st, p, timeout, &records, errstr, errstr_size);
                if (err != SL_OK)
                        return err;
                v = sl_store_get(ad->st, p, SL_ADMISSION_PROGRESS_KEY, &len);
                if (v && sl_admission_progress_decode(v, len, &off) != SL_OK)
                        off = -1;
                ad->progress[p] = off;
                ad->verify[p] = true;
                ad->assigned[p] = true;
                double secs = (double)(mono_ms() - t0) / 1000.0;
                sl_metrics_observe(ad->m_restore_seconds, secs);
                sl_metrics_add(ad->m_restore_records, records);
                sl_log_info("admission state of partition %d restored: %zu changelog records, "
                            "%zu sources, progress offset %lld, %.3f s",
                            (int)p, records,
                            sl_store_count(ad->st, p) - (v ? 1 : 0), (long long)off, secs);
        }
        return SL_OK;
}

void sl_admit_revoke(sl_admit_t *ad, const rd_kafka_topic_partition_list_t *parts,
                     rd_kafka_t *producer)
{
        sl_store_flush(ad->st, -1, producer, NULL, NULL);
        rd_kafka_flush(producer, 30000);
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                if (p < ad->nparts) {
                        ad->assigned[p] = false;
                        ad->progress[p] = -1;
                }
                sl_store_drop(ad->st, p);
        }
}

/* --- the per-batch working set ------------------------------------------------ */

static int work_reserve(sl_admit_t *ad, size_t n)
{
        size_t cap = 64;
        while (cap < n * 2)
                cap *= 2;
        if (cap <= ad->work_cap)
                return SL_OK;
        free(ad->work);
        free(ad->work_used);
        ad->work = calloc(cap, sizeof(*ad->work));
        ad->work_used = calloc(cap, sizeof(*ad->work_used));
        ad->work_cap = ad->work ? cap : 0;
        ad->work_cnt = 0;
        return ad->work && ad->work_used ? SL_OK : SL_ERR_NOMEM;
}

static work_t *work_get(sl_admit_t *ad, int32_t part, const char *source)
{
        uint64_t h = hash_str(source);
        size_t i = h & (ad->work_cap - 1);
        work_t *w;

        while (ad->work[i].source) {
                if (ad->work[i].hash == h && strcmp(ad->work[i].source, source) == 0)
                        return &ad->work[i];
                i = (i + 1) & (ad->work_cap - 1);
        }
        w = &ad->work[i];
        w->source = source;
        w->hash = h;
        w->partition = part;
        memset(&w->st, 0, sizeof(w->st));
        char key[1040];
        size_t len;
        snprintf(key, sizeof(key), "s:%s", source);
        const void *v = sl_store_get(ad->st, part, key, &len);
        if (v && sl_admission_state_decode(v, len, &w->st) != SL_OK) {
                sl_log_warn("admission state of source %s does not decode: starting afresh",
                            source);
                memset(&w->st, 0, sizeof(w->st));
        }
        ad->work_used[ad->work_cnt++] = i;
        return w;
}

static void touched_grow(sl_admit_t *ad)
{
        size_t cap = ad->touched_cap ? ad->touched_cap * 2 : 1024;
        touched_t *t = calloc(cap, sizeof(*t));
        if (!t)
                abort();
        for (size_t i = 0; i < ad->touched_cap; i++) {
                if (!ad->touched[i].source)
                        continue;
                size_t j = ad->touched[i].hash & (cap - 1);
                while (t[j].source)
                        j = (j + 1) & (cap - 1);
                t[j] = ad->touched[i];
        }
        free(ad->touched);
        ad->touched = t;
        ad->touched_cap = cap;
}

static void touch(sl_admit_t *ad, const work_t *w, int64_t admitted)
{
        size_t i;

        if ((ad->touched_cnt + 1) * 2 > ad->touched_cap)
                touched_grow(ad);
        i = w->hash & (ad->touched_cap - 1);
        while (ad->touched[i].source) {
                if (ad->touched[i].hash == w->hash &&
                    strcmp(ad->touched[i].source, w->source) == 0) {
                        ad->touched[i].admitted += admitted;
                        ad->touched[i].partition = w->partition;
                        return;
                }
                i = (i + 1) & (ad->touched_cap - 1);
        }
        ad->touched[i].source = strdup(w->source);
        ad->touched[i].hash = w->hash;
        ad->touched[i].partition = w->partition;
        ad->touched[i].admitted = admitted;
        ad->touched_cnt++;
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

int sl_admit_lookup(sl_admit_t *ad, PGconn *pg, const char *const *ids, size_t n,
                    char *errstr, size_t errstr_size)
{
        size_t len = 1;
        char *arr;
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
        const char *params[1] = {arr};
        res = PQexecParams(pg,
                           "SELECT id::text, attempt, status, coalesce(reason, ''), "
                           "(extract(epoch FROM coalesce(decided_at, received_at)) * 1000)"
                           "::bigint FROM workflow_events WHERE id = ANY($1::uuid[])",
                           1, NULL, params, NULL, NULL, 0);
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

int sl_admit_begin(sl_admit_t *ad, const sl_sources_t *src, size_t max_events, int64_t now)
{
        ad->src = src;
        ad->now = now;
        free(ad->found);
        ad->found = NULL;
        ad->nfound = 0;
        for (int32_t p = 0; p < ad->nparts; p++)
                ad->saw_new[p] = ad->found_new[p] = false;
        return work_reserve(ad, max_events);
}

bool sl_admit_verifying(const sl_admit_t *ad, int32_t partition)
{
        return partition >= ad->nparts || ad->verify[partition];
}

void sl_admit_one(sl_admit_t *ad, sl_admit_event_t *ev)
{
        int32_t p = ev->partition;
        const sl_sources_t *src = ad->src;
        const sl_limits_t *lim;
        const sl_manual_pause_t *pause;
        const found_t *f = NULL;
        work_t *w;
        bool is_new, started = false;

        if (ensure_parts(ad, p) != SL_OK)
                abort();
        lim = sl_sources_limits(src, ev->source);
        pause = sl_sources_pause(src, ev->source);
        w = work_get(ad, p, ev->source);
        is_new = ev->offset > ad->progress[p];
        ev->replayed = false;
        if (ad->verify[p]) {
                f = found_get(ad->found, ad->nfound, ev->event_id);
                if (f && f->attempt != ev->attempt)
                        f = NULL; /* an older attempt: this one is new */
                if (is_new) {
                        ad->saw_new[p] = true;
                        if (f)
                                ad->found_new[p] = true;
                }
        }
        if (f && f->decision != SL_DECISION_NONE) {
                ev->decision = f->decision;
                ev->reason = f->reason;
                ev->decided_at = f->decided_at;
                ev->replayed = true;
                if (is_new)
                        sl_admission_apply(lim, &w->st, f->decision, f->decided_at);
                if (f->decision != SL_DECISION_ACCEPTED)
                        ev->next_attempt_at = next_attempt(ad, lim, pause, &w->st, f->reason,
                                                           ev->attempt, ad->now);
                sl_metrics_add(ad->m_replayed, 1);
                touch(ad, w, 0);
                return;
        }
        ev->decision = sl_admission_decide(lim, pause, &w->st, ad->now, &ev->reason, &started);
        ev->decided_at = ad->now;
        if (ev->decision != SL_DECISION_ACCEPTED)
                ev->next_attempt_at =
                        next_attempt(ad, lim, pause, &w->st, ev->reason, ev->attempt, ad->now);
        if (started) {
                sl_log_ctx_t ctx = {.event_id = ev->event_id,
                                    .source = ev->source,
                                    .correlation_id = ev->correlation_id};
                sl_metrics_add(ad->m_auto_pauses, 1);
                sl_log(SL_LOG_INFO, &ctx,
                       "source %s auto-paused until %lld: %lld throttled in the window "
                       "(pause_after %lld)",
                       ev->source, (long long)w->st.paused_until, (long long)w->st.throttled,
                       (long long)lim->pause_after);
        }
        sl_metrics_add(ad->m_decisions[ev->decision], 1);
        touch(ad, w, ev->decision == SL_DECISION_ACCEPTED);
}

void sl_admit_recorded(sl_admit_t *ad, sl_admit_event_t *ev, sl_decision_t d,
                       sl_admit_reason_t reason, int64_t decided_at)
{
        int32_t p = ev->partition;
        const sl_limits_t *lim;
        work_t *w;

        if (ensure_parts(ad, p) != SL_OK)
                abort();
        lim = sl_sources_limits(ad->src, ev->source);
        w = work_get(ad, p, ev->source);
        ev->decision = d;
        ev->reason = reason;
        ev->decided_at = decided_at;
        ev->replayed = true;
        if (ev->offset > ad->progress[p])
                sl_admission_apply(lim, &w->st, d, decided_at);
        if (d != SL_DECISION_ACCEPTED)
                ev->next_attempt_at = next_attempt(ad, lim, sl_sources_pause(ad->src, ev->source),
                                                   &w->st, reason, ev->attempt, ad->now);
        sl_metrics_add(ad->m_replayed, 1);
        touch(ad, w, 0);
}

void sl_admit_unapply(sl_admit_t *ad, const sl_sources_t *src, const sl_admit_event_t *ev)
{
        const sl_limits_t *lim = sl_sources_limits(src, ev->source);
        unsigned char buf[SL_ADMISSION_STATE_MAX];
        char key[1040];
        sl_source_state_t st;
        const void *v;
        size_t len;

        if (ev->partition >= ad->nparts || !ad->assigned[ev->partition])
                return;
        snprintf(key, sizeof(key), "s:%s", ev->source);
        v = sl_store_get(ad->st, ev->partition, key, &len);
        if (!v || sl_admission_state_decode(v, len, &st) != SL_OK)
                return;
        if (lim->window_ms > 0 &&
            sl_window_start_of(lim->window_ms, ev->decided_at) != st.window_start)
                return; /* its window is over: nothing left to correct */
        if (ev->decision == SL_DECISION_ACCEPTED && st.count > 0)
                st.count--;
        else if (ev->decision == SL_DECISION_THROTTLED && st.throttled > 0)
                st.throttled--;
        sl_store_put(ad->st, ev->partition, key, buf, sl_admission_state_encode(&st, buf));
}

sl_admit_reason_t sl_admit_reason_parse(const char *s)
{
        return reason_parse(s);
}

void sl_admit_end(sl_admit_t *ad)
{
        /* Write the working states back to the store, once per source. */
        for (size_t k = 0; k < ad->work_cnt; k++) {
                work_t *w = &ad->work[ad->work_used[k]];
                unsigned char buf[SL_ADMISSION_STATE_MAX];
                char key[1040];
                snprintf(key, sizeof(key), "s:%s", w->source);
                sl_store_put(ad->st, w->partition, key, buf,
                             sl_admission_state_encode(&w->st, buf));
                w->source = NULL;
        }
        ad->work_cnt = 0;
        /* Leave verify mode where this batch's new events had no recorded decision. */
        for (int32_t p = 0; p < ad->nparts; p++)
                if (ad->verify[p] && ad->saw_new[p] && !ad->found_new[p])
                        ad->verify[p] = false;
        free(ad->found);
        ad->found = NULL;
        ad->nfound = 0;
        ad->src = NULL;
}

int sl_admit_flush(sl_admit_t *ad, rd_kafka_t *producer, void *msg_opaque,
                   const int64_t *last_offsets, int32_t nparts, size_t *records)
{
        for (int32_t p = 0; p < nparts; p++) {
                unsigned char buf[10];
                if (last_offsets[p] < 0 || p >= ad->nparts || !ad->assigned[p])
                        continue;
                if (last_offsets[p] > ad->progress[p]) {
                        ad->progress[p] = last_offsets[p];
                        sl_store_put(ad->st, p, SL_ADMISSION_PROGRESS_KEY, buf,
                                     sl_admission_progress_encode(last_offsets[p], buf));
                }
        }
        return sl_store_flush(ad->st, -1, producer, msg_opaque, records);
}

/* --- mirror and gauges ------------------------------------------------------------ */

typedef struct abuf_s {
        char *p;
        size_t len, cap;
} abuf_t;

static void abuf_put(abuf_t *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 4096;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p)
                        abort();
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void abuf_str(abuf_t *b, const char *s)
{
        abuf_put(b, s, strlen(s));
}

/* A Prometheus label value, quoted and escaped. */
static void abuf_label(abuf_t *b, const char *s)
{
        abuf_put(b, "\"", 1);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        abuf_put(b, "\\", 1);
                if (*s == '\n') {
                        abuf_put(b, "\\n", 2);
                        continue;
                }
                abuf_put(b, s, 1);
        }
        abuf_put(b, "\"", 1);
}

static int top_cmp(const void *a, const void *b)
{
        const touched_t *x = *(const touched_t *const *)a, *y = *(const touched_t *const *)b;
        return (y->admitted > x->admitted) - (y->admitted < x->admitted);
}

static void render_top(sl_admit_t *ad, double secs)
{
        touched_t **list = malloc((ad->touched_cnt + 1) * sizeof(*list));
        size_t n = 0;
        abuf_t b = {0};
        int64_t other = 0;
        char line[64];

        if (!list)
                return;
        for (size_t i = 0; i < ad->touched_cap; i++)
                if (ad->touched[i].source)
                        list[n++] = &ad->touched[i];
        qsort(list, n, sizeof(*list), top_cmp);
        abuf_str(&b, "# HELP sluice_ingress_top_source_admissions_per_second Admissions per "
                     "second of the admission.top.sources busiest sources over the last "
                     "mirror interval; the rest are summed under source=\"_other\".\n");
        abuf_str(&b, "# TYPE sluice_ingress_top_source_admissions_per_second gauge\n");
        for (size_t i = 0; i < n; i++) {
                if ((int)i >= ad->top_k) {
                        other += list[i]->admitted;
                        continue;
                }
                abuf_str(&b, "sluice_ingress_top_source_admissions_per_second{source=");
                abuf_label(&b, list[i]->source);
                snprintf(line, sizeof(line), "} %.3f\n", (double)list[i]->admitted / secs);
                abuf_str(&b, line);
        }
        snprintf(line, sizeof(line), "%.3f\n", (double)other / secs);
        abuf_str(&b, "sluice_ingress_top_source_admissions_per_second{source=\"_other\"} ");
        abuf_str(&b, line);
        sl_metrics_set_block("ingress_top_sources", b.p);
        free(b.p);
        free(list);
}

typedef struct paused_count_s {
        int64_t now;
        size_t n;
} paused_count_t;

static void count_paused(const char *key, const void *val, size_t len, void *opaque)
{
        paused_count_t *pc = opaque;
        sl_source_state_t st;
        if (strncmp(key, "s:", 2) == 0 && sl_admission_state_decode(val, len, &st) == SL_OK &&
            st.paused_until > pc->now)
                pc->n++;
}

void sl_admit_tick(sl_admit_t *ad, PGconn *pg, const sl_sources_t *src, int64_t now,
                   bool force)
{
        int64_t t = mono_ms();
        sl_pgarr_t k = {0}, p = {0}, ws = {0}, c = {0}, th = {0}, pu = {0}, ua = {0};
        sl_pgarr_t *cols[] = {&k, &p, &ws, &c, &th, &pu, &ua};
        size_t rows = 0;
        double secs;

        if (!force && t < ad->next_mirror)
                return;
        secs = ad->next_mirror ? (double)(t - ad->next_mirror + ad->mirror_ms) / 1000.0 : 1.0;
        if (secs <= 0)
                secs = 1.0;
        ad->next_mirror = t + ad->mirror_ms;

        paused_count_t pc = {.now = now};
        for (int32_t i = 0; i < ad->nparts; i++)
                if (ad->assigned[i])
                        sl_store_foreach(ad->st, i, count_paused, &pc);
        sl_metrics_set(ad->m_paused, (double)(pc.n + (src ? sl_sources_paused(src, now) : 0)));
        render_top(ad, secs);
        if (!ad->touched_cnt)
                return;

        for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
                sl_pgarr_begin(cols[i]);
        for (size_t i = 0; i < ad->touched_cap; i++) {
                touched_t *e = &ad->touched[i];
                char key[1040];
                size_t len;
                sl_source_state_t st;
                const void *v;

                if (!e->source)
                        continue;
                snprintf(key, sizeof(key), "s:%s", e->source);
                v = e->partition < ad->nparts && ad->assigned[e->partition]
                            ? sl_store_get(ad->st, e->partition, key, &len)
                            : NULL;
                if (v && sl_admission_state_decode(v, len, &st) == SL_OK) {
                        rows++;
                        sl_pgarr_text(&k, e->source);
                        sl_pgarr_num(&p, e->partition);
                        sl_pgarr_num(&ws, st.window_start);
                        sl_pgarr_num(&c, st.count);
                        sl_pgarr_num(&th, st.throttled);
                        sl_pgarr_num(&pu, st.paused_until);
                        sl_pgarr_num(&ua, st.updated_at);
                }
                free(e->source);
                e->source = NULL;
        }
        ad->touched_cnt = 0;
        if (rows) {
                const char *params[8];
                for (size_t i = 0; i < 7; i++)
                        params[i] = sl_pgarr_end(cols[i]);
                params[7] = ad->worker;
                PGresult *res = PQexecParams(
                        pg,
                        "INSERT INTO scheduler_state AS s (stage, key, kafka_partition, "
                        "window_start, window_count, throttled, paused_until, updated_at, "
                        "worker) "
                        "SELECT 'ingress', u.k, u.p, to_timestamp(u.ws / 1000.0), u.c, u.t, "
                        "CASE WHEN u.pu > 0 THEN to_timestamp(u.pu / 1000.0) END, "
                        "to_timestamp(u.ua / 1000.0), $8 "
                        "FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], "
                        "$5::bigint[], $6::bigint[], $7::bigint[]) AS u(k, p, ws, c, t, pu, ua) "
                        "ON CONFLICT (stage, key) DO UPDATE SET "
                        "kafka_partition = EXCLUDED.kafka_partition, "
                        "window_start = EXCLUDED.window_start, "
                        "window_count = EXCLUDED.window_count, "
                        "throttled = EXCLUDED.throttled, paused_until = EXCLUDED.paused_until, "
                        "updated_at = EXCLUDED.updated_at, worker = EXCLUDED.worker, "
                        "mirrored_at = now() WHERE s.updated_at <= EXCLUDED.updated_at",
                        8, NULL, params, NULL, NULL, 0);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                        sl_metrics_add(ad->m_mirror_errors, 1);
                        sl_log_warn("scheduler_state mirror of %zu sources failed: %s", rows,
                                    PQresultErrorMessage(res));
                }
                PQclear(res);
        }
        for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
                sl_pgarr_free(cols[i]);
}
