/*
 * sluice-admin: the admin HTTP server (issue 13, docs/admin-api.md).  On CivetWeb
 * through src/http (which also serves /metrics and /healthz), it answers the /admin
 * API with bearer-token scopes (read, operate), reading Postgres through a small
 * pool of sessions and Kafka through handles that never join a consumer group, and
 * publishing replays to events.in.
 *
 * The live stream (stream.c) and the status page (page.c) hang on the same server.
 */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include <stddef.h>

#include "config/config.h"

typedef struct sl_admin_s sl_admin_t;

/* Parses admin.tokens, builds the Kafka handles and the HTTP server on
 * http.bind:http.port.  conf is borrowed for the server's life.  NULL with errstr set
 * (naming the key for a configuration error).  Caller frees with sl_admin_destroy(). */
sl_admin_t *sl_admin_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);
/* Stops the server (in-flight requests finish first), closes everything.  NULL-safe. */
void sl_admin_destroy(sl_admin_t *adm);

/* The port the server listens on. */
int sl_admin_port(const sl_admin_t *adm);

#endif
