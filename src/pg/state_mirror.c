/*
 * The scheduler_state mirror (state_mirror.h): rows queued as Postgres array literals,
 * one column each, written by one INSERT ... SELECT FROM unnest(...) ON CONFLICT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg/pgarray.h"
#include "pg/state_mirror.h"
#include "sluice/err.h"

enum {
        COL_KEY,
        COL_PART,
        COL_WS,
        COL_COUNT,
        COL_THROTTLED,
        COL_PAUSED,
        COL_UPDATED,
        COL_DETAIL, /* $10: after the worker and stage parameters */
        NCOLS
};

struct sl_state_mirror_s {
        char stage[64];
        char worker[128];
        int64_t interval_ms, next_due; /* next_due 0: never due yet */
        sl_pgarr_t cols[NCOLS];
        size_t pending;
};

#define SL_STATE_MIRROR_SQL                                                              \
        "INSERT INTO scheduler_state AS s (stage, key, kafka_partition, "                \
        "window_start, window_count, throttled, paused_until, updated_at, worker, "      \
        "detail) "                                                                       \
        "SELECT $9::text, u.k, u.p, to_timestamp(u.ws / 1000.0), u.c, u.t, "             \
        "CASE WHEN u.pu > 0 THEN to_timestamp(u.pu / 1000.0) END, "                      \
        "to_timestamp(u.ua / 1000.0), $8, u.d::jsonb "                                   \
        "FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], "                \
        "$5::bigint[], $6::bigint[], $7::bigint[], $10::text[]) "                        \
        "AS u(k, p, ws, c, t, pu, ua, d) "                                               \
        "ON CONFLICT (stage, key) DO UPDATE SET "                                        \
        "kafka_partition = EXCLUDED.kafka_partition, "                                   \
        "window_start = EXCLUDED.window_start, "                                         \
        "window_count = EXCLUDED.window_count, "                                         \
        "throttled = EXCLUDED.throttled, paused_until = EXCLUDED.paused_until, "         \
        "updated_at = EXCLUDED.updated_at, worker = EXCLUDED.worker, "                   \
        "detail = EXCLUDED.detail, "                                                     \
        "mirrored_at = now() WHERE s.updated_at <= EXCLUDED.updated_at"

sl_state_mirror_t *sl_state_mirror_new(const char *stage, int64_t interval_ms,
                                       char *errstr, size_t errstr_size)
{
        sl_state_mirror_t *m;
        char host[64] = "";

        if (!stage || !*stage || strlen(stage) >= sizeof(m->stage) || interval_ms < 0) {
                snprintf(errstr, errstr_size, "state mirror: invalid stage or interval");
                return NULL;
        }
        m = calloc(1, sizeof(*m));
        if (!m) {
                snprintf(errstr, errstr_size, "state mirror: out of memory");
                return NULL;
        }
        snprintf(m->stage, sizeof(m->stage), "%s", stage);
        gethostname(host, sizeof(host) - 1);
        snprintf(m->worker, sizeof(m->worker), "%s:%d", host, (int)getpid());
        m->interval_ms = interval_ms;
        for (int i = 0; i < NCOLS; i++)
                sl_pgarr_begin(&m->cols[i]);
        return m;
}

void sl_state_mirror_destroy(sl_state_mirror_t *m)
{
        if (!m)
                return;
        for (int i = 0; i < NCOLS; i++)
                sl_pgarr_free(&m->cols[i]);
        free(m);
}

bool sl_state_mirror_due(sl_state_mirror_t *m, int64_t mono_ms, bool force, double *secs)
{
        double s;

        if (!force && mono_ms < m->next_due)
                return false;
        s = m->next_due ? (double)(mono_ms - m->next_due + m->interval_ms) / 1000.0 : 1.0;
        if (secs)
                *secs = s > 0 ? s : 1.0;
        m->next_due = mono_ms + m->interval_ms;
        return true;
}

int sl_state_mirror_add(sl_state_mirror_t *m, const sl_state_mirror_row_t *row)
{
        sl_pgarr_text(&m->cols[COL_KEY], row->key);
        sl_pgarr_num(&m->cols[COL_PART], row->partition);
        sl_pgarr_num(&m->cols[COL_WS], row->window_start);
        sl_pgarr_num(&m->cols[COL_COUNT], row->window_count);
        sl_pgarr_num(&m->cols[COL_THROTTLED], row->throttled);
        sl_pgarr_num(&m->cols[COL_PAUSED], row->paused_until);
        sl_pgarr_num(&m->cols[COL_UPDATED], row->updated_at);
        sl_pgarr_text(&m->cols[COL_DETAIL], row->detail);
        m->pending++;
        return SL_OK;
}

size_t sl_state_mirror_pending(const sl_state_mirror_t *m)
{
        return m->pending;
}

int sl_state_mirror_write(sl_state_mirror_t *m, PGconn *pg, char *errstr,
                          size_t errstr_size)
{
        const char *params[10];
        PGresult *res;
        int err = SL_OK;

        if (!m->pending)
                return SL_OK;
        for (int i = 0; i < COL_DETAIL; i++)
                params[i] = sl_pgarr_end(&m->cols[i]);
        params[7] = m->worker;
        params[8] = m->stage;
        params[9] = sl_pgarr_end(&m->cols[COL_DETAIL]);
        if (!pg) {
                snprintf(errstr, errstr_size,
                         "scheduler_state mirror of %zu %s rows: no "
                         "connection",
                         m->pending, m->stage);
                err = SL_ERR_PG;
                goto out;
        }
        res = PQexecParams(pg, SL_STATE_MIRROR_SQL, 10, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(errstr, errstr_size, "scheduler_state mirror of %zu %s rows: %s",
                         m->pending, m->stage, PQresultErrorMessage(res));
                err = SL_ERR_PG;
        }
        PQclear(res);
out:
        for (int i = 0; i < NCOLS; i++)
                sl_pgarr_begin(&m->cols[i]);
        m->pending = 0;
        return err;
}
