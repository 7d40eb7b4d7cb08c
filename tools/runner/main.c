/*
 * sluice-runner: the runner's own flags, then the shared flags and configuration and
 * the runner's stage on the shared runtime (sl_stage_main), then a one-line summary on
 * stderr.  See runner.h and docs/runner.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "runtime/stage_main.h"

static const char usage[] =
    "usage: sluice-runner [--fail-rate P] [--latency-ms N] [--silent] [--group ID]\n"
    "                     [--control FILE] [--record FILE] [-c FILE] [-X key=value]...\n"
    "\n"
    "A stand-in workflow engine for demos and tests.  Consumes WorkflowLaunch records\n"
    "from sluice.workflow.launches and answers each with a WorkflowResult on\n"
    "sluice.workflow.results under the launch record's own key (the trigger id).\n"
    "A launch id seen before is dropped and not answered again.  Offsets are\n"
    "committed after the answers were delivered.  SIGTERM or SIGINT stops it (exit 0)\n"
    "with a summary line on stderr.\n"
    "\n"
    "Runner options (also in the control file, as fail_rate=, latency_ms=, silent=):\n"
    "  --fail-rate P       share of launches answered \"failed\", 0..1 (default 0);\n"
    "                      the same launch ids fail on every run (a hash of the id)\n"
    "  --latency-ms N      answer N ms after receipt (default 0: at once)\n"
    "  --silent            consume and record, never answer (a dead engine)\n"
    "  --group ID          consumer group (default sluice-runner)\n"
    "  --control FILE      key=value lines that override the options above while the\n"
    "                      runner runs; looked at every 100 ms, re-read when changed\n"
    "  --record FILE       append one JSON line per launch received (what it was, and\n"
    "                      the answer given: \"succeeded\", \"failed\" or null)\n"
    "\n"
    "Options:\n" SL_CONF_ARGS_HELP;

/* The runner's flags, for create() (sl_stage_main's create has only the conf). */
static sl_runner_args_t runner_args;

static void *create(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        return sl_runner_new(conf, &runner_args, errstr, errstr_size);
}

static const sl_stage_t *stage(void *obj)
{
        return sl_runner_stage(obj);
}

/* Runs after the runtime stopped: the summary, then the runner goes. */
static void destroy(void *obj)
{
        sl_runner_counts_t c;

        if (!obj)
                return;
        sl_runner_counts(obj, &c);
        fprintf(stderr,
                "sluice-runner: received %llu, duplicates %llu, succeeded %llu, "
                "failed %llu, unanswered %llu, invalid %llu\n",
                (unsigned long long)c.received, (unsigned long long)c.duplicates,
                (unsigned long long)c.succeeded, (unsigned long long)c.failed,
                (unsigned long long)c.unanswered, (unsigned long long)c.invalid);
        sl_runner_destroy(obj);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i], advancing *i past VALUE.  NULL when
 * argv[*i] is not --name; *missing when it is but VALUE is absent. */
static const char *flag_value(int argc, char **argv, int *i, const char *name,
                              bool *missing)
{
        size_t len = strlen(name);

        *missing = false;
        if (strncmp(argv[*i], name, len) != 0)
                return NULL;
        if (argv[*i][len] == '=')
                return argv[*i] + len + 1;
        if (argv[*i][len] != '\0')
                return NULL;
        if (*i + 1 >= argc) {
                *missing = true;
                return NULL;
        }
        return argv[++*i];
}

/* The runner's flags that take a value. */
enum { F_FAIL_RATE, F_LATENCY_MS, F_GROUP, F_CONTROL, F_RECORD, F__CNT };
static const char *const value_flags[F__CNT] = {"--fail-rate", "--latency-ms", "--group",
                                                "--control", "--record"};

/* Flag f's value v into runner_args: 0, or -1 with errstr set. */
static int set_flag(int f, const char *v, char *errstr, size_t errstr_size)
{
        switch (f) {
        case F_FAIL_RATE:
        case F_LATENCY_MS:
                return sl_runner_opt_set(&runner_args.opts,
                                         f == F_FAIL_RATE ? "fail_rate" : "latency_ms", v,
                                         errstr, errstr_size)
                           ? -1
                           : 0;
        case F_GROUP:
                if (!*v || strlen(v) > 255) {
                        snprintf(errstr, errstr_size,
                                 "needs a name of 1..255 characters");
                        return -1;
                }
                runner_args.group = v;
                return 0;
        default:
                if (!*v) {
                        snprintf(errstr, errstr_size, "needs a file name");
                        return -1;
                }
                if (f == F_CONTROL)
                        runner_args.control_path = v;
                else
                        runner_args.record_path = v;
                return 0;
        }
}

/*
 * Take the runner's flags out of argv into runner_args, leaving the shared ones
 * (-c, -X, --print-config, --help) in rest for sl_stage_main, in any order.  Returns 0,
 * or 2 after a message naming the flag.
 */
static int parse_flags(int argc, char **argv, char **rest, int *nrest)
{
        char errstr[256];

        sl_runner_opts_init(&runner_args.opts);
        runner_args.group = "sluice-runner";
        *nrest = 0;
        rest[(*nrest)++] = argv[0];
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = NULL;
                bool missing = false;
                int f;

                if (strcmp(a, "--silent") == 0) {
                        runner_args.opts.silent = true;
                        continue;
                }
                for (f = 0; f < F__CNT; f++)
                        if ((v = flag_value(argc, argv, &i, value_flags[f], &missing)) ||
                            missing)
                                break;
                if (f == F__CNT) {
                        rest[(*nrest)++] = argv[i];
                        /* The value of a shared flag is never one of ours. */
                        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                             strcmp(a, "-X") == 0) &&
                            i + 1 < argc)
                                rest[(*nrest)++] = argv[++i];
                        continue;
                }
                if (missing)
                        snprintf(errstr, sizeof(errstr), "needs a value");
                if (missing || set_flag(f, v, errstr, sizeof(errstr)) != 0) {
                        fprintf(stderr, "sluice-runner: %s: %s\n", value_flags[f],
                                errstr);
                        return 2;
                }
        }
        rest[*nrest] = NULL;
        return 0;
}

int main(int argc, char **argv)
{
        static const sl_stage_def_t def = {
            .name = "runner",
            .http_port = "0", /* no /metrics unless -X http.port=N */
            .usage = usage,
            .create = create,
            .stage = stage,
            .destroy = destroy,
        };
        char **rest = calloc((size_t)argc + 1, sizeof(*rest));
        int nrest, rc;

        if (!rest) {
                fprintf(stderr, "sluice-runner: out of memory\n");
                return 1;
        }
        rc = parse_flags(argc, argv, rest, &nrest);
        if (rc == 0)
                rc = sl_stage_main(&def, nrest, rest);
        free(rest);
        return rc;
}
