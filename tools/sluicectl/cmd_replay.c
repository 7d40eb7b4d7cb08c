/*
 * sluicectl replay: replay stored events into events.in as new events naming their
 * original, as a job (src/history/replay.h: the same code as sluice-admin's replay
 * routes) run here in the foreground.
 *
 *   replay start (--ids ID,ID... | --from T --to T [--type X] [--source X]
 *                 [--status X] [--correlation-id X]) [--rate N] [--reason TEXT]
 *                 [--by WHO] [--dry-run]
 *   replay resume ID          go on from the job's cursor (after a kill, a crash)
 *   replay cancel ID          a running job stops after the batch in hand
 *   replay list [--limit N]   the latest jobs, JSON lines
 *   replay show ID            one job as JSON
 *
 * SIGINT/SIGTERM stop a running job after its batch; it stays 'running' and
 * `replay resume ID` goes on.  --dry-run prints the count and, per enabled trigger,
 * how many of the selected events it would match, and creates no job.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cmd_util.h"
#include "cmds.h"
#include "envelope/envelope.h"
#include "history/replay.h"
#include "kafka/kafka.h"
#include "sluice/err.h"
#include "util/clock.h"

static const char replay_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... replay COMMAND\n"
    "\n"
    "  start (--ids ID[,ID...] | --from TIME --to TIME [--type T] [--source S]\n"
    "         [--status S] [--correlation-id C]) [--rate N] [--reason TEXT]\n"
    "         [--by WHO] [--dry-run]\n"
    "                 replay the selected events (occurred_at in [from, to), received\n"
    "                 before now) into events.in as new events naming their original,\n"
    "                 N a second (default replay.rate), as a job run here; prints the\n"
    "                 job id first.  --dry-run: the count and, per enabled trigger,\n"
    "                 the matches (TRIGGER<TAB>MATCHED lines); no job.\n"
    "  resume ID      go on with a job from its cursor\n"
    "  cancel ID      cancel a job (its runner stops after the batch in hand)\n"
    "  list [--limit N]  the latest jobs, one JSON object per line\n"
    "  show ID        one job as JSON\n"
    "\n"
    "SIGINT or SIGTERM stop a job after its batch; `replay resume ID` goes on.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static int usage_error(const char *fmt, const char *arg)
{
        fputs("sluicectl replay: ", stderr);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", replay_usage);
        return 2;
}

static bool job_id(const char *s, int64_t *id)
{
        char *end;

        *id = strtoll(s, &end, 10);
        return *s && !*end && *id > 0;
}

/* Run job id in the foreground until done, cancelled or a signal. */
static int run(const sl_conf_t *conf, PGconn *pg, int64_t id)
{
        char errstr[1024], topic[256], host[256] = "", runner[300];
        sl_codec_t *codec;
        rd_kafka_t *rk;
        struct sigaction sa;
        int err;

        if (!(codec = sl_codec_new(errstr, sizeof(errstr)))) {
                fprintf(stderr, "sluicectl replay: %s\n", errstr);
                return 1;
        }
        if (!(rk = sl_kafka_producer_new(conf, sl_replay_dr, NULL, errstr,
                                         sizeof(errstr)))) {
                fprintf(stderr, "sluicectl replay: %s\n", errstr);
                sl_codec_destroy(codec);
                return 1;
        }
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, topic, sizeof(topic));
        gethostname(host, sizeof(host) - 1);
        snprintf(runner, sizeof(runner), "sluicectl %s:%d", host, (int)getpid());
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        {
                sl_replay_out_t out = {rk, codec, topic, 30000};
                int64_t t0 = sl_mono_ms();
                /* A runner killed a moment ago holds the job's lock until Postgres sees
                 * its connection close: wait a little for that. */
                while ((err = sl_replay_job_run(pg, &out, id, runner, &stop, errstr,
                                                sizeof(errstr))) == SL_ERR_DUPLICATE &&
                       sl_mono_ms() - t0 < 10000 && !stop) {
                        struct timespec ts = {0, 200000000};
                        nanosleep(&ts, NULL);
                }
        }
        rd_kafka_flush(rk, 5000);
        rd_kafka_destroy(rk);
        sl_codec_destroy(codec);
        if (err != SL_OK) {
                fprintf(stderr, "sluicectl replay: job %lld: %s\n", (long long)id,
                        errstr);
                return 1;
        }
        {
                char idtxt[24], lim[] = "1";
                const char *params[2] = {idtxt, lim};
                PGresult *res;
                snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
                res = PQexecParams(pg, sl_replay_jobs_json_sql, 2, NULL, params, NULL,
                                   NULL, 0);
                if (PQresultStatus(res) == PGRES_TUPLES_OK) {
                        json_t *arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
                        json_t *job = json_array_get(arr, 0);
                        fprintf(stderr, "sluicectl replay: job %lld %s: %lld published\n",
                                (long long)id,
                                json_string_value(json_object_get(job, "state")),
                                (long long)json_integer_value(
                                    json_object_get(job, "published")));
                        json_decref(arr);
                }
                PQclear(res);
        }
        return stop ? 130 : 0;
}

