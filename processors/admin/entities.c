/*
 * GET /admin/sources and GET /admin/triggers: the configuration rows with their live
 * state, as Postgres knows it: manual pauses, and the scheduler_state mirror of the
 * stages' in-memory state (admission windows and auto-pauses of sources; windows and
 * breakers of triggers), each with the time it was mirrored.
 */
#include <stdio.h>
#include <string.h>

#include "admin_int.h"

// clang-format off
#define SOURCES_SQL                                                                      \
        "WITH ids AS (SELECT id FROM sources UNION SELECT source FROM pauses UNION "     \
        "SELECT key FROM scheduler_state WHERE stage = 'ingress') SELECT "               \
        "coalesce(json_agg(json_build_object('id', ids.id, 'configured', s.id IS NOT "   \
        "NULL, 'limits', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object(  "     \
        "'rate_limit', s.rate_limit, 'window_ms', s.window_ms,   'pause_after', "        \
        "s.pause_after, 'pause_ms', s.pause_ms,   'dlq_rate', s.dlq_rate, 'dlq_min', "   \
        "s.dlq_min,   'dlq_window_ms', s.dlq_window_ms, 'dlq_pause_ms', "                \
        "s.dlq_pause_ms) END, 'description', s.description, 'updated_at', "              \
        SL_ADM_TS("s.updated_at")                                                        \
        ", 'updated_by', s.updated_by, 'pause', CASE WHEN p.source IS NULL THEN NULL "   \
        "ELSE json_build_object(  'kind', 'manual', 'active', p.until IS NULL OR "       \
        "p.until > now(),   'paused_at', " SL_ADM_TS("p.paused_at") ", 'until', "        \
        SL_ADM_TS("p.until")                                                             \
        ",   'reason', p.reason, 'paused_by', p.paused_by) END, 'auto_paused_until', "   \
        "CASE WHEN st.paused_until > now() THEN   " SL_ADM_TS("st.paused_until")         \
        " END, 'state', CASE WHEN st.key IS NULL THEN NULL ELSE json_build_object(  "    \
        "'partition', st.kafka_partition,   'window_start', "                            \
        SL_ADM_TS("st.window_start")                                                     \
        ",   'window_count', st.window_count, 'throttled', st.throttled,   "             \
        "'paused_until', " SL_ADM_TS("st.paused_until")                                  \
        ", 'detail', st.detail,   'updated_at', " SL_ADM_TS("st.updated_at")             \
        ", 'worker', st.worker,   'mirrored_at', " SL_ADM_TS("st.mirrored_at")           \
        ") END) ORDER BY ids.id), '[]')::text FROM ids LEFT JOIN sources s ON s.id = "   \
        "ids.id LEFT JOIN pauses p ON p.source = ids.id LEFT JOIN scheduler_state st "   \
        "ON st.stage = 'ingress' AND st.key = ids.id"
// clang-format on

int sl__adm_sources_list(sl_adm_req_t *req)
{
        static const char *const allowed[] = {NULL};
        json_t *rows;
        int status;

        if ((status = sl__adm_params_check(req, allowed)) ||
            (status = sl__adm_query_json(req, SOURCES_SQL, 0, NULL, &rows)))
                return status;
        return sl__adm_json(req, 200, json_pack("{s:o}", "sources", rows));
}

// clang-format off
#define TRIGGERS_SQL                                                                     \
        "SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, "        \
        "'description', t.description, 'enabled', t.enabled, 'event_type', "             \
        "t.event_type, 'source', t.source, 'filter', t.filter, 'workflow', "             \
        "t.workflow, 'rate_limit', t.rate_limit, 'window_ms', t.window_ms, "             \
        "'on_limit', t.on_limit, 'breaker_policy', "                                     \
        "json_build_object('failure_window_ms', t.failure_window_ms,   "                 \
        "'failure_rate', t.failure_rate, 'min_results', t.min_results,   "               \
        "'failure_count', t.failure_count, 'open_ms', t.open_ms,   'open_max_ms', "      \
        "t.open_max_ms, 'probes', t.probes), 'result_timeout_ms', "                      \
        "t.result_timeout_ms, 'updated_at', " SL_ADM_TS("t.updated_at")                  \
        ", 'updated_by', t.updated_by, 'pause', CASE WHEN NOT t.paused THEN NULL "       \
        "ELSE json_build_object(  'kind', 'manual', 'active', t.paused_until IS NULL "   \
        "OR t.paused_until > now(),   'paused_at', " SL_ADM_TS("t.paused_at")            \
        ",   'until', " SL_ADM_TS("t.paused_until")                                      \
        ", 'reason', t.paused_reason,   'paused_by', t.paused_by) END, 'breaker', "      \
        "st.detail->>'breaker', 'state', CASE WHEN st.key IS NULL THEN NULL ELSE "       \
        "json_build_object(  'partition', st.kafka_partition,   'window_start', "        \
        SL_ADM_TS("st.window_start")                                                     \
        ",   'window_count', st.window_count, 'throttled', st.throttled,   "             \
        "'open_until', " SL_ADM_TS("st.paused_until")                                    \
        ", 'detail', st.detail,   'updated_at', " SL_ADM_TS("st.updated_at")             \
        ", 'worker', st.worker,   'mirrored_at', " SL_ADM_TS("st.mirrored_at")           \
        ") END) ORDER BY t.name), '[]')::text FROM triggers t LEFT JOIN "                \
        "scheduler_state st ON st.stage = 'trigger' AND st.key = t.id::text"
// clang-format on

int sl__adm_triggers_list(sl_adm_req_t *req)
{
        static const char *const allowed[] = {NULL};
        json_t *rows;
        int status;

        if ((status = sl__adm_params_check(req, allowed)) ||
            (status = sl__adm_query_json(req, TRIGGERS_SQL, 0, NULL, &rows)))
                return status;
        return sl__adm_json(req, 200, json_pack("{s:o}", "triggers", rows));
}
