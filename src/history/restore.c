/*
 * Restore of an archived day (maintain.h, sl_history_restore): the archive's row is
 * locked (FOR UPDATE) for the whole transaction that loads the rows and sets its state
 * to restored, so two restores of one day serialise and the second adds nothing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history/archive.h"
#include "history/maintain.h"
#include "history/pgexec.h"

static bool is_day(const char *s)
{
        static const char shape[] = "dddd-dd-dd";

        if (!s || strlen(s) != sizeof(shape) - 1)
                return false;
        for (size_t i = 0; shape[i]; i++)
                if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
                        return false;
        return true;
}

static bool is_plain_ident(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
                      s[i] == '_'))
                        return false;
        return true;
}

/* One SQL text made by the server's format() from parameters: DDL cannot take
 * parameters, so the server quotes the names and bounds itself. */
static char *formatted(PGconn *pg, const char *fmt_sql, int n, const char *const *params,
                       char *errstr, size_t errstr_size)
{
        PGresult *res = sl__hist_q(pg, fmt_sql, n, params, errstr, errstr_size);
        char *sql = res ? strdup(PQgetvalue(res, 0, 0)) : NULL;

        PQclear(res);
        return sql;
}

static bool run_formatted(PGconn *pg, const char *fmt_sql, int n,
                          const char *const *params, char *errstr, size_t errstr_size)
{
        char *sql = formatted(pg, fmt_sql, n, params, errstr, errstr_size);
        bool done = sql && sl__hist_ok(pg, sql, 0, NULL, errstr, errstr_size);

        free(sql);
        return done;
}

