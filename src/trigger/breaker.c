/* The trigger circuit breaker (see breaker.h).  No I/O, no clock of its own. */
#include "trigger/breaker.h"

#include <stdio.h>
#include <string.h>

#include "sluice/err.h"

const char *sl_breaker_state_str(sl_breaker_state_t s)
{
        switch (s) {
        case SL_BREAKER_CLOSED:
                return "closed";
        case SL_BREAKER_OPEN:
                return "open";
        case SL_BREAKER_HALF_OPEN:
                return "half_open";
        }
        return "";
}

const char *sl_breaker_why_str(sl_breaker_why_t w)
{
        switch (w) {
        case SL_BREAKER_WHY_RATE:
                return "failure_rate";
        case SL_BREAKER_WHY_COUNT:
                return "failure_count";
        case SL_BREAKER_WHY_OPEN_ELAPSED:
                return "open_elapsed";
        case SL_BREAKER_WHY_PROBE_FAILED:
                return "probe_failed";
        case SL_BREAKER_WHY_PROBES_OK:
                return "probes_ok";
        case SL_BREAKER_WHY_NONE:
                break;
        }
        return "";
}

int sl_breaker_conf_check(const sl_breaker_conf_t *conf, char *errstr, size_t errstr_size)
{
        const char *bad = NULL;

        if (conf->failure_window_ms <= 0)
                bad = "failure_window_ms must be > 0";
        else if (conf->failure_rate < 0 || conf->failure_rate > 100)
                bad = "failure_rate must be 0..100 (0: off)";
        else if (conf->min_results < 0)
                bad = "min_results must be >= 0";
        else if (conf->failure_count < 0)
                bad = "failure_count must be >= 0 (0: off)";
        else if (conf->open_ms <= 0)
                bad = "open_ms must be > 0";
        else if (conf->open_max_ms < 0)
                bad = "open_max_ms must be >= 0";
        else if (conf->probes < 1)
                bad = "probes must be >= 1";
        else if (conf->result_timeout_ms <= 0)
                bad = "result_timeout_ms must be > 0";
        if (!bad)
                return SL_OK;
        snprintf(errstr, errstr_size, "breaker: %s", bad);
        return SL_ERR_CONFIG;
}

static int64_t bucket_ms_of(const sl_breaker_conf_t *conf)
{
        int64_t w = conf->failure_window_ms > 0 ? conf->failure_window_ms : 1;
        return (w + SL_BREAKER_BUCKETS - 1) / SL_BREAKER_BUCKETS;
}

static void window_clear(sl_breaker_t *st)
{
        memset(st->slot, 0, sizeof(st->slot));
        memset(st->ok, 0, sizeof(st->ok));
        memset(st->failed, 0, sizeof(st->failed));
}

void sl_breaker_window(const sl_breaker_conf_t *conf, const sl_breaker_t *st, int64_t now,
                       int64_t *failures, int64_t *results)
{
        int64_t bms = bucket_ms_of(conf), cur = now / bms;

        *failures = 0;
        *results = 0;
        if (st->bucket_ms != bms)
                return; /* filled under another failure_window_ms: not comparable */
        for (int i = 0; i < SL_BREAKER_BUCKETS; i++) {
                if (st->slot[i] > cur - SL_BREAKER_BUCKETS && st->slot[i] <= cur) {
                        *failures += st->failed[i];
                        *results += st->failed[i] + st->ok[i];
                }
        }
}

static void window_add(const sl_breaker_conf_t *conf, sl_breaker_t *st, int64_t now,
                       bool ok)
{
        int64_t bms = bucket_ms_of(conf), cur = now / bms;
        int i = (int)(cur % SL_BREAKER_BUCKETS);

        if (st->bucket_ms != bms) {
                window_clear(st);
                st->bucket_ms = bms;
        }
        if (st->slot[i] != cur) {
                st->slot[i] = cur;
                st->ok[i] = 0;
                st->failed[i] = 0;
        }
        if (ok)
                st->ok[i]++;
        else
                st->failed[i]++;
}

/* open_ms * 2^reopens, capped at max(open_ms, open_max_ms). */
static int64_t open_time(const sl_breaker_conf_t *conf, int32_t reopens)
{
        int64_t cap =
            conf->open_max_ms > conf->open_ms ? conf->open_max_ms : conf->open_ms;
        int64_t d = conf->open_ms > 0 ? conf->open_ms : 1;

        for (int32_t i = 0; i < reopens && d < cap; i++)
                d = d > cap / 2 ? cap : d * 2;
        return d < cap ? d : cap;
}

static int64_t clock_of(sl_breaker_t *st, int64_t now)
{
        if (now > st->updated_at)
                st->updated_at = now;
        return st->updated_at;
}

