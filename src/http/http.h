/*
 * The small HTTP server every process runs (CivetWeb): GET /metrics (Prometheus
 * text) and GET /healthz (200 "ok" while the health callback says so, 503 otherwise).
 * The admin server adds its own handlers through sl_http_handle().
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <civetweb.h>

typedef struct sl_http_s sl_http_t;

/* healthy: called from the server's threads, concurrently with the owner's, so it may
 * read only what is synchronised (an atomic the owner publishes, as the runtime does);
 * NULL means always healthy.
 * Listens on bind:port; port 0 disables the server (returns a no-op object).
 * Returns NULL with errstr set if the port cannot be bound. Caller frees with
 * sl_http_destroy(). */
sl_http_t *sl_http_new(const char *bind, int port, bool (*healthy)(void *opaque),
                       void *opaque, char *errstr, size_t errstr_size);
/* The server's limits; a zero field keeps the default of sl_http_new() (3 threads,
 * 10 s request timeout, no keep-alive). */
typedef struct sl_http_opts_s {
        int threads;            /* worker threads: connections served at once */
        int request_timeout_ms; /* for a request's headers and body, and idle keep-alive
                                 */
        bool keep_alive;
        /* CivetWeb's own error answers (a request too large or malformed to reach any
         * handler): the callback sends the answer and returns 0, or returns 1 to leave
         * it to CivetWeb.  NULL: CivetWeb's text page. */
        int (*http_error)(struct mg_connection *conn, int status, const char *msg);
        /* WebSocket connections: after this long without a frame from the peer, CivetWeb
         * pings it; a peer that answers none of several pings in a row (or whose socket
         * stays unwritable past request_timeout_ms) is closed.  0: no pings. */
        int websocket_ping_ms;
} sl_http_opts_t;
/* sl_http_new() with opts (borrowed, may be NULL). */
sl_http_t *sl_http_new_opts(const char *bind, int port, const sl_http_opts_t *opts,
                            bool (*healthy)(void *opaque), void *opaque, char *errstr,
                            size_t errstr_size);
void sl_http_destroy(sl_http_t *http);
/* The port actually bound (useful when 0 was asked for an ephemeral one: not supported,
 * 0 disables). */
int sl_http_port(const sl_http_t *http);

/* Serve uri with handler (CivetWeb's mg_set_request_handler: the handler returns the
 * HTTP status it sent, 0 to decline).  cbdata is borrowed for the server's life.
 * Returns 0, or SL_ERR_STATE when the server is disabled (port 0). */
int sl_http_handle(sl_http_t *http, const char *uri, mg_request_handler handler,
                   void *cbdata);
/* The CivetWeb context (for WebSocket handlers), NULL when disabled.  Borrowed. */
struct mg_context *sl_http_context(sl_http_t *http);

#endif
