/*
 * test_sources: the sources / pauses snapshot (src/limits/sources.c) built from rows,
 * without Postgres: defaults for unknown sources (from the config keys), row limits,
 * manual pauses handed to admission with their expiry, bad rows refused with words,
 * and lookups over 10,000 sources.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "limits/admission.h"
#include "limits/sources.h"
#include "pg/sources_watch.h"
#include "pg/watch.h"

static const sl_limits_t defaults = {
    .limit = 0, .window_ms = 1000, .pause_after = 0, .pause_ms = 60000};

static void defaults_come_from_config(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char errstr[256];
        sl_limits_t d;

        (void)state;
        sl_sources_defaults(conf, &d);
        assert_int_equal(d.limit, 0);
        assert_int_equal(d.window_ms, 1000);
        assert_int_equal(d.pause_after, 0);
        assert_int_equal(d.pause_ms, 60000);
        /* the source breaker: off by default */
        assert_int_equal(d.dlq_rate, 0);
        assert_int_equal(d.dlq_min, 20);
        assert_int_equal(d.dlq_window_ms, 60000);
        assert_int_equal(d.dlq_pause_ms, 60000);
        assert_false(sl_admission_breaker_on(&d));

        assert_int_equal(
            sl_conf_set(conf, "admission.default.limit", "50", errstr, sizeof(errstr)),
            0);
        assert_int_equal(sl_conf_set(conf, "admission.default.window.ms", "250", errstr,
                                     sizeof(errstr)),
                         0);
        assert_int_equal(sl_conf_set(conf, "admission.default.pause.after", "7", errstr,
                                     sizeof(errstr)),
                         0);
        assert_int_equal(sl_conf_set(conf, "admission.default.pause.ms", "5000", errstr,
                                     sizeof(errstr)),
                         0);
        assert_int_equal(
            sl_conf_set(conf, "admission.default.dlq.rate", "40", errstr, sizeof(errstr)),
            0);
        assert_int_equal(
            sl_conf_set(conf, "admission.default.dlq.min", "100", errstr, sizeof(errstr)),
            0);
        assert_int_equal(sl_conf_set(conf, "admission.default.dlq.window.ms", "30000",
                                     errstr, sizeof(errstr)),
                         0);
        assert_int_equal(sl_conf_set(conf, "admission.default.dlq.pause.ms", "600000",
                                     errstr, sizeof(errstr)),
                         0);
        sl_sources_defaults(conf, &d);
        assert_int_equal(d.dlq_rate, 40);
        assert_int_equal(d.dlq_min, 100);
        assert_int_equal(d.dlq_window_ms, 30000);
        assert_int_equal(d.dlq_pause_ms, 600000);
        assert_true(sl_admission_breaker_on(&d));
        assert_int_equal(d.limit, 50);
        assert_int_equal(d.window_ms, 250);
        assert_int_equal(d.pause_after, 7);
        assert_int_equal(d.pause_ms, 5000);

        /* A zero window is not a window. */
        assert_int_not_equal(
            sl_conf_set(conf, "admission.default.window.ms", "0", errstr, sizeof(errstr)),
            0);
        assert_non_null(strstr(errstr, "admission.default.window.ms"));
        /* A rate is a percent. */
        assert_int_not_equal(sl_conf_set(conf, "admission.default.dlq.rate", "101",
                                         errstr, sizeof(errstr)),
                             0);
        assert_non_null(strstr(errstr, "admission.default.dlq.rate"));
        sl_conf_destroy(conf);
}

