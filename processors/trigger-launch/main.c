/* sluice-trigger-launch: flags and config, then the launch stage on the shared runtime.
 */
#include "launch.h"
#include "runtime/stage_main.h"

static const char usage[] =
    "usage: sluice-trigger-launch [-c FILE] [-X key=value]... [--print-config]\n"
    "\n"
    "Consumes sluice.trigger.matches and sluice.workflow.results (group\n"
    "trigger.launch.group.id; both keyed by trigger id, so each trigger has one owner)\n"
    "and decides every match once: paused, open (circuit breaker), throttled or\n"
    "deferred (rate limit), or launched on sluice.workflow.launches with launch id\n"
    "UUIDv5(trigger id, event id).  Every decision and result is recorded in\n"
    "trigger_deliveries; results (and launches without one in time) drive the\n"
    "breakers.  Trigger state lives in the compacted sluice.trigger.launch-changelog.\n"
    "Serves /metrics and /healthz on http.bind:http.port (default 9104).\n"
    "SIGTERM or SIGINT finishes the batch in hand and exits 0.\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP;

static void *create(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        return sl_launch_new(conf, errstr, errstr_size);
}

static const sl_stage_t *stage(void *obj)
{
        return sl_launch_stage(obj);
}

static void destroy(void *obj)
{
        sl_launch_destroy(obj);
}

int main(int argc, char **argv)
{
        static const sl_stage_def_t def = {
            .name = "trigger-launch",
            .http_port = "9104",
            .usage = usage,
            .create = create,
            .stage = stage,
            .destroy = destroy,
        };
        return sl_stage_main(&def, argc, argv);
}
