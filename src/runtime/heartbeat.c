/*
 * The heartbeat writer (heartbeat.h): one upsert of the instance's processor_heartbeats
 * row, on its own connection, at most every runtime.heartbeat.ms.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log/log.h"
#include "pg/pg.h"
#include "runtime/heartbeat.h"
#include "util/clock.h"

struct sl_heartbeat_s {
        const sl_conf_t *conf;
        char stage[64], group[256], instance[128];
        int64_t interval_ms; /* 0: disabled */
        int64_t started_ms, last_ms, newest_event_ms;
        int64_t records, batches;
        int assigned, restoring;
        int64_t restore_started_ms, last_restore_ms; /* -1: none */
        PGconn *pg;
        bool failing;
};

sl_heartbeat_t *sl_heartbeat_new(const sl_conf_t *conf, const char *stage,
                                 const char *group, char *errstr, size_t errstr_size)
{
        sl_heartbeat_t *hb = calloc(1, sizeof(*hb));
        char host[100] = "";

        if (!hb) {
                snprintf(errstr, errstr_size, "heartbeat: out of memory");
                return NULL;
        }
        hb->conf = conf;
        hb->interval_ms = sl_conf_get_int(conf, "runtime.heartbeat.ms");
        snprintf(hb->stage, sizeof(hb->stage), "%s", stage);
        snprintf(hb->group, sizeof(hb->group), "%s", group ? group : "");
        gethostname(host, sizeof(host) - 1);
        snprintf(hb->instance, sizeof(hb->instance), "%s:%d", host, (int)getpid());
        hb->started_ms = sl_wall_ms();
        hb->last_ms = -1;
        hb->restore_started_ms = -1;
        hb->last_restore_ms = -1;
        return hb;
}

#define TS_PARAM(p) "to_timestamp(" p "::bigint / 1000.0)"

