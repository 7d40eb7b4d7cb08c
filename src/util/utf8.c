/*
 * UTF-8 checking for every string sluice hands to Postgres (see utf8.h): text and
 * jsonb refuse invalid UTF-8 and NUL bytes, and one such row fails a whole COPY batch,
 * so they are stopped (envelope) or replaced (dead letters) before.
 */
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

#define SL_ONES  0x0101010101010101ULL
#define SL_HIGHS 0x8080808080808080ULL

size_t sl_utf8_seq(const unsigned char *p, size_t left)
{
        unsigned c = p[0];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;

        if (c < 0x80)
                return c ? 1 : 0;
        if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90; /* overlong */
                else if (c == 0xF4)
                        hi = 0x8F; /* above U+10FFFF */
        } else {
                return 0;
        }
        if (left <= need)
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i <= need; i++)
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
        return need + 1;
}

ptrdiff_t sl_utf8_check(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + n;

        while (p < end) {
                if ((size_t)(end - p) >= 8) {
                        uint64_t w;
                        memcpy(&w, p, 8);
                        /* no high bit and no zero byte: eight plain ASCII characters */
                        if (!(w & SL_HIGHS) && !((w - SL_ONES) & ~w & SL_HIGHS)) {
                                p += 8;
                                continue;
                        }
                }
                size_t len = sl_utf8_seq(p, (size_t)(end - p));
                if (!len)
                        return (const char *)p - s;
                p += len;
        }
        return -1;
}
