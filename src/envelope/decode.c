/*
 * Decoding single-object-encoded envelopes: framing, fingerprint lookup, then one
 * bounds-checked Avro binary reader that walks the writer record's fields and either
 * stores a field into its envelope slot or skips it.  With the reader schema as writer
 * (the common case) that is a straight run over eight fields; other registered writers
 * go through the same code, resolving per the Avro rules compiled in codec.c.
 *
 * Lengths and counts from the wire are never trusted: every read checks the bytes
 * left, so truncated or random input yields SL_REJECT_DECODE, never an over-read.
 * Strings land in the envelope's arena, reserved once per call (at most twice the
 * input size), so a warm envelope decodes without allocating.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "envelope/codec_int.h"
#include "sluice/err.h"
#include "util/utf8.h"
#include "util/varint.h"

#define SL_DECODE_MAX_NESTING 100

typedef struct sl_rd_s {
        const unsigned char *p, *end;
        sl_envelope_t *env;
        sl_reject_t *rej;
        const char *field; /* writer field being read, for messages */
} sl_rd_t;

static int sl_rd_fail(sl_rd_t *r, sl_reject_code_t code, const char *fmt, ...)
{
        va_list ap;
        r->rej->code = code;
        va_start(ap, fmt);
        vsnprintf(r->rej->msg, sizeof(r->rej->msg), fmt, ap);
        va_end(ap);
        return -1;
}

static inline int sl_rd_long(sl_rd_t *r, int64_t *out)
{
        size_t left = (size_t)(r->end - r->p);
        size_t n = sl_avro_long_decode(r->p, left, out);

        if (!n) {
                *out = 0;
                return sl_rd_fail(r, SL_REJECT_DECODE,
                                  left >= SL_AVRO_LONG_MAX ? "field %s: varint overflows"
                                                           : "field %s: truncated",
                                  r->field);
        }
        r->p += n;
        return 0;
}

static inline int sl_rd_num(sl_rd_t *r, const sl__avro_node_t *n, int64_t *out)
{
        if (sl_rd_long(r, out))
                return -1;
        if (n->type == SL_AVRO_INT && (*out < INT32_MIN || *out > INT32_MAX))
                return sl_rd_fail(r, SL_REJECT_DECODE, "field %s: int out of range",
                                  r->field);
        return 0;
}

static inline int sl_rd_bytes(sl_rd_t *r, const char **p, size_t *len)
{
        int64_t l;
        *p = NULL;
        *len = 0;
        if (sl_rd_long(r, &l))
                return -1;
        if (l < 0 || l > r->end - r->p)
                return sl_rd_fail(r, SL_REJECT_DECODE,
                                  "field %s: length %lld exceeds the %zu bytes left",
                                  r->field, (long long)l, (size_t)(r->end - r->p));
        *p = (const char *)r->p;
        *len = (size_t)l;
        r->p += l;
        return 0;
}

static inline int sl_rd_index(sl_rd_t *r, size_t cnt, size_t *idx)
{
        int64_t v;
        *idx = 0;
        if (sl_rd_long(r, &v))
                return -1;
        if (v < 0 || (uint64_t)v >= cnt)
                return sl_rd_fail(r, SL_REJECT_DECODE,
                                  "field %s: index %lld out of range", r->field,
                                  (long long)v);
        *idx = (size_t)v;
        return 0;
}

/* A copied string must be valid UTF-8 without NUL: Postgres text would refuse it. */
static inline int sl_rd_text(sl_rd_t *r, const char *p, size_t len, const char *what,
                             const char **out)
{
        ptrdiff_t bad = sl_utf8_check(p, len);
        if (bad >= 0)
                return sl_rd_fail(r, SL_REJECT_BAD_TEXT, "%s: %s at byte %td", what,
                                  p[bad] ? "invalid UTF-8" : "NUL character", bad);
        *out = sl__envelope_strdup(r->env, p, len);
        return 0;
}

