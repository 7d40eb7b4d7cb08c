/*
 * Prometheus metrics: counters, gauges and histograms in one process-wide registry,
 * rendered in the Prometheus text exposition format.  Updates are lock-free atomics,
 * safe from any thread; registration happens at start-up.  Families whose label sets
 * change (the busiest sources) are rendered as bounded top-k blocks
 * (sl_metrics_set_top).
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_metric_s sl_metric_t;

/* name: full metric name ("sluice_ingress_events_total"); labels: NULL or a fixed
 * label set in Prometheus syntax without braces ("outcome=\"accepted\"").  Registering
 * the same name+labels twice returns the same metric.  Never freed (process lifetime). */
sl_metric_t *sl_metrics_counter(const char *name, const char *labels, const char *help);
sl_metric_t *sl_metrics_gauge(const char *name, const char *labels, const char *help);
/* bounds: ascending upper bounds in seconds (n of them); +Inf is added. */
sl_metric_t *sl_metrics_histogram(const char *name, const char *labels, const char *help,
                                  const double *bounds, size_t n);

void sl_metrics_add(sl_metric_t *m, uint64_t n);   /* counter += n */
void sl_metrics_set(sl_metric_t *m, double v);     /* gauge = v */
void sl_metrics_observe(sl_metric_t *m, double v); /* histogram */

/* A named block of already-rendered exposition text (with its own # HELP / # TYPE),
 * appended to every rendering until replaced; NULL removes it.  For families whose
 * label sets change over time (the top sources by admissions) yet must stay bounded:
 * the owner re-renders the whole block.  Thread-safe.  0, or -1 when all block
 * slots are taken. */
int sl_metrics_set_block(const char *name, const char *text);

/* A gauge family of bounded cardinality: one series per label value for the k
 * entries with the highest counts (value count / secs, per second over the interval
 * the counts cover), and every other entry summed under label="_other", which is
 * always present.  Label values are escaped; entries (borrowed) are sorted in place,
 * highest count first, equal counts by label.  secs <= 0 counts as 1.  Caller frees
 * the text with free(); NULL when out of memory. */
typedef struct sl_metrics_top_s {
        const char *label; /* the label value, e.g. a source id */
        int64_t count;
} sl_metrics_top_t;
char *sl_metrics_top_render(const char *name, const char *help, const char *label,
                            sl_metrics_top_t *entries, size_t n, size_t k, double secs);
/* sl_metrics_top_render() published as block (sl_metrics_set_block).  0, or -1 when
 * out of memory or out of block slots. */
int sl_metrics_set_top(const char *block, const char *name, const char *help,
                       const char *label, sl_metrics_top_t *entries, size_t n, size_t k,
                       double secs);
/* s as a Prometheus label value, quoted, with backslash, double quote and newline
 * escaped, into out (size bytes, always NUL-terminated when size > 0, truncated when
 * short); returns the length the whole text needs, as snprintf does.  out may be NULL
 * when size is 0.  The one label escaper: every label value that is not a constant
 * goes through it. */
size_t sl_metrics_label_escape(char *out, size_t size, const char *s);

/* The whole registry in text format.  Caller frees with free(). */
char *sl_metrics_render(void);

#endif
