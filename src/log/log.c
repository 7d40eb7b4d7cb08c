/*
 * JSON-lines logging to stderr.  Each line is built in memory and written with one
 * write(2), so lines from many threads never interleave.  Levels below the one given
 * to sl_log_init() are dropped before any formatting.  Not a log router: where the
 * lines go is the service manager's business.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

static _Atomic int log_level = SL_LOG_INFO;
static char log_component[64] = "sluice";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_init(const char *component, const char *level)
{
        if (component)
                snprintf(log_component, sizeof(log_component), "%s", component);
        for (int i = 0; level && i < 4; i++)
                if (strcmp(level, level_names[i]) == 0)
                        atomic_store(&log_level, i);
}

/* A growable line buffer; on allocation failure the line is truncated, not lost. */
typedef struct {
        char *p;
        size_t len, cap;
        char stack[1024];
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
        if (l->len + n + 2 > l->cap) {
                size_t cap = (l->len + n + 2) * 2;
                char *grown = l->p == l->stack ? malloc(cap) : realloc(l->p, cap);

                if (!grown)
                        return;
                if (l->p == l->stack)
                        memcpy(grown, l->stack, l->len);
                l->p = grown;
                l->cap = cap;
        }
        memcpy(l->p + l->len, s, n);
        l->len += n;
}

static void puts_raw(line_t *l, const char *s)
{
        put(l, s, strlen(s));
}

/* A JSON string with quotes; control characters as \u00XX.  Invalid UTF-8 passes
 * through as bytes: messages come from our own code and librdkafka/libpq. */
static void put_json(line_t *l, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        const char *run = s;

        put(l, "\"", 1);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                const char *esc = NULL;
                char u[7];

                if (c == '"')
                        esc = "\\\"";
                else if (c == '\\')
                        esc = "\\\\";
                else if (c == '\n')
                        esc = "\\n";
                else if (c == '\r')
                        esc = "\\r";
                else if (c == '\t')
                        esc = "\\t";
                else if (c < 0x20 || c == 0x7f) {
                        memcpy(u, "\\u00", 4);
                        u[4] = hex[c >> 4];
                        u[5] = hex[c & 15];
                        u[6] = '\0';
                        esc = u;
                }
                if (esc) {
                        put(l, run, (size_t)(s - run));
                        puts_raw(l, esc);
                        run = s + 1;
                }
        }
        put(l, run, (size_t)(s - run));
        put(l, "\"", 1);
}

static void put_field(line_t *l, const char *name, const char *val)
{
        if (!val)
                return;
        put(l, ",\"", 2);
        puts_raw(l, name);
        put(l, "\":", 2);
        put_json(l, val);
}

void sl_log(sl_log_level_t level, const sl_log_ctx_t *ctx, const char *fmt, ...)
{
        line_t l = {.p = NULL, .len = 0, .cap = sizeof(l.stack)};
        char ts[96], msgbuf[512], *msg = msgbuf;
        struct timespec now;
        struct tm tm;
        va_list ap;
        int n, saved = errno;

        if ((int)level < atomic_load(&log_level) || (int)level < 0 ||
            level > SL_LOG_ERROR)
                return;
        l.p = l.stack;

        va_start(ap, fmt);
        n = vsnprintf(msgbuf, sizeof(msgbuf), fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof(msgbuf)) {
                char *big = malloc((size_t)n + 1);

                if (big) {
                        va_start(ap, fmt);
                        vsnprintf(big, (size_t)n + 1, fmt, ap);
                        va_end(ap);
                        msg = big;
                }
        } else if (n < 0) {
                snprintf(msgbuf, sizeof(msgbuf), "(unformattable log message)");
        }

        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (long)((unsigned long)now.tv_nsec / 1000000 % 1000));

        puts_raw(&l, "{\"ts\":\"");
        puts_raw(&l, ts);
        puts_raw(&l, "\",\"level\":\"");
        puts_raw(&l, level_names[level]);
        puts_raw(&l, "\"");
        put_field(&l, "component", log_component);
        put_field(&l, "msg", msg);
        if (ctx) {
                put_field(&l, "event_id", ctx->event_id);
                put_field(&l, "source", ctx->source);
                put_field(&l, "trigger_id", ctx->trigger_id);
                put_field(&l, "correlation_id", ctx->correlation_id);
                put_field(&l, "launch_id", ctx->launch_id);
        }
        puts_raw(&l, "}\n");
        if (l.len && l.p[l.len - 1] != '\n')
                l.p[l.len - 1] = '\n'; /* truncated by a failed allocation */

        for (size_t off = 0; off < l.len;) {
                ssize_t w = write(STDERR_FILENO, l.p + off, l.len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                off += (size_t)w;
        }
        if (l.p != l.stack)
                free(l.p);
        if (msg != msgbuf)
                free(msg);
        errno = saved;
}
