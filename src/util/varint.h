/*
 * Avro's long encoding (a zig-zag varint, at most 10 bytes): the one writer and reader
 * for the envelope codec, the admission state changelog and the retry record.  Inline,
 * as the envelope decoder reads several per event.  The reader is strict: a tenth byte
 * with more than the top bit of a 64-bit value is refused, not wrapped.
 */
#ifndef SL_UTIL_VARINT_H
#define SL_UTIL_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define SL_AVRO_LONG_MAX 10 /* bytes an encoded long can take */

/* v into buf (at least SL_AVRO_LONG_MAX bytes); returns the bytes written (1..10). */
static inline size_t sl_avro_long_encode(int64_t v, unsigned char *buf)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        size_t n = 0;

        while (z >= 0x80) {
                buf[n++] = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        buf[n++] = (unsigned char)z;
        return n;
}

/* *v from the len bytes at buf; returns the bytes read (1..10), or 0 when the input is
 * truncated (no last byte within len) or overflows 64 bits (then len >= 10). */
static inline size_t sl_avro_long_decode(const unsigned char *buf, size_t len, int64_t *v)
{
        uint64_t z = 0;

        for (size_t i = 0; i < len && i < SL_AVRO_LONG_MAX; i++) {
                if (i == SL_AVRO_LONG_MAX - 1 && (buf[i] & 0xfe))
                        return 0;
                z |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
                if (!(buf[i] & 0x80)) {
                        *v = (int64_t)((z >> 1) ^ (0 - (z & 1)));
                        return i + 1;
                }
        }
        return 0;
}

#endif
