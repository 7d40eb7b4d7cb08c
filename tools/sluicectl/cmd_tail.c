/* Placeholder until the owner of this subcommand lands it; replaced, not kept. */
#include <stdio.h>
#include "cmds.h"
int sl_cmd_tail(sl_conf_t *conf, int argc, char **argv)
{
        (void)conf; (void)argc; (void)argv;
        fprintf(stderr, "sluicectl tail: unavailable in this build\n");
        return 1;
}
