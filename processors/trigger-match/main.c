/* sluice-trigger-match: flags and config, then the match stage on the shared runtime. */
#include "match.h"
#include "runtime/stage_main.h"

static const char usage[] =
    "usage: sluice-trigger-match [-c FILE] [-X key=value]... [--print-config]\n"
    "\n"
    "Consumes sluice.events.accepted (group trigger.match.group.id) and matches each\n"
    "event against the triggers (the triggers table, followed through LISTEN\n"
    "sluice_triggers): type (exact or glob), source, filter.  Each (trigger, event)\n"
    "match becomes one TriggerMatch record, with the parameters template filled from\n"
    "the event, on sluice.trigger.matches keyed by the trigger id.  Writes nothing to\n"
    "Postgres; at-least-once (the launch stage dedupes repeats by launch id).\n"
    "Serves /metrics and /healthz on http.bind:http.port (default 9103).\n"
    "SIGTERM or SIGINT finishes the batch in hand and exits 0.\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP;

static void *create(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        return sl_match_new(conf, errstr, errstr_size);
}

static const sl_stage_t *stage(void *obj)
{
        return sl_match_stage(obj);
}

static void destroy(void *obj)
{
        sl_match_destroy(obj);
}

int main(int argc, char **argv)
{
        static const sl_stage_def_t def = {
            .name = "trigger-match",
            .http_port = "9103",
            .usage = usage,
            .create = create,
            .stage = stage,
            .destroy = destroy,
        };
        return sl_stage_main(&def, argc, argv);
}
