/* Growing an array by doubling (see array.h). */
#include "util/array.h"

#include <stdint.h>
#include <stdlib.h>

void *sl_array_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first)
{
        size_t n = *cap ? *cap : (first ? first : 1);

        if (!need)
                need = 1; /* so that NULL always means failure, even for no need */
        if (need <= *cap)
                return v;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        return NULL;
                n *= 2;
        }
        if (n > SIZE_MAX / elem)
                return NULL;
        void *p = realloc(v, n * elem);
        if (p)
                *cap = n;
        return p;
}
