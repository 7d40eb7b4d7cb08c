/*
 * Growing an array by doubling: the one place that does the arithmetic, the overflow
 * check and the realloc for the stages' and runtime's vectors.
 */
#ifndef SL_UTIL_ARRAY_H
#define SL_UTIL_ARRAY_H

#include <stddef.h>

/* Room for at least need elements (at least one) of elem bytes in v, whose capacity is
 * *cap: returns v itself when it has the room, else v moved to a larger block (capacity
 * doubled from *cap, or first when 0, until it holds need) with *cap updated; NULL when
 * out of memory or on overflow, v and *cap untouched. */
void *sl_array_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first);

#endif
