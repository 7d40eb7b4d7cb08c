/*
 * Triggers loaded from Postgres: the snapshot (sl_triggers_new / _from_result, the
 * exact-type hash map and the glob list, sl_triggers_candidates) and the watch that
 * keeps one current (sl_triggers_watch_*).
 *
 * The connection, LISTEN sluice_triggers, reconnects with backoff, the full reload
 * after every reconnect and the periodic reload (triggers.reload.ms) are the generic
 * watch of watch.c; this file only turns rows into a snapshot.  Rows whose filter or
 * template does not parse are left out and logged once per (trigger, text), as
 * types_registry.c does for payload schemas.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/triggers_watch.h"
#include "pg/watch.h"
#include "util/glob.h"

#define SL_TRIGGERS_CHANNEL "sluice_triggers"
#define SL_TRIGGERS_NCOLS   24

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

const char sl_triggers_sql[] = "SELECT id::text, name, enabled, paused, " MS(
    "paused_until") ", paused_by, "
                    "paused_reason, event_type, source, filter, workflow, "
                    "params_template::text, "
                    "coalesce(rate_limit, 0), window_ms, on_limit, failure_window_ms, "
                    "failure_rate, "
                    "min_results, failure_count, open_ms, open_max_ms, probes, "
                    "result_timeout_ms, " MS("updated_at") " FROM triggers ORDER BY name";

/* An exact event type's group in sl_triggers_s.exact. */
typedef struct bucket_s {
        const char *type; /* NULL: empty slot */
        uint64_t hash;
        uint32_t start, count;
} bucket_t;

struct sl_triggers_s {
        sl_trigger_t *trig; /* name order */
        size_t n;
        const sl_trigger_t **exact; /* exact-type triggers grouped by (type, name) */
        size_t nexact;
        bucket_t *map; /* open addressing, linear probing; mapcap a power of 2 */
        size_t mapcap;
        const sl_trigger_t **glob; /* glob triggers, name order */
        size_t nglob;
        size_t max_group;
        bool uses_payload;
};

