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
        return n;
}

int sl_admission_state_decode(const void *buf, size_t len, sl_source_state_t *st)
{
        const unsigned char *p = buf;
        int64_t *fields[] = {&st->window_start, &st->count, &st->throttled,
                             &st->paused_until, &st->updated_at};
        size_t off = 0;

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                size_t r = sl_avro_long_decode(p + off, len - off, fields[i]);
                if (!r)
                        return SL_ERR_DECODE;
                off += r;
        }
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
