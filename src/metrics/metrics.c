/*
 * The process-wide metrics registry and its Prometheus text rendering (format
 * 0.0.4).  Updates are C11 atomics and never lock; a mutex guards only registration
 * and the walk over the list of metrics, which only ever grows.  Not an HTTP server
 * (src/http) and not a client for pushing metrics anywhere.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/array.h"
#include "util/fatal.h"

typedef enum { SL_METRIC_COUNTER, SL_METRIC_GAUGE, SL_METRIC_HISTOGRAM } sl_metric_type_t;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct sl_metric_s {
        sl_metric_t *next;
        sl_metric_type_t type;
        char *name, *labels, *help; /* labels: "" when none */
        _Atomic uint64_t value;     /* counter, or a gauge's double bits */
        /* histogram: per-bucket counts (not cumulative; rendering sums them),
         * the last one for +Inf, and the sum as double bits. */
        double *bounds;
        size_t nbounds;
        _Atomic uint64_t *buckets;
        _Atomic uint64_t sum_bits;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_metric_t *reg_head, *reg_tail;

/* Pre-rendered blocks (sl_metrics_set_block), appended after the registry. */
#define SL_METRICS_BLOCKS 8
static struct {
        char name[64];
        char *text;
} blocks[SL_METRICS_BLOCKS];

static uint64_t dbits(double v)
{
        uint64_t b;

        memcpy(&b, &v, sizeof(b));
        return b;
}

static double bitsd(uint64_t b)
{
        double v;

        memcpy(&v, &b, sizeof(v));
        return v;
}

static sl_metric_t *metric_register(sl_metric_type_t type, const char *name,
                                    const char *labels, const char *help,
                                    const double *bounds, size_t n)
{
        sl_metric_t *m;

        if (!labels)
                labels = "";
        pthread_mutex_lock(&reg_lock);
        for (m = reg_head; m; m = m->next) {
                if (strcmp(m->name, name) != 0)
                        continue;
                if (m->type != type) {
                        /* a programming error, caught at start-up */
                        sl_bug("sl_metrics: %s registered as a %s and as a %s", name,
                               type_names[m->type], type_names[type]);
                }
                if (strcmp(m->labels, labels) == 0)
                        goto done;
        }
        m = calloc(1, sizeof(*m));
        if (!m)
                goto done;
        m->type = type;
        m->name = strdup(name);
        m->labels = strdup(labels);
        m->help = strdup(help ? help : "");
        if (!m->name || !m->labels || !m->help)
                goto fail;
        if (type == SL_METRIC_GAUGE)
                atomic_init(&m->value, dbits(0.0));
        if (type == SL_METRIC_HISTOGRAM) {
                m->nbounds = n;
                m->bounds = malloc((n ? n : 1) * sizeof(*m->bounds));
                m->buckets = calloc(n + 1, sizeof(*m->buckets));
                if (!m->bounds || !m->buckets)
                        goto fail;
                memcpy(m->bounds, bounds, n * sizeof(*m->bounds));
                atomic_init(&m->sum_bits, dbits(0.0));
        }
        if (reg_tail)
                reg_tail->next = m;
        else
                reg_head = m;
        reg_tail = m;
done:
        pthread_mutex_unlock(&reg_lock);
        return m;
fail:
        pthread_mutex_unlock(&reg_lock);
        free(m->bounds);
        free((void *)m->buckets);
        free(m->name);
        free(m->labels);
        free(m->help);
        free(m);
        return NULL;
}

sl_metric_t *sl_metrics_counter(const char *name, const char *labels, const char *help)
{
        return metric_register(SL_METRIC_COUNTER, name, labels, help, NULL, 0);
}

sl_metric_t *sl_metrics_gauge(const char *name, const char *labels, const char *help)
{
        return metric_register(SL_METRIC_GAUGE, name, labels, help, NULL, 0);
}

sl_metric_t *sl_metrics_histogram(const char *name, const char *labels, const char *help,
                                  const double *bounds, size_t n)
{
        return metric_register(SL_METRIC_HISTOGRAM, name, labels, help, bounds, n);
}

