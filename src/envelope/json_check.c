/*
 * The hot-path payload check: is this text a JSON object that Postgres jsonb will
 * accept?  A strict RFC 8259 recogniser that allocates nothing and builds nothing:
 * valid UTF-8, no raw control characters in strings, no \u0000 escape and no unpaired
 * surrogate escape (jsonb rejects both), numbers exactly per the grammar and within
 * what numeric can hold, nesting at most SL_JSON_MAX_DEPTH, and an object at the top.
 * Payload schemas, which need the values, parse with jansson instead (payload_schema.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "envelope/envelope_int.h"
#include "util/utf8.h"

/* Postgres numeric input (checked against Postgres 15): at most 131072 digits before
 * the point and 16383 after it once the exponent is applied.  Counting the written
 * digits makes this slightly stricter than Postgres for numbers with leading zeros. */
#define SL_NUMERIC_MAX_EXP    1000000000L /* only to keep the arithmetic in range */
#define SL_NUMERIC_MAX_WEIGHT 131072
#define SL_NUMERIC_MAX_SCALE  16383

typedef struct sl_js_s {
        const unsigned char *p, *end, *start;
        char *msg;
        size_t msg_size;
        int depth;
} sl_js_t;

static int sl_js_fail(sl_js_t *js, const char *fmt, ...)
{
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(js->msg, js->msg_size, "payload is not valid JSON: %s at byte %td", what,
                 js->p - js->start);
        return -1;
}

static inline void sl_js_ws(sl_js_t *js)
{
        while (js->p < js->end &&
               (*js->p == ' ' || *js->p == '\n' || *js->p == '\r' || *js->p == '\t'))
                js->p++;
}

static int sl_js_hex4(sl_js_t *js, unsigned *out)
{
        unsigned v = 0;
        if (js->end - js->p < 4)
                return sl_js_fail(js, "truncated \\u escape");
        for (int i = 0; i < 4; i++) {
                unsigned c = js->p[i], d;
                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        d = c - 'A' + 10;
                else
                        return sl_js_fail(js, "bad \\u escape");
                v = v << 4 | d;
        }
        js->p += 4;
        *out = v;
        return 0;
}

/* Bytes that stand for themselves inside a string: printable ASCII but '"' and '\\'. */
/* clang-format off */
static const unsigned char sl_js_plain[256] = {
#define SL_R8(x) x, x, x, x, x, x, x, x
#define SL_R32(x) SL_R8(x), SL_R8(x), SL_R8(x), SL_R8(x)
        SL_R32(0),                                     /* 0x00-0x1f */
        1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
        SL_R8(1), SL_R8(1),                            /* 0x30-0x3f */
        SL_R8(1), SL_R8(1), SL_R8(1),                  /* 0x40-0x57 */
        1, 1, 1, 1, 0, 1, 1, 1,                        /* 0x58-0x5f: '\\' */
        SL_R32(1),                                     /* 0x60-0x7f */
        SL_R32(0), SL_R32(0), SL_R32(0), SL_R32(0),    /* 0x80-0xff */
#undef SL_R32
#undef SL_R8
};
/* clang-format on */

static int sl_js_string(sl_js_t *js)
{
        js->p++; /* the opening quote */
        for (;;) {
                while (js->p < js->end && sl_js_plain[*js->p])
                        js->p++;
                if (js->p >= js->end)
                        return sl_js_fail(js, "unterminated string");
                unsigned c = *js->p;
                if (c == '"') {
                        js->p++;
                        return 0;
                }
                if (c < 0x20)
                        return sl_js_fail(js, "control character 0x%02x in a string", c);
                if (c >= 0x80) {
                        /* one multi-byte sequence: check it, then go on */
                        size_t seq = sl_utf8_seq(js->p, (size_t)(js->end - js->p));
                        if (!seq)
                                return sl_js_fail(js, "invalid UTF-8");
                        js->p += seq;
                        continue;
                }
                /* backslash */
                js->p++;
                if (js->p >= js->end)
                        return sl_js_fail(js, "unterminated string");
                switch (*js->p) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                        js->p++;
                        break;
                case 'u': {
                        unsigned cp, lo;
                        js->p++;
                        if (sl_js_hex4(js, &cp))
                                return -1;
                        if (cp == 0)
                                return sl_js_fail(js,
                                                  "\\u0000 (Postgres jsonb rejects it)");
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                return sl_js_fail(js, "unpaired low surrogate \\u%04x",
                                                  cp);
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (js->end - js->p < 2 || js->p[0] != '\\' ||
                                    js->p[1] != 'u')
                                        return sl_js_fail(
                                            js, "unpaired high surrogate \\u%04x", cp);
                                js->p += 2;
                                if (sl_js_hex4(js, &lo))
                                        return -1;
                                if (lo < 0xDC00 || lo > 0xDFFF)
                                        return sl_js_fail(
                                            js, "unpaired high surrogate \\u%04x", cp);
                        }
                        break;
                }
                default:
                        return sl_js_fail(js, "bad escape \\%c", *js->p);
                }
        }
}

static int sl_js_digits(sl_js_t *js, long *cnt)
{
        const unsigned char *s = js->p;
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
                js->p++;
        *cnt = (long)(js->p - s);
        return *cnt ? 0 : sl_js_fail(js, "expected a digit");
}

