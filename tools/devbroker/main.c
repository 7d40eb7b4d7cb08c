/*
 * sluice-devbroker: a Kafka-protocol development broker (librdkafka's mock cluster)
 * with every sluice topic pre-created.  Prints "bootstrap.servers=HOST:PORT,..." on
 * stdout, writes the list to devbroker.bootstrap.file once the topics exist (present =
 * ready), serves until SIGTERM or SIGINT, then removes the file and exits 0.  Memory
 * only, ~5 MiB / 100k message sets per partition, no compaction, no CreateTopics: see
 * devbroker.c and docs/events.md.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "devbroker.h"
#include "log/log.h"

extern char **environ;

static const char usage[] =
    "usage: sluice-devbroker [-c FILE] [-X key=value]...\n"
    "\n"
    "A development Kafka cluster (librdkafka's mock cluster, in memory) with every\n"
    "sluice topic created.  Prints bootstrap.servers=HOST:PORT,... and writes the\n"
    "list to devbroker.bootstrap.file when ready; runs until SIGTERM/SIGINT, then\n"
    "removes the file.\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP "\n"
    "Keys: devbroker.brokers (3), devbroker.bootstrap.file (.sluice/bootstrap.txt),\n"
    "      topic.prefix, topic.partitions, topic.replication, log.level.\n"
    "Limits: memory only; about 5 MiB or 100,000 message sets kept per partition\n"
    "(older data dropped silently); no compaction; no CreateTopics.\n";

int main(int argc, char **argv)
{
        char errstr[512];
        int argi = 0, rc, sig = 0;
        sigset_t set;
        sl_conf_t *conf = sl_conf_new();
        sl_devbroker_t *db;

        sl_log_init("devbroker", "info");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1) {
                sl_conf_destroy(conf);
                return 0;
        }
        if (rc != 0 || argi < argc) {
                if (rc != 0)
                        fprintf(stderr, "sluice-devbroker: %s\n", errstr);
                else
                        fprintf(stderr,
                                "sluice-devbroker: unexpected argument '%s'\n\n%s",
                                argv[argi], usage);
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init("devbroker", sl_conf_get(conf, "log.level"));

        /* Block the signals before librdkafka starts threads, so they all inherit the
         * mask and sigwait() below is the only place that sees them. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        db = sl_devbroker_new(conf, errstr, sizeof(errstr));
        if (!db) {
                sl_log_error("cannot start: %s", errstr);
                sl_conf_destroy(conf);
                return 1;
        }
        printf("bootstrap.servers=%s\n", sl_devbroker_bootstraps(db));
        fflush(stdout);
        sl_log_info("ready: %d brokers at %s, bootstrap file %s",
                    (int)sl_conf_get_int(conf, "devbroker.brokers"),
                    sl_devbroker_bootstraps(db),
                    sl_conf_get(conf, "devbroker.bootstrap.file"));

        while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
                sl_log_info("SIGHUP ignored (stop with SIGTERM or SIGINT)");
        sl_log_info("signal %d: stopping", sig);
        sl_devbroker_destroy(db);
        sl_conf_destroy(conf);
        return 0;
}