void sl_metrics_add(sl_metric_t *m, uint64_t n)
{
        if (m)
                atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void sl_metrics_set(sl_metric_t *m, double v)
{
        if (m)
                atomic_store_explicit(&m->value, dbits(v), memory_order_relaxed);
}

void sl_metrics_observe(sl_metric_t *m, double v)
{
        size_t i;
        uint64_t old;

        if (!m)
                return;
        for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
                ;
        atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
        old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(
            &m->sum_bits, &old, dbits(bitsd(old) + v), memory_order_relaxed,
            memory_order_relaxed))
                ;
}

/* A growable text buffer; ok turns false on allocation failure. */
typedef struct {
        char *p;
        size_t len, cap;
        int ok;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!b->ok)
                return;
        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->ok = 0;
                        return;
                }
                if ((size_t)n < b->cap - b->len) {
                        b->len += (size_t)n;
                        return;
                }
                char *grown =
                    sl_array_grow(b->p, &b->cap, b->len + (size_t)n + 1, 1, 4096);

                if (!grown) {
                        b->ok = 0;
                        return;
                }
                b->p = grown;
        }
}

/* Prometheus float: shortest text that reads back exactly; NaN and infinities spelt
 * the way the format wants. */
static const char *fmt_double(double v, char *out, size_t size)
{
        if (isnan(v))
                return "NaN";
        if (isinf(v))
                return v > 0 ? "+Inf" : "-Inf";
        if (v == floor(v) && fabs(v) < 1e15) {
                snprintf(out, size, "%.0f", v);
                return out;
        }
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(out, size, "%.*g", prec, v);
                if (strtod(out, NULL) == v)
                        break;
        }
        return out;
}

/* The exposition format's escaping: backslash and newline always, double quote in
 * label values (quoted) only; the rest as in snprintf (see sl_metrics_label_escape). */
static size_t escape(char *out, size_t size, const char *s, bool quoted)
{
        size_t n = 0;

#define SL_PUT(c)                                                                        \
        do {                                                                             \
                if (n + 1 < size)                                                        \
                        out[n] = (c);                                                    \
                n++;                                                                     \
        } while (0)
        if (quoted)
                SL_PUT('"');
        for (; *s; s++) {
                if (*s == '\\' || (quoted && *s == '"')) {
                        SL_PUT('\\');
                        SL_PUT(*s);
                } else if (*s == '\n') {
                        SL_PUT('\\');
                        SL_PUT('n');
                } else {
                        SL_PUT(*s);
                }
        }
        if (quoted)
                SL_PUT('"');
#undef SL_PUT
        if (size)
                out[n < size ? n : size - 1] = '\0';
        return n;
}

size_t sl_metrics_label_escape(char *out, size_t size, const char *s)
{
        return escape(out, size, s, true);
}

/* text escaped (quoted: as a label value; else as HELP text) onto b. */
static void put_escaped(buf_t *b, const char *text, bool quoted)
{
        char small[512];
        size_t n = escape(small, sizeof(small), text, quoted);

        if (n < sizeof(small)) {
                bprintf(b, "%s", small);
                return;
        }
        char *big = malloc(n + 1);
        if (!big) {
                b->ok = 0;
                return;
        }
        escape(big, n + 1, text, quoted);
        bprintf(b, "%s", big);
        free(big);
}

static void render_one(buf_t *b, const sl_metric_t *m)
{
        const char *sep = *m->labels ? "," : "";
        char num[40];

        switch (m->type) {
        case SL_METRIC_COUNTER:
                bprintf(b, "%s%s%s%s %llu\n", m->name, *m->labels ? "{" : "", m->labels,
                        *m->labels ? "}" : "",
                        (unsigned long long)atomic_load_explicit(&m->value,
                                                                 memory_order_relaxed));
                break;
        case SL_METRIC_GAUGE:
                bprintf(b, "%s%s%s%s %s\n", m->name, *m->labels ? "{" : "", m->labels,
                        *m->labels ? "}" : "",
                        fmt_double(
                            bitsd(atomic_load_explicit(&m->value, memory_order_relaxed)),
                            num, sizeof(num)));
                break;
        case SL_METRIC_HISTOGRAM: {
                uint64_t cum = 0;

                for (size_t i = 0; i <= m->nbounds; i++) {
                        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
                        bprintf(
                            b, "%s_bucket{%s%sle=\"%s\"} %llu\n", m->name, m->labels, sep,
                            i < m->nbounds ? fmt_double(m->bounds[i], num, sizeof(num))
                                           : "+Inf",
                            (unsigned long long)cum);
                }
                bprintf(b, "%s_sum%s%s%s %s\n", m->name, *m->labels ? "{" : "", m->labels,
                        *m->labels ? "}" : "",
                        fmt_double(bitsd(atomic_load_explicit(&m->sum_bits,
                                                              memory_order_relaxed)),
                                   num, sizeof(num)));
                /* _count is the +Inf bucket, so the two always agree. */
                bprintf(b, "%s_count%s%s%s %llu\n", m->name, *m->labels ? "{" : "",
                        m->labels, *m->labels ? "}" : "", (unsigned long long)cum);
                break;
        }
        }
}