static int sl_js_number(sl_js_t *js)
{
        long int_digits = 0, frac_digits = 0, exp = 0;

        if (*js->p == '-')
                js->p++;
        if (js->p < js->end && *js->p == '0') {
                js->p++;
                int_digits = 0; /* a leading zero adds no weight */
        } else if (sl_js_digits(js, &int_digits)) {
                return -1;
        }
        if (js->p < js->end && *js->p == '.') {
                js->p++;
                if (sl_js_digits(js, &frac_digits))
                        return -1;
        }
        if (js->p < js->end && (*js->p == 'e' || *js->p == 'E')) {
                int neg = 0;
                js->p++;
                if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
                        neg = *js->p++ == '-';
                const unsigned char *s = js->p;
                long nd;
                if (sl_js_digits(js, &nd))
                        return -1;
                for (; s < js->p; s++) {
                        exp = exp * 10 + (*s - '0');
                        if (exp > SL_NUMERIC_MAX_EXP)
                                exp = SL_NUMERIC_MAX_EXP;
                }
                if (neg)
                        exp = -exp;
        }
        if (int_digits + exp > SL_NUMERIC_MAX_WEIGHT ||
            frac_digits - exp > SL_NUMERIC_MAX_SCALE)
                return sl_js_fail(js, "number too large for Postgres numeric");
        return 0;
}

static int sl_js_value(sl_js_t *js);

static int sl_js_object(sl_js_t *js)
{
        js->p++;
        sl_js_ws(js);
        if (js->p < js->end && *js->p == '}') {
                js->p++;
                return 0;
        }
        for (;;) {
                if (js->p >= js->end || *js->p != '"')
                        return sl_js_fail(js, "expected a member name");
                if (sl_js_string(js))
                        return -1;
                sl_js_ws(js);
                if (js->p >= js->end || *js->p != ':')
                        return sl_js_fail(js, "expected ':'");
                js->p++;
                sl_js_ws(js);
                if (sl_js_value(js))
                        return -1;
                sl_js_ws(js);
                if (js->p < js->end && *js->p == ',') {
                        js->p++;
                        sl_js_ws(js);
                        continue;
                }
                if (js->p < js->end && *js->p == '}') {
                        js->p++;
                        return 0;
                }
                return sl_js_fail(js, "expected ',' or '}'");
        }
}

static int sl_js_array(sl_js_t *js)
{
        js->p++;
        sl_js_ws(js);
        if (js->p < js->end && *js->p == ']') {
                js->p++;
                return 0;
        }
        for (;;) {
                if (sl_js_value(js))
                        return -1;
                sl_js_ws(js);
                if (js->p < js->end && *js->p == ',') {
                        js->p++;
                        sl_js_ws(js);
                        continue;
                }
                if (js->p < js->end && *js->p == ']') {
                        js->p++;
                        return 0;
                }
                return sl_js_fail(js, "expected ',' or ']'");
        }
}

static int sl_js_literal(sl_js_t *js, const char *lit, size_t n)
{
        if ((size_t)(js->end - js->p) < n || memcmp(js->p, lit, n))
                return sl_js_fail(js, "unexpected character");
        js->p += n;
        return 0;
}

static int sl_js_value(sl_js_t *js)
{
        int rc;
        if (js->p >= js->end)
                return sl_js_fail(js, "unexpected end");
        switch (*js->p) {
        case '{':
        case '[':
                if (++js->depth > SL_JSON_MAX_DEPTH)
                        return sl_js_fail(js, "nested deeper than %d", SL_JSON_MAX_DEPTH);
                rc = *js->p == '{' ? sl_js_object(js) : sl_js_array(js);
                js->depth--;
                return rc;
        case '"':
                return sl_js_string(js);
        case 't':
                return sl_js_literal(js, "true", 4);
        case 'f':
                return sl_js_literal(js, "false", 5);
        case 'n':
                return sl_js_literal(js, "null", 4);
        default:
                if (*js->p == '-' || (*js->p >= '0' && *js->p <= '9'))
                        return sl_js_number(js);
                return sl_js_fail(js, "unexpected character");
        }
}

sl_reject_code_t sl__json_check_object(const char *p, size_t n, char *msg,
                                       size_t msg_size)
{
        sl_js_t js = {.p = (const unsigned char *)p,
                      .end = (const unsigned char *)p + n,
                      .start = (const unsigned char *)p,
                      .msg = msg,
                      .msg_size = msg_size};

        sl_js_ws(&js);
        if (js.p >= js.end) {
                snprintf(msg, msg_size, "payload is empty, not a JSON object");
                return SL_REJECT_PAYLOAD_NOT_JSON;
        }
        unsigned first = *js.p;
        if (sl_js_value(&js))
                return SL_REJECT_PAYLOAD_NOT_JSON;
        sl_js_ws(&js);
        if (js.p != js.end) {
                sl_js_fail(&js, "trailing characters");
                return SL_REJECT_PAYLOAD_NOT_JSON;
        }
        if (first != '{') {
                snprintf(msg, msg_size, "payload is a JSON %s, not an object",
                         first == '['                   ? "array"
                         : first == '"'                 ? "string"
                         : first == 't' || first == 'f' ? "boolean"
                         : first == 'n'                 ? "null"
                                                        : "number");
                return SL_REJECT_PAYLOAD_NOT_OBJECT;
        }
        return SL_REJECT_NONE;
}
