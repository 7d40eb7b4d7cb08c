/* Unit tests for src/util/err.c: which error codes are retriable, and the words of
 * SL_ERR_PG_TRANSIENT (its value is shared with the Postgres session: -13). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sluice/err.h"

static void retriable_errors(void **state)
{
        (void)state;
        assert_true(sl_err_retriable(SL_ERR_PG_TRANSIENT));
        assert_true(sl_err_retriable(SL_ERR_TIMEOUT));
        assert_false(sl_err_retriable(SL_OK));
        assert_false(sl_err_retriable(SL_ERR_PG));
        assert_false(sl_err_retriable(SL_ERR_NOMEM));
        assert_false(sl_err_retriable(SL_ERR_KAFKA));
        assert_int_equal(SL_ERR_PG_TRANSIENT, -13);
        assert_string_equal(sl_err2str(SL_ERR_PG_TRANSIENT), "transient Postgres error");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(retriable_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