static int start(const sl_conf_t *conf, int argc, char **argv)
{
        static const char *const flags[] = {
            "--ids",    "--from",           "--to",   "--type",   "--source",
            "--status", "--correlation-id", "--rate", "--reason", "--by"};
        enum {
                F_IDS,
                F_FROM,
                F_TO,
                F_TYPE,
                F_SOURCE,
                F_STATUS,
                F_CORR,
                F_RATE,
                F_REASON,
                F_BY,
                F__CNT
        };
        const char *vals[F__CNT] = {0}, *v;
        bool dry_run = false, missing = false;
        int64_t rate = sl_conf_get_int(conf, "replay.rate"), id = 0;
        char errstr[1024], *sel_text = NULL;
        json_t *sel;
        PGconn *pg;
        int rc = 1;

        for (int i = 2; i < argc; i++) {
                bool known = false;
                if (strcmp(argv[i], "--dry-run") == 0) {
                        dry_run = true;
                        continue;
                }
                for (int f = 0; f < F__CNT && !known; f++) {
                        if ((v = sl__ctl_opt_value(argc, argv, &i, flags[f], &missing))) {
                                vals[f] = v;
                                known = true;
                        } else if (missing) {
                                return usage_error("%s needs a value", flags[f]);
                        }
                }
                if (!known)
                        return usage_error("unexpected argument '%s'", argv[i]);
        }
        if (vals[F_RATE]) {
                char *end;
                rate = strtoll(vals[F_RATE], &end, 10);
                if (*end || rate < 1 || rate > 1000000)
                        return usage_error("--rate must be 1..1000000, not '%s'",
                                           vals[F_RATE]);
        }
        if (vals[F_REASON] &&
            sl__ctl_check_text("replay", "--reason", vals[F_REASON], 1000))
                return 2;
        sel = json_object();
        if (vals[F_IDS]) {
                json_t *ids = json_array();
                char *copy = strdup(vals[F_IDS]), *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t;
                     t = strtok_r(NULL, ",", &save))
                        json_array_append_new(ids, json_string(t));
                free(copy);
                json_object_set_new(sel, "ids", ids);
                for (int f = F_FROM; f <= F_CORR; f++)
                        if (vals[f]) {
                                json_decref(sel);
                                return usage_error("%s", "--ids excludes the filter "
                                                         "options");
                        }
        } else {
                static const char *const keys[] = {"from",   "to",     "type",
                                                   "source", "status", "correlation_id"};
                for (int f = F_FROM; f <= F_CORR; f++)
                        if (vals[f])
                                json_object_set_new(sel, keys[f - F_FROM],
                                                    json_string(vals[f]));
        }
        if (sl_replay_filter_check(sel, errstr, sizeof(errstr)) != SL_OK) {
                json_decref(sel);
                return usage_error("%s", errstr);
        }
        sel_text = json_dumps(sel, JSON_COMPACT);
        json_decref(sel);
        if (!sel_text || !(pg = sl__ctl_connect("replay", conf))) {
                free(sel_text);
                return 1;
        }
        if (dry_run) {
                json_t *dr = NULL, *t;
                size_t i;
                if (sl_replay_dry_run(pg, sel_text, "now", &dr, errstr, sizeof(errstr)) !=
                    SL_OK) {
                        fprintf(stderr, "sluicectl replay: dry run: %s\n", errstr);
                        goto out;
                }
                printf("events\t%lld\n",
                       (long long)json_integer_value(json_object_get(dr, "count")));
                json_array_foreach(json_object_get(dr, "triggers"), i, t)
                {
                        printf("trigger\t");
                        sl__ctl_put_field(json_string_value(json_object_get(t, "name")));
                        printf("\t%lld\n", (long long)json_integer_value(
                                               json_object_get(t, "matched")));
                }
                json_decref(dr);
                rc = 0;
                goto out;
        }
        if (sl_replay_job_create(pg, sel_text, sl__ctl_by(vals[F_BY]), vals[F_REASON],
                                 rate, &id, errstr, sizeof(errstr)) != SL_OK) {
                fprintf(stderr, "sluicectl replay: %s\n", errstr);
                goto out;
        }
        printf("%lld\n", (long long)id);
        fflush(stdout);
        rc = run(conf, pg, id);
