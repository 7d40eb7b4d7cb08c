/* A trigger's launch decision and its changelog value (launch_state.h). */
#include "trigger/launch_state.h"

#include <string.h>

#include "sluice/err.h"
#include "util/varint.h"

static const char *const outcome_names[SL_LAUNCH__CNT] = {
    [SL_LAUNCH_LAUNCHED] = "launched", [SL_LAUNCH_THROTTLED] = "throttled",
    [SL_LAUNCH_DEFERRED] = "deferred", [SL_LAUNCH_PAUSED] = "paused",
    [SL_LAUNCH_OPEN] = "open",
};

const char *sl_launch_outcome_str(sl_launch_outcome_t o)
{
        return (unsigned)o < SL_LAUNCH__CNT ? outcome_names[o] : "unknown";
}

int sl_launch_outcome_parse(const char *s)
{
        for (int o = 0; o < SL_LAUNCH__CNT; o++)
                if (strcmp(s, outcome_names[o]) == 0)
                        return o;
        return -1;
}

bool sl_launch_paused(const sl_launch_policy_t *pol, int64_t now)
{
        return !pol->enabled ||
               (pol->paused && (pol->paused_until == 0 || now < pol->paused_until));
}

/* Move the rate window to now; a new window starts with nothing throttled. */
static void roll(const sl_launch_policy_t *pol, sl_tstate_t *st, int64_t now)
{
        if (sl_window_roll(&st->window, pol->window_ms, now))
                st->throttled = 0;
}

sl_launch_outcome_t sl_launch_decide(const sl_launch_policy_t *pol, sl_tstate_t *st,
                                     int64_t now, bool can_track, bool *probe,
                                     sl_breaker_transition_t *tr)
{
        *probe = false;
        if (tr)
                memset(tr, 0, sizeof(*tr));
        if (now > st->updated_at)
                st->updated_at = now;
        if (sl_launch_paused(pol, now))
                return SL_LAUNCH_PAUSED;
        if (!sl_breaker_would_allow(&pol->breaker, &st->breaker, now))
                return SL_LAUNCH_OPEN;
        roll(pol, st, now);
        if ((pol->defer && st->deferred > 0) || !can_track ||
            !sl_window_has_room(&st->window, pol->rate_limit, pol->window_ms, now)) {
                st->throttled++;
                if (!pol->defer)
                        return SL_LAUNCH_THROTTLED;
                st->deferred++;
                return SL_LAUNCH_DEFERRED;
        }
        /* would_allow said yes: allow() takes the probe slot when half-open */
        (void)sl_breaker_allow(&pol->breaker, &st->breaker, now, probe, tr);
        (void)sl_window_take(&st->window, pol->rate_limit, pol->window_ms, now);
        return SL_LAUNCH_LAUNCHED;
}

void sl_launch_count(const sl_launch_policy_t *pol, sl_tstate_t *st,
                     sl_launch_outcome_t o, int64_t now)
{
        roll(pol, st, now);
        if (o == SL_LAUNCH_LAUNCHED)
                st->window.count++;
        else if (o == SL_LAUNCH_THROTTLED || o == SL_LAUNCH_DEFERRED)
                st->throttled++;
        if (now > st->updated_at)
                st->updated_at = now;
}

int64_t sl_launch_release_room(const sl_launch_policy_t *pol, const sl_tstate_t *st,
                               int64_t now)
{
        int64_t room = st->deferred;

        if (room <= 0 || sl_launch_paused(pol, now) ||
            !sl_breaker_would_allow(&pol->breaker, &st->breaker, now))
                return 0;
        if (pol->rate_limit > 0) {
                sl_window_t w = st->window;
                (void)sl_window_roll(&w, pol->window_ms, now);
                if (pol->rate_limit - w.count < room)
                        room = pol->rate_limit - w.count;
        }
        if (sl_breaker_state(&pol->breaker, &st->breaker, now) == SL_BREAKER_HALF_OPEN) {
                int64_t probes = pol->breaker.probes - st->breaker.probes_sent;
                if (st->breaker.state == SL_BREAKER_OPEN)
                        probes = pol->breaker.probes; /* a new half-open period */
                if (probes < room)
                        room = probes;
        }
        return room > 0 ? room : 0;
}

