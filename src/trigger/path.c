/*
 * Field paths: parsing into one compact block and resolving against an event without
 * allocation (see path.h), plus the string-literal decoder and the error shape the
 * filter and template parsers share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "trigger/path.h"

#define SL_PATH_MAX_STEPS 64

void sl__trigger_errf(char *errstr, size_t errstr_size, size_t pos, const char *fmt, ...)
{
        va_list ap;
        int n;
        if (!errstr || errstr_size == 0)
                return;
        n = snprintf(errstr, errstr_size, "at %zu: ", pos);
        if (n < 0 || (size_t)n >= errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
        va_end(ap);
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Four hex digits at s, or -1. */
static long hex4(const char *s)
{
        long v = 0;
        for (int k = 0; k < 4; k++) {
                int h = hexval(s[k]);
                if (h < 0)
                        return -1;
                v = v * 16 + h;
        }
        return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
        if (cp < 0x80) {
                o[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

int sl__trigger_string(const char *text, size_t *pos, char **out, size_t *out_len,
                       char *errstr, size_t errstr_size)
{
        size_t start = *pos, i = start + 1, end;
        char *buf, *o;

        /* Find the closing quote first: the decoded text is never longer. */
        for (end = i; text[end] != '"'; end++) {
                if (text[end] == '\0') {
                        *pos = start;
                        sl__trigger_errf(errstr, errstr_size, start,
                                         "unterminated string");
                        return SL_ERR_INVALID;
                }
                if (text[end] == '\\' && text[end + 1] != '\0')
                        end++;
        }
        buf = malloc(end - i + 1);
        if (!buf)
                return SL_ERR_NOMEM;
        o = buf;
        while (i < end) {
                unsigned char c = (unsigned char)text[i];
                if (c < 0x20) {
                        sl__trigger_errf(errstr, errstr_size, i,
                                         "control character in a string (write \\u%04x)",
                                         c);
                        goto fail_at_i;
                }
                if (c != '\\') {
                        *o++ = (char)c;
                        i++;
                        continue;
                }
                char e = text[i + 1];
                static const char names[] = "\"\\/bfnrt", chars[] = "\"\\/\b\f\n\r\t";
                const char *simple = strchr(names, e);
                if (e != '\0' && simple) {
                        *o++ = chars[simple - names];
                        i += 2;
                        continue;
                }
                if (e != 'u') {
                        sl__trigger_errf(errstr, errstr_size, i,
                                         "bad escape in a string");
                        goto fail_at_i;
                }
                long cp = i + 6 <= end ? hex4(text + i + 2) : -1;
                size_t len = 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                        long lo =
                            i + 12 <= end && text[i + 6] == '\\' && text[i + 7] == 'u'
                                ? hex4(text + i + 8)
                                : -1;
                        if (lo < 0xDC00 || lo > 0xDFFF)
                                cp = -1;
                        else
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        len = 12;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        cp = -1;
                }
                if (cp < 0) {
                        sl__trigger_errf(errstr, errstr_size, i,
                                         "bad \\u escape in a string");
                        goto fail_at_i;
                }
                o += put_utf8(o, (unsigned long)cp);
                i += len;
        }
        *o = '\0';
        *out = buf;
        *out_len = (size_t)(o - buf);
        *pos = end + 1;
        return SL_OK;

fail_at_i:
        free(buf);
        *pos = i;
        return SL_ERR_INVALID;
}

static const struct {
        const char *name;
        sl_path_root_t root;
} roots[] = {
    {"id", SL_PATH_ID},
    {"type", SL_PATH_TYPE},
    {"source", SL_PATH_SOURCE},
    {"occurred_at", SL_PATH_OCCURRED_AT},
    {"correlation_id", SL_PATH_CORRELATION_ID},
    {"metadata", SL_PATH_METADATA},
    {"payload", SL_PATH_PAYLOAD},
};

static bool is_name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A step while parsing: a key (a slice of the text, or a decoded copy) or an index. */
typedef struct step_tmp_s {
        const char *key;
        size_t key_len;
        char *owned;
        uint32_t index;
} step_tmp_t;

int sl_path_parse(const char *text, size_t *pos, sl_path_t *p, char *errstr,
                  size_t errstr_size)
{
        step_tmp_t tmp[SL_PATH_MAX_STEPS];
        size_t i = *pos, n = 0, name_len = 0, block;
        int err = SL_ERR_INVALID;
        bool found = false;

        while (is_name_char(text[i + name_len]))
                name_len++;
        for (size_t r = 0; r < sizeof(roots) / sizeof(roots[0]); r++) {
                if (strlen(roots[r].name) == name_len &&
                    memcmp(roots[r].name, text + i, name_len) == 0) {
                        p->root = roots[r].root;
                        found = true;
                }
        }
        if (!found) {
                if (name_len == 0)
                        sl__trigger_errf(errstr, errstr_size, i, "expected a field");
                else
                        sl__trigger_errf(
                            errstr, errstr_size, i,
                            "unknown field '%.*s' (payload.…, metadata.…, id, "
                            "type, source, occurred_at, correlation_id)",
                            (int)name_len, text + i);
                *pos = i;
                return SL_ERR_INVALID;
        }
        i += name_len;
        while (text[i] == '.' || text[i] == '[') {
                size_t at = i;
                step_tmp_t *s = &tmp[n];
                if (p->root != SL_PATH_PAYLOAD &&
                    (p->root != SL_PATH_METADATA || n == 1)) {
                        sl__trigger_errf(errstr, errstr_size, at, "%s",
                                         p->root == SL_PATH_METADATA
                                             ? "metadata takes one key"
                                             : "an envelope field has no members");
                        goto fail;
                }
                if (n == SL_PATH_MAX_STEPS) {
                        sl__trigger_errf(errstr, errstr_size, at,
                                         "path longer than %d steps", SL_PATH_MAX_STEPS);
                        goto fail;
                }
                memset(s, 0, sizeof(*s));
                if (text[i] == '.') {
                        i++;
                        while (is_name_char(text[i]))
                                i++;
                        if (i == at + 1) {
                                sl__trigger_errf(errstr, errstr_size, i,
                                                 "expected a member name after '.'");
                                goto fail;
                        }
                        s->key = text + at + 1;
                        s->key_len = i - at - 1;
                } else if (text[i + 1] == '"') {
                        i++;
                        err = sl__trigger_string(text, &i, &s->owned, &s->key_len, errstr,
                                                 errstr_size);
                        if (err != SL_OK)
                                goto fail;
                        err = SL_ERR_INVALID;
                        s->key = s->owned;
                        if (memchr(s->owned, '\0', s->key_len)) {
                                i = at + 1;
                                sl__trigger_errf(errstr, errstr_size, i,
                                                 "a member name holds \\u0000");
                                free(s->owned);
                                goto fail;
                        }
                } else {
                        uint64_t v = 0;
                        i++;
                        if (text[i] < '0' || text[i] > '9') {
                                sl__trigger_errf(
                                    errstr, errstr_size, i,
                                    "expected an index or a \"key\" after '['");
                                goto fail;
                        }
                        while (text[i] >= '0' && text[i] <= '9' && v <= INT32_MAX)
                                v = v * 10 + (uint64_t)(text[i++] - '0');
                        if (v > INT32_MAX) {
                                i = at + 1;
                                sl__trigger_errf(errstr, errstr_size, i,
                                                 "index too large");
                                goto fail;
                        }
                        s->index = (uint32_t)v;
                        if (p->root == SL_PATH_METADATA) {
                                i = at;
                                sl__trigger_errf(errstr, errstr_size, i,
                                                 "metadata keys are names, not indexes");
                                goto fail;
                        }
                }
                if (s->key == NULL || text[at] == '[') {
                        if (text[i] != ']') {
                                sl__trigger_errf(errstr, errstr_size, i, "expected ']'");
                                free(s->owned);
                                goto fail;
                        }
                        i++;
                }
                n++;
        }
        if (p->root == SL_PATH_METADATA && n == 0) {
                sl__trigger_errf(errstr, errstr_size, i,
                                 "metadata needs a key (metadata.KEY)");
                goto fail;
        }

        /* One block: the steps, then their keys. */
        block = n * sizeof(sl_path_step_t);
        for (size_t k = 0; k < n; k++)
                if (tmp[k].key)
                        block += tmp[k].key_len + 1;
        p->nsteps = (uint32_t)n;
        p->steps = NULL;
        if (n > 0) {
                char *keys;
                p->steps = malloc(block);
                if (!p->steps) {
                        err = SL_ERR_NOMEM;
                        goto fail;
                }
                keys = (char *)(p->steps + n);
                for (size_t k = 0; k < n; k++) {
                        p->steps[k].key = NULL;
                        p->steps[k].index = tmp[k].index;
                        if (tmp[k].key) {
                                memcpy(keys, tmp[k].key, tmp[k].key_len);
                                keys[tmp[k].key_len] = '\0';
                                p->steps[k].key = keys;
                                keys += tmp[k].key_len + 1;
                        }
                        free(tmp[k].owned);
                }
        }
        *pos = i;
        return SL_OK;

fail:
        for (size_t k = 0; k < n; k++)
                free(tmp[k].owned);
        *pos = i;
        return err;
}

void sl_path_close(sl_path_t *p)
{
        if (!p)
                return;
        free(p->steps);
        p->steps = NULL;
        p->nsteps = 0;
}

void sl_value_of_json(const json_t *j, sl_value_t *out)
{
        memset(out, 0, sizeof(*out));
        out->json = j;
        switch (json_typeof(j)) {
        case JSON_NULL:
                out->kind = SL_VALUE_NULL;
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                out->kind = SL_VALUE_BOOL;
                out->b = json_is_true(j);
                break;
        case JSON_INTEGER:
                out->kind = SL_VALUE_NUMBER;
                out->is_int = true;
                out->i = (int64_t)json_integer_value(j);
                out->d = (double)out->i;
                break;
        case JSON_REAL:
                out->kind = SL_VALUE_NUMBER;
                out->d = json_real_value(j);
                break;
        case JSON_STRING:
                out->kind = SL_VALUE_STRING;
                out->s = json_string_value(j);
                out->len = json_string_length(j);
                break;
        default:
                out->kind = SL_VALUE_JSON;
                break;
        }
}

static void value_str(const char *s, sl_value_t *out)
{
        if (!s)
                return; /* missing */
        out->kind = SL_VALUE_STRING;
        out->s = s;
        out->len = strlen(s);
}

void sl_path_resolve(const sl_path_t *p, const sl_envelope_t *env, const json_t *payload,
                     sl_value_t *out)
{
        const json_t *j = payload;

        memset(out, 0, sizeof(*out)); /* SL_VALUE_MISSING */
        switch (p->root) {
        case SL_PATH_ID:
                value_str(env->id, out);
                return;
        case SL_PATH_TYPE:
                value_str(env->type, out);
                return;
        case SL_PATH_SOURCE:
                value_str(env->source, out);
                return;
        case SL_PATH_CORRELATION_ID:
                value_str(env->correlation_id, out);
                return;
        case SL_PATH_OCCURRED_AT:
                out->kind = SL_VALUE_NUMBER;
                out->is_int = true;
                out->i = env->occurred_at;
                out->d = (double)env->occurred_at;
                return;
        case SL_PATH_METADATA:
                for (size_t k = 0; k < env->meta_cnt; k++)
                        if (strcmp(env->meta_keys[k], p->steps[0].key) == 0) {
                                value_str(env->meta_vals[k], out);
                                return;
                        }
                return;
        case SL_PATH_PAYLOAD:
                for (uint32_t k = 0; j && k < p->nsteps; k++) {
                        const sl_path_step_t *s = &p->steps[k];
                        if (s->key)
                                j = json_is_object(j) ? json_object_get(j, s->key) : NULL;
                        else
                                j = json_is_array(j) ? json_array_get(j, s->index) : NULL;
                }
                if (j)
                        sl_value_of_json(j, out);
                return;
        }
}
