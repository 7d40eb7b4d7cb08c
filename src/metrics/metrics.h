/*
 * Prometheus metrics: counters, gauges and histograms in one process-wide registry,
 * rendered in the Prometheus text exposition format.  Updates are lock-free atomics,
 * safe from any thread; registration happens at start-up.
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

/* s as a Prometheus label value, quoted, with backslash, double quote and newline
 * escaped, into out (size bytes, always NUL-terminated when size > 0, truncated when
 * short); returns the length the whole text needs, as snprintf does.  out may be NULL
 * when size is 0.  The one label escaper: every label value that is not a constant
 * goes through it. */
size_t sl_metrics_label_escape(char *out, size_t size, const char *s);

/* The whole registry in text format.  Caller frees with free(). */
char *sl_metrics_render(void);

#endif
