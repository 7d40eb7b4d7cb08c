/*
 * UTF-8 checking, the one copy: strict RFC 3629 (no overlong forms, no surrogates,
 * nothing above U+10FFFF) and NUL refused, as Postgres text and jsonb refuse both.
 * The envelope checks every string it carries with it; ingress uses the per-sequence
 * form to clean dead letters' bytes before they go into a text column.
 */
#ifndef SL_UTIL_UTF8_H
#define SL_UTIL_UTF8_H

#include <stddef.h>

/* Offset of the first byte that is NUL or breaks UTF-8, or -1 when all n bytes at s
 * are fine.  ASCII runs are checked eight bytes at a time. */
ptrdiff_t sl_utf8_check(const char *s, size_t n);

/* Length (1..4) of the valid UTF-8 sequence at s, of which left bytes are readable
 * (left >= 1), or 0 when it is invalid, truncated or a NUL. */
size_t sl_utf8_seq(const unsigned char *s, size_t left);

#endif
