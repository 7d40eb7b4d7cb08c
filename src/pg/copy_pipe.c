/*
 * The parallel binary-COPY pipe (see copy_pipe.h).  The caller's thread encodes rows
 * into chunks; each writer thread owns one connection, starts a COPY on its first
 * chunk of a batch, streams chunks as they come, and keeps them until the batch's
 * outcome is known so that it can replay them through the dedup path.
 */
#include "pg/copy_pipe.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/fatal.h"

#define SL_COPY_CHUNK   (128 * 1024)
#define SL_COPY_RETRIES 5
/* Microseconds from the Unix epoch to the Postgres epoch (2000-01-01). */
#define SL_PG_EPOCH_MS 946684800000LL

static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char copy_trailer[2] = {'\xff', '\xff'};

typedef struct chunk_s {
        struct chunk_s *next;
        char *data;
        size_t len, cap;
        size_t rows;
} chunk_t;

typedef struct writer_s {
        sl_copy_pipe_t *cp;
        int idx;
        PGconn *pg;
        pthread_t thr;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        chunk_t *queue, *queue_tail; /* waiting to be sent */
        chunk_t *sent, *sent_tail;   /* sent in this batch, kept for a replay */
        bool finish, done, quit;

        /* Batch state, touched by the writer thread only until done is set. */
        bool in_copy, broken, has_stage;
        size_t batch_rows;
        uint64_t rows, dups;
        int err;
        char errstr[512];
} writer_t;

struct sl_copy_pipe_s {
        char table[128];
        char columns[512]; /* "(a, b)" */
        char select[512];  /* "a, b": the same list for INSERT ... SELECT */
        int nconn;
        writer_t *w;
        int next;
        chunk_t *cur;
        size_t field_pos; /* offset of an open field's length word in cur */
};

static chunk_t *chunk_new(void)
{
        chunk_t *c = calloc(1, sizeof(*c));
        if (!c)
                sl_oom("COPY chunk");
        c->cap = SL_COPY_CHUNK + 4096;
        c->data = malloc(c->cap);
        if (!c->data)
                sl_oom("COPY chunk");
        return c;
}

static void chunk_free_list(chunk_t *c)
{
        while (c) {
                chunk_t *next = c->next;
                free(c->data);
                free(c);
                c = next;
        }
}

static inline void put(sl_copy_pipe_t *cp, const void *data, size_t len)
{
        chunk_t *c = cp->cur;
        if (c->len + len > c->cap &&
            !(c->data = sl_array_grow(c->data, &c->cap, c->len + len, 1, SL_COPY_CHUNK)))
                sl_oom("COPY chunk");
        memcpy(c->data + c->len, data, len);
        c->len += len;
}

static inline void put_be16(sl_copy_pipe_t *cp, uint16_t v)
{
        v = htons(v);
        put(cp, &v, 2);
}

static inline void put_be32(sl_copy_pipe_t *cp, uint32_t v)
{
        v = htonl(v);
        put(cp, &v, 4);
}

static inline void put_be64(sl_copy_pipe_t *cp, uint64_t v)
{
        put_be32(cp, (uint32_t)(v >> 32));
        put_be32(cp, (uint32_t)v);
}

void sl_copy_row_begin(sl_copy_pipe_t *cp, int nfields)
{
        put_be16(cp, (uint16_t)nfields);
}

void sl_copy_field(sl_copy_pipe_t *cp, const void *data, size_t len)
{
        put_be32(cp, (uint32_t)len);
        put(cp, data, len);
}

void sl_copy_field_null(sl_copy_pipe_t *cp)
{
        put_be32(cp, 0xffffffffu);
}

void sl_copy_field_int4(sl_copy_pipe_t *cp, int32_t v)
{
        put_be32(cp, 4);
        put_be32(cp, (uint32_t)v);
}

void sl_copy_field_int8(sl_copy_pipe_t *cp, int64_t v)
{
        put_be32(cp, 8);
        put_be64(cp, (uint64_t)v);
}

void sl_copy_field_timestamp_ms(sl_copy_pipe_t *cp, int64_t ms)
{
        sl_copy_field_int8(cp, (ms - SL_PG_EPOCH_MS) * 1000);
}

void sl_copy_field_uuid(sl_copy_pipe_t *cp, const unsigned char uuid[16])
{
        sl_copy_field(cp, uuid, 16);
}