static uint64_t fnv1a(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

static void trigger_free(sl_trigger_t *t)
{
        sl_trigger_def_t *d = &t->def;

        free((char *)d->id);
        free((char *)d->name);
        free((char *)d->paused_by);
        free((char *)d->paused_reason);
        free((char *)d->event_type);
        free((char *)d->source);
        free((char *)d->filter);
        free((char *)d->workflow);
        free((char *)d->params_template);
        sl_filter_destroy(t->filter);
        sl_template_destroy(t->tmpl);
}

void sl_triggers_destroy(sl_triggers_t *ts)
{
        if (!ts)
                return;
        for (size_t i = 0; i < ts->n; i++)
                trigger_free(&ts->trig[i]);
        free(ts->trig);
        free(ts->exact);
        free(ts->map);
        free(ts->glob);
        free(ts);
}

/* strdup that keeps NULL; false when out of memory. */
static bool dup(const char **dst, const char *src)
{
        *dst = NULL;
        if (!src)
                return true;
        *dst = strdup(src);
        return *dst != NULL;
}

/* Copy def's strings into t->def.  false when out of memory (t freed). */
static bool copy_def(sl_trigger_t *t, const sl_trigger_def_t *def)
{
        memset(t, 0, sizeof(*t));
        t->def = *def;
        const char **dst[] = {&t->def.id,
                              &t->def.name,
                              &t->def.paused_by,
                              &t->def.paused_reason,
                              &t->def.event_type,
                              &t->def.source,
                              &t->def.filter,
                              &t->def.workflow,
                              &t->def.params_template};
        const char *src[] = {def->id,
                             def->name,
                             def->paused_by,
                             def->paused_reason,
                             def->event_type,
                             def->source,
                             def->filter,
                             def->workflow,
                             def->params_template};
        bool ok = true;

        /* Every one is tried, so that trigger_free() finds each NULL or owned. */
        for (size_t i = 0; i < sizeof(dst) / sizeof(dst[0]); i++)
                ok = dup(dst[i], src[i]) && ok;
        if (!ok) {
                trigger_free(t);
                return false;
        }
        return true;
}

/* Parse what a definition needs parsing.  false (t untouched beyond its parsed
 * fields, which are freed) with *what and perr set when something does not parse. */
static bool parse_def(sl_trigger_t *t, const char **what, char *perr, size_t perr_size)
{
        const sl_trigger_def_t *d = &t->def;

        perr[0] = '\0';
        if (!d->id || strlen(d->id) != 36 || uuid_parse(d->id, t->id) != 0) {
                *what = "id";
                snprintf(perr, perr_size, "'%s' is not a UUID", d->id ? d->id : "");
                return false;
        }
        if (!d->name || !*d->name || !d->event_type || !*d->event_type || !d->workflow ||
            !*d->workflow) {
                *what = "definition";
                snprintf(perr, perr_size, "name, event_type and workflow must be set");
                return false;
        }
        if (d->filter && *d->filter) {
                t->filter = sl_filter_parse(d->filter, NULL, perr, perr_size);
                if (!t->filter) {
                        *what = "filter";
                        return false;
                }
        }
        t->tmpl = sl_template_parse(d->params_template ? d->params_template : "{}", NULL,
                                    perr, perr_size);
        if (!t->tmpl) {
                *what = "params_template";
                sl_filter_destroy(t->filter);
                t->filter = NULL;
                return false;
        }
        t->is_glob = sl_glob_is_glob(d->event_type);
        t->uses_payload = (t->filter && sl_filter_uses_payload(t->filter)) ||
                          sl_template_uses_payload(t->tmpl);
        return true;
}

static int cmp_name(const void *a, const void *b)
{
        const sl_trigger_t *x = a, *y = b;
        return strcmp(x->def.name, y->def.name);
}

/* Name order; the same name in the order given (so the first one is kept). */
static int cmp_name_seq(const void *a, const void *b)
{
        const sl_trigger_t *x = a, *y = b;
        int c = strcmp(x->def.name, y->def.name);

        return c ? c : (x->seq_ > y->seq_) - (x->seq_ < y->seq_);
}

static int cmp_type_name(const void *a, const void *b)
{
        const sl_trigger_t *x = *(const sl_trigger_t *const *)a;
        const sl_trigger_t *y = *(const sl_trigger_t *const *)b;
        int c = strcmp(x->def.event_type, y->def.event_type);

        return c ? c : strcmp(x->def.name, y->def.name);
}

static const bucket_t *map_find(const sl_triggers_t *ts, const char *type, uint64_t h)
{
        size_t mask = ts->mapcap - 1;

        if (!ts->mapcap)
                return NULL;
        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
                const bucket_t *b = &ts->map[i];
                if (!b->type)
                        return NULL;
                if (b->hash == h && strcmp(b->type, type) == 0)
                        return b;
        }
}

/* The exact-type index and the glob list over ts->trig (already in name order). */
static bool build_index(sl_triggers_t *ts)
{
        size_t ngroups = 0;

        for (size_t i = 0; i < ts->n; i++) {
                if (ts->trig[i].is_glob)
                        ts->nglob++;
                else
                        ts->nexact++;
                ts->uses_payload |= ts->trig[i].uses_payload;
        }
        ts->exact = calloc(ts->nexact ? ts->nexact : 1, sizeof(*ts->exact));
        ts->glob = calloc(ts->nglob ? ts->nglob : 1, sizeof(*ts->glob));
        if (!ts->exact || !ts->glob)
                return false;
        ts->nexact = ts->nglob = 0;
        for (size_t i = 0; i < ts->n; i++) {
                if (ts->trig[i].is_glob)
                        ts->glob[ts->nglob++] = &ts->trig[i];
                else
                        ts->exact[ts->nexact++] = &ts->trig[i];
        }
        qsort(ts->exact, ts->nexact, sizeof(*ts->exact), cmp_type_name);
        for (size_t i = 0; i < ts->nexact; i++)
                if (i == 0 || strcmp(ts->exact[i]->def.event_type,
                                     ts->exact[i - 1]->def.event_type) != 0)
                        ngroups++;
        if (!ngroups)
                return true;
        /* At most half full: short probe runs. */
        for (ts->mapcap = 8; ts->mapcap < ngroups * 2; ts->mapcap *= 2)
                ;
        ts->map = calloc(ts->mapcap, sizeof(*ts->map));
        if (!ts->map)
                return false;
        for (size_t i = 0; i < ts->nexact;) {
                const char *type = ts->exact[i]->def.event_type;
                uint64_t h = fnv1a(type);
                size_t j = i, slot;

                while (j < ts->nexact && strcmp(ts->exact[j]->def.event_type, type) == 0)
                        j++;
                for (slot = (size_t)h & (ts->mapcap - 1); ts->map[slot].type;
                     slot = (slot + 1) & (ts->mapcap - 1))
                        ;
                ts->map[slot] = (bucket_t){type, h, (uint32_t)i, (uint32_t)(j - i)};
                if (j - i > ts->max_group)
                        ts->max_group = j - i;
                i = j;
        }
        return true;
}

