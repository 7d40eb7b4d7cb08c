/* Unit tests for src/util/array.c: growing by doubling, from the first capacity, to a
 * need past one doubling, and refusing (v untouched) on overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/array.h"

static void grows_by_doubling(void **state)
{
        size_t cap = 0;
        int *v = NULL;
        (void)state;

        v = sl_array_grow(v, &cap, 0, sizeof(*v), 16);
        assert_non_null(v); /* no need still gets a block: NULL only means failure */
        assert_int_equal(cap, 16);
        v = sl_array_grow(v, &cap, 1, sizeof(*v), 16);
        assert_non_null(v);
        assert_int_equal(cap, 16);
        for (int i = 0; i < 16; i++)
                v[i] = i;
        int *same = sl_array_grow(v, &cap, 16, sizeof(*v), 16);
        assert_ptr_equal(same, v); /* room already */
        assert_int_equal(cap, 16);
        v = sl_array_grow(v, &cap, 17, sizeof(*v), 16);
        assert_non_null(v);
        assert_int_equal(cap, 32);
        for (int i = 0; i < 16; i++)
                assert_int_equal(v[i], i); /* kept across the move */
        v = sl_array_grow(v, &cap, 1000, sizeof(*v), 16);
        assert_non_null(v);
        assert_int_equal(cap, 1024); /* doubled until it holds the need */
        free(v);
}

static void overflow_refused(void **state)
{
        size_t cap = 8;
        char *v = malloc(8);
        (void)state;

        assert_non_null(v);
        memcpy(v, "1234567", 8);
        assert_null(sl_array_grow(v, &cap, SIZE_MAX, 1, 8));
        assert_null(sl_array_grow(v, &cap, SIZE_MAX / 4, 8, 8));
        assert_int_equal(cap, 8);
        assert_string_equal(v, "1234567"); /* still the caller's */
        free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(grows_by_doubling),
            cmocka_unit_test(overflow_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
