/*
 * sluicectl: the operator's command line.  Parses the shared flags (config file, -X,
 * --help), then hands the rest to one subcommand in cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "config/config.h"
#include "log/log.h"

extern char **environ;

static const struct {
        const char *name;
        int (*run)(sl_conf_t *, int, char **);
        const char *what;
} cmds[] = {
    {"publish", sl_cmd_publish, "publish JSON-lines envelopes from a file or stdin"},
    {"tail", sl_cmd_tail, "print a topic's records as JSON lines"},
    {"topics", sl_cmd_topics, "list or create (ensure) every sluice topic"},
    {"migrate", sl_cmd_migrate, "apply the numbered SQL migrations"},
    {"types", sl_cmd_types, "event types and their payload schemas"},
    {"config", sl_cmd_config, "print the configuration reference or values"},
    {"sources", sl_cmd_sources, "per-source admission limits"},
    {"pause", sl_cmd_pause, "pause a source, list pauses and their history"},
    {"resume", sl_cmd_resume, "end a source's manual pause"},
    {"retries", sl_cmd_retries, "held-back events' retries: list, show, cancel"},
    {"triggers", sl_cmd_triggers, "triggers: event types to workflow launches"},
    {"history", sl_cmd_history, "history: rollups, retention and archiving"},
    {"replay", sl_cmd_replay, "replay stored events as new ones: jobs, paced"},
    {"ingress", sl_cmd_ingress, "sluice-ingress's offsets: rewind after a restore"},
    {"archive", sl_cmd_archive, "archives of history: list, verify, restore"},
};

static const char usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... COMMAND [ARGS]\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP "\n"
    "Commands:\n"
    "  publish [FILE|-]        publish JSON-lines envelopes\n"
    "  tail TOPIC              print a topic's records as JSON lines\n"
    "  topics ensure|list      create or list every sluice topic\n"
    "  migrate                 apply migrations/NNNN_*.sql\n"
    "  types set|get|list|rm   event types and payload schemas\n"
    "  config docs|show        configuration reference (markdown) or values\n"
    "  sources set|get|list|rm per-source admission limits\n"
    "  pause source ID ...     pause a source (also: pause list|history)\n"
    "  resume source ID        end a source's manual pause\n"
    "  retries list|show|cancel held-back events' retries\n"
    "  triggers create|list|show|update|delete|enable|disable|pause|resume|audit\n"
    "                          triggers: which events launch which workflows\n"
    "  triggers test FILE      a trigger not saved, evaluated against history\n"
    "  sources test FILE       source limits not saved, against history\n"
    "  history rollup          event and delivery rollups (per minute and hour)\n"
    "  replay start|resume|cancel|list|show\n"
    "                          replay stored events into events.in, paced\n"
    "  ingress rewind --from-db resume ingress where a restored database ends\n"
    "  history retention [--dry-run]  archive and retention run by hand\n"
    "  archive list|verify|restore    archives of workflow_events\n"
    "\n"
    "Run 'sluicectl COMMAND --help' for a command's own options.\n";

int main(int argc, char **argv)
{
        char errstr[512];
        int argi = 0, rc;
        sl_conf_t *conf = sl_conf_new();

        sl_log_init("sluicectl", "warn");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1) {
                sl_conf_destroy(conf);
                return 0;
        }
        if (rc != 0) {
                fprintf(stderr, "sluicectl: %s\n", errstr);
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init("sluicectl", sl_conf_get(conf, "log.level"));
        if (argi >= argc) {
                fputs(usage, stderr);
                sl_conf_destroy(conf);
                return 2;
        }
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                if (strcmp(argv[argi], cmds[i].name) == 0) {
                        rc = cmds[i].run(conf, argc - argi, argv + argi);
                        sl_conf_destroy(conf);
                        return rc;
                }
        }
        fprintf(stderr, "sluicectl: unknown command '%s'\n\n%s", argv[argi], usage);
        sl_conf_destroy(conf);
        return 2;
}
