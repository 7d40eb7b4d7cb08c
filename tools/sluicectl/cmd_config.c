/*
 * sluicectl config: `docs` prints the configuration reference generated from the
 * property table (docs/configuration.md is exactly this output); `show` prints the
 * effective configuration after file, environment and -X, secrets redacted.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const char config_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... config docs|show\n"
    "\n"
    "  docs   print the configuration reference (Markdown; docs/configuration.md)\n"
    "  show   print the effective configuration, one key=value a line, secrets\n"
    "         redacted\n";

int sl_cmd_config(sl_conf_t *conf, int argc, char **argv)
{
        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                fputs(config_usage, stdout);
                return 0;
        }
        if (argc != 2) {
                fputs(config_usage, stderr);
                return 2;
        }
        if (strcmp(argv[1], "docs") == 0) {
                sl_conf_docs(stdout);
        } else if (strcmp(argv[1], "show") == 0) {
                sl_conf_dump(conf, stdout);
        } else {
                fprintf(stderr, "sluicectl config: unknown action '%s'\n\n%s", argv[1],
                        config_usage);
                return 2;
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("sluicectl config: stdout");
                return 1;
        }
        return 0;
}
