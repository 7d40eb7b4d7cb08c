/*
 * admin.tokens parsing and the constant-time lookup (tokens.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/tokens.h"

static bool name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool secret_char(char c)
{
        return c > ' ' && c < 0x7f && c != ',' && c != ':';
}

static int parse_scopes(const char *s, size_t len, unsigned *out)
{
        *out = 0;
        while (len) {
                const char *plus = memchr(s, '+', len);
                size_t n = plus ? (size_t)(plus - s) : len;

                if (n == 4 && memcmp(s, "read", 4) == 0)
                        *out |= SL_ADMIN_SCOPE_READ;
                else if (n == 7 && memcmp(s, "operate", 7) == 0)
                        *out |= SL_ADMIN_SCOPE_OPERATE;
                else
                        return -1;
                if (!plus)
                        break;
                len -= n + 1;
                s = plus + 1;
                if (!len)
                        return -1;
        }
        return *out ? 0 : -1;
}

int sl_admin_tokens_parse(const char *text, sl_admin_tokens_t *toks, char *errstr,
                          size_t errstr_size)
{
        const char *p = text ? text : "";
        size_t idx = 0;

        while (*p) {
                const char *end = strchr(p, ','), *c1, *c2;
                size_t len = end ? (size_t)(end - p) : strlen(p), nlen, slen;
                sl_admin_token_t *t, *v;

                idx++;
                c1 = memchr(p, ':', len);
                c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
                if (!c2) {
                        snprintf(errstr, errstr_size,
                                 "entry %zu is not NAME:SCOPES:SECRET", idx);
                        return -1;
                }
                nlen = (size_t)(c1 - p);
                slen = len - (size_t)(c2 + 1 - p);
                if (nlen == 0 || nlen > SL_ADMIN_TOKEN_NAME_MAX) {
                        snprintf(errstr, errstr_size,
                                 "entry %zu: NAME must be 1..%d characters", idx,
                                 SL_ADMIN_TOKEN_NAME_MAX);
                        return -1;
                }
                for (size_t i = 0; i < nlen; i++)
                        if (!name_char(p[i])) {
                                snprintf(errstr, errstr_size,
                                         "entry %zu: NAME may hold letters, digits, '.', "
                                         "'_' and '-' only",
                                         idx);
                                return -1;
                        }
                v = realloc(toks->v, (toks->cnt + 1) * sizeof(*v));
                if (!v) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                toks->v = v;
                t = &v[toks->cnt];
                memset(t, 0, sizeof(*t));
                memcpy(t->name, p, nlen);
                for (size_t i = 0; i < toks->cnt; i++)
                        if (strcmp(toks->v[i].name, t->name) == 0) {
                                snprintf(errstr, errstr_size,
                                         "entry %zu: token name '%s' given twice", idx,
                                         t->name);
                                return -1;
                        }
                if (parse_scopes(c1 + 1, (size_t)(c2 - c1 - 1), &t->scopes)) {
                        snprintf(errstr, errstr_size,
                                 "entry %zu (%s): SCOPES must be read, operate or "
                                 "read+operate",
                                 idx, t->name);
                        return -1;
                }
                if (slen < SL_ADMIN_TOKEN_SECRET_MIN ||
                    slen > SL_ADMIN_TOKEN_SECRET_MAX) {
                        snprintf(errstr, errstr_size,
                                 "entry %zu (%s): SECRET must be %d..%d characters", idx,
                                 t->name, SL_ADMIN_TOKEN_SECRET_MIN,
                                 SL_ADMIN_TOKEN_SECRET_MAX);
                        return -1;
                }
                for (size_t i = 0; i < slen; i++)
                        if (!secret_char(c2[1 + i])) {
                                snprintf(errstr, errstr_size,
                                         "entry %zu (%s): SECRET may hold printable "
                                         "ASCII only, without ',', ':' or spaces",
                                         idx, t->name);
                                return -1;
                        }
                memcpy(t->secret, c2 + 1, slen);
                t->secret_len = slen;
                for (size_t i = 0; i < toks->cnt; i++)
                        if (sl_admin_tokens_find(&(sl_admin_tokens_t){toks->v + i, 1},
                                                 t->secret, slen)) {
                                snprintf(errstr, errstr_size,
                                         "entry %zu (%s): the same SECRET as token '%s'",
                                         idx, t->name, toks->v[i].name);
                                return -1;
                        }
                toks->cnt++;
                p += len;
                if (*p == ',') {
                        p++;
                        if (!*p) {
                                snprintf(errstr, errstr_size, "ends with ','");
                                return -1;
                        }
                }
        }
        return 0;
}

void sl_admin_tokens_close(sl_admin_tokens_t *toks)
{
        if (!toks)
                return;
        if (toks->v)
                memset(toks->v, 0, toks->cnt * sizeof(*toks->v));
        free(toks->v);
        toks->v = NULL;
        toks->cnt = 0;
}

const sl_admin_token_t *sl_admin_tokens_find(const sl_admin_tokens_t *toks,
                                             const char *secret, size_t len)
{
        const sl_admin_token_t *found = NULL;

        for (size_t i = 0; i < toks->cnt; i++) {
                const sl_admin_token_t *t = &toks->v[i];
                volatile unsigned char diff = (unsigned char)(len != t->secret_len);

                /* Over the configured secret's whole length, the presented one read
                 * cyclically (and never past its end). */
                for (size_t j = 0; j < t->secret_len; j++) {
                        unsigned char b = len ? (unsigned char)secret[j % len] : 0;
                        diff |= (unsigned char)(b ^ (unsigned char)t->secret[j]);
                }
                if (diff == 0 && !found)
                        found = t;
        }
        return found;
}
