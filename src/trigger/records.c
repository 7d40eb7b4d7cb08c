/*
 * Avro binary of the trigger stage's records (records.h).  Each record is described
 * once, as its schema's fields in order (kind and offset in the C struct); one encoder
 * and one decoder walk the description.
 */
#include "trigger/records.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/array.h"
#include "util/varint.h"

enum kind { STR, OPT_STR, LONG };

typedef struct field_s {
        enum kind kind;
        size_t off;
} field_t;

#define F(kind, type, member)                                                            \
        {                                                                                \
                kind, offsetof(type, member)                                             \
        }

static const field_t match_fields[] = {
    F(STR, sl_trigger_match_t, trigger_id),
    F(STR, sl_trigger_match_t, trigger_name),
    F(STR, sl_trigger_match_t, event_id),
    F(STR, sl_trigger_match_t, event_type),
    F(STR, sl_trigger_match_t, source),
    F(OPT_STR, sl_trigger_match_t, correlation_id),
    F(OPT_STR, sl_trigger_match_t, traceparent),
    F(STR, sl_trigger_match_t, workflow),
    F(STR, sl_trigger_match_t, params),
    F(LONG, sl_trigger_match_t, occurred_at),
    F(LONG, sl_trigger_match_t, accepted_at),
    F(LONG, sl_trigger_match_t, matched_at),
};

static const field_t launch_fields[] = {
    F(STR, sl_workflow_launch_t, launch_id),
    F(STR, sl_workflow_launch_t, trigger_id),
    F(STR, sl_workflow_launch_t, trigger_name),
    F(STR, sl_workflow_launch_t, workflow),
    F(STR, sl_workflow_launch_t, params),
    F(STR, sl_workflow_launch_t, event_id),
    F(OPT_STR, sl_workflow_launch_t, correlation_id),
    F(OPT_STR, sl_workflow_launch_t, traceparent),
    F(LONG, sl_workflow_launch_t, accepted_at),
    F(LONG, sl_workflow_launch_t, launched_at),
};

