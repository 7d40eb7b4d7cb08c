/* Unit tests for src/retry/idset.c: the set of (event id, attempt) sluice-retry keeps
 * for re-injected attempts whose 'due' mark has not landed: membership by id and
 * attempt, adding twice, clearing, growth past many rehashes against a reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry/idset.h"
#include "sluice/err.h"

/* A UUID-shaped id made from k (distinct k, distinct ids). */
static void id_of(unsigned k, char out[37])
{
        snprintf(out, 37, "%08x-0000-4000-8000-%012x", k * 2654435761u, k);
}

static void membership(void **state)
{
        sl_retry_idset_t s;
        char a[37], b[37];
        (void)state;

        sl_retry_idset_init(&s);
        id_of(1, a);
        id_of(2, b);
        assert_false(sl_retry_idset_has(&s, a, 1)); /* empty, no memory yet */
        assert_int_equal(sl_retry_idset_add(&s, a, 1), SL_OK);
        assert_true(sl_retry_idset_has(&s, a, 1));
        assert_false(sl_retry_idset_has(&s, a, 2)); /* another attempt of the same event */
        assert_false(sl_retry_idset_has(&s, b, 1));
        assert_int_equal(sl_retry_idset_add(&s, a, 1), SL_OK);
        assert_int_equal(s.cnt, 1); /* added twice, held once */
        assert_int_equal(sl_retry_idset_add(&s, a, 2), SL_OK);
        assert_int_equal(s.cnt, 2);
        sl_retry_idset_free(&s);
}

static void bad_ids_refused(void **state)
{
        sl_retry_idset_t s;
        (void)state;

        sl_retry_idset_init(&s);
        assert_int_equal(sl_retry_idset_add(&s, "", 1), SL_ERR_INVALID);
        assert_int_equal(sl_retry_idset_add(&s, "0123456789012345678901234567890123456", 1),
                         SL_ERR_INVALID); /* 37 characters */
        assert_int_equal(s.cnt, 0);
        assert_false(sl_retry_idset_has(&s, "", 1));
        sl_retry_idset_free(&s);
}

static void clear_keeps_memory(void **state)
{
        sl_retry_idset_t s;
        char id[37];
        (void)state;

        sl_retry_idset_init(&s);
        for (unsigned k = 0; k < 1000; k++) {
                id_of(k, id);
                assert_int_equal(sl_retry_idset_add(&s, id, 1), SL_OK);
        }
        size_t cap = s.cap;
        sl_retry_idset_clear(&s);
        assert_int_equal(s.cnt, 0);
        assert_int_equal(s.cap, cap);
        for (unsigned k = 0; k < 1000; k++) {
                id_of(k, id);
                assert_false(sl_retry_idset_has(&s, id, 1));
        }
        id_of(7, id);
        assert_int_equal(sl_retry_idset_add(&s, id, 1), SL_OK);
        assert_true(sl_retry_idset_has(&s, id, 1));
        sl_retry_idset_free(&s);
}

/* 100,000 entries over many growths: every one added is found, with its attempt
 * only, and none that was not added. */
static void growth(void **state)
{
        enum { N = 100000 };
        sl_retry_idset_t s;
        char id[37];
        (void)state;

        sl_retry_idset_init(&s);
        for (unsigned k = 0; k < N; k++) {
                id_of(k, id);
                assert_int_equal(sl_retry_idset_add(&s, id, (int32_t)(k % 5)), SL_OK);
        }
        assert_int_equal(s.cnt, N);
        assert_true(s.cap >= 2 * (size_t)N);
        for (unsigned k = 0; k < N; k++) {
                id_of(k, id);
                assert_true(sl_retry_idset_has(&s, id, (int32_t)(k % 5)));
                assert_false(sl_retry_idset_has(&s, id, (int32_t)(k % 5) + 1));
        }
        for (unsigned k = N; k < N + 1000; k++) {
                id_of(k, id);
                assert_false(sl_retry_idset_has(&s, id, (int32_t)(k % 5)));
        }
        sl_retry_idset_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(membership),
                cmocka_unit_test(bad_ids_refused),
                cmocka_unit_test(clear_keeps_memory),
                cmocka_unit_test(growth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
