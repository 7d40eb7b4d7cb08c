/* Retry backoff and tier choice (see backoff.h). */
#include "limits/backoff.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t sl_backoff_delay(const sl_backoff_t *b, int attempt, double u)
{
        double d = (double)b->initial_ms;

        if (attempt < 1)
                attempt = 1;
        for (int i = 1; i < attempt && d < (double)b->max_ms; i++)
                d *= b->multiplier;
        if (d > (double)b->max_ms)
                d = (double)b->max_ms;
        if (u < 0)
                u = 0;
        if (u >= 1)
                u = nextafter(1.0, 0.0);
        d *= 1.0 - b->jitter + 2.0 * b->jitter * u;
        if (d > (double)b->max_ms)
                d = (double)b->max_ms;
        return d < 0 ? 0 : (int64_t)d;
}

size_t sl_backoff_tier(const int64_t *tiers_ms, size_t n, int64_t delay_ms)
{
        size_t best = 0;
        for (size_t i = 0; i < n; i++)
                if (tiers_ms[i] <= delay_ms)
                        best = i;
        return best;
}

size_t sl_backoff_parse_tiers(const char *text, int64_t *tiers_ms, size_t cap)
{
        size_t n = 0;
        const char *p = text;

        if (!p)
                return 0;
        while (*p) {
                char *end;
                long long v;
                int64_t mult;

                while (*p == ' ')
                        p++;
                if (!isdigit((unsigned char)*p))
                        return 0;
                v = strtoll(p, &end, 10);
                p = end;
                if (strncmp(p, "ms", 2) == 0) {
                        mult = 1;
                        p += 2;
                } else if (*p == 's') {
                        mult = 1000;
                        p++;
                } else if (*p == 'm') {
                        mult = 60000;
                        p++;
                } else if (*p == 'h') {
                        mult = 3600000;
                        p++;
                } else {
                        return 0;
                }
                if (v <= 0 || n == cap || (n && v * mult <= tiers_ms[n - 1]))
                        return 0;
                tiers_ms[n++] = v * mult;
                while (*p == ' ')
                        p++;
                if (*p == ',')
                        p++;
                else if (*p)
                        return 0;
        }
        return n;
}