out:
        free(sel_text);
        PQfinish(pg);
        return rc;
}

static int list(const sl_conf_t *conf, const char *id, const char *limit)
{
        const char *params[2] = {id, limit};
        PGconn *pg = sl__ctl_connect("replay", conf);
        PGresult *res;
        json_t *arr, *job;
        size_t i;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, sl_replay_jobs_json_sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                sl__ctl_pg_error("replay", pg, res, "jobs");
                goto out;
        }
        arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (id && json_array_size(arr) == 0) {
                fprintf(stderr, "sluicectl replay: no job %s\n", id);
                json_decref(arr);
                goto out;
        }
        json_array_foreach(arr, i, job)
        {
                char *s = json_dumps(job, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (s)
                        puts(s);
                free(s);
        }
        json_decref(arr);
        rc = 0;
out:
        PQclear(res);
        PQfinish(pg);
        return rc;
}

int sl_cmd_replay(sl_conf_t *conf, int argc, char **argv)
{
        const char *action = argc > 1 ? argv[1] : NULL;
        int64_t id;

        if (!action)
                return usage_error("%s", "missing command");
        if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
                fputs(replay_usage, stdout);
                return 0;
        }
        if (strcmp(action, "start") == 0)
                return start(conf, argc, argv);
        if (strcmp(action, "list") == 0) {
                const char *limit = "100";
                bool missing = false;
                for (int i = 2; i < argc; i++) {
                        const char *v =
                            sl__ctl_opt_value(argc, argv, &i, "--limit", &missing);
                        if (!v)
                                return usage_error("unexpected argument '%s'", argv[i]);
                        if (!job_id(v, &id))
                                return usage_error("--limit must be a positive number, "
                                                   "not '%s'",
                                                   v);
                        limit = v;
                }
                return list(conf, NULL, limit);
        }
        if (strcmp(action, "resume") && strcmp(action, "cancel") &&
            strcmp(action, "show"))
                return usage_error("unknown command '%s'", action);
        if (argc != 3 || !job_id(argv[2], &id))
                return usage_error("%s needs one job id", action);
        if (strcmp(action, "show") == 0)
                return list(conf, argv[2], "1");
        {
                char errstr[1024];
                PGconn *pg = sl__ctl_connect("replay", conf);
                int rc = 1, err;
                if (!pg)
                        return 1;
                if (strcmp(action, "resume") == 0) {
                        rc = run(conf, pg, id);
                } else if ((err = sl_replay_job_cancel(pg, id, errstr, sizeof(errstr)))) {
                        fprintf(stderr, "sluicectl replay: %s\n", errstr);
                } else {
                        printf("cancelled job %lld\n", (long long)id);
                        rc = 0;
                }
                PQfinish(pg);
                return rc;
        }
}
