/* Unit tests for src/retry/idset.c: the set of (event id, attempt) sluice-retry keeps
 * for re-injected attempts whose 'due' mark has not landed: UUID parsing, membership
 * by id and attempt, adding twice, clearing, growth past many rehashes, and ids that
 * differ in a single bit or share their clock bits. */
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

static sl_retry_idkey_t key(const char *id, int32_t attempt)
{
        sl_retry_idkey_t k;
        assert_int_equal(sl_retry_idkey(id, attempt, &k), SL_OK);
        return k;
}

static void parsing(void **state)
{
        sl_retry_idkey_t k;
        (void)state;

        k = key("0123abcd-4567-89ef-0123-456789abcdef", 3);
        assert_true(k.hi == 0x0123abcd456789efULL);
        assert_true(k.lo == 0x0123456789abcdefULL);
        assert_int_equal(k.attempt, 3);
        /* Case does not matter: the same UUID. */
        sl_retry_idkey_t u = key("0123ABCD-4567-89EF-0123-456789ABCDEF", 3);
        assert_true(u.hi == k.hi && u.lo == k.lo);
        static const char *const bad[] = {
            "",
            "0123abcd-4567-89ef-0123-456789abcde",   /* short */
            "0123abcd-4567-89ef-0123-456789abcdef0", /* long */
            "0123abcd+4567-89ef-0123-456789abcdef",  /* no dash */
            "0123abcg-4567-89ef-0123-456789abcdef",  /* not hex */
            "event-1",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(sl_retry_idkey(bad[i], 1, &k), SL_ERR_INVALID);
}

static void membership(void **state)
{
        sl_retry_idset_t s;
        char a[37], b[37];
        bool added;
        (void)state;

        sl_retry_idset_init(&s);
        id_of(1, a);
        id_of(2, b);
        sl_retry_idkey_t a1 = key(a, 1), a2 = key(a, 2), b1 = key(b, 1);
        assert_false(sl_retry_idset_has(&s, &a1)); /* empty, no memory yet */
        assert_int_equal(sl_retry_idset_add(&s, &a1, &added), SL_OK);
        assert_true(added);
        assert_true(sl_retry_idset_has(&s, &a1));
        assert_false(sl_retry_idset_has(&s, &a2)); /* another attempt of the same event */
        assert_false(sl_retry_idset_has(&s, &b1));
        assert_int_equal(sl_retry_idset_add(&s, &a1, &added), SL_OK);
        assert_false(added);
        assert_int_equal(s.cnt, 1); /* added twice, held once */
        assert_int_equal(sl_retry_idset_add(&s, &a2, NULL), SL_OK);
        assert_int_equal(s.cnt, 2);
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
                sl_retry_idkey_t kk = key(id, 1);
                assert_int_equal(sl_retry_idset_add(&s, &kk, NULL), SL_OK);
        }
        size_t cap = s.cap;
        sl_retry_idset_clear(&s);
        assert_int_equal(s.cnt, 0);
        assert_int_equal(s.cap, cap);
        for (unsigned k = 0; k < 1000; k++) {
                id_of(k, id);
                sl_retry_idkey_t kk = key(id, 1);
                assert_false(sl_retry_idset_has(&s, &kk));
        }
        id_of(7, id);
        sl_retry_idkey_t k7 = key(id, 1);
        assert_int_equal(sl_retry_idset_add(&s, &k7, NULL), SL_OK);
        assert_true(sl_retry_idset_has(&s, &k7));
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
                sl_retry_idkey_t kk = key(id, (int32_t)(k % 5));
                assert_int_equal(sl_retry_idset_add(&s, &kk, NULL), SL_OK);
        }
        assert_int_equal(s.cnt, N);
        assert_true(s.cap >= 2 * (size_t)N);
        for (unsigned k = 0; k < N; k++) {
                id_of(k, id);
                sl_retry_idkey_t in = key(id, (int32_t)(k % 5)),
                                 other = key(id, (int32_t)(k % 5) + 1);
                assert_true(sl_retry_idset_has(&s, &in));
                assert_false(sl_retry_idset_has(&s, &other));
        }
        for (unsigned k = N; k < N + 1000; k++) {
                id_of(k, id);
                sl_retry_idkey_t out = key(id, (int32_t)(k % 5));
                assert_false(sl_retry_idset_has(&s, &out));
        }
        sl_retry_idset_free(&s);
}

/* Time-ordered ids (UUIDv7: the first 48 bits a clock) and ids one bit apart are all
 * told apart. */
static void near_ids(void **state)
{
        sl_retry_idset_t s;
        char id[37];
        (void)state;

        sl_retry_idset_init(&s);
        for (unsigned k = 0; k < 5000; k++) {
                snprintf(id, sizeof(id), "0190a1b2-c3d4-7000-8000-%012x",
                         1u << (k % 32) | k);
                sl_retry_idkey_t kk = key(id, 1);
                assert_int_equal(sl_retry_idset_add(&s, &kk, NULL), SL_OK);
        }
        size_t distinct = s.cnt;
        for (unsigned k = 0; k < 5000; k++) {
                snprintf(id, sizeof(id), "0190a1b2-c3d4-7000-8000-%012x",
                         1u << (k % 32) | k);
                sl_retry_idkey_t kk = key(id, 1);
                assert_true(sl_retry_idset_has(&s, &kk));
        }
        /* 1 << (k % 32) | k repeats for some k: count them the same way. */
        size_t ref_cnt = 0;
        for (unsigned k = 0; k < 5000; k++) {
                unsigned v = 1u << (k % 32) | k, seen = 0;
                for (unsigned j = 0; j < k && !seen; j++)
                        seen = (1u << (j % 32) | j) == v;
                ref_cnt += !seen;
        }
        assert_int_equal(distinct, ref_cnt);
        sl_retry_idset_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parsing),
            cmocka_unit_test(membership),
            cmocka_unit_test(clear_keeps_memory),
            cmocka_unit_test(growth),
            cmocka_unit_test(near_ids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