static void rows_and_defaults(void **state)
{
        sl_source_row_t rows[] = {
            {"billing",
             {.limit = 100, .window_ms = 1000, .pause_after = 50, .pause_ms = 30000}},
            {"crm", {.limit = 5, .window_ms = 60000, .pause_after = 0, .pause_ms = 0}},
        };
        char errstr[256];
        sl_sources_t *s =
            sl_sources_build(&defaults, rows, 2, NULL, 0, errstr, sizeof(errstr));
        const sl_limits_t *l;

        (void)state;
        assert_non_null(s);
        assert_int_equal(sl_sources_count(s), 2);

        l = sl_sources_limits(s, "billing");
        assert_int_equal(l->limit, 100);
        assert_int_equal(l->window_ms, 1000);
        assert_int_equal(l->pause_after, 50);
        assert_int_equal(l->pause_ms, 30000);
        l = sl_sources_limits(s, "crm");
        assert_int_equal(l->limit, 5);
        assert_int_equal(l->window_ms, 60000);

        /* Unknown, empty and NULL sources get the defaults, never NULL. */
        l = sl_sources_limits(s, "unknown");
        assert_non_null(l);
        assert_memory_equal(l, &defaults, sizeof(defaults));
        assert_memory_equal(sl_sources_limits(s, ""), &defaults, sizeof(defaults));
        assert_memory_equal(sl_sources_limits(s, NULL), &defaults, sizeof(defaults));
        /* Names are exact: no case folding, no prefix match. */
        assert_memory_equal(sl_sources_limits(s, "Billing"), &defaults, sizeof(defaults));
        assert_memory_equal(sl_sources_limits(s, "bill"), &defaults, sizeof(defaults));

        assert_null(sl_sources_pause(s, "billing"));
        assert_int_equal(sl_sources_paused(s, 0), 0);
        sl_sources_destroy(s);
        sl_sources_destroy(NULL); /* NULL-safe */
}

static void empty_snapshot(void **state)
{
        char errstr[256];
        sl_sources_t *s =
            sl_sources_build(&defaults, NULL, 0, NULL, 0, errstr, sizeof(errstr));

        (void)state;
        assert_non_null(s);
        assert_int_equal(sl_sources_count(s), 0);
        assert_memory_equal(sl_sources_limits(s, "x"), &defaults, sizeof(defaults));
        assert_null(sl_sources_pause(s, "x"));
        sl_sources_destroy(s);
}

/* A pause is handed to admission as stored; admission decides whether it is active. */
static void pauses_and_expiry(void **state)
{
        sl_source_row_t rows[] = {
            {"billing", {.limit = 0, .window_ms = 1000, .pause_after = 0, .pause_ms = 0}},
        };
        sl_pause_row_t pauses[] = {
            {"billing", 0}, /* until resumed */
            {"crm", 20000}, /* until t = 20 s; crm has no sources row */
        };
        char errstr[256];
        sl_sources_t *s =
            sl_sources_build(&defaults, rows, 1, pauses, 2, errstr, sizeof(errstr));
        const sl_manual_pause_t *p;
        sl_source_state_t st = {0};
        sl_admit_reason_t why;

        (void)state;
        assert_non_null(s);
        assert_int_equal(sl_sources_count(s), 1); /* pauses are not sources rows */

        p = sl_sources_pause(s, "billing");
        assert_non_null(p);
        assert_true(p->paused);
        assert_int_equal(p->until, 0);
        p = sl_sources_pause(s, "crm");
        assert_non_null(p);
        assert_true(p->paused);
        assert_int_equal(p->until, 20000);
        /* crm is paused but not configured: its limits are the defaults. */
        assert_memory_equal(sl_sources_limits(s, "crm"), &defaults, sizeof(defaults));
        assert_null(sl_sources_pause(s, "other"));

        /* Active pauses at a time: both before 20 s, only the open-ended one after. */
        assert_int_equal(sl_sources_paused(s, 10000), 2);
        assert_int_equal(sl_sources_paused(s, 19999), 2);
        assert_int_equal(sl_sources_paused(s, 20000), 1);
        assert_int_equal(sl_sources_paused(s, 1000000000000LL), 1);

        /* Admission agrees: crm is paused before until and admitted from then on. */
        assert_int_equal(sl_admission_decide(sl_sources_limits(s, "crm"),
                                             sl_sources_pause(s, "crm"), &st, 19999, &why,
                                             NULL),
                         SL_DECISION_PAUSED);
        assert_int_equal(why, SL_ADMIT_MANUALLY_PAUSED);
        memset(&st, 0, sizeof(st));
        assert_int_equal(sl_admission_decide(sl_sources_limits(s, "crm"),
                                             sl_sources_pause(s, "crm"), &st, 20000, &why,
                                             NULL),
                         SL_DECISION_ACCEPTED);
        memset(&st, 0, sizeof(st));
        assert_int_equal(sl_admission_decide(sl_sources_limits(s, "billing"),
                                             sl_sources_pause(s, "billing"), &st,
                                             1000000000000LL, &why, NULL),
                         SL_DECISION_PAUSED);
        sl_sources_destroy(s);
}

