/*
 * sluice-it-sources_watch_probe: a test helper for test_sources_reload.sh.  It creates
 * a sources watch (sl_sources_watch_new) from the usual configuration (-c, -X,
 * SLUICE_* environment), polls it every 5 ms, and prints one line whenever what it
 * sees of one source (--source ID) or of the whole snapshot changes:
 *
 *   sources COUNT PAUSED LIMIT WINDOW_MS PAUSE <ms since start>
 *
 * COUNT: sources rows; PAUSED: manual pauses active now; LIMIT and WINDOW_MS: the
 * source's limits (the defaults when it has no row); PAUSE: "none", "open" (until
 * resumed) or the pause's until in ms.  The first line is printed right after the
 * initial load.  It runs until SIGTERM / SIGINT or for --seconds S, and reports the
 * longest single poll call ("max_poll_ms M") on exit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/sources_watch.h"

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

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void describe(const sl_sources_t *s, const char *source, char *buf, size_t size)
{
        const sl_limits_t *l = sl_sources_limits(s, source);
        const sl_manual_pause_t *p = sl_sources_pause(s, source);
        char pause[32];

        if (!p)
                snprintf(pause, sizeof(pause), "none");
        else if (p->until == 0)
                snprintf(pause, sizeof(pause), "open");
        else
                snprintf(pause, sizeof(pause), "%lld", (long long)p->until);
        snprintf(buf, size, "%zu %zu %lld %lld %s", sl_sources_count(s),
                 sl_sources_paused(s, wall_ms()), (long long)l->limit,
                 (long long)l->window_ms, pause);
}

int main(int argc, char **argv)
{
        static const char usage[] =
            "usage: sluice-it-sources_watch_probe [-c FILE] [-X key=value]... "
            "--source ID [--seconds S]\n";
        char errstr[512], last[256], cur[256];
        sl_conf_t *conf = sl_conf_new();
        sl_sources_watch_t *sw;
        struct sigaction sa;
        const char *source = NULL;
        double t0, deadline = 0, max_poll = 0;
        int argi = 0, rc;

        sl_log_init("sources-probe", "info");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc != 0) {
                fprintf(stderr, "sources_watch_probe: %s\n", errstr);
                return 2;
        }
        sl_log_init("sources-probe", sl_conf_get(conf, "log.level"));
        t0 = now_ms();
        for (; argi + 1 < argc; argi += 2) {
                if (strcmp(argv[argi], "--seconds") == 0)
                        deadline = t0 + atof(argv[argi + 1]) * 1000.0;
                else if (strcmp(argv[argi], "--source") == 0)
                        source = argv[argi + 1];
                else
                        break;
        }
        if (argi < argc || !source) {
                fputs(usage, stderr);
                return 2;
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        sw = sl_sources_watch_new(conf, errstr, sizeof(errstr));
        if (!sw) {
                fprintf(stderr, "sources_watch_probe: %s\n", errstr);
                sl_conf_destroy(conf);
                return 1;
        }
        describe(sl_sources_watch_poll(sw), source, last, sizeof(last));
        printf("sources %s %.0f\n", last, now_ms() - t0);
        fflush(stdout);

        while (!stop && (deadline == 0 || now_ms() < deadline)) {
                struct timespec pause = {0, 5 * 1000 * 1000};
                double before = now_ms(), took;
                const sl_sources_t *s = sl_sources_watch_poll(sw);

                took = now_ms() - before;
                if (took > max_poll)
                        max_poll = took;
                describe(s, source, cur, sizeof(cur));
                if (strcmp(cur, last) != 0) {
                        memcpy(last, cur, sizeof(last));
                        printf("sources %s %.0f\n", last, now_ms() - t0);
                        fflush(stdout);
                }
                nanosleep(&pause, NULL);
        }
        printf("max_poll_ms %.1f\n", max_poll);
        fflush(stdout);
        sl_sources_watch_destroy(sw);
        sl_conf_destroy(conf);
        return 0;
}