sl_triggers_t *sl_triggers_new(const sl_trigger_def_t *defs, size_t n,
                               sl_triggers_bad_cb *bad, void *opaque, char *errstr,
                               size_t errstr_size)
{
        sl_triggers_t *ts = calloc(1, sizeof(*ts));
        char perr[512];
        const char *what;
        size_t kept = 0;

        if (!ts)
                goto fail_nomem;
        ts->trig = calloc(n ? n : 1, sizeof(*ts->trig));
        if (!ts->trig)
                goto fail_nomem;
        for (size_t i = 0; i < n; i++) {
                sl_trigger_t *t = &ts->trig[ts->n];

                if (!copy_def(t, &defs[i]))
                        goto fail_nomem;
                if (!parse_def(t, &what, perr, sizeof(perr))) {
                        if (bad)
                                bad(opaque, &defs[i], what, perr);
                        trigger_free(t);
                        continue;
                }
                t->seq_ = i;
                ts->n++;
        }
        qsort(ts->trig, ts->n, sizeof(*ts->trig), cmp_name_seq);
        /* Names are unique in the table; a hand-built list may repeat one. */
        for (size_t i = 0; i < ts->n; i++) {
                if (kept &&
                    strcmp(ts->trig[kept - 1].def.name, ts->trig[i].def.name) == 0) {
                        if (bad)
                                bad(opaque, &ts->trig[i].def, "name",
                                    "another trigger has the same name");
                        trigger_free(&ts->trig[i]);
                        continue;
                }
                ts->trig[kept++] = ts->trig[i];
        }
        ts->n = kept;
        if (!build_index(ts))
                goto fail_nomem;
        return ts;

fail_nomem:
        snprintf(errstr, errstr_size, "triggers: out of memory");
        sl_triggers_destroy(ts);
        return NULL;
}

size_t sl_triggers_count(const sl_triggers_t *ts)
{
        return ts ? ts->n : 0;
}

const sl_trigger_t *sl_triggers_at(const sl_triggers_t *ts, size_t i)
{
        return i < ts->n ? &ts->trig[i] : NULL;
}

size_t sl_triggers_index(const sl_triggers_t *ts, const sl_trigger_t *t)
{
        return (size_t)(t - ts->trig);
}

const sl_trigger_t *sl_triggers_find(const sl_triggers_t *ts, const char *name)
{
        sl_trigger_t key = {.def = {.name = name}};

        return ts->n ? bsearch(&key, ts->trig, ts->n, sizeof(*ts->trig), cmp_name) : NULL;
}

bool sl_triggers_use_payload(const sl_triggers_t *ts)
{
        return ts->uses_payload;
}

size_t sl_triggers_max_candidates(const sl_triggers_t *ts)
{
        return ts->max_group + ts->nglob;
}

static bool source_ok(const sl_trigger_t *t, const char *source)
{
        return !source || !t->def.source || strcmp(t->def.source, source) == 0;
}

size_t sl_triggers_candidates(const sl_triggers_t *ts, const char *type,
                              const char *source, const sl_trigger_t **out, size_t cap)
{
        const bucket_t *b = map_find(ts, type, fnv1a(type));
        size_t n = 0;

        if (b) {
                for (uint32_t i = b->start; i < b->start + b->count; i++) {
                        if (!source_ok(ts->exact[i], source))
                                continue;
                        if (n < cap)
                                out[n] = ts->exact[i];
                        n++;
                }
        }
        for (size_t i = 0; i < ts->nglob; i++) {
                const sl_trigger_t *t = ts->glob[i];
                if (!source_ok(t, source) || !sl_glob_match(t->def.event_type, type))
                        continue;
                if (n < cap)
                        out[n] = t;
                n++;
        }
        return n;
}

