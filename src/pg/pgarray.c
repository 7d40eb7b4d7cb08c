/* Postgres array literal builder (see pgarray.h). */
#include "pg/pgarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/fatal.h"

static void put(sl_pgarr_t *a, const char *s, size_t n)
{
        if (!(a->p = sl_array_grow(a->p, &a->cap, a->len + n + 2, 1, 1024)))
                sl_oom("Postgres array literal");
        memcpy(a->p + a->len, s, n);
        a->len += n;
        a->p[a->len] = '\0';
}

void sl_pgarr_begin(sl_pgarr_t *a)
{
        a->len = 0;
        a->n = 0;
        put(a, "{", 1);
}

static void sep(sl_pgarr_t *a)
{
        if (a->n++)
                put(a, ",", 1);
}

void sl_pgarr_num(sl_pgarr_t *a, long long v)
{
        char num[32];
        int n = snprintf(num, sizeof(num), "%lld", v);
        sep(a);
        put(a, num, (size_t)n);
}

void sl_pgarr_text(sl_pgarr_t *a, const char *s)
{
        sep(a);
        if (!s) {
                put(a, "NULL", 4);
                return;
        }
        put(a, "\"", 1);
        for (const char *run = s;; s++) {
                if (*s == '"' || *s == '\\' || !*s) {
                        put(a, run, (size_t)(s - run));
                        if (!*s)
                                break;
                        put(a, "\\", 1);
                        put(a, s, 1);
                        run = s + 1;
                }
        }
        put(a, "\"", 1);
}

const char *sl_pgarr_end(sl_pgarr_t *a)
{
        put(a, "}", 1);
        return a->p;
}

void sl_pgarr_free(sl_pgarr_t *a)
{
        free(a->p);
        memset(a, 0, sizeof(*a));
}
