/*
 * Glob patterns over names such as event types: '*' matches any run of characters
 * (also none, also dots), '?' exactly one byte; every other byte, '[' and '\\'
 * included, matches itself.  No character classes, no escapes: a pattern is what an
 * operator types for "order.*", and nothing in it means more than it shows.
 *
 * Pure functions, no allocation, linear-ish time (one backtrack point, so at most
 * O(len(pattern) * len(s)) steps even for "*a*a*a*b").
 */
#ifndef SL_UTIL_GLOB_H
#define SL_UTIL_GLOB_H

#include <stdbool.h>

/* True when s (NUL-terminated) matches pattern. */
bool sl_glob_match(const char *pattern, const char *s);

/* True when pattern contains '*' or '?' (else it only matches itself). */
bool sl_glob_is_glob(const char *pattern);

#endif
