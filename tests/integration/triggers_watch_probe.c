/*
 * sluice-it-triggers_watch_probe: a test helper for test_triggers_reload.sh.  It
 * creates a triggers watch (sl_triggers_watch_new) from the usual configuration (-c,
 * -X, SLUICE_* environment) and polls it every 5 ms, printing one line per snapshot
 * the watch builds (a reload, even one that changed nothing):
 *
 *   load L N <ms since start> NAME=WORKFLOW,...  candidates TYPE: NAME,...
 *
 * L counts snapshots, N is the number of triggers; the candidates part lists the
 * triggers sl_triggers_candidates() returns for the event type given with --type
 * (with no source check).  It runs until SIGTERM / SIGINT and then prints the longest
 * single poll call ("max_poll_ms M"), so the test can check the watch never blocks
 * its caller while Postgres is down.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/triggers_watch.h"

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

static void print_snapshot(const sl_triggers_t *ts, uint64_t loads, double ms,
                           const char *type)
{
        const sl_trigger_t **out;
        size_t cap = sl_triggers_max_candidates(ts), n;

        printf("load %llu %zu %.0f ", (unsigned long long)loads, sl_triggers_count(ts),
               ms);
        for (size_t i = 0; i < sl_triggers_count(ts); i++) {
                const sl_trigger_t *t = sl_triggers_at(ts, i);
                printf("%s%s=%s", i ? "," : "", t->def.name, t->def.workflow);
        }
        if (type) {
                out = calloc(cap ? cap : 1, sizeof(*out));
                n = out ? sl_triggers_candidates(ts, type, NULL, out, cap) : 0;
                printf(" candidates %s:", type);
                for (size_t i = 0; i < n && i < cap; i++)
                        printf("%s%s", i ? "," : " ", out[i]->def.name);
                free(out);
        }
        putchar('\n');
        fflush(stdout);
}

int main(int argc, char **argv)
{
        static const char usage[] = "usage: sluice-it-triggers_watch_probe [-c FILE] "
                                    "[-X key=value]... [--type TYPE]\n";
        char errstr[512];
        sl_conf_t *conf = sl_conf_new();
        sl_triggers_watch_t *tw;
        const sl_triggers_t *ts;
        const char *type = NULL;
        struct sigaction sa;
        double t0, max_poll = 0;
        uint64_t last;
        int argi = 0, rc;

        sl_log_init("triggers-probe", "info");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc != 0) {
                fprintf(stderr, "triggers_watch_probe: %s\n", errstr);
                return 2;
        }
        sl_log_init("triggers-probe", sl_conf_get(conf, "log.level"));
        if (argi + 1 < argc && strcmp(argv[argi], "--type") == 0) {
                type = argv[argi + 1];
        } else if (argi < argc) {
                fputs(usage, stderr);
                return 2;
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        t0 = now_ms();
        tw = sl_triggers_watch_new(conf, errstr, sizeof(errstr));
        if (!tw) {
                fprintf(stderr, "triggers_watch_probe: %s\n", errstr);
                sl_conf_destroy(conf);
                return 1;
        }
        ts = sl_triggers_watch_poll(tw);
        last = sl_triggers_watch_loads(tw);
        print_snapshot(ts, last, now_ms() - t0, type);

        while (!stop) {
                struct timespec pause = {0, 5 * 1000 * 1000};
                double before = now_ms(), took;

                ts = sl_triggers_watch_poll(tw);
                took = now_ms() - before;
                if (took > max_poll)
                        max_poll = took;
                if (sl_triggers_watch_loads(tw) != last) {
                        last = sl_triggers_watch_loads(tw);
                        print_snapshot(ts, last, now_ms() - t0, type);
                }
                nanosleep(&pause, NULL);
        }
        printf("max_poll_ms %.1f\n", max_poll);
        fflush(stdout);
        sl_triggers_watch_destroy(tw);
        sl_conf_destroy(conf);
        return 0;
}
