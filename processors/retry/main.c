/* sluice-retry: flags and config, then the retry stage on the shared runtime. */
#include "retry.h"
#include "runtime/stage_main.h"

static const char usage[] =
    "usage: sluice-retry [-c FILE] [-X key=value]... [--print-config]\n"
    "\n"
    "Consumes the retry tier topics (<topic.prefix>retry.<tier> for retry.tiers, group\n"
    "retry.group.id), waits until each wake-up is due (pausing a partition whose\n"
    "head is not awake; keeping awake ones due within the shortest tier in memory),\n"
    "re-injects the original envelope into sluice.events.in (headers\n"
    "sluice.attempt, sluice.retry.id) when the event's event_ingress_retries row\n"
    "still waits for that attempt, then marks the row 'due'.  At\n"
    "start and every retry.reconcile.ms it produces lost wake-ups again from\n"
    "Postgres.\n"
    "Serves /metrics and /healthz on http.bind:http.port (default 9102).\n"
    "SIGTERM or SIGINT finishes the batch in hand and exits 0.\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP;

static void *create(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        return sl_retry_new(conf, errstr, errstr_size);
}

static const sl_stage_t *stage(void *obj)
{
        return sl_retry_stage(obj);
}

static void destroy(void *obj)
{
        sl_retry_destroy(obj);
}

int main(int argc, char **argv)
{
        static const sl_stage_def_t def = {
            .name = "retry",
            .http_port = "9102",
            .usage = usage,
            .create = create,
            .stage = stage,
            .destroy = destroy,
        };
        return sl_stage_main(&def, argc, argv);
}