static void go(sl_breaker_t *st, sl_breaker_state_t to, int64_t now,
               sl_breaker_transition_t *tr, sl_breaker_why_t why)
{
        if (tr) {
                tr->from = (sl_breaker_state_t)st->state;
                tr->to = to;
                tr->why = why;
        }
        st->state = to;
        st->since = now;
        st->probes_sent = 0;
        st->probes_ok = 0;
}

/* Open at now: open_ms after a close, growing on each re-open from half-open. */
static void trip(const sl_breaker_conf_t *conf, sl_breaker_t *st, int64_t now,
                 sl_breaker_transition_t *tr, sl_breaker_why_t why)
{
        if (st->state == SL_BREAKER_HALF_OPEN)
                st->reopens++;
        else
                st->reopens = 0;
        go(st, SL_BREAKER_OPEN, now, tr, why);
        st->open_until = now + open_time(conf, st->reopens);
        window_clear(st);
        if (tr)
                tr->open_until = st->open_until;
}

static void no_transition(const sl_breaker_t *st, sl_breaker_transition_t *tr)
{
        if (tr)
                *tr = (sl_breaker_transition_t){.from = (sl_breaker_state_t)st->state,
                                                .to = (sl_breaker_state_t)st->state};
}

sl_breaker_state_t sl_breaker_state(const sl_breaker_conf_t *conf, const sl_breaker_t *st,
                                    int64_t now)
{
        (void)conf;
        if (st->state == SL_BREAKER_OPEN && now >= st->open_until)
                return SL_BREAKER_HALF_OPEN;
        return (sl_breaker_state_t)st->state;
}

bool sl_breaker_would_allow(const sl_breaker_conf_t *conf, const sl_breaker_t *st,
                            int64_t now)
{
        switch (sl_breaker_state(conf, st, now)) {
        case SL_BREAKER_CLOSED:
                return true;
        case SL_BREAKER_OPEN:
                return false;
        case SL_BREAKER_HALF_OPEN:
                return st->state == SL_BREAKER_OPEN || st->probes_sent < conf->probes;
        }
        return false;
}

bool sl_breaker_allow(const sl_breaker_conf_t *conf, sl_breaker_t *st, int64_t now,
                      bool *probe, sl_breaker_transition_t *tr)
{
        int64_t t = clock_of(st, now);

        no_transition(st, tr);
        if (probe)
                *probe = false;
        if (st->state == SL_BREAKER_OPEN && t >= st->open_until) {
                int64_t at = st->open_until;

                go(st, SL_BREAKER_HALF_OPEN, at, tr, SL_BREAKER_WHY_OPEN_ELAPSED);
        }
        switch ((sl_breaker_state_t)st->state) {
        case SL_BREAKER_CLOSED:
                return true;
        case SL_BREAKER_OPEN:
                return false;
        case SL_BREAKER_HALF_OPEN:
                if (st->probes_sent >= conf->probes)
                        return false;
                st->probes_sent++;
                if (probe)
                        *probe = true;
                return true;
        }
        return false;
}

sl_breaker_result_t sl_breaker_on_result(const sl_breaker_conf_t *conf, sl_breaker_t *st,
                                         int64_t now, int64_t launched_at, bool ok,
                                         bool was_probe, sl_breaker_transition_t *tr)
{
        int64_t t = clock_of(st, now), failures, results;

        no_transition(st, tr);
        if (launched_at < st->since)
                return SL_BREAKER_STALE;
        switch ((sl_breaker_state_t)st->state) {
        case SL_BREAKER_OPEN:
                return SL_BREAKER_STALE;
        case SL_BREAKER_HALF_OPEN:
                if (!was_probe)
                        return SL_BREAKER_STALE;
                if (!ok) {
                        trip(conf, st, t, tr, SL_BREAKER_WHY_PROBE_FAILED);
                } else if (++st->probes_ok >= conf->probes) {
                        st->reopens = 0;
                        go(st, SL_BREAKER_CLOSED, t, tr, SL_BREAKER_WHY_PROBES_OK);
                        window_clear(st);
                }
                return SL_BREAKER_COUNTED;
        case SL_BREAKER_CLOSED:
                break;
        }
        window_add(conf, st, t, ok);
        sl_breaker_window(conf, st, t, &failures, &results);
        if (conf->failure_count > 0 && failures >= conf->failure_count)
                trip(conf, st, t, tr, SL_BREAKER_WHY_COUNT);
        else if (conf->failure_rate > 0 && results > 0 && results >= conf->min_results &&
                 failures * 100 >= (int64_t)conf->failure_rate * results)
                trip(conf, st, t, tr, SL_BREAKER_WHY_RATE);
        else
                return SL_BREAKER_COUNTED;
        if (tr) {
                tr->failures = failures;
                tr->results = results;
        }
        return SL_BREAKER_COUNTED;
}