static void bad_rows_are_refused(void **state)
{
        sl_source_row_t dup[] = {
            {"a", {.limit = 1, .window_ms = 1000}},
            {"a", {.limit = 2, .window_ms = 1000}},
        };
        sl_source_row_t zero_window[] = {{"w", {.limit = 1, .window_ms = 0}}};
        sl_source_row_t negative[] = {{"n", {.limit = -1, .window_ms = 1000}}};
        sl_source_row_t no_id[] = {{NULL, {.limit = 1, .window_ms = 1000}}};
        sl_source_row_t bad_breaker[] = {
            {"r", {.window_ms = 1000, .dlq_rate = 101, .dlq_window_ms = 1000}},
            {"z", {.window_ms = 1000, .dlq_rate = 50, .dlq_window_ms = 0}},
            {"m", {.window_ms = 1000, .dlq_min = -1}},
            {"d", {.window_ms = 1000, .dlq_pause_ms = -1}},
        };
        sl_pause_row_t twice[] = {{"p", 0}, {"p", 5}};
        sl_pause_row_t before_1970[] = {{"q", -5}};
        sl_limits_t bad_defaults = defaults;
        char errstr[256];

        (void)state;
        assert_null(sl_sources_build(&defaults, dup, 2, NULL, 0, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "'a'"));
        assert_non_null(strstr(errstr, "twice"));
        assert_null(
            sl_sources_build(&defaults, zero_window, 1, NULL, 0, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "'w'"));
        assert_non_null(strstr(errstr, "window_ms"));
        assert_null(
            sl_sources_build(&defaults, negative, 1, NULL, 0, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "'n'"));
        assert_null(
            sl_sources_build(&defaults, no_id, 1, NULL, 0, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "no id"));
        for (size_t i = 0; i < sizeof(bad_breaker) / sizeof(bad_breaker[0]); i++) {
                char want[8];
                assert_null(sl_sources_build(&defaults, &bad_breaker[i], 1, NULL, 0,
                                             errstr, sizeof(errstr)));
                snprintf(want, sizeof(want), "'%s'", bad_breaker[i].id);
                assert_non_null(strstr(errstr, want));
                assert_non_null(strstr(errstr, "dlq_"));
        }
        assert_null(
            sl_sources_build(&defaults, NULL, 0, twice, 2, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "'p'"));
        assert_null(
            sl_sources_build(&defaults, NULL, 0, before_1970, 1, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "'q'"));
        bad_defaults.window_ms = 0;
        assert_null(
            sl_sources_build(&bad_defaults, NULL, 0, NULL, 0, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "default"));
}

/* Ingress looks up every event: 10,000 sources, each found with its own limits,
 * unknown names fall back to the defaults, and a million lookups are quick. */
static void ten_thousand_sources(void **state)
{
        enum { N = 10000 };
        sl_source_row_t *rows = calloc(N, sizeof(*rows));
        sl_pause_row_t *pauses = calloc(N / 10, sizeof(*pauses));
        char(*names)[32] = calloc(N, sizeof(*names));
        char errstr[256], name[32];
        sl_sources_t *s;
        struct timespec t0, t1;
        double ms;
        int64_t sum = 0;

        (void)state;
        assert_non_null(rows);
        assert_non_null(pauses);
        assert_non_null(names);
        for (int i = 0; i < N; i++) {
                snprintf(names[i], sizeof(names[i]), "source-%05d", i);
                rows[i].id = names[i];
                rows[i].limits.limit = i + 1;
                rows[i].limits.window_ms = 1000 + i;
                rows[i].limits.pause_after = i % 7;
                rows[i].limits.pause_ms = i * 10;
        }
        for (int i = 0; i < N / 10; i++) {
                pauses[i].source = names[i * 10];
                pauses[i].until = i % 2 ? 0 : 5000;
        }
        s = sl_sources_build(&defaults, rows, N, pauses, N / 10, errstr, sizeof(errstr));
        assert_non_null(s);
        /* The snapshot copied the names: the caller's buffers may go. */
        memset(names, 'x', N * sizeof(*names));
        for (int i = 0; i < N; i++)
                names[i][31] = '\0';

        assert_int_equal(sl_sources_count(s), N);
        for (int i = 0; i < N; i++) {
                const sl_limits_t *l;
                const sl_manual_pause_t *p;

                snprintf(name, sizeof(name), "source-%05d", i);
                l = sl_sources_limits(s, name);
                assert_int_equal(l->limit, i + 1);
                assert_int_equal(l->window_ms, 1000 + i);
                assert_int_equal(l->pause_after, i % 7);
                assert_int_equal(l->pause_ms, i * 10);
                p = sl_sources_pause(s, name);
                if (i % 10 == 0) {
                        assert_non_null(p);
                        assert_int_equal(p->until, (i / 10) % 2 ? 0 : 5000);
                } else {
                        assert_null(p);
                }
        }
        assert_int_equal(sl_sources_paused(s, 0), N / 10);
        assert_int_equal(sl_sources_paused(s, 5000), N / 20);
        snprintf(name, sizeof(name), "source-%05d", N);
        assert_memory_equal(sl_sources_limits(s, name), &defaults, sizeof(defaults));

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 1000000; i++) {
                snprintf(name, sizeof(name), "source-%05d", i % (N + 100));
                sum += sl_sources_limits(s, name)->limit;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        print_message("1,000,000 lookups (with snprintf) over %d sources: %.1f ms\n", N,
                      ms);
        assert_true(sum > 0);
        assert_true(ms < 5000); /* generous: sanitizer builds, loaded CI */

        sl_sources_destroy(s);
        free(rows);
        free(pauses);
        free(names);
}

