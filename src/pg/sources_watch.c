/*
 * The sources watch (sources_watch.h): one UNION ALL query over the sources and
 * pauses tables, so limits and pauses are read consistently in one round trip, turned
 * into rows for sl_sources_build(); the generic watch (watch.c) does the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log/log.h"
#include "pg/sources_watch.h"
#include "pg/watch.h"
#include "sluice/err.h"

#define SL_SOURCES_CHANNEL "sluice_config"
/* kind 's': a sources row (its limits in columns 2..5 and 7..10); kind 'p': a pauses
 * row, until in ms in column 6 (NULL: until resumed). */
#define SL_SOURCES_SQL                                                                   \
        "SELECT 's', id, rate_limit, window_ms, pause_after, pause_ms, NULL::bigint, "   \
        "dlq_rate, dlq_min, dlq_window_ms, dlq_pause_ms "                                \
        "FROM sources "                                                                  \
        "UNION ALL "                                                                     \
        "SELECT 'p', source, NULL, NULL, NULL, NULL, "                                   \
        "floor(extract(epoch FROM until) * 1000)::bigint, NULL, NULL, NULL, NULL "       \
        "FROM pauses"
#define SL_SOURCES_COLS 11

struct sl_sources_watch_s {
        sl_pg_watch_t *w;
        sl_limits_t defaults;
        uint64_t loads_logged;
};

void sl_sources_defaults(const sl_conf_t *conf, sl_limits_t *defaults)
{
        defaults->limit = sl_conf_get_int(conf, "admission.default.limit");
        defaults->window_ms = sl_conf_get_int(conf, "admission.default.window.ms");
        defaults->pause_after = sl_conf_get_int(conf, "admission.default.pause.after");
        defaults->pause_ms = sl_conf_get_int(conf, "admission.default.pause.ms");
        defaults->dlq_rate = sl_conf_get_int(conf, "admission.default.dlq.rate");
        defaults->dlq_min = sl_conf_get_int(conf, "admission.default.dlq.min");
        defaults->dlq_window_ms =
            sl_conf_get_int(conf, "admission.default.dlq.window.ms");
        defaults->dlq_pause_ms = sl_conf_get_int(conf, "admission.default.dlq.pause.ms");
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
        if (PQnfields(res) != SL_SOURCES_COLS) {
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
                            !get_i64(res, i, 5, &l->pause_ms) ||
                            !get_i64(res, i, 7, &l->dlq_rate) ||
                            !get_i64(res, i, 8, &l->dlq_min) ||
                            !get_i64(res, i, 9, &l->dlq_window_ms) ||
                            !get_i64(res, i, 10, &l->dlq_pause_ms)) {
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
                    sl_sources_count(s), sl_sources_npauses(s), SL_SOURCES_CHANNEL);
        return sw;
}

const sl_sources_t *sl_sources_watch_poll(sl_sources_watch_t *sw)
{
        const sl_sources_t *s = sl_pg_watch_poll(sw->w);
        uint64_t loads = sl_pg_watch_loads(sw->w);

        if (loads != sw->loads_logged) {
                sw->loads_logged = loads;
                sl_log_debug("sources: reloaded, %zu configured, %zu manual pauses",
                             sl_sources_count(s), sl_sources_npauses(s));
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