/* A whole number column; false when it is not one. */
static bool col_int(const PGresult *res, int row, int col, int64_t *out)
{
        const char *s = PQgetvalue(res, row, col);
        char *end;
        long long v;

        if (PQgetisnull(res, row, col)) {
                *out = 0;
                return true;
        }
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return false;
        *out = v;
        return true;
}

static const char *col_str(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

sl_triggers_t *sl_triggers_from_result(const PGresult *res, sl_triggers_bad_cb *bad,
                                       void *opaque, char *errstr, size_t errstr_size)
{
        int rows = PQntuples(res);
        sl_trigger_def_t *defs;
        sl_triggers_t *ts;

        if (PQnfields(res) != SL_TRIGGERS_NCOLS) {
                snprintf(errstr, errstr_size, "triggers: %d columns, expected %d",
                         PQnfields(res), SL_TRIGGERS_NCOLS);
                return NULL;
        }
        defs = calloc(rows ? (size_t)rows : 1, sizeof(*defs));
        if (!defs) {
                snprintf(errstr, errstr_size, "triggers: out of memory");
                return NULL;
        }
        for (int r = 0; r < rows; r++) {
                sl_trigger_def_t *d = &defs[r];
                int64_t v[SL_TRIGGERS_NCOLS] = {0};
                static const int ints[] = {4, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23};
                const char *on_limit = PQgetvalue(res, r, 14);

                for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
                        if (!col_int(res, r, ints[k], &v[ints[k]])) {
                                snprintf(errstr, errstr_size,
                                         "triggers: row %d: column %s is not a whole "
                                         "number",
                                         r, PQfname(res, ints[k]));
                                free(defs);
                                return NULL;
                        }
                }
                d->id = col_str(res, r, 0);
                d->name = col_str(res, r, 1);
                d->enabled = PQgetvalue(res, r, 2)[0] == 't';
                d->paused = PQgetvalue(res, r, 3)[0] == 't';
                d->paused_until_ms = v[4];
                d->paused_by = col_str(res, r, 5);
                d->paused_reason = col_str(res, r, 6);
                d->event_type = col_str(res, r, 7);
                d->source = col_str(res, r, 8);
                d->filter = col_str(res, r, 9);
                d->workflow = col_str(res, r, 10);
                d->params_template = col_str(res, r, 11);
                d->rate_limit = v[12];
                d->window_ms = v[13];
                d->on_limit =
                    strcmp(on_limit, "defer") == 0 ? SL_ON_LIMIT_DEFER : SL_ON_LIMIT_SKIP;
                d->failure_window_ms = v[15];
                d->failure_rate = (int32_t)v[16];
                d->min_results = (int32_t)v[17];
                d->failure_count = (int32_t)v[18];
                d->open_ms = v[19];
                d->open_max_ms = v[20];
                d->probes = (int32_t)v[21];
                d->result_timeout_ms = v[22];
                d->updated_at_ms = v[23];
        }
        ts = sl_triggers_new(defs, (size_t)rows, bad, opaque, errstr, errstr_size);
        free(defs);
        return ts;
}

/* ---- the watch ---- */

/* A (trigger, what, text) whose parse failure was already logged. */
typedef struct bad_row_s {
        char *id;
        uint64_t hash;
} bad_row_t;

struct sl_triggers_watch_s {
        sl_pg_watch_t *w;
        size_t last_count;
        bad_row_t *bad;
        size_t nbad, capbad;
};

/* True when this bad row was logged before; otherwise remembers it. */
static bool bad_seen(sl_triggers_watch_t *tw, const char *id, uint64_t h)
{
        bad_row_t *tmp;

        for (size_t i = 0; i < tw->nbad; i++)
                if (tw->bad[i].hash == h && strcmp(tw->bad[i].id, id) == 0)
                        return true;
        if (tw->nbad == tw->capbad) {
                size_t cap = tw->capbad ? tw->capbad * 2 : 8;
                tmp = realloc(tw->bad, cap * sizeof(*tmp));
                if (!tmp)
                        return false;
                tw->bad = tmp;
                tw->capbad = cap;
        }
        tw->bad[tw->nbad].id = strdup(id);
        if (!tw->bad[tw->nbad].id)
                return false;
        tw->bad[tw->nbad].hash = h;
        tw->nbad++;
        return false;
}

