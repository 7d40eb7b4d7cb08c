/* sluice-retry: flags and config, then the retry stage on the shared runtime. */
#include <stdio.h>

#include "config/config.h"
#include "log/log.h"
#include "retry.h"
#include "runtime/runtime.h"
#include "sluice/err.h"

static const char usage[] =
        "usage: sluice-retry [-c FILE] [-X key=value]... [--print-config]\n"
        "\n"
        "Consumes the retry tier topics (<topic.prefix>retry.<tier> for retry.tiers, group\n"
        "retry.group.id), holds each partition until its head wake-up is due, marks the\n"
        "event's event_ingress_retries row 'due' and re-injects the original envelope\n"
        "into sluice.events.in (headers sluice.attempt, sluice.retry.id).  At start and\n"
        "every retry.reconcile.ms it produces lost wake-ups again from Postgres.\n"
        "Serves /metrics and /healthz on http.bind:http.port (default 9102).\n"
        "SIGTERM or SIGINT finishes the batch in hand and exits 0.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE   properties file (also SLUICE_CONFIG)\n"
        "  -X key=value        set a configuration key (repeatable)\n"
        "  --print-config      print the effective configuration and exit\n"
        "  -h, --help          this text\n";

int main(int argc, char **argv)
{
        char errstr[512];
        int argi = 0, rc;
        sl_conf_t *conf = sl_conf_new();
        sl_retry_t *rty = NULL;
        sl_runtime_t *rt = NULL;

        sl_log_init("retry", "info");
        sl_conf_set_default(conf, "http.port", "9102");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                goto out_ok;
        if (rc != 0 || argi < argc) {
                if (rc == 0)
                        snprintf(errstr, sizeof(errstr), "unexpected argument '%s'",
                                 argv[argi]);
                fprintf(stderr, "sluice-retry: %s\n", errstr);
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init("retry", sl_conf_get(conf, "log.level"));

        rty = sl_retry_new(conf, errstr, sizeof(errstr));
        if (!rty) {
                sl_log_error("cannot start: %s", errstr);
                goto out_fail;
        }
        rt = sl_runtime_new(conf, sl_retry_stage(rty), errstr, sizeof(errstr));
        if (!rt) {
                sl_log_error("cannot start: %s", errstr);
                goto out_fail;
        }
        sl_runtime_handle_signals(rt);
        rc = sl_runtime_run(rt);
        sl_runtime_destroy(rt);
        sl_retry_destroy(rty);
        sl_conf_destroy(conf);
        return rc == SL_OK ? 0 : 1;

out_ok:
        sl_conf_destroy(conf);
        return 0;
out_fail:
        sl_retry_destroy(rty);
        sl_conf_destroy(conf);
        return 1;
}
