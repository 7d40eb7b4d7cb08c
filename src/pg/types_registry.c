/*
 * The event-type registry: event_types rows with a payload schema, compiled into an
 * sl_types_t (sl_types_load), and a watch that keeps one current without ever
 * blocking its caller on the network (sl_types_watch_*).
 *
 * The connection, LISTEN sluice_event_types, reconnects with backoff, the full reload
 * after every reconnect and the periodic reload (types.reload.ms) are the generic
 * watch of watch.c; this file only turns rows into a registry.
 *
 * Not thread-safe: one stage thread polls.  Rows whose schema does not compile are
 * skipped and logged once per (type, schema text).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pg/types_registry.h"
#include "pg/watch.h"
#include "sluice/err.h"
#include "util/hmap.h"

#define SL_TYPES_CHANNEL "sluice_event_types"
#define SL_TYPES_SQL                                                                     \
        "SELECT type, payload_schema FROM event_types WHERE payload_schema IS NOT NULL " \
        "ORDER BY type"

struct sl_types_watch_s {
        sl_pg_watch_t *w;  /* owns the connection and the current registry */
        size_t last_count; /* registry size last logged */
        sl_hmap_t bad;     /* "<schema hash> <type>" of rows whose failure was logged */
};

/* True when this bad row was logged before; otherwise remembers it. */
static bool bad_seen(sl_types_watch_t *tw, const char *type, const char *schema)
{
        bool added = false;
        char *key;

        if (asprintf(&key, "%016llx %s", (unsigned long long)sl_hash_str(schema), type) <
            0)
                return false;
        if (!sl_hmap_add(&tw->bad, key, &added))
                added = true; /* out of memory: log again rather than never */
        free(key);
        return !added;
}

/* Build a registry from the rows of SL_TYPES_SQL.  tw (may be NULL) dedups logs. */
static sl_types_t *types_from_result(sl_types_watch_t *tw, const PGresult *res,
                                     char *errstr, size_t errstr_size)
{
        sl_types_t *types = sl_types_new();
        int rows = PQntuples(res);
        char perr[512];

        if (!types) {
                snprintf(errstr, errstr_size, "event types: out of memory");
                return NULL;
        }
        for (int i = 0; i < rows; i++) {
                const char *type = PQgetvalue(res, i, 0);
                const char *schema = PQgetvalue(res, i, 1);
                sl_payload_schema_t *ps;
                int err;

                perr[0] = '\0';
                ps = sl_payload_schema_new(schema, perr, sizeof(perr));
                if (!ps) {
                        if (!tw || !bad_seen(tw, type, schema))
                                sl_log_warn("event type '%s': payload schema does not "
                                            "compile; skipped (its events are not "
                                            "schema-checked): %s",
                                            type, perr);
                        continue;
                }
                err = sl_types_put(types, type, ps);
                if (err != SL_OK) {
                        snprintf(errstr, errstr_size, "event type '%s': %s", type,
                                 sl_err2str(err));
                        sl_types_destroy(types);
                        return NULL;
                }
        }
        return types;
}

static sl_types_t *load_blocking(sl_types_watch_t *tw, PGconn *pg, char *errstr,
                                 size_t errstr_size);

sl_types_t *sl_types_load(PGconn *pg, char *errstr, size_t errstr_size)
{
        return load_blocking(NULL, pg, errstr, errstr_size);
}

static void *build_cb(const PGresult *res, void *opaque, char *errstr, size_t errstr_size)
{
        return types_from_result(opaque, res, errstr, errstr_size);
}

static void destroy_cb(void *snap)
{
        sl_types_destroy(snap);
}

static size_t count_cb(const void *snap)
{
        return sl_types_count(snap);
}

/* Blocking load on pg; tw (may be NULL) dedups the logs of bad rows. */
static sl_types_t *load_blocking(sl_types_watch_t *tw, PGconn *pg, char *errstr,
                                 size_t errstr_size)
{
        return sl_pg_watch_load(pg, "event_types", SL_TYPES_SQL, build_cb, tw, errstr,
                                errstr_size);
}

const sl_types_t *sl_types_watch_poll(sl_types_watch_t *tw)
{
        const sl_types_t *types = sl_pg_watch_poll(tw->w);

        if (sl_types_count(types) != tw->last_count) {
                tw->last_count = sl_types_count(types);
                sl_log_info("event types: %zu with a payload schema", tw->last_count);
        }
        return types;
}

sl_types_watch_t *sl_types_watch_new(const sl_conf_t *conf, char *errstr,
                                     size_t errstr_size)
{
        sl_types_watch_t *tw = calloc(1, sizeof(*tw));
        sl_pg_watch_conf_t wc = {
            .name = "event types",
            .channel = SL_TYPES_CHANNEL,
            .sql = SL_TYPES_SQL,
            .reload_ms = sl_conf_get_int(conf, "types.reload.ms"),
            .build = build_cb,
            .destroy = destroy_cb,
            .count = count_cb,
            .opaque = tw,
        };

        if (!tw) {
                snprintf(errstr, errstr_size, "event types watch: out of memory");
                return NULL;
        }
        tw->w = sl_pg_watch_new(conf, &wc, errstr, errstr_size);
        if (!tw->w) {
                sl_types_watch_destroy(tw);
                return NULL;
        }
        tw->last_count = sl_types_count(sl_pg_watch_poll(tw->w));
        sl_log_info("event types: %zu with a payload schema; listening on %s",
                    tw->last_count, SL_TYPES_CHANNEL);
        return tw;
}

void sl_types_watch_destroy(sl_types_watch_t *tw)
{
        if (!tw)
                return;
        sl_pg_watch_destroy(tw->w);
        sl_hmap_close(&tw->bad, NULL);
        free(tw);
}
