/*
 * History maintenance's archive phase (maintain_int.h): each day past
 * archive.after.days is written to archive.dir, recorded, verified and only then
 * dropped; each archive past its retention is expired.  Split from maintain.c, which
 * runs it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history/archive.h"
#include "history/maintain_int.h"
#include "history/pgexec.h"
#include "log/log.h"
#include "util/clock.h"

/* Archives whose partition is gone. */
#define GONE_SQL                                                                         \
        "SELECT partition, (extract(epoch FROM range_lo) * 1000)::bigint, "              \
        "(extract(epoch FROM range_hi) * 1000)::bigint, id, state, NULL, path, rows, "   \
        "bytes, raw_bytes, sha256, keep_types::text "                                    \
        "FROM archives WHERE tbl = $1 AND state = 'dropped' ORDER BY range_lo"

/* Ends the transaction in hand, whatever failed in it. */
static void rollback(PGconn *pg)
{
        PQclear(PQexec(pg, "ROLLBACK"));
}

/* The archive row's manifest. */
static void manifest_of(PGresult *res, int row, int col0, sl_history_manifest_t *m)
{
        /* col0: rows, bytes, raw_bytes, sha256 */
        m->rows = strtoll(PQgetvalue(res, row, col0), NULL, 10);
        m->bytes = strtoll(PQgetvalue(res, row, col0 + 1), NULL, 10);
        m->raw_bytes = strtoll(PQgetvalue(res, row, col0 + 2), NULL, 10);
        snprintf(m->sha256, sizeof(m->sha256), "%s", PQgetvalue(res, row, col0 + 3));
}

static void remove_files(const char *path)
{
        char mpath[4200];

        if (!path || !*path)
                return;
        unlink(path);
        sl_history_manifest_path(path, mpath, sizeof(mpath));
        unlink(mpath);
}

static void set_failed(run_t *r, const char *id, const char *why)
{
        char err[512];
        const char *params[2] = {id, why};

        if (!sl__hist_ok(
                r->pg, "UPDATE archives SET state = 'failed', detail = $2 WHERE id = $1",
                2, params, err, sizeof(err)))
                sl_log_error("history maintenance: archive %s: marking it failed: %s", id,
                             err);
}

/* Drop the partition whose archive id (verified) holds rows rows: under a lock that
 * stops writes to it, its rows are counted again first; a different count (an event
 * written late into an archived day) fails the archive, to be written again. */
static int drop_archived(run_t *r, const char *part, int64_t lo, const char *id,
                         long long rows)
{
        char err[512],
            *lock = sl__hist_with_ident(r->pg, "LOCK TABLE ONLY %s IN SHARE MODE", part),
            *drop = sl__hist_with_ident(r->pg, "DROP TABLE %s", part);
        const char *params[1] = {id};
        long long now_rows;
        int rc = -1;

        if (!lock || !drop) {
                sl__hist_failure(r, part, "out of memory");
                goto out;
        }
        if (!sl__hist_ok(r->pg, "BEGIN", 0, NULL, err, sizeof(err)) ||
            !sl__hist_ok(r->pg, "SET LOCAL lock_timeout = '10s'", 0, NULL, err,
                         sizeof(err)) ||
            !sl__hist_ok(r->pg, lock, 0, NULL, err, sizeof(err))) {
                rollback(r->pg);
                sl__hist_failure(r, part, "locking it: %s", err);
                goto out;
        }
        now_rows = sl__hist_count_rows(r->pg, part, err, sizeof(err));
        if (now_rows != rows) {
                char why[256];
                rollback(r->pg);
                if (now_rows < 0) {
                        sl__hist_failure(r, part, "counting its rows: %s", err);
                        goto out;
                }
                snprintf(why, sizeof(why),
                         "the partition holds %lld rows, the archive %lld: written to "
                         "after archiving; archived again next run",
                         now_rows, rows);
                set_failed(r, id, why);
                sl__hist_failure(r, part, "%s", why);
                goto out;
        }
        if (!sl__hist_ok(r->pg, drop, 0, NULL, err, sizeof(err)) ||
            !sl__hist_ok(
                r->pg,
                "UPDATE archives SET state = 'dropped', dropped_at = now() WHERE id = $1",
                1, params, err, sizeof(err)) ||
            !sl__hist_ok(r->pg, "COMMIT", 0, NULL, err, sizeof(err))) {
                rollback(r->pg);
                sl__hist_failure(r, part, "dropping it: %s", err);
                goto out;
        }
        sl__hist_say(r, "drop", part, lo, rows,
                     "archive verified, rows counted under lock");
        rc = 0;
out:
        free(lock);
        free(drop);
        return rc;
}

