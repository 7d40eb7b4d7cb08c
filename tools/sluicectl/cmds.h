/*
 * sluicectl subcommands.  Each takes the loaded configuration and the arguments after
 * its own name (argv[0] is the subcommand name), prints its own usage on -h/--help,
 * and returns the process exit code (0 ok, 1 failure, 2 usage error).
 */
#ifndef SLUICECTL_CMDS_H
#define SLUICECTL_CMDS_H

#include "config/config.h"

int sl_cmd_publish(sl_conf_t *conf, int argc, char **argv);  /* cmd_publish.c */
int sl_cmd_tail(sl_conf_t *conf, int argc, char **argv);     /* cmd_tail.c */
int sl_cmd_topics(sl_conf_t *conf, int argc, char **argv);   /* cmd_topics.c */
int sl_cmd_migrate(sl_conf_t *conf, int argc, char **argv);  /* cmd_migrate.c */
int sl_cmd_types(sl_conf_t *conf, int argc, char **argv);    /* cmd_types.c */
int sl_cmd_config(sl_conf_t *conf, int argc, char **argv);   /* cmd_config.c */
int sl_cmd_sources(sl_conf_t *conf, int argc, char **argv);  /* cmd_sources.c */
int sl_cmd_pause(sl_conf_t *conf, int argc, char **argv);    /* cmd_pause.c */
int sl_cmd_resume(sl_conf_t *conf, int argc, char **argv);   /* cmd_pause.c */
int sl_cmd_retries(sl_conf_t *conf, int argc, char **argv);  /* cmd_retries.c */
int sl_cmd_triggers(sl_conf_t *conf, int argc, char **argv); /* cmd_triggers.c */
int sl_cmd_history(sl_conf_t *conf, int argc, char **argv);  /* cmd_history.c */
int sl_cmd_replay(sl_conf_t *conf, int argc, char **argv);   /* cmd_replay.c */
int sl_cmd_ingress(sl_conf_t *conf, int argc, char **argv);  /* cmd_ingress.c */
int sl_cmd_archive(sl_conf_t *conf, int argc, char **argv);  /* cmd_retention.c */
int sl__ctl_history_retention(sl_conf_t *conf, int argc,
                              char **argv); /* cmd_retention.c */

#endif