static void write_beat(sl_heartbeat_t *hb, bool stopped)
{
        static const char sql[] =
            "INSERT INTO processor_heartbeats (stage, instance, group_id, started_at, "
            "beat_at, stopped_at, newest_event_at, records_total, batches_total, "
            "assigned, restoring, restore_started, last_restore_ms) VALUES "
            "($1, $2, $3, " TS_PARAM("$4") ", now(), CASE WHEN $5 THEN now() "
                                           "END, " TS_PARAM("$6") ", $7, $8, $9, "
                                                                  "$10, " TS_PARAM(
                                                                      "$11") ", $12) "
                                                                             "ON "
                                                                             "CONFLICT "
                                                                             "(stage, "
                                                                             "instance) "
                                                                             "DO UPDATE "
                                                                             "SET "
                                                                             "group_id = "
                                                                             "EXCLUDED."
                                                                             "group_id, "
                                                                             "beat_at = "
                                                                             "EXCLUDED."
                                                                             "beat_at, "
                                                                             "stopped_at "
                                                                             "= "
                                                                             "EXCLUDED."
                                                                             "stopped_at,"
                                                                             " "
                                                                             "newest_"
                                                                             "event_at = "
                                                                             "coalesce("
                                                                             "EXCLUDED."
                                                                             "newest_"
                                                                             "event_at, "
                                                                             "processor_"
                                                                             "heartbeats."
                                                                             "newest_"
                                                                             "event_at), "
                                                                             "records_"
                                                                             "total = "
                                                                             "EXCLUDED."
                                                                             "records_"
                                                                             "total, "
                                                                             "batches_"
                                                                             "total = "
                                                                             "EXCLUDED."
                                                                             "batches_"
                                                                             "total, "
                                                                             "assigned = "
                                                                             "EXCLUDED."
                                                                             "assigned, "
                                                                             "restoring "
                                                                             "= "
                                                                             "EXCLUDED."
                                                                             "restoring, "
                                                                             "restore_"
                                                                             "started = "
                                                                             "EXCLUDED."
                                                                             "restore_"
                                                                             "started, "
                                                                             "last_"
                                                                             "restore_ms "
                                                                             "= "
                                                                             "EXCLUDED."
                                                                             "last_"
                                                                             "restore_ms";
        char started[24], newest[24], records[24], batches[24], assigned[16],
            restoring[16], rstart[24], rlast[24];
        const char *params[12];
        char errstr[512];
        PGresult *res;

        if (!hb || !hb->interval_ms)
                return;
        hb->last_ms = sl_mono_ms();
        if (!hb->pg || PQstatus(hb->pg) != CONNECTION_OK) {
                if (hb->pg) {
                        PQfinish(hb->pg);
                        hb->pg = NULL;
                }
                hb->pg = sl_pg_connect(hb->conf, errstr, sizeof(errstr));
                if (!hb->pg) {
                        if (!hb->failing)
                                sl_log_warn("heartbeat not written: %s", errstr);
                        hb->failing = true;
                        return;
                }
        }
        snprintf(started, sizeof(started), "%lld", (long long)hb->started_ms);
        snprintf(newest, sizeof(newest), "%lld", (long long)hb->newest_event_ms);
        snprintf(records, sizeof(records), "%lld", (long long)hb->records);
        snprintf(batches, sizeof(batches), "%lld", (long long)hb->batches);
        snprintf(assigned, sizeof(assigned), "%d", hb->assigned);
        snprintf(restoring, sizeof(restoring), "%d", hb->restoring);
        snprintf(rstart, sizeof(rstart), "%lld", (long long)hb->restore_started_ms);
        snprintf(rlast, sizeof(rlast), "%lld", (long long)hb->last_restore_ms);
        params[0] = hb->stage;
        params[1] = hb->instance;
        params[2] = hb->group;
        params[3] = started;
        params[4] = stopped ? "true" : "false";
        params[5] = hb->newest_event_ms > 0 ? newest : NULL;
        params[6] = records;
        params[7] = batches;
        params[8] = assigned;
        params[9] = restoring;
        params[10] = hb->restore_started_ms >= 0 ? rstart : NULL;
        params[11] = hb->last_restore_ms >= 0 ? rlast : NULL;
        res = PQexecParams(hb->pg, sql, 12, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                if (!hb->failing)
                        sl_log_warn("heartbeat not written: %s",
                                    res ? PQresultErrorMessage(res)
                                        : PQerrorMessage(hb->pg));
                hb->failing = true;
        } else if (hb->failing) {
                sl_log_info("heartbeat written again");
                hb->failing = false;
        }
        PQclear(res);
}

void sl_heartbeat_destroy(sl_heartbeat_t *hb, int stopped)
{
        if (!hb)
                return;
        if (stopped)
                write_beat(hb, true);
        if (hb->pg)
                PQfinish(hb->pg);
        free(hb);
}

void sl_heartbeat_batch(sl_heartbeat_t *hb, rd_kafka_message_t **msgs, size_t cnt)
{
        if (!hb || !hb->interval_ms)
                return;
        for (size_t i = 0; i < cnt; i++) {
                int64_t ts = rd_kafka_message_timestamp(msgs[i], NULL);
                if (ts > hb->newest_event_ms)
                        hb->newest_event_ms = ts;
        }
        hb->records += (int64_t)cnt;
        if (cnt)
                hb->batches++;
}

void sl_heartbeat_restore_begin(sl_heartbeat_t *hb, int n)
{
        if (!hb)
                return;
        hb->restoring = n;
        hb->restore_started_ms = sl_wall_ms();
        write_beat(hb, false);
}

void sl_heartbeat_restore_end(sl_heartbeat_t *hb, int assigned)
{
        if (!hb)
                return;
        hb->restoring = 0;
        hb->assigned = assigned;
        if (hb->restore_started_ms >= 0)
                hb->last_restore_ms = sl_wall_ms() - hb->restore_started_ms;
        hb->restore_started_ms = -1;
        write_beat(hb, false);
}

void sl_heartbeat_revoked(sl_heartbeat_t *hb)
{
        if (hb)
                hb->assigned = 0;
}

void sl_heartbeat_tick(sl_heartbeat_t *hb)
{
        if (!hb || !hb->interval_ms)
                return;
        if (hb->last_ms >= 0 && sl_mono_ms() - hb->last_ms < hb->interval_ms)
                return;
        write_beat(hb, false);
}
