/* Unit tests for src/http over real sockets: a server on a free port answers
 * GET /metrics with the registry in text format, /healthz with 200 or 503 as the
 * health callback says, 404 and 405 otherwise, takes extra handlers, and refuses a
 * port already in use with words naming the address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"
#include "metrics/metrics.h"
#include "sluice/err.h"

/* A port nothing listens on right now (bound to 0, read back, closed). */
static int free_port(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

/* One HTTP/1.0 exchange; returns the whole response (caller frees) and its status. */
static char *request(int port, const char *method, const char *path, int *status)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        char req[256], *resp = NULL;
        size_t len = 0, cap = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        ssize_t n;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method,
                 path);
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        do {
                if (len + 4096 + 1 > cap) {
                        cap = (len + 4096 + 1) * 2;
                        resp = realloc(resp, cap);
                        assert_non_null(resp);
                }
                n = read(fd, resp + len, cap - len - 1);
                if (n > 0)
                        len += (size_t)n;
        } while (n > 0);
        close(fd);
        resp[len] = '\0';
        assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", status), 1);
        return resp;
}

static const char *body_of(const char *resp)
{
        const char *b = strstr(resp, "\r\n\r\n");

        assert_non_null(b);
        return b + 4;
}

static atomic_bool healthy_flag = true;

static bool healthy(void *opaque)
{
        assert_ptr_equal(opaque, &healthy_flag);
        return atomic_load(&healthy_flag);
}

static int hello_handler(struct mg_connection *conn, void *cbdata)
{
        const char *word = cbdata;

        mg_printf(conn,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                  strlen(word), word);
        return 200;
}

static void serves_metrics_and_health(void **state)
{
        char errstr[256];
        int port = free_port(), status;
        sl_http_t *http;
        sl_metric_t *m = sl_metrics_counter("t_http_hits_total", "path=\"/x\"", "Hits.");
        char *resp;
        (void)state;

        sl_metrics_add(m, 7);
        http = sl_http_new("127.0.0.1", port, healthy, &healthy_flag, errstr,
                           sizeof(errstr));
        assert_non_null(http);
        assert_int_equal(sl_http_port(http), port);
        assert_non_null(sl_http_context(http));

        resp = request(port, "GET", "/metrics", &status);
        assert_int_equal(status, 200);
        assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
        assert_non_null(strstr(body_of(resp), "# HELP t_http_hits_total Hits.\n"
                                              "# TYPE t_http_hits_total counter\n"
                                              "t_http_hits_total{path=\"/x\"} 7\n"));
        free(resp);

        resp = request(port, "GET", "/healthz", &status);
        assert_int_equal(status, 200);
        assert_string_equal(body_of(resp), "ok\n");
        free(resp);
        atomic_store(&healthy_flag, false);
        resp = request(port, "GET", "/healthz", &status);
        assert_int_equal(status, 503);
        assert_string_equal(body_of(resp), "unhealthy\n");
        free(resp);
        atomic_store(&healthy_flag, true);

        resp = request(port, "HEAD", "/healthz", &status);
        assert_int_equal(status, 200);
        assert_string_equal(body_of(resp), "");
        free(resp);

        resp = request(port, "GET", "/", &status);
        assert_int_equal(status, 404);
        free(resp);
        resp = request(port, "GET", "/metricsfoo", &status);
        assert_int_equal(status, 404);
        free(resp);
        resp = request(port, "GET", "/metrics/more", &status);
        assert_int_equal(status, 404);
        free(resp);
        resp = request(port, "POST", "/metrics", &status);
        assert_int_equal(status, 405);
        assert_non_null(strstr(resp, "Allow: GET, HEAD"));
        free(resp);

        /* Extra handlers (the admin server's way in). */
        assert_int_equal(sl_http_handle(http, "/hello", hello_handler, "hi there"),
                         SL_OK);
        resp = request(port, "GET", "/hello", &status);
        assert_int_equal(status, 200);
        assert_string_equal(body_of(resp), "hi there");
        free(resp);

        /* The port is taken now: a second server says so, naming the address. */
        assert_null(sl_http_new("127.0.0.1", port, NULL, NULL, errstr, sizeof(errstr)));
        char want[64];
        snprintf(want, sizeof(want), "127.0.0.1:%d", port);
        assert_non_null(strstr(errstr, want));

        sl_http_destroy(http);
}

static void port_zero_disables(void **state)
{
        char errstr[256];
        sl_http_t *http = sl_http_new("127.0.0.1", 0, NULL, NULL, errstr, sizeof(errstr));
        (void)state;

        assert_non_null(http);
        assert_int_equal(sl_http_port(http), 0);
        assert_null(sl_http_context(http));
        assert_int_equal(sl_http_handle(http, "/x", hello_handler, "x"), SL_ERR_STATE);
        sl_http_destroy(http);
        sl_http_destroy(NULL);

        assert_null(sl_http_new("127.0.0.1", 70000, NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "70000"));
        assert_null(
            sl_http_new("192.0.2.1", free_port(), NULL, NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "192.0.2.1:"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(serves_metrics_and_health),
            cmocka_unit_test(port_zero_disables),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
