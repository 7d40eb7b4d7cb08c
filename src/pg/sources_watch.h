/*
 * Sources and manual pauses as Postgres holds them (the sources and pauses tables),
 * loaded into the snapshot of src/limits/sources.h: a one-shot load, and a watch that
 * keeps a snapshot current through LISTEN sluice_config (the tables' triggers notify
 * it), a full reload after every reconnect and a periodic reload every
 * sources.reload.ms.  The connection, LISTEN and reconnects are the generic watch of
 * watch.c, as for the event types (types_registry.h); the snapshot and its lookups
 * stay in src/limits, which knows neither Postgres nor the configuration.
 *
 * Threading: the watch is polled by one thread; the snapshots it hands out are
 * immutable.
 */
#ifndef SL_PG_SOURCES_WATCH_H
#define SL_PG_SOURCES_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "limits/sources.h"

/* The limits of a source without a row: admission.default.limit, .window.ms,
 * .pause.after, .pause.ms. */
void sl_sources_defaults(const sl_conf_t *conf, sl_limits_t *defaults);

/* One blocking query over both tables (conf gives the defaults).  NULL with errstr
 * set.  Caller frees with sl_sources_destroy(). */
sl_sources_t *sl_sources_load(PGconn *pg, const sl_conf_t *conf, char *errstr,
                              size_t errstr_size);

typedef struct sl_sources_watch_s sl_sources_watch_t;

/* Own connection, LISTEN sluice_config, initial load (blocking).  NULL with errstr set.
 * Caller frees with sl_sources_watch_destroy(). */
sl_sources_watch_t *sl_sources_watch_new(const sl_conf_t *conf, char *errstr,
                                         size_t errstr_size);
void sl_sources_watch_destroy(sl_sources_watch_t *sw); /* NULL-safe */

/* Non-blocking: follows notifications, reconnects and reloads fully after a
 * reconnect.  Returns the current snapshot, never NULL (borrowed: valid until the
 * next poll or destroy).  A failed reload keeps the previous snapshot. */
const sl_sources_t *sl_sources_watch_poll(sl_sources_watch_t *sw);

/* Snapshots loaded so far (1 after _new); grows with every successful reload. */
uint64_t sl_sources_watch_loads(const sl_sources_watch_t *sw);

#endif
