/*
 * sluice-it-types_watch_probe: a test helper for test_types_reload.sh.  It creates an
 * event-type watch (sl_types_watch_new) from the usual configuration (-c, -X,
 * SLUICE_* environment) and polls it every 5 ms, printing one line whenever the
 * registry's size changes:
 *
 *   types N <ms since start>
 *
 * The first line is printed right after the initial load.  It runs until SIGTERM /
 * SIGINT or, given "--seconds S" after the shared flags, for S seconds.
 * It also reports the longest single poll call ("max_poll_ms M") on exit, so the test
 * can check the watch never blocks its caller while Postgres is down.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/types_registry.h"

extern char **environ;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
        static const char usage[] =
            "usage: sluice-it-types_watch_probe [-c FILE] [-X key=value]... "
            "[--seconds S]\n";
        char errstr[512];
        sl_conf_t *conf = sl_conf_new();
        sl_types_watch_t *tw;
        const sl_types_t *types;
        struct sigaction sa;
        double t0, deadline = 0, max_poll = 0;
        size_t last;
        int argi = 0, rc;

        sl_log_init("types-probe", "info");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc != 0) {
                fprintf(stderr, "types_watch_probe: %s\n", errstr);
                return 2;
        }
        sl_log_init("types-probe", sl_conf_get(conf, "log.level"));
        t0 = now_ms();
        if (argi < argc && strcmp(argv[argi], "--seconds") == 0 && argi + 1 < argc)
                deadline = t0 + atof(argv[argi + 1]) * 1000.0;
        else if (argi < argc) {
                fputs(usage, stderr);
                return 2;
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        tw = sl_types_watch_new(conf, errstr, sizeof(errstr));
        if (!tw) {
                fprintf(stderr, "types_watch_probe: %s\n", errstr);
                sl_conf_destroy(conf);
                return 1;
        }
        types = sl_types_watch_poll(tw);
        last = sl_types_count(types);
        printf("types %zu %.0f\n", last, now_ms() - t0);
        fflush(stdout);

        while (!stop && (deadline == 0 || now_ms() < deadline)) {
                struct timespec pause = {0, 5 * 1000 * 1000};
                double before = now_ms(), took;

                types = sl_types_watch_poll(tw);
                took = now_ms() - before;
                if (took > max_poll)
                        max_poll = took;
                if (sl_types_count(types) != last) {
                        last = sl_types_count(types);
                        printf("types %zu %.0f\n", last, now_ms() - t0);
                        fflush(stdout);
                }
                nanosleep(&pause, NULL);
        }
        printf("max_poll_ms %.1f\n", max_poll);
        fflush(stdout);
        sl_types_watch_destroy(tw);
        sl_conf_destroy(conf);
        return 0;
}
