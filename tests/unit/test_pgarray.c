/* Unit tests for src/pg/pgarray.c: array literals Postgres parses back exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg/pgarray.h"

static void numbers_and_text(void **state)
{
        sl_pgarr_t a = {0};
        (void)state;

        sl_pgarr_begin(&a);
        assert_string_equal(sl_pgarr_end(&a), "{}");
        sl_pgarr_begin(&a);
        sl_pgarr_num(&a, 1);
        sl_pgarr_num(&a, -9223372036854775807LL);
        assert_string_equal(sl_pgarr_end(&a), "{1,-9223372036854775807}");
        sl_pgarr_begin(&a);
        sl_pgarr_text(&a, "plain");
        sl_pgarr_text(&a, "a\"b\\c,{d} e");
        sl_pgarr_text(&a, NULL);
        sl_pgarr_text(&a, "");
        sl_pgarr_text(&a, "NULL");
        assert_string_equal(sl_pgarr_end(&a),
                            "{\"plain\",\"a\\\"b\\\\c,{d} e\",NULL,\"\",\"NULL\"}");
        sl_pgarr_free(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(numbers_and_text)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
