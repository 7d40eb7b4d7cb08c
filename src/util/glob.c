/* Glob matching with '*' and '?' only (see glob.h). */
#include "util/glob.h"

#include <string.h>

bool sl_glob_match(const char *pattern, const char *s)
{
        const char *p = pattern, *star = NULL, *resume = NULL;

        while (*s) {
                if (*p == '*') {
                        /* Remember where to retry: the star takes one more byte. */
                        star = ++p;
                        resume = s;
                } else if (*p == '?' || (*p != '\0' && *p == *s)) {
                        p++;
                        s++;
                } else if (star) {
                        p = star;
                        s = ++resume;
                } else {
                        return false;
                }
        }
        while (*p == '*')
                p++;
        return *p == '\0';
}

bool sl_glob_is_glob(const char *pattern)
{
        return strpbrk(pattern, "*?") != NULL;
}