static const field_t result_fields[] = {
    F(STR, sl_workflow_result_t, launch_id),    F(STR, sl_workflow_result_t, trigger_id),
    F(STR, sl_workflow_result_t, status),       F(OPT_STR, sl_workflow_result_t, error),
    F(LONG, sl_workflow_result_t, finished_at),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

void sl_rec_buf_free(sl_rec_buf_t *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

static const char **str_at(const void *rec, size_t off)
{
        return (const char **)((uintptr_t)rec + off);
}

static int64_t *long_at(const void *rec, size_t off)
{
        return (int64_t *)((uintptr_t)rec + off);
}

static int encode(const field_t *fields, size_t n, const void *rec, sl_rec_buf_t *b)
{
        size_t need = 0;
        unsigned char *p;

        for (size_t i = 0; i < n; i++) {
                const char *s =
                    fields[i].kind == LONG ? NULL : *str_at(rec, fields[i].off);
                if (fields[i].kind == STR && !s)
                        return SL_ERR_INVALID;
                need += 2 * SL_AVRO_LONG_MAX + (s ? strlen(s) : 0);
        }
        p = sl_array_grow(b->p, &b->cap, need, 1, 256);
        if (!p)
                return SL_ERR_NOMEM;
        b->p = p;
        b->len = 0;
        for (size_t i = 0; i < n; i++) {
                const char *s;
                size_t len;

                if (fields[i].kind == LONG) {
                        b->len +=
                            sl_avro_long_encode(*long_at(rec, fields[i].off), p + b->len);
                        continue;
                }
                s = *str_at(rec, fields[i].off);
                if (fields[i].kind == OPT_STR) { /* union ["null", "string"] */
                        b->len += sl_avro_long_encode(s ? 1 : 0, p + b->len);
                        if (!s)
                                continue;
                }
                len = strlen(s);
                b->len += sl_avro_long_encode((int64_t)len, p + b->len);
                memcpy(p + b->len, s, len);
                b->len += len;
        }
        return SL_OK;
}

/* Decode into rec (zeroed first); *arena gets the block the strings point into. */
static int decode(const field_t *fields, size_t n, const void *buf, size_t len, void *rec,
                  size_t rec_size, char **arena)
{
        const unsigned char *p = buf;
        size_t off = 0, r;
        char *a;
        int64_t v;

        memset(rec, 0, rec_size);
        /* Every string's bytes plus its NUL fit in len + n bytes. */
        a = *arena = malloc(len + n + 1);
        if (!a)
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) {
                r = sl_avro_long_decode(p + off, len - off, &v);
                if (!r)
                        goto bad;
                off += r;
                if (fields[i].kind == LONG) {
                        *long_at(rec, fields[i].off) = v;
                        continue;
                }
                if (fields[i].kind == OPT_STR) {
                        if (v == 0)
                                continue; /* null */
                        if (v != 1)
                                goto bad;
                        r = sl_avro_long_decode(p + off, len - off, &v);
                        if (!r)
                                goto bad;
                        off += r;
                }
                if (v < 0 || (uint64_t)v > len - off || memchr(p + off, '\0', (size_t)v))
                        goto bad;
                memcpy(a, p + off, (size_t)v);
                a[v] = '\0';
                *str_at(rec, fields[i].off) = a;
                a += v + 1;
                off += (size_t)v;
        }
        if (off != len)
                goto bad;
        return SL_OK;
bad:
        free(*arena);
        memset(rec, 0, rec_size);
        return SL_ERR_DECODE;
}

int sl_trigger_match_encode(const sl_trigger_match_t *m, sl_rec_buf_t *b)
{
        return encode(match_fields, NFIELDS(match_fields), m, b);
}

int sl_workflow_launch_encode(const sl_workflow_launch_t *l, sl_rec_buf_t *b)
{
        return encode(launch_fields, NFIELDS(launch_fields), l, b);
}

int sl_workflow_result_encode(const sl_workflow_result_t *r, sl_rec_buf_t *b)
{
        return encode(result_fields, NFIELDS(result_fields), r, b);
}

int sl_trigger_match_decode(const void *buf, size_t len, sl_trigger_match_t *out)
{
        char *arena = NULL;
        int err = decode(match_fields, NFIELDS(match_fields), buf, len, out, sizeof(*out),
                         &arena);
        out->arena_ = err == SL_OK ? arena : NULL;
        return err;
}

int sl_workflow_launch_decode(const void *buf, size_t len, sl_workflow_launch_t *out)
{
        char *arena = NULL;
        int err = decode(launch_fields, NFIELDS(launch_fields), buf, len, out,
                         sizeof(*out), &arena);
        out->arena_ = err == SL_OK ? arena : NULL;
        return err;
}

int sl_workflow_result_decode(const void *buf, size_t len, sl_workflow_result_t *out)
{
        char *arena = NULL;
        int err = decode(result_fields, NFIELDS(result_fields), buf, len, out,
                         sizeof(*out), &arena);
        if (err == SL_OK && strcmp(out->status, "succeeded") != 0 &&
            strcmp(out->status, "failed") != 0) {
                free(arena);
                memset(out, 0, sizeof(*out));
                return SL_ERR_DECODE;
        }
        out->arena_ = err == SL_OK ? arena : NULL;
        return err;
}

void sl_trigger_match_clear(sl_trigger_match_t *m)
{
        free(m->arena_);
        memset(m, 0, sizeof(*m));
}

void sl_workflow_launch_clear(sl_workflow_launch_t *l)
{
        free(l->arena_);
        memset(l, 0, sizeof(*l));
}

void sl_workflow_result_clear(sl_workflow_result_t *r)
{
        free(r->arena_);
        memset(r, 0, sizeof(*r));
}
