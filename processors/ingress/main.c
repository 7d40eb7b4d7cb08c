/* sluice-ingress: flags and config, then the ingress stage on the shared runtime. */
#include <stdio.h>

#include "config/config.h"
#include "ingress.h"
#include "log/log.h"
#include "runtime/runtime.h"
#include "sluice/err.h"

static const char usage[] =
        "usage: sluice-ingress [-c FILE] [-X key=value]... [--print-config]\n"
        "\n"
        "Consumes sluice.events.in (group ingress.group.id), validates each envelope,\n"
        "writes valid events to workflow_events and forwards them to\n"
        "sluice.events.accepted; invalid ones go to sluice.events.dlq and dead_letters.\n"
        "Serves /metrics and /healthz on http.bind:http.port (default 9101).\n"
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
        sl_ingress_t *ing = NULL;
        sl_runtime_t *rt = NULL;

        sl_log_init("ingress", "info");
        sl_conf_set_default(conf, "http.port", "9101");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                goto out_ok;
        if (rc != 0 || argi < argc) {
                if (rc == 0)
                        snprintf(errstr, sizeof(errstr), "unexpected argument '%s'",
                                 argv[argi]);
                fprintf(stderr, "sluice-ingress: %s\n", errstr);
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init("ingress", sl_conf_get(conf, "log.level"));

        ing = sl_ingress_new(conf, errstr, sizeof(errstr));
        if (!ing) {
                sl_log_error("cannot start: %s", errstr);
                goto out_fail;
        }
        rt = sl_runtime_new(conf, sl_ingress_stage(ing), errstr, sizeof(errstr));
        if (!rt) {
                sl_log_error("cannot start: %s", errstr);
                goto out_fail;
        }
        sl_runtime_handle_signals(rt);
        rc = sl_runtime_run(rt);
        sl_runtime_destroy(rt);
        sl_ingress_destroy(ing);
        sl_conf_destroy(conf);
        return rc == SL_OK ? 0 : 1;

out_ok:
        sl_conf_destroy(conf);
        return 0;
out_fail:
        sl_ingress_destroy(ing);
        sl_conf_destroy(conf);
        return 1;
}
