/* Avro binary for admission changelog values (see admission_codec.h). */
#include "limits/admission_codec.h"

#include "sluice/err.h"
#include "util/varint.h"

size_t sl_admission_state_encode(const sl_source_state_t *st, unsigned char *buf)
{
        size_t n = 0;
        n += sl_avro_long_encode(st->window_start, buf + n);
        n += sl_avro_long_encode(st->count, buf + n);
        n += sl_avro_long_encode(st->throttled, buf + n);
        n += sl_avro_long_encode(st->paused_until, buf + n);
        n += sl_avro_long_encode(st->updated_at, buf + n);
        /* v2 */
        n += sl_avro_long_encode(st->dlq_window_start, buf + n);
        n += sl_avro_long_encode(st->dlq_seen, buf + n);
        n += sl_avro_long_encode(st->dlq_dead, buf + n);
        n += sl_avro_long_encode(st->pause_cause, buf + n); /* an Avro enum: its index */
        return n;
}

/* Decode n longs into fields from buf at *off. */
static int decode_longs(const unsigned char *p, size_t len, size_t *off,
                        int64_t *const *fields, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                size_t r = sl_avro_long_decode(p + *off, len - *off, fields[i]);
                if (!r)
                        return SL_ERR_DECODE;
                *off += r;
        }
        return SL_OK;
}

int sl_admission_state_decode(const void *buf, size_t len, sl_source_state_t *st)
{
        int64_t *const v1[] = {&st->window_start, &st->count, &st->throttled,
                               &st->paused_until, &st->updated_at};
        int64_t *const v2[] = {&st->dlq_window_start, &st->dlq_seen, &st->dlq_dead,
                               &st->pause_cause};
        size_t off = 0;

        if (decode_longs(buf, len, &off, v1, sizeof(v1) / sizeof(v1[0])) != SL_OK)
                return SL_ERR_DECODE;
        if (off == len) { /* v1: written before the source breaker */
                for (size_t i = 0; i < sizeof(v2) / sizeof(v2[0]); i++)
                        *v2[i] = 0;
                return SL_OK;
        }
        if (decode_longs(buf, len, &off, v2, sizeof(v2) / sizeof(v2[0])) != SL_OK ||
            st->pause_cause < 0 || st->pause_cause >= SL_PAUSE_CAUSE__CNT)
                return SL_ERR_DECODE;
        return off == len ? SL_OK : SL_ERR_DECODE;
}

size_t sl_admission_progress_encode(int64_t offset, unsigned char *buf)
{
        return sl_avro_long_encode(offset, buf);
}

int sl_admission_progress_decode(const void *buf, size_t len, int64_t *offset)
{
        size_t r = sl_avro_long_decode(buf, len, offset);
        return r && r == len ? SL_OK : SL_ERR_DECODE;
}
