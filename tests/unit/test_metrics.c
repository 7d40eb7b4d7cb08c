/* Unit tests for src/metrics: the exact exposition text of a counter, a gauge and a
 * histogram, one HELP/TYPE per name across label sets, re-registration, counts
 * that stay exact under concurrent updates, and the bounded top-k families. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/metrics.h"

/* The block of text that starts at "# HELP name " in the rendering, up to the next
 * "# HELP" (or the end).  Caller frees. */
static char *block_of(const char *name)
{
        char *all = sl_metrics_render(), *start, *end, *out, head[256];

        assert_non_null(all);
        snprintf(head, sizeof(head), "# HELP %s ", name);
        start = strstr(all, head);
        assert_non_null(start);
        end = strstr(start + 1, "# HELP ");
        out = strndup(start, end ? (size_t)(end - start) : strlen(start));
        /* HELP for a name appears exactly once. */
        assert_null(strstr(start + 1, head));
        free(all);
        return out;
}

static void counter_text(void **state)
{
        sl_metric_t *m = sl_metrics_counter("t_requests_total", NULL, "Requests seen.");
        char *b;
        (void)state;

        assert_ptr_equal(sl_metrics_counter("t_requests_total", NULL, "Requests seen."),
                         m);
        sl_metrics_add(m, 3);
        sl_metrics_add(m, 39);
        b = block_of("t_requests_total");
        assert_string_equal(b, "# HELP t_requests_total Requests seen.\n"
                               "# TYPE t_requests_total counter\n"
                               "t_requests_total 42\n");
        free(b);
}

static void gauge_text(void **state)
{
        sl_metric_t *m =
            sl_metrics_gauge("t_lag", "partition=\"0\"", "Lag.\nIn records\\s.");
        char *b;
        (void)state;

        b = block_of("t_lag");
        assert_string_equal(b, "# HELP t_lag Lag.\\nIn records\\\\s.\n"
                               "# TYPE t_lag gauge\n"
                               "t_lag{partition=\"0\"} 0\n");
        free(b);
        sl_metrics_set(m, 12.5);
        b = block_of("t_lag");
        assert_non_null(strstr(b, "t_lag{partition=\"0\"} 12.5\n"));
        free(b);
        sl_metrics_set(m, 0.1);
        b = block_of("t_lag");
        assert_non_null(strstr(b, "t_lag{partition=\"0\"} 0.1\n"));
        free(b);
        sl_metrics_set(m, -3);
        b = block_of("t_lag");
        assert_non_null(strstr(b, "t_lag{partition=\"0\"} -3\n"));
        free(b);
        sl_metrics_set(m, NAN);
        b = block_of("t_lag");
        assert_non_null(strstr(b, "t_lag{partition=\"0\"} NaN\n"));
        free(b);
        sl_metrics_set(m, INFINITY);
        b = block_of("t_lag");
        assert_non_null(strstr(b, "t_lag{partition=\"0\"} +Inf\n"));
        free(b);
}

static void histogram_text(void **state)
{
        const double bounds[] = {0.25, 0.5, 1, 2.5};
        sl_metric_t *m = sl_metrics_histogram("t_batch_seconds", "stage=\"ingress\"",
                                              "Batch time.", bounds, 4);
        sl_metric_t *bare =
            sl_metrics_histogram("t_bare_seconds", NULL, "Bare.", bounds, 2);
        char *b;
        (void)state;

        sl_metrics_observe(m, 0.125);
        sl_metrics_observe(m, 0.25); /* upper bounds are inclusive */
        sl_metrics_observe(m, 0.75);
        sl_metrics_observe(m, 3);
        b = block_of("t_batch_seconds");
        assert_string_equal(b, "# HELP t_batch_seconds Batch time.\n"
                               "# TYPE t_batch_seconds histogram\n"
                               "t_batch_seconds_bucket{stage=\"ingress\",le=\"0.25\"} 2\n"
                               "t_batch_seconds_bucket{stage=\"ingress\",le=\"0.5\"} 2\n"
                               "t_batch_seconds_bucket{stage=\"ingress\",le=\"1\"} 3\n"
                               "t_batch_seconds_bucket{stage=\"ingress\",le=\"2.5\"} 3\n"
                               "t_batch_seconds_bucket{stage=\"ingress\",le=\"+Inf\"} 4\n"
                               "t_batch_seconds_sum{stage=\"ingress\"} 4.125\n"
                               "t_batch_seconds_count{stage=\"ingress\"} 4\n");
        free(b);

        sl_metrics_observe(bare, 0.375);
        b = block_of("t_bare_seconds");
        assert_string_equal(b, "# HELP t_bare_seconds Bare.\n"
                               "# TYPE t_bare_seconds histogram\n"
                               "t_bare_seconds_bucket{le=\"0.25\"} 0\n"
                               "t_bare_seconds_bucket{le=\"0.5\"} 1\n"
                               "t_bare_seconds_bucket{le=\"+Inf\"} 1\n"
                               "t_bare_seconds_sum 0.375\n"
                               "t_bare_seconds_count 1\n");
        free(b);
}