/* Write, record and verify the archive of part; then drop it. */
static void archive_one(run_t *r, const char *part, sl_history_item_t *it,
                        const char *old_id, const char *old_path)
{
        char err[1024], path[1400], keep[4096], lo_s[24], hi_s[24], id[24];
        char rows_s[24], bytes_s[24], raw_s[24];
        sl_history_manifest_t m = {0};
        int64_t t0 = sl_mono_ms();

        if (sl__hist_keep_present(r, part, it, keep, sizeof(keep), err, sizeof(err)) !=
            0) {
                sl__hist_failure(r, part, "looking for kept types: %s", err);
                return;
        }
        if (r->dry) {
                long long n = sl__hist_count_rows(r->pg, part, err, sizeof(err));
                sl__hist_say(r, "archive", part, it->lo_ms, n, "past archive.after.days");
                return;
        }
        if (old_id) { /* an archive left in 'writing' by a run that died */
                set_failed(r, old_id, "interrupted: the run writing it stopped");
                remove_files(old_path);
        }
        snprintf(m.tbl, sizeof(m.tbl), TBL);
        snprintf(m.partition, sizeof(m.partition), "%s", part);
        m.lo_ms = it->lo_ms;
        m.hi_ms = it->hi_ms;
        snprintf(path, sizeof(path), "%s/%s/%s.%" PRId64 ".copy.zst", r->o->dir, TBL,
                 part, sl_wall_ms());
        {
                char sub[1100];
                snprintf(sub, sizeof(sub), "%s/%s", r->o->dir, TBL);
                if (mkdir(sub, 0750) != 0 && errno != EEXIST) {
                        sl__hist_failure(r, part, "mkdir %s: %s", sub, strerror(errno));
                        return;
                }
        }
        snprintf(lo_s, sizeof(lo_s), "%" PRId64, it->lo_ms);
        snprintf(hi_s, sizeof(hi_s), "%" PRId64, it->hi_ms);
        {
                const char *params[6] = {TBL, part, lo_s, hi_s, path, keep};
                PGresult *res = sl__hist_q(
                    r->pg,
                    "INSERT INTO archives (tbl, partition, range_lo, range_hi, "
                    "path, keep_types) VALUES ($1, $2, "
                    "to_timestamp($3::bigint / 1000.0), "
                    "to_timestamp($4::bigint / 1000.0), $5, $6::text[]) "
                    "RETURNING id",
                    6, params, err, sizeof(err));
                if (!res) {
                        sl__hist_failure(r, part, "recording its archive: %s", err);
                        return;
                }
                snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        if (sl_history_archive_write(r->pg, &m, path, r->o->level, err, sizeof(err)) !=
            0) {
                set_failed(r, id, err);
                sl__hist_failure(r, part, "writing its archive: %s", err);
                return;
        }
        snprintf(rows_s, sizeof(rows_s), "%" PRId64, m.rows);
        snprintf(bytes_s, sizeof(bytes_s), "%" PRId64, m.bytes);
        snprintf(raw_s, sizeof(raw_s), "%" PRId64, m.raw_bytes);
        {
                const char *params[5] = {id, rows_s, bytes_s, raw_s, m.sha256};
                if (!sl__hist_ok(
                        r->pg,
                        "UPDATE archives SET rows = $2, bytes = $3, raw_bytes = $4, "
                        "sha256 = $5 WHERE id = $1",
                        5, params, err, sizeof(err))) {
                        sl__hist_failure(r, part, "recording its manifest: %s", err);
                        return;
                }
        }
        if (sl_history_archive_verify(path, &m, err, sizeof(err)) != 0) {
                set_failed(r, id, err);
                sl__hist_failure(r, part, "verifying its archive: %s", err);
                return;
        }
        {
                const char *params[1] = {id};
                if (!sl__hist_ok(
                        r->pg,
                        "UPDATE archives SET state = 'verified', verified_at = now() "
                        "WHERE id = $1",
                        1, params, err, sizeof(err))) {
                        sl__hist_failure(r, part, "recording its verification: %s", err);
                        return;
                }
        }
        {
                char why[160];
                snprintf(why, sizeof(why),
                         "%" PRId64
                         " bytes, sha256 %.12s..., written and verified in %" PRId64
                         " ms",
                         m.bytes, m.sha256, sl_mono_ms() - t0);
                sl__hist_say(r, "archive", part, it->lo_ms, (long long)m.rows, why);
        }
        drop_archived(r, part, it->lo_ms, id, (long long)m.rows);
}

void sl__hist_archive_phase(run_t *r, int64_t now_ms)
{
        char err[512];
        const char *params[1] = {TBL};
        PGresult *res = sl__hist_q(r->pg, PARTS_SQL, 1, params, err, sizeof(err)), *gone;

        if (!res) {
                sl__hist_failure(r, TBL, "listing partitions: %s", err);
                return;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                const char *part = PQgetvalue(res, i, 0), *why;
                const char *id = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
                sl_history_item_t it = {0};
                sl_history_action_t act;

                it.lo_ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
                it.hi_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
                it.live = true;
                it.state =
                    id ? sl_history_astate_parse(PQgetvalue(res, i, 4)) : SL_HIST_A_NONE;
                it.restored_ms = strtoll(PQgetvalue(res, i, 5), NULL, 10);
                act = sl_history_decide(&r->o->pol, &it, now_ms, &why);
                switch (act) {
                case SL_HIST_ARCHIVE:
                        archive_one(
                            r, part, &it, it.state == SL_HIST_A_WRITING ? id : NULL,
                            it.state == SL_HIST_A_WRITING ? PQgetvalue(res, i, 6) : NULL);
                        break;
                case SL_HIST_DROP_ARCHIVED: {
                        sl_history_manifest_t m = {0};
                        long long rows = strtoll(PQgetvalue(res, i, 7), NULL, 10);
                        manifest_of(res, i, 7, &m);
                        if (r->dry) {
                                sl__hist_say(r, "drop", part, it.lo_ms, rows, why);
                                break;
                        }
                        /* restored: the file is re-read before the rows go again */
                        if (it.state == SL_HIST_A_RESTORED &&
                            sl_history_archive_verify(PQgetvalue(res, i, 6), &m, err,
                                                      sizeof(err)) != 0) {
                                sl__hist_failure(r, part, "re-verifying its archive: %s",
                                                 err);
                                break;
                        }
                        drop_archived(r, part, it.lo_ms, id, rows);
                        break;
                }
                case SL_HIST_HOLD: {
                        /* An empty partition made again (sluice_ensure_event_partitions
                         * with a longer days.back) holds nothing to lose: it goes. */
                        long long n = sl__hist_count_rows(r->pg, part, err, sizeof(err));
                        char *drop =
                            n == 0 ? sl__hist_with_ident(r->pg, "DROP TABLE %s", part)
                                   : NULL;
                        if (n != 0) {
                                sl__hist_failure(r, part, "%s", why);
                        } else if (r->dry) {
                                sl__hist_say(
                                    r, "drop", part, it.lo_ms, 0,
                                    "empty, made again after its archive was dropped");
                        } else if (!drop ||
                                   !sl__hist_ok(r->pg, drop, 0, NULL, err, sizeof(err))) {
                                sl__hist_failure(r, part, "dropping it: %s",
                                                 drop ? err : "out of memory");
                        } else {
                                sl__hist_say(
                                    r, "drop", part, it.lo_ms, 0,
                                    "empty, made again after its archive was dropped");
                        }
                        free(drop);
                        break;
                }
                default:
                        break;
                }
        }
        PQclear(res);

        gone = sl__hist_q(r->pg, GONE_SQL, 1, params, err, sizeof(err));
        if (!gone) {
                sl__hist_failure(r, TBL, "listing archives: %s", err);
                return;
        }
        for (int i = 0; i < PQntuples(gone); i++) {
                const char *part = PQgetvalue(gone, i, 0), *why,
                           *kt = PQgetvalue(gone, i, 11);
                sl_history_item_t it = {0};

                it.lo_ms = strtoll(PQgetvalue(gone, i, 1), NULL, 10);
                it.hi_ms = strtoll(PQgetvalue(gone, i, 2), NULL, 10);
                it.state = SL_HIST_A_DROPPED;
                /* keep_types: the kept types the day held when it was archived */
                for (size_t k = 0; k < r->o->pol.nkeep; k++) {
                        const char *t = r->o->pol.keep[k].type, *at = strstr(kt, t);
                        size_t tl = strlen(t);
                        it.present[k] =
                            at && (at[-1] == '{' || at[-1] == ',' || at[-1] == '"') &&
                            (at[tl] == '}' || at[tl] == ',' || at[tl] == '"');
                }
                if (sl_history_decide(&r->o->pol, &it, now_ms, &why) != SL_HIST_EXPIRE)
                        continue;
                if (!r->dry) {
                        const char *p2[1] = {PQgetvalue(gone, i, 3)};
                        remove_files(PQgetvalue(gone, i, 6));
                        if (!sl__hist_ok(
                                r->pg,
                                "UPDATE archives SET state = 'expired', expired_at = "
                                "now() "
                                "WHERE id = $1",
                                1, p2, err, sizeof(err))) {
                                sl__hist_failure(r, part, "expiring its archive: %s",
                                                 err);
                                continue;
                        }
                }
                sl__hist_say(r, "expire", part, it.lo_ms,
                             strtoll(PQgetvalue(gone, i, 7), NULL, 10), why);
        }
        PQclear(gone);
}

/* Archiving off: drop whole partitions past retention. */
