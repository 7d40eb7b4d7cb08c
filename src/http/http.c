/*
 * The HTTP server every process runs, on CivetWeb with a few worker threads:
 * GET /metrics renders the metrics registry, GET /healthz asks the owner's health
 * callback; anything else is 404 (CivetWeb's answer when no handler matches and no
 * document root is set).  The admin server hangs its own handlers on the same
 * context with sl_http_handle().  No TLS, no auth: bind it to a private address.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "metrics/metrics.h"
#include "sluice/err.h"

struct sl_http_s {
        struct mg_context *ctx; /* NULL when disabled */
        int port;
        bool (*healthy)(void *opaque);
        void *opaque;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
        mg_init_library(0);
}

static int send_text(struct mg_connection *conn, int status, const char *reason,
                     const char *ctype, const char *body, size_t len, bool head)
{
        mg_printf(conn,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n\r\n",
                  status, reason, ctype, len);
        if (!head && len)
                mg_write(conn, body, len);
        return status;
}

/* Exact path, GET or HEAD; otherwise answers 404/405 and returns its status. */
static int check_request(struct mg_connection *conn, const char *path, bool *head)
{
        const struct mg_request_info *ri = mg_get_request_info(conn);
        static const char nf[] = "not found\n", na[] = "method not allowed\n";

        if (!ri->local_uri || strcmp(ri->local_uri, path) != 0)
                return send_text(conn, 404, "Not Found", "text/plain", nf, sizeof(nf) - 1,
                                 false);
        *head = strcmp(ri->request_method, "HEAD") == 0;
        if (!*head && strcmp(ri->request_method, "GET") != 0) {
                mg_printf(conn,
                          "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                          "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n%s",
                          sizeof(na) - 1, na);
                return 405;
        }
        return 0;
}

static int metrics_handler(struct mg_connection *conn, void *cbdata)
{
        static const char oom[] = "out of memory\n";
        bool head = false;
        int status = check_request(conn, "/metrics", &head);
        char *text;

        (void)cbdata;
        if (status)
                return status;
        text = sl_metrics_render();
        if (!text)
                return send_text(conn, 500, "Internal Server Error", "text/plain", oom,
                                 sizeof(oom) - 1, head);
        status = send_text(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                           text, strlen(text), head);
        free(text);
        return status;
}

static int healthz_handler(struct mg_connection *conn, void *cbdata)
{
        static const char ok[] = "ok\n", bad[] = "unhealthy\n";
        sl_http_t *http = cbdata;
        bool head = false;
        int status = check_request(conn, "/healthz", &head);

        if (status)
                return status;
        if (!http->healthy || http->healthy(http->opaque))
                return send_text(conn, 200, "OK", "text/plain", ok, sizeof(ok) - 1, head);
        return send_text(conn, 503, "Service Unavailable", "text/plain", bad,
                         sizeof(bad) - 1, head);
}

/* CivetWeb only says "Failed to setup server ports"; binding a socket ourselves
 * finds the operating system's reason (address in use, not a local address, ...). */
static void bind_reason(const char *host, const char *port, char *out, size_t size)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
        int rc, fd, one = 1;

        rc = getaddrinfo(host, port, &hints, &ai);
        if (rc) {
                snprintf(out, size, "%s", gai_strerror(rc));
                return;
        }
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
                snprintf(out, size, "%s", strerror(errno));
        } else {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
                        snprintf(out, size, "%s", strerror(errno));
                close(fd);
        }
        freeaddrinfo(ai);
}

sl_http_t *sl_http_new(const char *bind, int port, bool (*healthy)(void *opaque),
                       void *opaque, char *errstr, size_t errstr_size)
{
        return sl_http_new_opts(bind, port, NULL, healthy, opaque, errstr, errstr_size);
}