static void label_sets_share_help_and_type(void **state)
{
        sl_metric_t *ok =
            sl_metrics_counter("t_events_total", "outcome=\"accepted\"", "Events.");
        sl_metric_t *bad =
            sl_metrics_counter("t_events_total", "outcome=\"rejected\"", "Events.");
        char *b;
        (void)state;

        assert_ptr_not_equal(ok, bad);
        /* A metric registered in between does not split the name's block. */
        sl_metrics_gauge("t_between", NULL, "Between.");
        sl_metric_t *late =
            sl_metrics_counter("t_events_total", "outcome=\"dup\"", "Events.");
        sl_metrics_add(ok, 5);
        sl_metrics_add(bad, 2);
        sl_metrics_add(late, 1);
        b = block_of("t_events_total");
        assert_string_equal(b, "# HELP t_events_total Events.\n"
                               "# TYPE t_events_total counter\n"
                               "t_events_total{outcome=\"accepted\"} 5\n"
                               "t_events_total{outcome=\"rejected\"} 2\n"
                               "t_events_total{outcome=\"dup\"} 1\n");
        free(b);
}

static sl_metric_t *race_counter, *race_hist;

static void blocks_are_appended_and_replaced(void **state)
{
        char *text;
        (void)state;

        assert_int_equal(
            sl_metrics_set_block("top", "# TYPE t gauge\nt{source=\"a\"} 1\n"), 0);
        text = sl_metrics_render();
        assert_non_null(strstr(text, "t{source=\"a\"} 1\n"));
        free(text);
        assert_int_equal(
            sl_metrics_set_block("top", "# TYPE t gauge\nt{source=\"b\"} 2\n"), 0);
        text = sl_metrics_render();
        assert_null(strstr(text, "source=\"a\""));
        assert_non_null(strstr(text, "t{source=\"b\"} 2\n"));
        free(text);
        assert_int_equal(sl_metrics_set_block("top", NULL), 0);
        text = sl_metrics_render();
        assert_null(strstr(text, "source=\"b\""));
        free(text);
}

static void label_values_are_escaped(void **state)
{
        char out[64], tiny[6];
        (void)state;

        assert_int_equal(sl_metrics_label_escape(out, sizeof(out), "plain"), 7);
        assert_string_equal(out, "\"plain\"");
        assert_int_equal(sl_metrics_label_escape(out, sizeof(out), "a\"b\\c\nd"), 12);
        assert_string_equal(out, "\"a\\\"b\\\\c\\nd\"");
        /* snprintf's contract: the whole length, truncated text, always terminated */
        assert_int_equal(sl_metrics_label_escape(tiny, sizeof(tiny), "abcdefgh"), 10);
        assert_string_equal(tiny, "\"abcd");
        assert_int_equal(sl_metrics_label_escape(NULL, 0, "x\"y"), 6);
        assert_int_equal(sl_metrics_label_escape(out, sizeof(out), ""), 2);
        assert_string_equal(out, "\"\"");
}

static void *hammer(void *arg)
{
        (void)arg;
        for (int i = 0; i < 100000; i++) {
                sl_metrics_add(race_counter, 1);
                sl_metrics_observe(race_hist, 1.0);
        }
        return NULL;
}