void sl_copy_field_jsonb(sl_copy_pipe_t *cp, const char *json, size_t len)
{
        put_be32(cp, (uint32_t)(len + 1));
        put(cp, "\1", 1);
        put(cp, json, len);
}

void sl_copy_field_open(sl_copy_pipe_t *cp)
{
        cp->field_pos = cp->cur->len;
        put_be32(cp, 0);
}

void sl_copy_field_append(sl_copy_pipe_t *cp, const void *data, size_t len)
{
        put(cp, data, len);
}

void sl_copy_field_close(sl_copy_pipe_t *cp)
{
        uint32_t len = htonl((uint32_t)(cp->cur->len - cp->field_pos - 4));
        memcpy(cp->cur->data + cp->field_pos, &len, 4);
}

static void dispatch(sl_copy_pipe_t *cp)
{
        writer_t *w = &cp->w[cp->next];
        chunk_t *c = cp->cur;

        cp->next = (cp->next + 1) % cp->nconn;
        cp->cur = chunk_new();
        pthread_mutex_lock(&w->lock);
        if (w->queue_tail)
                w->queue_tail->next = c;
        else
                w->queue = c;
        w->queue_tail = c;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

void sl_copy_row_end(sl_copy_pipe_t *cp)
{
        cp->cur->rows++;
        if (cp->cur->len >= SL_COPY_CHUNK)
                dispatch(cp);
}

/* --- writer thread ------------------------------------------------------------- */

static void set_err(writer_t *w, const char *what, const char *pgmsg)
{
        if (w->err != SL_OK)
                return;
        w->err = SL_ERR_PG;
        snprintf(w->errstr, sizeof(w->errstr), "%s (%s, writer %d): %s", what,
                 w->cp->table, w->idx, pgmsg ? pgmsg : "");
        /* libpq messages end in a newline. */
        size_t n = strlen(w->errstr);
        while (n && (w->errstr[n - 1] == '\n' || w->errstr[n - 1] == ' '))
                w->errstr[--n] = '\0';
}

static bool exec_ok(writer_t *w, const char *sql, ExecStatusType want, PGresult **out)
{
        PGresult *res = PQexec(w->pg, sql);
        bool ok = PQresultStatus(res) == want;

        if (!ok)
                set_err(w, sql, PQresultErrorMessage(res));
        if (out && ok)
                *out = res;
        else
                PQclear(res);
        return ok;
}

static bool start_copy(writer_t *w, const char *table)
{
        char sql[768];

        snprintf(sql, sizeof(sql), "COPY %s %s FROM STDIN (FORMAT binary)", table,
                 w->cp->columns);
        if (!exec_ok(w, sql, PGRES_COPY_IN, NULL))
                return false;
        if (PQputCopyData(w->pg, copy_header, sizeof(copy_header)) != 1) {
                set_err(w, "COPY header", PQerrorMessage(w->pg));
                return false;
        }
        return true;
}

static void send_chunk(writer_t *w, chunk_t *c)
{
        w->batch_rows += c->rows;
        if (w->broken)
                return;
        if (!w->in_copy) {
                if (!start_copy(w, w->cp->table)) {
                        w->broken = true;
                        return;
                }
                w->in_copy = true;
        }
        if (PQputCopyData(w->pg, c->data, (int)c->len) != 1) {
                set_err(w, "COPY data", PQerrorMessage(w->pg));
                w->broken = true;
        }
}

/* End a COPY; returns the result (caller clears) or NULL when the stream broke. */
static PGresult *end_copy(writer_t *w)
{
        PGresult *res, *last = NULL;

        if (PQputCopyData(w->pg, copy_trailer, sizeof(copy_trailer)) != 1 ||
            PQputCopyEnd(w->pg, NULL) != 1) {
                set_err(w, "COPY end", PQerrorMessage(w->pg));
                return NULL;
        }
        while ((res = PQgetResult(w->pg))) {
                if (last)
                        PQclear(last);
                last = res;
        }
        return last;
}

/* Replay every chunk of the batch through a staging table, skipping keys already in
 * the target.  Used only after the plain COPY failed. */
static bool replay_dedup(writer_t *w)
{
        char sql[2048];
        PGresult *res = NULL;
        bool ok;

        if (PQstatus(w->pg) != CONNECTION_OK) {
                PQreset(w->pg);
                w->has_stage = false;
                if (PQstatus(w->pg) != CONNECTION_OK) {
                        set_err(w, "reconnect", PQerrorMessage(w->pg));
                        return false;
                }
        }
        if (PQtransactionStatus(w->pg) != PQTRANS_IDLE)
                PQclear(PQexec(w->pg, "ROLLBACK"));
        if (!w->has_stage) {
                snprintf(sql, sizeof(sql),
                         "CREATE TEMP TABLE IF NOT EXISTS sl_stage_%s (LIKE %s INCLUDING "
                         "DEFAULTS) ON COMMIT DELETE ROWS",
                         w->cp->table, w->cp->table);
                if (!exec_ok(w, sql, PGRES_COMMAND_OK, NULL))
                        return false;
                w->has_stage = true;
        }
        if (!exec_ok(w, "BEGIN", PGRES_COMMAND_OK, NULL))
                return false;
        snprintf(sql, sizeof(sql), "sl_stage_%s", w->cp->table);
        ok = start_copy(w, sql);
        for (chunk_t *c = w->sent; ok && c; c = c->next)
                if (PQputCopyData(w->pg, c->data, (int)c->len) != 1) {
                        set_err(w, "COPY data", PQerrorMessage(w->pg));
                        ok = false;
                }
        if (ok) {
                res = end_copy(w);
                ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
                if (!ok && res)
                        set_err(w, "COPY into staging", PQresultErrorMessage(res));
                PQclear(res);
        }
        if (ok) {
                snprintf(sql, sizeof(sql),
                         "INSERT INTO %s %s SELECT %s FROM sl_stage_%s ON CONFLICT DO "
                         "NOTHING",
                         w->cp->table, w->cp->columns, w->cp->select, w->cp->table);
                ok = exec_ok(w, sql, PGRES_COMMAND_OK, &res);
                if (ok) {
                        uint64_t inserted = strtoull(PQcmdTuples(res), NULL, 10);
                        w->rows = inserted;
                        w->dups = w->batch_rows - inserted;
                        PQclear(res);
                }
        }
        if (ok)
                ok = exec_ok(w, "COMMIT", PGRES_COMMAND_OK, NULL);
        if (!ok && PQstatus(w->pg) == CONNECTION_OK)
                PQclear(PQexec(w->pg, "ROLLBACK"));
        return ok;
}

static void end_batch(writer_t *w)
{
        PGresult *res = NULL;
        sl_sqlstate_t state = {{0}};

        w->rows = w->dups = 0;
        if (!w->sent)
                goto done;
        if (w->in_copy && !w->broken) {
                res = end_copy(w);
                if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
                        w->rows = strtoull(PQcmdTuples(res), NULL, 10);
                        PQclear(res);
                        goto done;
                }
                state = sl_pg_sqlstate(res); /* a copy: res is cleared below */
                if (res)
                        set_err(w, "COPY", PQresultErrorMessage(res));
                PQclear(res);
        }
        /* A replayed key (23505), the same key in two writers' shares (40P01), or a
         * broken stream or connection: replay this share with dedup. */
        if (w->in_copy && PQstatus(w->pg) == CONNECTION_OK &&
            !sl_sqlstate_is(state, "23505") && !sl_sqlstate_is(state, "40P01") &&
            !w->broken)
                goto done; /* any other server error is not ours to retry */
        for (int attempt = 0; attempt < SL_COPY_RETRIES; attempt++) {
                char first[512];
                snprintf(first, sizeof(first), "%s", w->errstr);
                w->err = SL_OK;
                w->errstr[0] = '\0';
                if (replay_dedup(w)) {
                        sl_log_debug(
                            "%s: writer %d replayed %zu rows with dedup after: %s",
                            w->cp->table, w->idx, w->batch_rows, first);
                        break;
                }
                if (attempt + 1 < SL_COPY_RETRIES)
                        sl_log_warn("%s: dedup replay failed, retrying: %s", w->cp->table,
                                    w->errstr);
        }
done:
        chunk_free_list(w->sent);
        w->sent = w->sent_tail = NULL;
        w->in_copy = w->broken = false;
        w->batch_rows = 0;
}