bool sl_launch_release_one(const sl_launch_policy_t *pol, sl_tstate_t *st, int64_t now,
                           bool *probe, sl_breaker_transition_t *tr)
{
        *probe = false;
        if (tr)
                memset(tr, 0, sizeof(*tr));
        if (st->deferred <= 0 || sl_launch_paused(pol, now) ||
            !sl_breaker_would_allow(&pol->breaker, &st->breaker, now))
                return false;
        roll(pol, st, now);
        if (!sl_window_has_room(&st->window, pol->rate_limit, pol->window_ms, now))
                return false;
        (void)sl_breaker_allow(&pol->breaker, &st->breaker, now, probe, tr);
        (void)sl_window_take(&st->window, pol->rate_limit, pol->window_ms, now);
        st->deferred--;
        if (now > st->updated_at)
                st->updated_at = now;
        return true;
}

/* --- changelog value ------------------------------------------------------------- */

#define TSTATE_VERSION 2 /* 1: without released_next */

size_t sl_tstate_encode(const sl_tstate_t *st, unsigned char *buf)
{
        const sl_breaker_t *b = &st->breaker;
        size_t n = 0;

        n += sl_avro_long_encode(TSTATE_VERSION, buf + n);
        n += sl_avro_long_encode(st->window.start, buf + n);
        n += sl_avro_long_encode(st->window.count, buf + n);
        n += sl_avro_long_encode(st->throttled, buf + n);
        n += sl_avro_long_encode(st->deferred, buf + n);
        n += sl_avro_long_encode(st->updated_at, buf + n);
        n += sl_avro_long_encode(b->state, buf + n);
        n += sl_avro_long_encode(b->reopens, buf + n);
        n += sl_avro_long_encode(b->since, buf + n);
        n += sl_avro_long_encode(b->open_until, buf + n);
        n += sl_avro_long_encode(b->probes_sent, buf + n);
        n += sl_avro_long_encode(b->probes_ok, buf + n);
        n += sl_avro_long_encode(b->bucket_ms, buf + n);
        n += sl_avro_long_encode(b->updated_at, buf + n);
        for (int i = 0; i < SL_BREAKER_BUCKETS; i++) {
                n += sl_avro_long_encode(b->slot[i], buf + n);
                n += sl_avro_long_encode(b->ok[i], buf + n);
                n += sl_avro_long_encode(b->failed[i], buf + n);
        }
        n += sl_avro_long_encode(st->released_next, buf + n);
        return n;
}

_Static_assert(SL_AVRO_LONG_MAX *(15 + 3 * SL_BREAKER_BUCKETS) <= SL_TSTATE_ENCODED_MAX,
               "SL_TSTATE_ENCODED_MAX too small");

typedef struct reader_s {
        const unsigned char *p;
        size_t len, off;
        bool bad;
} reader_t;

static int64_t get(reader_t *r)
{
        int64_t v = 0;
        size_t n = r->bad ? 0 : sl_avro_long_decode(r->p + r->off, r->len - r->off, &v);

        if (!n)
                r->bad = true;
        r->off += n;
        return v;
}

static int32_t get32(reader_t *r)
{
        int64_t v = get(r);

        if (v < INT32_MIN || v > INT32_MAX)
                r->bad = true;
        return (int32_t)v;
}

int sl_tstate_decode(const void *buf, size_t len, sl_tstate_t *st)
{
        reader_t r = {.p = buf, .len = len};
        sl_breaker_t *b = &st->breaker;
        int64_t version;

        memset(st, 0, sizeof(*st));
        version = get(&r);
        if (version != 1 && version != TSTATE_VERSION)
                return SL_ERR_DECODE;
        st->window.start = get(&r);
        st->window.count = get(&r);
        st->throttled = get(&r);
        st->deferred = get(&r);
        st->updated_at = get(&r);
        b->state = get32(&r);
        b->reopens = get32(&r);
        b->since = get(&r);
        b->open_until = get(&r);
        b->probes_sent = get32(&r);
        b->probes_ok = get32(&r);
        b->bucket_ms = get(&r);
        b->updated_at = get(&r);
        for (int i = 0; i < SL_BREAKER_BUCKETS; i++) {
                b->slot[i] = get(&r);
                b->ok[i] = get32(&r);
                b->failed[i] = get32(&r);
        }
        if (version >= 2)
                st->released_next = get(&r);
        if (r.bad || r.off != len || b->state < SL_BREAKER_CLOSED ||
            b->state > SL_BREAKER_HALF_OPEN) {
                memset(st, 0, sizeof(*st));
                return SL_ERR_DECODE;
        }
        return SL_OK;
}

size_t sl_tstate_progress_encode(int64_t offset, unsigned char *buf)
{
        return sl_avro_long_encode(offset, buf);
}

int sl_tstate_progress_decode(const void *buf, size_t len, int64_t *offset)
{
        return sl_avro_long_decode(buf, len, offset) == len && len ? SL_OK
                                                                   : SL_ERR_DECODE;
}
