/* UUID text <-> bytes (see uuid.h). */
#include "util/uuid.h"

#include <string.h>

#include <uuid/uuid.h>

#include "sluice/err.h"

/* Hex digit values plus one, 0 for anything else: one load per character, no branches
 * to mispredict on random ids. */
static const uint8_t hexval1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16};

/* The position of the first of each byte's two hex digits in the text form. */
static const uint8_t byte_at[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                    19, 21, 24, 26, 28, 30, 32, 34};

int sl_uuid_parse(const char *s, uint8_t out[16])
{
        uint8_t b[16];
        unsigned bad = 0;

        if (!s || strnlen(s, SL_UUID_STRLEN + 1) != SL_UUID_STRLEN || s[8] != '-' ||
            s[13] != '-' || s[18] != '-' || s[23] != '-')
                return SL_ERR_INVALID;
        for (int i = 0; i < 16; i++) {
                unsigned hi = hexval1[(unsigned char)s[byte_at[i]]];
                unsigned lo = hexval1[(unsigned char)s[byte_at[i] + 1]];
                bad |= (hi == 0) | (lo == 0);
                b[i] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 15));
        }
        if (bad)
                return SL_ERR_INVALID;
        memcpy(out, b, 16);
        return SL_OK;
}

bool sl_uuid_valid(const char *s)
{
        uint8_t b[16];
        return sl_uuid_parse(s, b) == SL_OK;
}

void sl_uuid_format(const uint8_t in[16], char out[SL_UUID_STRLEN + 1])
{
        static const char digits[] = "0123456789abcdef";
        char *p = out;

        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = digits[in[i] >> 4];
                *p++ = digits[in[i] & 15];
        }
        *p = '\0';
}

void sl_uuid_random(char out[SL_UUID_STRLEN + 1])
{
        uuid_t u;

        uuid_generate_random(u);
        sl_uuid_format(u, out);
}
