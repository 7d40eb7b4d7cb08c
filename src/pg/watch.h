/*
 * A watch over configuration kept in Postgres: a snapshot built from one
 * parameterless SELECT, kept current by LISTEN on a channel the tables' triggers
 * notify, with a full reload after every reconnect (notifications sent while
 * disconnected are lost) and a periodic reload as a backstop.
 *
 * The watch owns one connection driven with libpq's asynchronous API, so polling it
 * never blocks on the network; only sl_pg_watch_new() blocks (the caller wants a
 * loaded snapshot or an error at start).  What the snapshot is belongs to the user:
 * a build callback makes one from the query's rows, a destroy callback frees it.
 * The event-type registry (types_registry.c) and the sources / pauses config
 * (sources_watch.c) are its users.
 *
 * Threading: not thread-safe; one thread polls.  The snapshot sl_pg_watch_poll()
 * returns stays valid until the next poll or sl_pg_watch_destroy().
 */
#ifndef SL_PG_WATCH_H
#define SL_PG_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"

/* Build a snapshot from the rows of the reload query (res is PGRES_TUPLES_OK and
 * borrowed).  Returns the new snapshot (the watch takes ownership) or NULL with errstr
 * set; the previous snapshot then stays current.  opaque is the watch's. */
typedef void *(sl_pg_watch_build_cb)(const PGresult *res, void *opaque, char *errstr,
                                     size_t errstr_size);
/* Free a snapshot the build callback made. */
typedef void(sl_pg_watch_destroy_cb)(void *snap);
/* Size of a snapshot, for log lines ("keeping 12 sources"). */
typedef size_t(sl_pg_watch_count_cb)(const void *snap);

typedef struct sl_pg_watch_conf_s {
        const char *name;    /* in log lines and errors: "event types", "sources" */
        const char *channel; /* LISTEN channel (a plain identifier) */
        const char *sql;     /* parameterless SELECT the snapshot is built from */
        int64_t reload_ms;   /* periodic full reload; <= 0: only on NOTIFY/reconnect */
        sl_pg_watch_build_cb *build;
        sl_pg_watch_destroy_cb *destroy;
        sl_pg_watch_count_cb *count; /* may be NULL */
        void *opaque;                /* passed to build; borrowed for the watch's life */
} sl_pg_watch_conf_t;

typedef struct sl_pg_watch_s sl_pg_watch_t;

/* Connect with the pg.* keys of conf, LISTEN and load (blocking).  wc is copied (its
 * strings must outlive the watch).  NULL with errstr set on failure.  Caller frees
 * with sl_pg_watch_destroy(). */
sl_pg_watch_t *sl_pg_watch_new(const sl_conf_t *conf, const sl_pg_watch_conf_t *wc,
                               char *errstr, size_t errstr_size);
/* NULL-safe; destroys the current snapshot. */
void sl_pg_watch_destroy(sl_pg_watch_t *w);

/* Non-blocking: consumes notifications, reloads if anything changed (or after a
 * reconnect, or every reload_ms), reconnects when the connection broke (at most once
 * a second, backing off to 5 s).  Returns the current snapshot (borrowed, valid until
 * the next call), never NULL.  A failed reload keeps the previous snapshot and is
 * logged once until a reload works again. */
void *sl_pg_watch_poll(sl_pg_watch_t *w);

/* Number of snapshots built so far (1 after sl_pg_watch_new); tells a caller a reload
 * happened even when the snapshot's content did not change. */
uint64_t sl_pg_watch_loads(const sl_pg_watch_t *w);

/* One-shot blocking load on pg: run sql and build a snapshot from its rows.  NULL with
 * errstr set ("loading <name>: <server's words>").  Caller frees the snapshot. */
void *sl_pg_watch_load(PGconn *pg, const char *name, const char *sql,
                       sl_pg_watch_build_cb *build, void *opaque, char *errstr,
                       size_t errstr_size);

#endif