static int sl_rd_skip(sl_rd_t *r, const sl__avro_node_t *n, int depth)
{
        int64_t v;
        const char *p;
        size_t len, idx;

        if (depth > SL_DECODE_MAX_NESTING)
                return sl_rd_fail(r, SL_REJECT_DECODE, "field %s: nested too deeply",
                                  r->field);
        switch (n->type) {
        case SL_AVRO_NULL:
                return 0;
        case SL_AVRO_BOOLEAN:
                if (r->p >= r->end || *r->p > 1)
                        return sl_rd_fail(r, SL_REJECT_DECODE, "field %s: bad boolean",
                                          r->field);
                r->p++;
                return 0;
        case SL_AVRO_INT:
        case SL_AVRO_LONG:
                return sl_rd_num(r, n, &v);
        case SL_AVRO_FLOAT:
        case SL_AVRO_DOUBLE:
        case SL_AVRO_FIXED:
                len = n->type == SL_AVRO_FLOAT    ? 4
                      : n->type == SL_AVRO_DOUBLE ? 8
                                                  : n->cnt;
                if ((size_t)(r->end - r->p) < len)
                        return sl_rd_fail(r, SL_REJECT_DECODE, "field %s: truncated",
                                          r->field);
                r->p += len;
                return 0;
        case SL_AVRO_BYTES:
        case SL_AVRO_STRING:
                return sl_rd_bytes(r, &p, &len);
        case SL_AVRO_ENUM:
                return sl_rd_index(r, n->cnt, &idx);
        case SL_AVRO_UNION:
                if (sl_rd_index(r, n->cnt, &idx))
                        return -1;
                return sl_rd_skip(r, n->kids[idx], depth + 1);
        case SL_AVRO_RECORD:
                for (size_t i = 0; i < n->cnt; i++)
                        if (sl_rd_skip(r, n->kids[i], depth + 1))
                                return -1;
                return 0;
        case SL_AVRO_ARRAY:
        case SL_AVRO_MAP:
                for (;;) {
                        int64_t cnt = 0, size = 0;
                        if (sl_rd_long(r, &cnt))
                                return -1;
                        if (cnt == 0)
                                return 0;
                        if (cnt < 0) {
                                if (cnt == INT64_MIN || sl_rd_long(r, &size))
                                        return sl_rd_fail(r, SL_REJECT_DECODE,
                                                          "field %s: bad block",
                                                          r->field);
                                if (size < 0 || size > r->end - r->p)
                                        return sl_rd_fail(
                                            r, SL_REJECT_DECODE,
                                            "field %s: block size %lld exceeds "
                                            "the input",
                                            r->field, (long long)size);
                                r->p += size;
                                continue;
                        }
                        if (n->type == SL_AVRO_ARRAY && n->kids[0]->zero_size)
                                continue; /* items take no bytes: nothing to walk */
                        if (cnt > r->end - r->p)
                                return sl_rd_fail(r, SL_REJECT_DECODE,
                                                  "field %s: %lld items exceed the input",
                                                  r->field, (long long)cnt);
                        for (int64_t i = 0; i < cnt; i++) {
                                if (n->type == SL_AVRO_MAP && sl_rd_bytes(r, &p, &len))
                                        return -1;
                                if (sl_rd_skip(r, n->kids[0], depth + 1))
                                        return -1;
                        }
                }
        }
        return sl_rd_fail(r, SL_REJECT_DECODE, "field %s: unknown type", r->field);
}

static int sl_rd_metadata(sl_rd_t *r, const sl__avro_node_t *n)
{
        sl_envelope_t *env = r->env;
        size_t total = 0;

        for (;;) {
                int64_t cnt = 0, size = 0;
                if (sl_rd_long(r, &cnt))
                        return -1;
                if (cnt == 0)
                        break;
                if (cnt < 0) {
                        if (cnt == INT64_MIN || sl_rd_long(r, &size) || size < 0)
                                return sl_rd_fail(r, SL_REJECT_DECODE,
                                                  "field %s: bad block", r->field);
                        cnt = -cnt;
                }
                /* every entry takes at least two bytes (two lengths) */
                if (cnt > (r->end - r->p) / 2)
                        return sl_rd_fail(r, SL_REJECT_DECODE,
                                          "field %s: %lld entries exceed the input",
                                          r->field, (long long)cnt);
                if (sl__envelope_meta_reserve(env, total + (size_t)cnt, total))
                        return sl_rd_fail(r, SL_REJECT_DECODE, "out of memory");
                for (int64_t i = 0; i < cnt; i++) {
                        const char *kp, *vp, *k = NULL, *v = NULL;
                        size_t kl, vl;
                        if (sl_rd_bytes(r, &kp, &kl) || sl_rd_bytes(r, &vp, &vl))
                                return -1;
                        if (sl_rd_text(r, kp, kl, "metadata key", &k) ||
                            sl_rd_text(r, vp, vl, "metadata value", &v))
                                return -1;
                        sl__envelope_meta_set(env, total++, k, v);
                }
        }
        (void)n;
        sl__envelope_meta_finish(env, total);
        return 0;
}

