/*
 * The event-type registry as ingress sees it: event_types rows (type -> payload Avro
 * schema) loaded from Postgres into an sl_types_t, and kept current by LISTEN on the
 * channel the event_types trigger notifies ("sluice_event_types"), with a full reload
 * after any reconnect and a periodic reload as a backstop.
 *
 * Threading: sl_types_watch_poll() runs on the stage thread between batches; the
 * current sl_types_t it returns stays valid until the next poll call.
 */
#ifndef SL_TYPES_REGISTRY_H
#define SL_TYPES_REGISTRY_H

#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "envelope/validate.h"

typedef struct sl_types_watch_s sl_types_watch_t;

/* Opens its own connection, LISTENs and loads.  NULL with errstr set on failure.
 * Caller frees with sl_types_watch_destroy(). */
sl_types_watch_t *sl_types_watch_new(const sl_conf_t *conf, char *errstr,
                                     size_t errstr_size);
void sl_types_watch_destroy(sl_types_watch_t *tw);

/* Non-blocking: consumes notifications, reloads if anything changed (or after a
 * reconnect, or every types.reload.ms).  Returns the current registry (borrowed, valid
 * until the next call).  A failed reload keeps the previous registry and logs once. */
const sl_types_t *sl_types_watch_poll(sl_types_watch_t *tw);

/* One-shot load of every event_types row into a new registry (caller destroys). */
sl_types_t *sl_types_load(PGconn *pg, char *errstr, size_t errstr_size);

#endif
