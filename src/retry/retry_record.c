/* Avro binary encoding of the retry record (see retry_record.h). */
#include "retry/retry_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/varint.h"

const char *sl_retry_record_id(const char *event_id, int32_t attempt, char *buf,
                               size_t size)
{
        snprintf(buf, size, "event-retry:%s:%d", event_id, (int)attempt);
        return buf;
}

static size_t put_bytes(unsigned char *p, const void *data, size_t len)
{
        size_t n = sl_avro_long_encode((int64_t)len, p);
        memcpy(p + n, data, len);
        return n + len;
}

int sl_retry_record_encode(const sl_retry_record_t *rr, void **out, size_t *out_len)
{
        char id[128];
        size_t cap, n = 0;
        unsigned char *p;

        if (!rr->event_id || !rr->source || !rr->reason ||
            (!rr->envelope && rr->envelope_len))
                return SL_ERR_INVALID;
        sl_retry_record_id(rr->event_id, rr->attempt, id, sizeof(id));
        cap = strlen(id) + strlen(rr->event_id) + strlen(rr->source) +
              strlen(rr->reason) + rr->envelope_len + 8 * 10;
        p = malloc(cap);
        if (!p)
                return SL_ERR_NOMEM;
        n += put_bytes(p + n, id, strlen(id));
        n += put_bytes(p + n, rr->event_id, strlen(rr->event_id));
        n += put_bytes(p + n, rr->source, strlen(rr->source));
        n += sl_avro_long_encode(rr->attempt, p + n);
        n += sl_avro_long_encode(rr->due_at, p + n);
        n += put_bytes(p + n, rr->reason, strlen(rr->reason));
        n += put_bytes(p + n, rr->envelope, rr->envelope_len);
        *out = p;
        *out_len = n;
        return SL_OK;
}

/* Read a length-prefixed field into the arena as a NUL-terminated string. */
static int get_bytes(const unsigned char *buf, size_t len, size_t *off, char **arena,
                     const char **out, size_t *out_len)
{
        int64_t l;
        size_t r = sl_avro_long_decode(buf + *off, len - *off, &l);
        if (!r || l < 0 || (uint64_t)l > len - *off - r)
                return SL_ERR_DECODE;
        *off += r;
        memcpy(*arena, buf + *off, (size_t)l);
        (*arena)[l] = '\0';
        *out = *arena;
        if (out_len)
                *out_len = (size_t)l;
        *arena += l + 1;
        *off += (size_t)l;
        return SL_OK;
}

int sl_retry_record_decode(const void *buf, size_t len, sl_retry_record_t *rr)
{
        const unsigned char *p = buf;
        size_t off = 0, r;
        const char *id, *env;
        int64_t v;
        char *arena;

        memset(rr, 0, sizeof(*rr));
        rr->arena_ = malloc(len + 8);
        if (!rr->arena_)
                return SL_ERR_NOMEM;
        arena = rr->arena_;
        if (get_bytes(p, len, &off, &arena, &id, NULL) ||
            get_bytes(p, len, &off, &arena, &rr->event_id, NULL) ||
            get_bytes(p, len, &off, &arena, &rr->source, NULL))
                goto fail;
        if (!(r = sl_avro_long_decode(p + off, len - off, &v)) || v < 0 || v > INT32_MAX)
                goto fail;
        rr->attempt = (int32_t)v;
        off += r;
        if (!(r = sl_avro_long_decode(p + off, len - off, &rr->due_at)))
                goto fail;
        off += r;
        if (get_bytes(p, len, &off, &arena, &rr->reason, NULL) ||
            get_bytes(p, len, &off, &arena, &env, &rr->envelope_len) || off != len)
                goto fail;
        rr->envelope = env;
        return SL_OK;
fail:
        sl_retry_record_clear(rr);
        return SL_ERR_DECODE;
}

void sl_retry_record_clear(sl_retry_record_t *rr)
{
        free(rr->arena_);
        memset(rr, 0, sizeof(*rr));
}
