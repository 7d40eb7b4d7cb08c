/*
 * Sources and manual pauses (sources.h): the snapshot is one hash map (util/hmap.h)
 * keyed by source name, each entry holding the source's limits (when it has a
 * sources row) and its manual pause (when it has a pauses row), plus the defaults for
 * every other source.  Ingress looks a source up for every event, so a lookup is one
 * FNV-1a hash and a short linear probe, with no allocation and no locking.
 *
 * The snapshot is built from plain row arrays (sl_sources_build), so it is tested
 * without Postgres; loading it from Postgres and watching the tables is
 * src/pg/sources_watch.c's business.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits/sources.h"
#include "log/log.h"
#include "sluice/err.h"
#include "util/hmap.h"

typedef struct entry_s {
        bool has_limits;
        sl_limits_t limits;
        sl_manual_pause_t pause; /* .paused: has a pauses row */
} entry_t;

struct sl_sources_s {
        sl_limits_t defaults;
        sl_hmap_t map; /* name -> entry in ents */
        entry_t *ents; /* one per name, nrows + npauses at most */
        size_t nents;
        size_t nsources, npauses;
};

static const entry_t *find(const sl_sources_t *s, const char *name)
{
        return sl_hmap_get(&s->map, name);
}

/* The entry for name, inserted empty when missing; NULL when out of memory. */
static entry_t *find_or_add(sl_sources_t *s, const char *name)
{
        bool added;
        sl_hmap_ent_t *e = sl_hmap_add(&s->map, name, &added);

        if (!e)
                return NULL;
        if (added)
                e->val = &s->ents[s->nents++]; /* zeroed by calloc */
        return e->val;
}

/* The dlq_window_ms of a limits struct with the breaker off may be 0 (what a struct
 * built without the breaker's fields holds); with it on, it must be > 0. */
static bool limits_ok(const sl_limits_t *l)
{
        return l->limit >= 0 && l->window_ms > 0 && l->pause_after >= 0 &&
               l->pause_ms >= 0 && l->dlq_rate >= 0 && l->dlq_rate <= 100 &&
               l->dlq_min >= 0 && l->dlq_pause_ms >= 0 &&
               (l->dlq_rate == 0 ? l->dlq_window_ms >= 0 : l->dlq_window_ms > 0);
}

void sl_sources_destroy(sl_sources_t *s)
{
        if (!s)
                return;
        sl_hmap_close(&s->map, NULL);
        free(s->ents);
        free(s);
}

sl_sources_t *sl_sources_build(const sl_limits_t *defaults, const sl_source_row_t *rows,
                               size_t nrows, const sl_pause_row_t *pauses, size_t npauses,
                               char *errstr, size_t errstr_size)
{
        sl_sources_t *s;
        entry_t *e;

        if (!defaults || !limits_ok(defaults)) {
                snprintf(errstr, errstr_size, "sources: invalid default limits");
                return NULL;
        }
        if (nrows > SIZE_MAX / 8 || npauses > SIZE_MAX / 8 - nrows) {
                snprintf(errstr, errstr_size, "sources: too many rows");
                return NULL;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                goto fail_nomem;
        s->defaults = *defaults;
        sl_hmap_init(&s->map);
        s->ents = calloc(nrows + npauses + 1, sizeof(*s->ents));
        if (!s->ents || sl_hmap_reserve(&s->map, nrows + npauses) != SL_OK)
                goto fail_nomem;

        for (size_t i = 0; i < nrows; i++) {
                const char *id = rows[i].id;

                if (!id) {
                        snprintf(errstr, errstr_size, "sources: row %zu has no id", i);
                        goto fail;
                }
                if (!limits_ok(&rows[i].limits)) {
                        snprintf(errstr, errstr_size,
                                 "source '%s': invalid limits (rate_limit, pause_after, "
                                 "pause_ms, dlq_min and dlq_pause_ms must be >= 0, "
                                 "window_ms > 0, dlq_rate 0..100, dlq_window_ms > 0)",
                                 id);
                        goto fail;
                }
                if (!(e = find_or_add(s, id)))
                        goto fail_nomem;
                if (e->has_limits) {
                        snprintf(errstr, errstr_size, "source '%s': listed twice", id);
                        goto fail;
                }
                e->has_limits = true;
                e->limits = rows[i].limits;
                s->nsources++;
        }
        for (size_t i = 0; i < npauses; i++) {
                const char *src = pauses[i].source;

                if (!src) {
                        snprintf(errstr, errstr_size, "pauses: row %zu has no source", i);
                        goto fail;
                }
                if (pauses[i].until < 0) {
                        snprintf(errstr, errstr_size,
                                 "pause of source '%s': until before 1970", src);
                        goto fail;
                }
                if (!(e = find_or_add(s, src)))
                        goto fail_nomem;
                if (e->pause.paused) {
                        snprintf(errstr, errstr_size, "source '%s': paused twice", src);
                        goto fail;
                }
                e->pause.paused = true;
                e->pause.until = pauses[i].until;
                s->npauses++;
        }
        return s;

fail_nomem:
        snprintf(errstr, errstr_size, "sources: out of memory");
fail:
        sl_sources_destroy(s);
        return NULL;
}

const sl_limits_t *sl_sources_limits(const sl_sources_t *s, const char *source)
{
        const entry_t *e = find(s, source);

        return e && e->has_limits ? &e->limits : &s->defaults;
}

const sl_manual_pause_t *sl_sources_pause(const sl_sources_t *s, const char *source)
{
        const entry_t *e = find(s, source);

        return e && e->pause.paused ? &e->pause : NULL;
}

size_t sl_sources_count(const sl_sources_t *s)
{
        return s->nsources;
}

size_t sl_sources_paused(const sl_sources_t *s, int64_t now_ms)
{
        size_t n = 0;

        if (s->npauses == 0)
                return 0;
        for (size_t i = 0; i < s->nents; i++) {
                const sl_manual_pause_t *p = &s->ents[i].pause;
                if (p->paused && (p->until == 0 || now_ms < p->until))
                        n++;
        }
        return n;
}

size_t sl_sources_npauses(const sl_sources_t *s)
{
        return s->npauses;
}