static void *writer_main(void *arg)
{
        writer_t *w = arg;

        pthread_mutex_lock(&w->lock);
        while (!w->quit) {
                if (w->queue) {
                        chunk_t *c = w->queue;
                        w->queue = c->next;
                        if (!w->queue)
                                w->queue_tail = NULL;
                        c->next = NULL;
                        pthread_mutex_unlock(&w->lock);
                        send_chunk(w, c);
                        if (w->sent_tail)
                                w->sent_tail->next = c;
                        else
                                w->sent = c;
                        w->sent_tail = c;
                        pthread_mutex_lock(&w->lock);
                        continue;
                }
                if (w->finish) {
                        pthread_mutex_unlock(&w->lock);
                        end_batch(w);
                        pthread_mutex_lock(&w->lock);
                        w->finish = false;
                        w->done = true;
                        pthread_cond_broadcast(&w->cond);
                        continue;
                }
                pthread_cond_wait(&w->cond, &w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

/* --- the pipe ------------------------------------------------------------------- */

sl_copy_pipe_t *sl_copy_pipe_new(const sl_conf_t *conf, const char *table,
                                 const char *columns, int nconn, char *errstr,
                                 size_t errstr_size)
{
        sl_copy_pipe_t *cp = calloc(1, sizeof(*cp));
        int started = 0;

        if (!cp || nconn < 1) {
                snprintf(errstr, errstr_size, "copy pipe: %s",
                         cp ? "need at least one connection" : "out of memory");
                free(cp);
                return NULL;
        }
        snprintf(cp->table, sizeof(cp->table), "%s", table);
        snprintf(cp->columns, sizeof(cp->columns), "%s", columns);
        {
                size_t len = strlen(columns);
                if (len >= 2 && columns[0] == '(' && columns[len - 1] == ')')
                        snprintf(cp->select, sizeof(cp->select), "%.*s", (int)(len - 2),
                                 columns + 1);
                else
                        snprintf(cp->select, sizeof(cp->select), "%s", columns);
        }
        cp->nconn = nconn;
        cp->w = calloc((size_t)nconn, sizeof(*cp->w));
        cp->cur = chunk_new();
        for (; started < nconn; started++) {
                writer_t *w = &cp->w[started];
                w->cp = cp;
                w->idx = started;
                w->pg = sl_pg_connect(conf, errstr, errstr_size);
                if (!w->pg)
                        goto fail;
                pthread_mutex_init(&w->lock, NULL);
                pthread_cond_init(&w->cond, NULL);
                if (pthread_create(&w->thr, NULL, writer_main, w) != 0) {
                        snprintf(errstr, errstr_size, "copy pipe: cannot start a thread");
                        PQfinish(w->pg);
                        goto fail;
                }
        }
        return cp;

fail:
        cp->nconn = started;
        sl_copy_pipe_destroy(cp);
        return NULL;
}

void sl_copy_pipe_destroy(sl_copy_pipe_t *cp)
{
        if (!cp)
                return;
        for (int i = 0; i < cp->nconn; i++) {
                writer_t *w = &cp->w[i];
                pthread_mutex_lock(&w->lock);
                w->quit = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thr, NULL);
                chunk_free_list(w->queue);
                chunk_free_list(w->sent);
                PQfinish(w->pg);
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->cond);
        }
        chunk_free_list(cp->cur);
        free(cp->w);
        free(cp);
}

void sl_copy_pipe_end(sl_copy_pipe_t *cp)
{
        if (cp->cur->rows)
                dispatch(cp);
        for (int i = 0; i < cp->nconn; i++) {
                writer_t *w = &cp->w[i];
                pthread_mutex_lock(&w->lock);
                w->done = false;
                w->finish = true;
                pthread_cond_signal(&w->cond);
                pthread_mutex_unlock(&w->lock);
        }
}

int sl_copy_pipe_finish(sl_copy_pipe_t *cp, uint64_t *rows, uint64_t *dups, char *errstr,
                        size_t errstr_size)
{
        sl_copy_pipe_end(cp);
        return sl_copy_pipe_wait(cp, rows, dups, errstr, errstr_size);
}

int sl_copy_pipe_wait(sl_copy_pipe_t *cp, uint64_t *rows, uint64_t *dups, char *errstr,
                      size_t errstr_size)
{
        uint64_t r = 0, d = 0;
        int err = SL_OK;

        for (int i = 0; i < cp->nconn; i++) {
                writer_t *w = &cp->w[i];
                pthread_mutex_lock(&w->lock);
                while (!w->done)
                        pthread_cond_wait(&w->cond, &w->lock);
                pthread_mutex_unlock(&w->lock);
                if (w->err != SL_OK && err == SL_OK) {
                        err = w->err;
                        snprintf(errstr, errstr_size, "%s", w->errstr);
                }
                w->err = SL_OK;
                w->errstr[0] = '\0';
                r += w->rows;
                d += w->dups;
        }
        if (rows)
                *rows = r;
        if (dups)
                *dups = d;
        return err;
}