static void concurrent_updates_are_exact(void **state)
{
        const double bounds[] = {0.5, 2};
        pthread_t th[4];
        char *b;
        (void)state;

        race_counter = sl_metrics_counter("t_race_total", NULL, "Race.");
        race_hist = sl_metrics_histogram("t_race_seconds", NULL, "Race.", bounds, 2);
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        b = block_of("t_race_total");
        assert_non_null(strstr(b, "t_race_total 400000\n"));
        free(b);
        b = block_of("t_race_seconds");
        assert_non_null(strstr(b, "t_race_seconds_bucket{le=\"2\"} 400000\n"));
        assert_non_null(strstr(b, "t_race_seconds_sum 400000\n"));
        assert_non_null(strstr(b, "t_race_seconds_count 400000\n"));
        free(b);
}

/* The k busiest get a series each, the rest one "_other" series, per second. */
static void top_keeps_k_and_sums_the_rest(void **state)
{
        sl_metrics_top_t e[] = {{"a", 10}, {"b", 40}, {"c", 20}, {"d", 30}, {"e", 4}};
        char *t;

        (void)state;
        t = sl_metrics_top_render("t_top", "Top sources.", "source", e, 5, 2, 2.0);
        assert_non_null(t);
        assert_string_equal(t, "# HELP t_top Top sources.\n"
                               "# TYPE t_top gauge\n"
                               "t_top{source=\"b\"} 20.000\n"
                               "t_top{source=\"d\"} 15.000\n"
                               "t_top{source=\"_other\"} 17.000\n");
        free(t);
}

/* Equal counts sort by label; k larger than n; no entries at all; secs <= 0. */
static void top_is_deterministic_and_total(void **state)
{
        sl_metrics_top_t e[] = {{"y", 5}, {"x", 5}};
        char *t;

        (void)state;
        t = sl_metrics_top_render("t_top", "H.", "source", e, 2, 20, 1.0);
        assert_string_equal(t, "# HELP t_top H.\n# TYPE t_top gauge\n"
                               "t_top{source=\"x\"} 5.000\n"
                               "t_top{source=\"y\"} 5.000\n"
                               "t_top{source=\"_other\"} 0.000\n");
        free(t);
        t = sl_metrics_top_render("t_top", "H.", "source", NULL, 0, 20, 0);
        assert_string_equal(t, "# HELP t_top H.\n# TYPE t_top gauge\n"
                               "t_top{source=\"_other\"} 0.000\n");
        free(t);
        t = sl_metrics_top_render("t_top", "H.", "source", e, 2, 0, 0);
        assert_non_null(strstr(t, "t_top{source=\"_other\"} 10.000\n"));
        assert_null(strstr(t, "source=\"x\""));
        free(t);
}

/* Label values are escaped: a source id may hold quotes, backslashes, newlines. */
static void top_escapes_label_values(void **state)
{
        sl_metrics_top_t e[] = {{"a\"b\\c\nd", 1}};
        char *t, *all;

        (void)state;
        t = sl_metrics_top_render("t_top", "H.", "source", e, 1, 1, 1.0);
        assert_non_null(strstr(t, "t_top{source=\"a\\\"b\\\\c\\nd\"} 1.000\n"));
        free(t);
        assert_int_equal(
            sl_metrics_set_top("t_top_block", "t_top2", "H.", "source", e, 1, 1, 1.0), 0);
        all = sl_metrics_render();
        assert_non_null(strstr(all, "# TYPE t_top2 gauge\n"));
        free(all);
        assert_int_equal(sl_metrics_set_block("t_top_block", NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(counter_text),
            cmocka_unit_test(gauge_text),
            cmocka_unit_test(histogram_text),
            cmocka_unit_test(label_sets_share_help_and_type),
            cmocka_unit_test(concurrent_updates_are_exact),
            cmocka_unit_test(blocks_are_appended_and_replaced),
            cmocka_unit_test(top_keeps_k_and_sums_the_rest),
            cmocka_unit_test(top_is_deterministic_and_total),
            cmocka_unit_test(top_escapes_label_values),
            cmocka_unit_test(label_values_are_escaped),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
