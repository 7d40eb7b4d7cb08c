/*
 * The status page: GET / (index.html), /app.js and /app.css, compiled into the binary
 * from processors/admin/page/ (page.h).  Plain HTML, JS and CSS, no build step; the
 * page holds no data: it calls the JSON routes and /admin/stream with the read token
 * the operator pastes in (sessionStorage), so the files themselves take no token.
 *
 * A strict Content-Security-Policy (scripts and styles from this origin only, no
 * inline code, connections to this origin only) backs the page's own rule of putting
 * event data into the DOM as text, never as markup.
 */
#include <string.h>

#include "admin_int.h"
#include "page.h"

#define CSP                                                                              \
        "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src "     \
        "'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "            \
        "form-action 'none'; frame-ancestors 'none'\r\n"

int sl__adm_page(sl_adm_req_t *req, const char *path)
{
        const sl_adm_page_file_t *f = NULL;
        bool head;

        for (size_t i = 0; i < sl__adm_page_nfiles; i++)
                if (strcmp(sl__adm_page_files[i].path, path) == 0)
                        f = &sl__adm_page_files[i];
        /* Only the path as sent: "/admin/events/../../" cleans up to "/" but is an
         * events route gone wrong, answered 404 like any unknown path. */
        const struct mg_request_info *ri = mg_get_request_info(req->conn);
        if (!f || !ri->local_uri_raw || strcmp(ri->local_uri_raw, f->path) != 0)
                return 0;
        head = strcmp(req->method, "HEAD") == 0;
        if (!head && strcmp(req->method, "GET") != 0)
                return sl__adm_problem(req, 405, "method-not-allowed",
                                       "Method Not Allowed", "Allow: GET, HEAD",
                                       "the status page takes GET");
        mg_printf(req->conn,
                  "HTTP/1.1 200 OK\r\n"
                  "Content-Type: %s; charset=utf-8\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-cache\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "Referrer-Policy: no-referrer\r\n" CSP "Connection: close\r\n\r\n",
                  f->content_type, f->len);
        if (!head)
                mg_write(req->conn, f->data, f->len);
        req->status = 200;
        return 200;
}