static int sl_rd_slot(sl_rd_t *r, sl_slot_t slot, const sl__avro_node_t *n)
{
        sl_envelope_t *env = r->env;
        const char *p;
        size_t len, idx;
        int64_t v;

        if (n->type == SL_AVRO_UNION) {
                if (sl_rd_index(r, n->cnt, &idx))
                        return -1;
                n = n->kids[idx];
        }
        switch (sl__slot_kinds[slot]) {
        case SL_KIND_OPT_STRING:
                if (n->type == SL_AVRO_NULL) {
                        env->correlation_id = NULL;
                        return 0;
                }
                /* fall through */
        case SL_KIND_STRING:
                if (n->type != SL_AVRO_STRING && n->type != SL_AVRO_BYTES)
                        break;
                if (sl_rd_bytes(r, &p, &len))
                        return -1;
                switch (slot) {
                case SL_SLOT_ID:
                        if (len == sizeof(env->id) - 1) {
                                for (size_t i = 0; i < len; i++) {
                                        char c = p[i];
                                        env->id[i] =
                                            (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
                                }
                                env->id[len] = '\0';
                        } else {
                                env->id[0] = '\0'; /* not a UUID: validate says bad_id */
                        }
                        return 0;
                case SL_SLOT_TYPE:
                        return sl_rd_text(r, p, len, "type", &env->type);
                case SL_SLOT_SOURCE:
                        return sl_rd_text(r, p, len, "source", &env->source);
                case SL_SLOT_PAYLOAD:
                        /* carries its length; validation checks its text with the
                         * JSON in one pass */
                        env->payload_len = len;
                        env->payload = sl__envelope_strdup(env, p, len);
                        return 0;
                default:
                        return sl_rd_text(r, p, len, "correlation_id",
                                          &env->correlation_id);
                }
        case SL_KIND_OPT_LONG:
                if (n->type == SL_AVRO_NULL) {
                        env->has_ttl = false;
                        return 0;
                }
                /* fall through */
        case SL_KIND_LONG:
                if (n->type != SL_AVRO_INT && n->type != SL_AVRO_LONG)
                        break;
                if (sl_rd_num(r, n, &v))
                        return -1;
                if (slot == SL_SLOT_OCCURRED_AT) {
                        env->occurred_at = v;
                } else {
                        env->has_ttl = true;
                        env->ttl_ms = v;
                }
                return 0;
        case SL_KIND_MAP_STRING:
                if (n->type != SL_AVRO_MAP)
                        break;
                return sl_rd_metadata(r, n);
        }
        return sl_rd_fail(r, SL_REJECT_DECODE,
                          "field %s: writer's %s does not resolve to the reader's type",
                          r->field, sl__avro_type_name(n->type));
}

static uint64_t sl_le64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

int sl_envelope_decode(const sl_codec_t *codec, const void *buf, size_t len,
                       sl_envelope_t *env, sl_reject_t *rej)
{
        const unsigned char *b = buf;
        const sl_writer_t *w = NULL;
        sl_rd_t r = {.env = env, .rej = rej, .field = "?"};

        rej->code = SL_REJECT_NONE;
        rej->msg[0] = '\0';
        env->id[0] = '\0';
        env->type = env->source = env->payload = "";
        env->payload_len = 0;
        env->occurred_at = 0;
        env->correlation_id = NULL;
        env->has_ttl = false;
        env->ttl_ms = 0;
        env->meta_cnt = 0;

        if (len < 10 || !b) {
                sl_rd_fail(&r, SL_REJECT_FRAMING,
                           "%zu bytes: shorter than the 10-byte single-object header",
                           len);
                return SL_ERR_REJECTED;
        }
        if (b[0] != 0xC3 || b[1] != 0x01) {
                sl_rd_fail(&r, SL_REJECT_FRAMING,
                           "starts with %02X %02X, not the single-object marker C3 01",
                           b[0], b[1]);
                return SL_ERR_REJECTED;
        }
        uint64_t fp = sl_le64(b + 2);
        if (codec->writers[0].fp == fp) {
                w = &codec->writers[0];
        } else {
                for (size_t i = 1; i < codec->writer_cnt && !w; i++)
                        if (codec->writers[i].fp == fp)
                                w = &codec->writers[i];
        }
        if (!w) {
                sl_rd_fail(&r, SL_REJECT_UNKNOWN_SCHEMA,
                           "writer schema fingerprint %016llx is not registered",
                           (unsigned long long)fp);
                return SL_ERR_REJECTED;
        }
        /* Every copied string came from >= its length in input bytes plus >= 1 length
         * byte, which pays for its NUL: 2 * len bounds the arena. */
        if (sl__envelope_arena_reset(env, 2 * len + 16) ||
            sl__envelope_meta_reserve(env, 8, 0)) {
                sl_rd_fail(&r, SL_REJECT_DECODE, "out of memory");
                return SL_ERR_NOMEM;
        }
        sl__envelope_meta_finish(env, 0);
        r.p = b + 10;
        r.end = b + len;
        const sl__avro_node_t *rec = w->rec;
        for (size_t i = 0; i < rec->cnt; i++) {
                r.field = rec->names[i];
                int slot = w->slot_of[i];
                if (slot < 0 ? sl_rd_skip(&r, rec->kids[i], 0)
                             : sl_rd_slot(&r, (sl_slot_t)slot, rec->kids[i]))
                        return SL_ERR_REJECTED;
        }
        if (r.p != r.end) {
                sl_rd_fail(&r, SL_REJECT_DECODE, "%zu trailing bytes after the record",
                           (size_t)(r.end - r.p));
                return SL_ERR_REJECTED;
        }
        return SL_OK;
}
