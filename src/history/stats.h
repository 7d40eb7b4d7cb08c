/*
 * Storage health of history (docs/history.md): table sizes, dead tuples, the daily
 * partitions of workflow_events (how many, the oldest, how many are past
 * archive.after.days and still live: the archive backlog), archive bytes, and the
 * newest run of each maintenance kind.  One statement, SL_HISTORY_STATS_SQL, with one
 * parameter ($1: archive.after.days, 0 when archiving is off), returning one row with
 * one json column; sluice-admin's metrics and its health snapshot both run it.
 *
 * The json:
 *   {"tables": {"workflow_events": {"bytes": N, "dead_tuples": N}, "dead_letters":
 *    ..., "trigger_deliveries": ..., "archives": ...},
 *    "partitions": N, "oldest_partition_age_s": N|null, "archive_backlog": N,
 *    "archive_bytes": N, "archive_files": N,
 *    "runs": {"archive"|"retention": {"last_ok_at_s": N|null, "last_ok_age_s":
 *             N|null, "last_ok": bool|null, "last_duration_s": N|null}},
 *    "rollups": {"events"|"deliveries": {"last_ok_at_s": N, "last_ok_age_s": N,
 *                "pending": N}}}
 * (a rollup's last_ok is its watermark row's updated_at: the newest advance that did
 * its work, by any sluice-admin or sluicectl).
 */
#ifndef SL_HISTORY_STATS_H
#define SL_HISTORY_STATS_H

// clang-format off
#define SL_HISTORY_STATS_SQL                                                             \
        "WITH parts AS (SELECT c.oid, b[1]::timestamptz lo, b[2]::timestamptz hi "       \
        "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "                    \
        "  CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), "         \
        "    'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') b "                        \
        "  WHERE i.inhparent = 'workflow_events'::regclass AND b IS NOT NULL), "         \
        "tabs AS (SELECT t.name, greatest(pg_total_relation_size(t.name::regclass), "    \
        "  (SELECT coalesce(sum(pg_total_relation_size(p.relid)), 0) "                   \
        "     FROM pg_partition_tree(t.name::regclass) p)) bytes, "                      \
        "  (SELECT coalesce(sum(s.n_dead_tup), 0) FROM pg_stat_user_tables s "           \
        "     WHERE s.relid = t.name::regclass OR s.relid IN "                           \
        "     (SELECT relid FROM pg_partition_tree(t.name::regclass))) dead "            \
        "  FROM unnest(array['workflow_events', 'dead_letters', 'trigger_deliveries', "  \
        "                    'archives']) t(name)), "                                    \
        "runs AS (SELECT k.kind, "                                                       \
        "  (SELECT extract(epoch FROM max(finished_at))::bigint FROM maintenance_runs "  \
        "     WHERE kind = k.kind AND ok) last_ok_at, "                                  \
        "  (SELECT ok FROM maintenance_runs WHERE kind = k.kind AND finished_at "         \
        "     IS NOT NULL ORDER BY id DESC LIMIT 1) last_ok, "                           \
        "  (SELECT extract(epoch FROM finished_at - started_at) FROM maintenance_runs "  \
        "     WHERE kind = k.kind AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1) " \
        "     last_s "                                                                   \
        "  FROM unnest(array['archive', 'retention']) k(kind)) "                         \
        "SELECT json_build_object("                                                      \
        "  'tables', (SELECT json_object_agg(name, json_build_object('bytes', bytes, "   \
        "     'dead_tuples', dead)) FROM tabs), "                                        \
        "  'partitions', (SELECT count(*) FROM parts), "                                 \
        "  'oldest_partition_age_s', (SELECT extract(epoch FROM now() - min(lo))::bigint " \
        "     FROM parts), "                                                             \
        "  'archive_backlog', (SELECT count(*) FROM parts WHERE $1::int > 0 AND "        \
        "     hi <= now() - $1::int * interval '1 day'), "                               \
        "  'archive_bytes', (SELECT coalesce(sum(bytes), 0) FROM archives "              \
        "     WHERE state IN ('verified', 'dropped', 'restored')), "                     \
        "  'archive_files', (SELECT count(*) FROM archives "                             \
        "     WHERE state IN ('verified', 'dropped', 'restored')), "                     \
        "  'runs', (SELECT json_object_agg(kind, json_build_object("                     \
        "     'last_ok_at_s', last_ok_at, "                                              \
        "     'last_ok_age_s', extract(epoch FROM now())::bigint - last_ok_at, "         \
        "     'last_ok', last_ok, 'last_duration_s', last_s)) FROM runs), "              \
        "  'rollups', (SELECT json_object_agg(w.name, json_build_object("                \
        "     'last_ok_at_s', extract(epoch FROM w.updated_at)::bigint, "                \
        "     'last_ok_age_s', extract(epoch FROM now() - w.updated_at)::bigint, "       \
        "     'pending', (SELECT count(*) FROM rollup_pending p WHERE p.name = w.name))) " \
        "     FROM rollup_watermarks w))::text"
// clang-format on

#endif
