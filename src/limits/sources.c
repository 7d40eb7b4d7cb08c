/*
 * Sources and manual pauses (sources.h): the snapshot is one hash map (util/hmap.h)
 * keyed by source name, each entry holding the source's limits (when it has a
 * sources row) and its manual pause (when it has a pauses row), plus the defaults for
 * every other source.  Ingress looks a source up for every event, so a lookup is one
 * FNV-1a hash and a short linear probe, with no allocation and no locking.
 *
 * The snapshot is built from plain row arrays (sl_sources_build), so it is tested
 * without Postgres; loading (one UNION ALL query over both tables, so limits and
 * pauses are read consistently in one round trip) and watching go through
 * src/pg/watch.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits/sources.h"
#include "log/log.h"
#include "pg/watch.h"
#include "sluice/err.h"
#include "util/hmap.h"

#define SL_SOURCES_CHANNEL "sluice_config"
/* kind 's': a sources row; kind 'p': a pauses row, until in ms (NULL: until resumed). */
#define SL_SOURCES_SQL                                                                   \
        "SELECT 's', id, rate_limit, window_ms, pause_after, pause_ms, NULL::bigint "    \
        "FROM sources "                                                                  \
        "UNION ALL "                                                                     \
        "SELECT 'p', source, NULL, NULL, NULL, NULL, "                                   \
        "floor(extract(epoch FROM until) * 1000)::bigint FROM pauses"

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

struct sl_sources_watch_s {
        sl_pg_watch_t *w;
        sl_limits_t defaults;
        uint64_t loads_logged;
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

void sl_sources_defaults(const sl_conf_t *conf, sl_limits_t *defaults)
{
        defaults->limit = sl_conf_get_int(conf, "admission.default.limit");
        defaults->window_ms = sl_conf_get_int(conf, "admission.default.window.ms");
        defaults->pause_after = sl_conf_get_int(conf, "admission.default.pause.after");
        defaults->pause_ms = sl_conf_get_int(conf, "admission.default.pause.ms");
}

static bool limits_ok(const sl_limits_t *l)
{
        return l->limit >= 0 && l->window_ms > 0 && l->pause_after >= 0 &&
               l->pause_ms >= 0;
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
                                 "source '%s': invalid limits (rate_limit, pause_after "
                                 "and pause_ms must be >= 0, window_ms > 0)",
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

/* A bigint column; false when it is NULL or not a number. */
static bool get_i64(const PGresult *res, int row, int col, int64_t *out)
{
        const char *v;
        char *end;
        long long n;

        if (PQgetisnull(res, row, col))
                return false;
        v = PQgetvalue(res, row, col);
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end)
                return false;
        *out = n;
        return true;
}

/* Rows of SL_SOURCES_SQL -> snapshot.  opaque: the defaults (sl_limits_t). */
static void *build_cb(const PGresult *res, void *opaque, char *errstr, size_t errstr_size)
{
        int n = PQntuples(res);
        sl_source_row_t *rows = calloc((size_t)n + 1, sizeof(*rows));
        sl_pause_row_t *pauses = calloc((size_t)n + 1, sizeof(*pauses));
        size_t nrows = 0, npauses = 0;
        sl_sources_t *s = NULL;

        if (!rows || !pauses) {
                snprintf(errstr, errstr_size, "sources: out of memory");
                goto out;
        }
        if (PQnfields(res) != 7) {
                snprintf(errstr, errstr_size, "sources: unexpected result shape");
                goto out;
        }
        for (int i = 0; i < n; i++) {
                const char *kind = PQgetvalue(res, i, 0);
                const char *id = PQgetvalue(res, i, 1);

                if (kind[0] == 's') {
                        sl_limits_t *l = &rows[nrows].limits;
                        if (!get_i64(res, i, 2, &l->limit) ||
                            !get_i64(res, i, 3, &l->window_ms) ||
                            !get_i64(res, i, 4, &l->pause_after) ||
                            !get_i64(res, i, 5, &l->pause_ms)) {
                                snprintf(errstr, errstr_size,
                                         "source '%s': a limit is not a number", id);
                                goto out;
                        }
                        rows[nrows++].id = id;
                } else {
                        pauses[npauses].source = id;
                        if (!get_i64(res, i, 6, &pauses[npauses].until))
                                pauses[npauses].until = 0;
                        else if (pauses[npauses].until <= 0)
                                pauses[npauses].until =
                                    1; /* a pause that ended in 1970 */
                        npauses++;
                }
        }
        s = sl_sources_build(opaque, rows, nrows, pauses, npauses, errstr, errstr_size);
out:
        free(rows);
        free(pauses);
        return s;
}

static void destroy_cb(void *snap)
{
        sl_sources_destroy(snap);
}

static size_t count_cb(const void *snap)
{
        return sl_sources_count(snap);
}

sl_sources_t *sl_sources_load(PGconn *pg, const sl_conf_t *conf, char *errstr,
                              size_t errstr_size)
{
        sl_limits_t defaults;

        sl_sources_defaults(conf, &defaults);
        return sl_pg_watch_load(pg, "sources", SL_SOURCES_SQL, build_cb, &defaults,
                                errstr, errstr_size);
}

sl_sources_watch_t *sl_sources_watch_new(const sl_conf_t *conf, char *errstr,
                                         size_t errstr_size)
{
        sl_sources_watch_t *sw = calloc(1, sizeof(*sw));
        sl_pg_watch_conf_t wc = {
            .name = "sources",
            .channel = SL_SOURCES_CHANNEL,
            .sql = SL_SOURCES_SQL,
            .reload_ms = sl_conf_get_int(conf, "sources.reload.ms"),
            .build = build_cb,
            .destroy = destroy_cb,
            .count = count_cb,
        };
        const sl_sources_t *s;

        if (!sw) {
                snprintf(errstr, errstr_size, "sources watch: out of memory");
                return NULL;
        }
        sl_sources_defaults(conf, &sw->defaults);
        wc.opaque = &sw->defaults;
        sw->w = sl_pg_watch_new(conf, &wc, errstr, errstr_size);
        if (!sw->w) {
                free(sw);
                return NULL;
        }
        s = sl_pg_watch_poll(sw->w);
        sw->loads_logged = sl_pg_watch_loads(sw->w);
        sl_log_info("sources: %zu configured, %zu manual pauses; listening on %s",
                    sl_sources_count(s), s->npauses, SL_SOURCES_CHANNEL);
        return sw;
}

const sl_sources_t *sl_sources_watch_poll(sl_sources_watch_t *sw)
{
        const sl_sources_t *s = sl_pg_watch_poll(sw->w);
        uint64_t loads = sl_pg_watch_loads(sw->w);

        if (loads != sw->loads_logged) {
                sw->loads_logged = loads;
                sl_log_debug("sources: reloaded, %zu configured, %zu manual pauses",
                             sl_sources_count(s), s->npauses);
        }
        return s;
}

uint64_t sl_sources_watch_loads(const sl_sources_watch_t *sw)
{
        return sl_pg_watch_loads(sw->w);
}

void sl_sources_watch_destroy(sl_sources_watch_t *sw)
{
        if (!sw)
                return;
        sl_pg_watch_destroy(sw->w);
        free(sw);
}