static void log_bad(void *opaque, const sl_trigger_def_t *def, const char *what,
                    const char *errstr)
{
        sl_triggers_watch_t *tw = opaque;
        const char *id = def->id ? def->id : "";
        uint64_t h = fnv1a(what) ^ (fnv1a(def->filter ? def->filter : "") * 31) ^
                     (fnv1a(def->params_template ? def->params_template : "") * 131) ^
                     fnv1a(def->name ? def->name : "");

        if (tw && bad_seen(tw, id, h))
                return;
        sl_log_warn("trigger '%s' (%s): %s does not parse; left out (its events match "
                    "nothing until it is fixed): %s",
                    def->name ? def->name : "", id, what, errstr);
}

static void *build_cb(const PGresult *res, void *opaque, char *errstr, size_t errstr_size)
{
        return sl_triggers_from_result(res, log_bad, opaque, errstr, errstr_size);
}

static void destroy_cb(void *snap)
{
        sl_triggers_destroy(snap);
}

static size_t count_cb(const void *snap)
{
        return sl_triggers_count(snap);
}

sl_triggers_t *sl_triggers_load(PGconn *pg, char *errstr, size_t errstr_size)
{
        return sl_pg_watch_load(pg, "triggers", sl_triggers_sql, build_cb, NULL, errstr,
                                errstr_size);
}

const sl_triggers_t *sl_triggers_watch_poll(sl_triggers_watch_t *tw)
{
        const sl_triggers_t *ts = sl_pg_watch_poll(tw->w);

        if (sl_triggers_count(ts) != tw->last_count) {
                tw->last_count = sl_triggers_count(ts);
                sl_log_info("triggers: %zu loaded", tw->last_count);
        }
        return ts;
}

uint64_t sl_triggers_watch_loads(const sl_triggers_watch_t *tw)
{
        return sl_pg_watch_loads(tw->w);
}

sl_triggers_watch_t *sl_triggers_watch_new(const sl_conf_t *conf, char *errstr,
                                           size_t errstr_size)
{
        sl_triggers_watch_t *tw = calloc(1, sizeof(*tw));
        sl_pg_watch_conf_t wc = {
            .name = "triggers",
            .channel = SL_TRIGGERS_CHANNEL,
            .sql = sl_triggers_sql,
            .reload_ms = sl_conf_get_int(conf, "triggers.reload.ms"),
            .build = build_cb,
            .destroy = destroy_cb,
            .count = count_cb,
            .opaque = tw,
        };

        if (!tw) {
                snprintf(errstr, errstr_size, "triggers watch: out of memory");
                return NULL;
        }
        tw->w = sl_pg_watch_new(conf, &wc, errstr, errstr_size);
        if (!tw->w) {
                sl_triggers_watch_destroy(tw);
                return NULL;
        }
        tw->last_count = sl_triggers_count(sl_pg_watch_poll(tw->w));
        sl_log_info("triggers: %zu loaded; listening on %s", tw->last_count,
                    SL_TRIGGERS_CHANNEL);
        return tw;
}

void sl_triggers_watch_destroy(sl_triggers_watch_t *tw)
{
        if (!tw)
                return;
        sl_pg_watch_destroy(tw->w);
        for (size_t i = 0; i < tw->nbad; i++)
                free(tw->bad[i].id);
        free(tw->bad);
        free(tw);
}

void sl_trigger_launch_policy(const sl_trigger_t *t, sl_launch_policy_t *pol)
{
        const sl_trigger_def_t *d = &t->def;

        *pol = (sl_launch_policy_t){
            .enabled = d->enabled,
            .paused = d->paused,
            .paused_until = d->paused_until_ms,
            .rate_limit = d->rate_limit,
            .window_ms = d->window_ms,
            .defer = d->on_limit == SL_ON_LIMIT_DEFER,
            .breaker = {.failure_window_ms = d->failure_window_ms,
                        .failure_rate = d->failure_rate,
                        .min_results = d->min_results,
                        .failure_count = d->failure_count,
                        .open_ms = d->open_ms,
                        .open_max_ms = d->open_max_ms,
                        .probes = d->probes,
                        .result_timeout_ms = d->result_timeout_ms},
        };
}