int sl_history_restore(PGconn *pg, const char *day, const char *into, long long *rows,
                       char *errstr, size_t errstr_size)
{
        const char *params[3];
        char err[1024], id[24], part[128], state[16], path[1400], lo[64], hi[64];
        sl_history_manifest_t m = {0};
        PGresult *res;
        bool exists;

        *rows = 0;
        if (!is_day(day)) {
                snprintf(errstr, errstr_size, "RANGE '%.40s' is not a day YYYY-MM-DD",
                         day);
                return -1;
        }
        if (into && !is_plain_ident(into)) {
                snprintf(errstr, errstr_size,
                         "--into '%.80s' is not a plain table name ([a-z_][a-z0-9_]*, at "
                         "most 63)",
                         into);
                return -1;
        }
        if (!sl__hist_ok(pg, "BEGIN", 0, NULL, err, sizeof(err)))
                goto fail;
        params[0] = day;
        res = sl__hist_q(
            pg,
            "SELECT id, state, partition, path, rows, bytes, raw_bytes, sha256, "
            "range_lo::text, range_hi::text FROM archives "
            "WHERE tbl = 'workflow_events' "
            "AND range_lo = ($1::date)::timestamp AT TIME ZONE 'UTC' "
            "AND state IN ('verified', 'dropped', 'restored') FOR UPDATE",
            1, params, err, sizeof(err));
        if (!res)
                goto fail;
        if (PQntuples(res) == 0) {
                PQclear(res);
                snprintf(err, sizeof(err), "no verified archive of %s", day);
                goto fail;
        }
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
        snprintf(state, sizeof(state), "%s", PQgetvalue(res, 0, 1));
        snprintf(part, sizeof(part), "%s", PQgetvalue(res, 0, 2));
        snprintf(path, sizeof(path), "%s", PQgetvalue(res, 0, 3));
        m.rows = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        m.bytes = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        m.raw_bytes = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
        snprintf(m.sha256, sizeof(m.sha256), "%s", PQgetvalue(res, 0, 7));
        snprintf(lo, sizeof(lo), "%s", PQgetvalue(res, 0, 8));
        snprintf(hi, sizeof(hi), "%s", PQgetvalue(res, 0, 9));
        PQclear(res);

        if (into) { /* a side table for a look: made here, so only once */
                char *ident = PQescapeIdentifier(pg, into, strlen(into));
                params[0] = into;
                if (!ident ||
                    !run_formatted(
                        pg,
                        "SELECT format('CREATE TABLE %I (LIKE workflow_events "
                        "INCLUDING DEFAULTS INCLUDING COMPRESSION)', $1::text)",
                        1, params, err, sizeof(err)) ||
                    sl_history_archive_load(pg, ident, path, &m, err, sizeof(err)) != 0 ||
                    !sl__hist_ok(pg, "COMMIT", 0, NULL, err, sizeof(err))) {
                        PQfreemem(ident);
                        goto fail;
                }
                PQfreemem(ident);
                *rows = m.rows;
                return 0;
        }
        if (strcmp(state, "restored") == 0) {
                sl__hist_ok(pg, "ROLLBACK", 0, NULL, err, sizeof(err));
                snprintf(errstr, errstr_size, "%s is already restored (archive %s)", day,
                         id);
                return 1;
        }
        if (strcmp(state, "dropped") != 0) {
                snprintf(err, sizeof(err),
                         "%s is still in the live table (archive %s is %s, not dropped)",
                         day, id, state);
                goto fail;
        }
        params[0] = part;
        res = sl__hist_q(pg, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, params,
                         err, sizeof(err));
        if (!res)
                goto fail;
        exists = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        params[1] = lo;
        params[2] = hi;
        if (!exists) {
                /* Loaded into a table of its own, attached after: the indexes are built
                 * once over all rows rather than row by row. */
                char *ident = PQescapeIdentifier(pg, part, strlen(part));
                if (!ident ||
                    !run_formatted(pg,
                                   "SELECT format('CREATE TABLE %I (LIKE workflow_events "
                                   "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING "
                                   "COMPRESSION)', $1::text)",
                                   1, params, err, sizeof(err)) ||
                    sl_history_archive_load(pg, ident, path, &m, err, sizeof(err)) != 0 ||
                    /* Rows of the day the default partition took meanwhile move in, as
                     * sluice_ensure_event_partitions does (a repeat of an archived row
                     * stays out). */
                    !run_formatted(
                        pg,
                        "SELECT format('WITH moved AS (DELETE FROM "
                        "workflow_events_default WHERE occurred_at >= %L AND "
                        "occurred_at < %L RETURNING *) INSERT INTO %I SELECT * "
                        "FROM moved m WHERE NOT EXISTS (SELECT 1 FROM %I p "
                        "WHERE p.id = m.id AND p.occurred_at = m.occurred_at)', "
                        "$2::timestamptz, $3::timestamptz, $1::text, $1::text)",
                        3, params, err, sizeof(err)) ||
                    !run_formatted(
                        pg,
                        "SELECT format('ALTER TABLE workflow_events ATTACH "
                        "PARTITION %I FOR VALUES FROM (%L) TO (%L)', $1::text, "
                        "$2::timestamptz, $3::timestamptz)",
                        3, params, err, sizeof(err))) {
                        PQfreemem(ident);
                        goto fail;
                }
                PQfreemem(ident);
        } else {
                /* The day's partition was made again (sluice_ensure_event_partitions,
                 * late events): load beside it, add what is not there. */
                if (!sl__hist_ok(
                        pg,
                        "CREATE TEMP TABLE sluice_restore (LIKE workflow_events) "
                        "ON COMMIT DROP",
                        0, NULL, err, sizeof(err)) ||
                    sl_history_archive_load(pg, "sluice_restore", path, &m, err,
                                            sizeof(err)) != 0 ||
                    !run_formatted(pg,
                                   "SELECT format('INSERT INTO %I SELECT * FROM "
                                   "sluice_restore ON CONFLICT DO NOTHING', $1::text)",
                                   1, params, err, sizeof(err)))
                        goto fail;
        }
        params[0] = id;
        if (!sl__hist_ok(
                pg,
                "UPDATE archives SET state = 'restored', restored_at = now() WHERE id = "
                "$1",
                1, params, err, sizeof(err)) ||
            !sl__hist_ok(pg, "COMMIT", 0, NULL, err, sizeof(err)))
                goto fail;
        *rows = m.rows;
        return 0;
fail:
        PQclear(PQexec(pg, "ROLLBACK"));
        snprintf(errstr, errstr_size, "%s", err);
        return -1;
}
