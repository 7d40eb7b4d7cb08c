/*
 * The statements of the operator's changes that both sluicectl and sluice-admin make
 * (pauses and resumes of sources and triggers, retry cancellation): one copy of each,
 * so the CLI and the admin API change the tables the same way.  Each is parameterised;
 * the parameters are listed with it.  A pause's end comes from two parameters, an
 * absolute time in ms since the epoch or a length in ms (both NULL: until resumed).
 *
 * Source pauses (tables pauses, pause_history): in one transaction, PAUSE_REPLACE then
 * PAUSE_INSERT; a resume is RESUME alone.  Trigger changes run in a transaction that
 * set sluice.actor (the trigger_audit row names it).
 */
#ifndef SL_PG_OPERATE_H
#define SL_PG_OPERATE_H

/* The end of a pause from the parameters until_ms and for_ms ("$2", "$3"). */
// clang-format off
#define SL_PG_UNTIL_SQL(until_ms, for_ms)                                                \
        "CASE WHEN " until_ms "::bigint IS NOT NULL "                                    \
        "THEN to_timestamp(" until_ms "::bigint / 1000.0) "                              \
        "WHEN " for_ms "::bigint IS NOT NULL "                                           \
        "THEN now() + " for_ms "::bigint * interval '1 millisecond' END"
// clang-format on

/* $1 source, $2 who: the current pause of $1 (if any) ends, replaced by $2's. */
// clang-format off
#define SL_PG_SOURCE_PAUSE_REPLACE                                                       \
        "WITH old AS (DELETE FROM pauses WHERE source = $1 RETURNING *) "                \
        "INSERT INTO pause_history (source, paused_at, until, reason, paused_by, "       \
        "resumed_at, resumed_by) "                                                       \
        "SELECT source, paused_at, until, reason, paused_by, now(), "                    \
        "'replaced by ' || $2 FROM old"
// clang-format on

/* $1 source, $2 until_ms, $3 for_ms, $4 reason, $5 who; the caller adds RETURNING. */
// clang-format off
#define SL_PG_SOURCE_PAUSE_INSERT                                                        \
        "INSERT INTO pauses (source, paused_at, until, reason, paused_by) "              \
        "VALUES ($1, now(), " SL_PG_UNTIL_SQL("$2", "$3") ", $4, $5)"
// clang-format on

/* $1 source, $2 who: the pause moves to pause_history; no row when not paused.  Returns
 * the ended pause's reason and paused_by. */
// clang-format off
#define SL_PG_SOURCE_RESUME                                                              \
        "WITH old AS (DELETE FROM pauses WHERE source = $1 RETURNING *) "                \
        "INSERT INTO pause_history (source, paused_at, until, reason, paused_by, "       \
        "resumed_at, resumed_by) "                                                       \
        "SELECT source, paused_at, until, reason, paused_by, now(), $2 "                 \
        "FROM old RETURNING reason, paused_by"
// clang-format on

/* $1 trigger name, $2 until_ms, $3 for_ms, $4 reason, $5 who; the caller adds
 * RETURNING (no row: no such trigger). */
// clang-format off
#define SL_PG_TRIGGER_PAUSE                                                              \
        "UPDATE triggers SET paused = true, paused_at = now(), "                         \
        "paused_until = " SL_PG_UNTIL_SQL(                                               \
            "$2", "$3") ", "                                                             \
                        "paused_reason = $4, paused_by = $5 WHERE name = $1"
// clang-format on

/* $1 trigger name: one row, whether it was paused; none: no such trigger. */
// clang-format off
#define SL_PG_TRIGGER_RESUME                                                             \
        "WITH old AS (SELECT id, paused FROM triggers WHERE name = $1 FOR UPDATE) "      \
        "UPDATE triggers t SET paused = false, paused_at = NULL, "                       \
        "paused_until = NULL, paused_by = NULL, paused_reason = NULL "                   \
        "FROM old WHERE t.id = old.id RETURNING old.paused"
// clang-format on

/* $1 event id, $2 who, $3 reason (may be NULL): one row (source, attempt) when an open
 * retry was cancelled. */
// clang-format off
#define SL_PG_RETRY_CANCEL                                                               \
        "UPDATE event_ingress_retries SET state = 'cancelled', "                         \
        "updated_at = now(), updated_by = $2, cancel_reason = $3 "                       \
        "WHERE event_id = $1::uuid "                                                     \
        "AND state IN ('scheduled', 'rescheduled', 'due') "                              \
        "RETURNING source, attempt"
// clang-format on

#endif