sl_http_t *sl_http_new_opts(const char *bind, int port, const sl_http_opts_t *opts,
                            bool (*healthy)(void *opaque), void *opaque, char *errstr,
                            size_t errstr_size)
{
        sl_http_t *http;
        char listen[300], porttxt[16], mgerr[256] = "", threads[16] = "3",
                                       timeout[16] = "10000", wsping[16];
        unsigned mgcode = 0;
        struct mg_callbacks callbacks;
        struct mg_init_data init;
        struct mg_error_data error = {
            .code = &mgcode, .text = mgerr, .text_buffer_size = sizeof(mgerr)};
        const char *options[] = {"listening_ports",
                                 listen,
                                 "num_threads",
                                 threads,
                                 "request_timeout_ms",
                                 timeout,
                                 "enable_keep_alive",
                                 opts && opts->keep_alive ? "yes" : "no",
                                 "keep_alive_timeout_ms",
                                 timeout,
                                 NULL,
                                 NULL,
                                 NULL,
                                 NULL,
                                 NULL};

        if (port < 0 || port > 65535) {
                snprintf(errstr, errstr_size, "http: port %d is out of range 0..65535",
                         port);
                return NULL;
        }
        http = calloc(1, sizeof(*http));
        if (!http) {
                snprintf(errstr, errstr_size, "http: out of memory");
                return NULL;
        }
        http->healthy = healthy;
        http->opaque = opaque;
        if (opts && opts->threads > 0)
                snprintf(threads, sizeof(threads), "%d", opts->threads);
        if (opts && opts->request_timeout_ms > 0)
                snprintf(timeout, sizeof(timeout), "%d", opts->request_timeout_ms);
        if (port == 0)
                return http; /* disabled */
        if (opts && opts->websocket_ping_ms > 0) {
                snprintf(wsping, sizeof(wsping), "%d", opts->websocket_ping_ms);
                options[10] = "websocket_timeout_ms";
                options[11] = wsping;
                options[12] = "enable_websocket_ping_pong";
                options[13] = "yes";
        }

        if (!bind || !*bind)
                bind = "0.0.0.0";
        snprintf(porttxt, sizeof(porttxt), "%d", port);
        if (strchr(bind, ':') && bind[0] != '[')
                snprintf(listen, sizeof(listen), "[%s]:%s", bind, porttxt);
        else
                snprintf(listen, sizeof(listen), "%s:%s", bind, porttxt);

        pthread_once(&lib_once, lib_init);
        if (strchr(bind, ':') && !mg_check_feature(8)) {
                snprintf(
                    errstr, errstr_size,
                    "http: cannot listen on %s: this CivetWeb build has no IPv6 support "
                    "(set http.bind to an IPv4 address)",
                    listen);
                goto fail_start;
        }
        memset(&callbacks, 0, sizeof(callbacks));
        if (opts)
                callbacks.http_error = opts->http_error;
        memset(&init, 0, sizeof(init));
        init.callbacks = &callbacks;
        init.user_data = http;
        init.configuration_options = options;
        http->ctx = mg_start2(&init, &error);
        if (!http->ctx) {
                char why[128] = "";

                bind_reason(bind, porttxt, why, sizeof(why));
                snprintf(errstr, errstr_size,
                         "http: cannot listen on %s: %s%s(CivetWeb: %s)", listen, why,
                         *why ? " " : "", *mgerr ? mgerr : "failed to start");
                goto fail_start;
        }
        http->port = port;
        mg_set_request_handler(http->ctx, "/metrics", metrics_handler, http);
        mg_set_request_handler(http->ctx, "/healthz", healthz_handler, http);
        return http;

fail_start:
        free(http);
        return NULL;
}

void sl_http_destroy(sl_http_t *http)
{
        if (!http)
                return;
        if (http->ctx)
                mg_stop(http->ctx);
        free(http);
}

int sl_http_port(const sl_http_t *http)
{
        return http ? http->port : 0;
}

int sl_http_handle(sl_http_t *http, const char *uri, mg_request_handler handler,
                   void *cbdata)
{
        if (!http || !http->ctx)
                return SL_ERR_STATE;
        mg_set_request_handler(http->ctx, uri, handler, cbdata);
        return SL_OK;
}

struct mg_context *sl_http_context(sl_http_t *http)
{
        return http ? http->ctx : NULL;
}
