/*
 * sluicectl history: the rollups of history by hand (src/history/rollup.h, the same
 * code sluice-admin runs periodically).
 *
 *   history rollup [--table events|deliveries] [--from T --to T] [--lag-ms MS]
 *       without --from/--to: advance the watermark to now - lag (rollup.lag.ms), as
 *       sluice-admin does; with them: recompute every bucket overlapping [T, T),
 *       whatever the watermark (a day at a time, one transaction each)
 *
 * Prints one line per rollup: TABLE<TAB>BUCKETS<TAB>HOURS<TAB>WATERMARK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "cmd_util.h"
#include "cmds.h"
#include "history/rollup.h"
#include "sluice/err.h"

#define DAY_MS 86400000LL

static const char history_usage[] =
    "usage: sluicectl [-c FILE] [-X key=value]... history COMMAND\n"
    "\n"
    "  rollup [--table events|deliveries] [--from TIME --to TIME] [--lag-ms MS]\n"
    "                 without --from/--to: roll up what changed since the watermark,\n"
    "                 up to now - MS (default rollup.lag.ms), and move the watermark;\n"
    "                 with them (RFC 3339): recompute every minute and hour bucket\n"
    "                 overlapping [from, to), leaving the watermark alone.  Both\n"
    "                 tables unless --table.  Prints TABLE, BUCKETS (minutes\n"
    "                 recomputed), HOURS, WATERMARK, tab-separated.\n"
    "  retention [--dry-run]\n"
    "                 one history maintenance run (archive, retention) by hand;\n"
    "                 `sluicectl history retention --help` says more.\n";

static int usage_error(const char *fmt, const char *arg)
{
        fputs("sluicectl history: ", stderr);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n\n%s", history_usage);
        return 2;
}

static int rollup(const sl_conf_t *conf, int argc, char **argv)
{
        const char *table = NULL, *from = NULL, *to = NULL, *lag = NULL, *v;
        int64_t from_ms = 0, to_ms = 0, lag_ms = sl_conf_get_int(conf, "rollup.lag.ms");
        int minute_days = (int)sl_conf_get_int(conf, "retention.rollups.minute.days");
        char errstr[1024];
        bool missing = false;
        PGconn *pg;
        int rc = 0;

        for (int i = 2; i < argc; i++) {
                if ((v = sl__ctl_opt_value(argc, argv, &i, "--table", &missing)))
                        table = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--from", &missing)))
                        from = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--to", &missing)))
                        to = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--lag-ms", &missing)))
                        lag = v;
                else if (missing)
                        return usage_error("%s needs a value", argv[i]);
                else
                        return usage_error("unexpected argument '%s'", argv[i]);
                if (missing)
                        return usage_error("%s needs a value", argv[i]);
        }
        if (table && strcmp(table, "events") && strcmp(table, "deliveries"))
                return usage_error("--table must be events or deliveries, not '%s'",
                                   table);
        if (!from != !to)
                return usage_error("%s", "--from and --to go together");
        if (from && (sl__ctl_parse_rfc3339(from, &from_ms) ||
                     sl__ctl_parse_rfc3339(to, &to_ms) || to_ms <= from_ms))
                return usage_error("%s", "--from and --to must be RFC 3339 times, from "
                                         "before to");
        if (lag) {
                char *end;
                lag_ms = strtoll(lag, &end, 10);
                if (*end || lag_ms < 0)
                        return usage_error("--lag-ms must be a number >= 0, not '%s'",
                                           lag);
        }
        if (!(pg = sl__ctl_connect("history", conf)))
                return 1;
        for (int k = 0; k < SL_ROLLUP__CNT && !rc; k++) {
                sl_rollup_result_t res, sum = {0};
                const char *name = sl_rollup_kind_str((sl_rollup_kind_t)k);
                if (table && strcmp(table, name))
                        continue;
                if (!from) {
                        if (sl_rollup_advance(pg, (sl_rollup_kind_t)k, lag_ms,
                                              sl_conf_get_int(conf, "rollup.settle.ms"),
                                              minute_days, &res, errstr,
                                              sizeof(errstr)) != SL_OK) {
                                fprintf(stderr, "sluicectl history: %s rollup: %s\n",
                                        name, errstr);
                                rc = 1;
                                break;
                        }
                        if (res.busy) {
                                fprintf(stderr,
                                        "sluicectl history: %s rollup: another run holds "
                                        "the lock; nothing done\n",
                                        name);
                                continue;
                        }
                        printf("%s\t%lld\t%lld\t%s\n", name, (long long)res.buckets,
                               (long long)res.hours, res.upto);
                        continue;
                }
                /* A day at a time: each transaction stays short. */
                for (int64_t lo = from_ms; lo < to_ms; lo += DAY_MS) {
                        char a[SL_CTL_TIME_MAX], b[SL_CTL_TIME_MAX];
                        int64_t hi = lo + DAY_MS < to_ms ? lo + DAY_MS : to_ms;
                        sl__ctl_format_ms(lo, a, sizeof(a));
                        sl__ctl_format_ms(hi, b, sizeof(b));
                        if (sl_rollup_range(pg, (sl_rollup_kind_t)k, a, b, minute_days,
                                            &res, errstr, sizeof(errstr)) != SL_OK) {
                                fprintf(stderr, "sluicectl history: %s rollup: %s\n",
                                        name, errstr);
                                rc = 1;
                                break;
                        }
                        sum.buckets += res.buckets;
                        sum.hours += res.hours;
                }
                if (!rc)
                        printf("%s\t%lld\t%lld\t-\n", name, (long long)sum.buckets,
                               (long long)sum.hours);
        }
        PQfinish(pg);
        return rc;
}

int sl_cmd_history(sl_conf_t *conf, int argc, char **argv)
{
        if (argc < 2)
                return usage_error("%s", "missing command");
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                fputs(history_usage, stdout);
                return 0;
        }
        if (strcmp(argv[1], "rollup") == 0)
                return rollup(conf, argc, argv);
        if (strcmp(argv[1], "retention") == 0)
                return sl__ctl_history_retention(conf, argc, argv);
        return usage_error("unknown command '%s'", argv[1]);
}