char *sl_metrics_render(void)
{
        buf_t b = {.p = malloc(4096), .len = 0, .cap = 4096, .ok = 1};

        if (!b.p)
                return NULL;
        b.p[0] = '\0';
        pthread_mutex_lock(&reg_lock);
        for (const sl_metric_t *m = reg_head; m; m = m->next) {
                const sl_metric_t *o;

                /* HELP and TYPE once per name, at its first registration, followed by
                 * every label set of that name. */
                for (o = reg_head; o != m; o = o->next)
                        if (strcmp(o->name, m->name) == 0)
                                break;
                if (o != m)
                        continue;
                bprintf(&b, "# HELP %s ", m->name);
                put_escaped(&b, m->help, false);
                bprintf(&b, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
                for (o = m; o; o = o->next)
                        if (strcmp(o->name, m->name) == 0)
                                render_one(&b, o);
        }
        for (size_t i = 0; i < SL_METRICS_BLOCKS; i++)
                if (blocks[i].text)
                        bprintf(&b, "%s", blocks[i].text);
        pthread_mutex_unlock(&reg_lock);
        if (!b.ok) {
                free(b.p);
                return NULL;
        }
        return b.p;
}

int sl_metrics_set_block(const char *name, const char *text)
{
        int rc = -1;

        pthread_mutex_lock(&reg_lock);
        for (size_t i = 0; i < SL_METRICS_BLOCKS; i++) {
                if (blocks[i].text && strcmp(blocks[i].name, name) != 0)
                        continue;
                char *copy = text ? strdup(text) : NULL;
                if (text && !copy)
                        break;
                free(blocks[i].text);
                blocks[i].text = copy;
                snprintf(blocks[i].name, sizeof(blocks[i].name), "%s", name);
                rc = 0;
                break;
        }
        pthread_mutex_unlock(&reg_lock);
        return rc;
}

/* Highest count first; equal counts by label, so the rendering is deterministic. */
static int top_cmp(const void *a, const void *b)
{
        const sl_metrics_top_t *x = a, *y = b;

        if (x->count != y->count)
                return (y->count > x->count) - (y->count < x->count);
        return strcmp(x->label, y->label);
}

char *sl_metrics_top_render(const char *name, const char *help, const char *label,
                            sl_metrics_top_t *entries, size_t n, size_t k, double secs)
{
        buf_t b = {.p = malloc(1024), .len = 0, .cap = 1024, .ok = 1};
        int64_t other = 0;

        if (!b.p)
                return NULL;
        b.p[0] = '\0';
        if (!(secs > 0))
                secs = 1.0;
        if (n)
                qsort(entries, n, sizeof(*entries), top_cmp);
        bprintf(&b, "# HELP %s ", name);
        put_escaped(&b, help, false);
        bprintf(&b, "\n# TYPE %s gauge\n", name);
        for (size_t i = 0; i < n; i++) {
                if (i >= k) {
                        other += entries[i].count;
                        continue;
                }
                bprintf(&b, "%s{%s=", name, label);
                put_escaped(&b, entries[i].label, true);
                bprintf(&b, "} %.3f\n", (double)entries[i].count / secs);
        }
        bprintf(&b, "%s{%s=\"_other\"} %.3f\n", name, label, (double)other / secs);
        if (!b.ok) {
                free(b.p);
                return NULL;
        }
        return b.p;
}

int sl_metrics_set_top(const char *block, const char *name, const char *help,
                       const char *label, sl_metrics_top_t *entries, size_t n, size_t k,
                       double secs)
{
        char *text = sl_metrics_top_render(name, help, label, entries, n, k, secs);
        int rc;

        if (!text)
                return -1;
        rc = sl_metrics_set_block(block, text);
        free(text);
        return rc;
}
