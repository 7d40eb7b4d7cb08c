/* sluice-admin: flags and config, then the admin HTTP server until SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config/config.h"
#include "log/log.h"

static const char usage[] =
    "usage: sluice-admin [-c FILE] [-X key=value]... [--print-config]\n"
    "\n"
    "The admin HTTP server (docs/admin-api.md): the /admin API with bearer tokens\n"
    "(admin.tokens: NAME:SCOPES:SECRET, scopes read and operate), /metrics, /healthz\n"
    "and /readyz on http.bind:http.port (default 9100), the WebSocket /admin/stream\n"
    "(accepted events as they happen) and a status page at /.  Reads Postgres and\n"
    "Kafka (committed offsets and events.accepted without joining any group);\n"
    "replays publish to events.in.\n"
    "SIGTERM or SIGINT finishes the requests in hand and exits 0.\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

int main(int argc, char **argv)
{
        char errstr[512];
        sl_conf_t *conf = sl_conf_new();
        sl_admin_t *adm;
        int argi = 0, rc;
        struct sigaction sa;

        if (!conf) {
                fprintf(stderr, "sluice-admin: out of memory\n");
                return 1;
        }
        sl_conf_set_default(conf, "http.port", "9100");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1) {
                sl_conf_destroy(conf);
                return 0;
        }
        if (rc != 0 || argi < argc) {
                fprintf(stderr, "sluice-admin: %s\n",
                        rc ? errstr : "unexpected argument (see --help)");
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init("admin", sl_conf_get(conf, "log.level"));
        adm = sl_admin_new(conf, errstr, sizeof(errstr));
        if (!adm) {
                sl_log_error("cannot start: %s", errstr);
                sl_conf_destroy(conf);
                return strncmp(errstr, "admin.", 6) == 0 ||
                               strncmp(errstr, "http.", 5) == 0 ||
                               strncmp(errstr, "retention.", 10) == 0 ||
                               strncmp(errstr, "archive.", 8) == 0
                           ? 2
                           : 1;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        sl_log_info("sluice-admin listening on %s:%d", sl_conf_get(conf, "http.bind"),
                    sl_admin_port(adm));
        while (!stop)
                pause();
        sl_log_info("stopping");
        sl_admin_destroy(adm);
        sl_conf_destroy(conf);
        return 0;
}