/* A loopback port nobody listens on. */
static int closed_port(void)
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

/* No server: the watch and the one-shot load fail with words and no password. */
static void watch_fails_cleanly_without_server(void **state)
{
        char errstr[512], port[16];
        sl_conf_t *conf = sl_conf_new();

        (void)state;
        snprintf(port, sizeof(port), "%d", closed_port());
        assert_int_equal(sl_conf_set(conf, "pg.port", port, errstr, sizeof(errstr)), 0);
        assert_int_equal(
            sl_conf_set(conf, "pg.password", "Sup3r-s3cret-pw", errstr, sizeof(errstr)),
            0);
        errstr[0] = '\0';
        assert_null(sl_sources_watch_new(conf, errstr, sizeof(errstr)));
        assert_true(strlen(errstr) > 0);
        assert_null(strstr(errstr, "Sup3r-s3cret-pw"));
        errstr[0] = '\0';
        assert_null(sl_sources_load(NULL, conf, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "no connection"));
        sl_sources_watch_destroy(NULL); /* NULL-safe */
        sl_conf_destroy(conf);
}

static void *never_built(const PGresult *res, void *opaque, char *errstr,
                         size_t errstr_size)
{
        (void)res;
        (void)opaque;
        snprintf(errstr, errstr_size, "not reached");
        return NULL;
}

static void never_destroyed(void *snap)
{
        (void)snap;
}

/* The channel goes into LISTEN unquoted, so only plain identifiers are taken. */
static void watch_refuses_bad_channels(void **state)
{
        char errstr[256];
        sl_conf_t *conf = sl_conf_new();
        sl_pg_watch_conf_t wc = {.name = "t",
                                 .channel = "x; DROP TABLE sources",
                                 .sql = "SELECT 1",
                                 .build = never_built,
                                 .destroy = never_destroyed};

        (void)state;
        assert_null(sl_pg_watch_new(conf, &wc, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "channel"));
        wc.channel = "";
        assert_null(sl_pg_watch_new(conf, &wc, errstr, sizeof(errstr)));
        wc.channel = "Upper";
        assert_null(sl_pg_watch_new(conf, &wc, errstr, sizeof(errstr)));
        wc.channel = "sluice_config";
        wc.build = NULL;
        assert_null(sl_pg_watch_new(conf, &wc, errstr, sizeof(errstr)));
        sl_pg_watch_destroy(NULL); /* NULL-safe */
        sl_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(defaults_come_from_config),
            cmocka_unit_test(rows_and_defaults),
            cmocka_unit_test(empty_snapshot),
            cmocka_unit_test(pauses_and_expiry),
            cmocka_unit_test(bad_rows_are_refused),
            cmocka_unit_test(ten_thousand_sources),
            cmocka_unit_test(watch_fails_cleanly_without_server),
            cmocka_unit_test(watch_refuses_bad_channels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
