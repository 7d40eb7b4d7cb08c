/* Unit tests for src/util/hmap.c: the one string-keyed hash map (add, find, growth,
 * backward-shift removal against a reference, iteration, reserve, FNV-1a vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "util/hmap.h"

static void fnv1a_vectors(void **state)
{
        (void)state;
        /* FNV-1a 64 test vectors (Fowler, Noll, Vo) */
        assert_true(sl_hash_str("") == 0xcbf29ce484222325ULL);
        assert_true(sl_hash_str("a") == 0xaf63dc4c8601ec8cULL);
        assert_true(sl_hash_str("foobar") == 0x85944171f73967e8ULL);
}

static void add_get_replace(void **state)
{
        sl_hmap_t m;
        sl_hmap_ent_t *e;
        bool added;
        int one = 1, two = 2;
        (void)state;

        sl_hmap_init(&m);
        assert_null(sl_hmap_get(&m, "a")); /* empty map, no slots */
        assert_null(sl_hmap_get(&m, NULL));
        e = sl_hmap_add(&m, "a", &added);
        assert_non_null(e);
        assert_true(added);
        assert_null(e->val);
        e->val = &one;
        e = sl_hmap_add(&m, "a", &added);
        assert_false(added);
        assert_ptr_equal(e->val, &one);
        e->val = &two;
        assert_ptr_equal(sl_hmap_get(&m, "a"), &two);
        assert_string_equal(sl_hmap_find(&m, "a")->key, "a");
        assert_null(sl_hmap_get(&m, "b"));
        assert_int_equal(sl_hmap_count(&m), 1);
        assert_ptr_equal(sl_hmap_remove(&m, "a"), &two);
        assert_null(sl_hmap_remove(&m, "a"));
        assert_int_equal(sl_hmap_count(&m), 0);
        sl_hmap_close(&m, NULL);
}

/* Many keys, interleaved adds and removes, checked against a plain array each round:
 * growth and the backward shift must keep every probe run intact. */
static void matches_a_reference(void **state)
{
        enum { N = 5000 };
        static bool present[N];
        static int vals[N];
        sl_hmap_t m;
        char key[32];
        unsigned rng = 12345;
        size_t it = 0, seen = 0, want = 0;
        sl_hmap_ent_t *e;
        (void)state;

        sl_hmap_init(&m);
        for (int round = 0; round < 40000; round++) {
                rng = rng * 1103515245u + 12345u;
                int k = (int)((rng >> 8) % N);
                snprintf(key, sizeof(key), "source-%d", k);
                if ((rng >> 4) % 3) {
                        bool added;
                        e = sl_hmap_add(&m, key, &added);
                        assert_non_null(e);
                        assert_int_equal(added, !present[k]);
                        vals[k] = k;
                        e->val = &vals[k];
                        present[k] = true;
                } else {
                        void *v = sl_hmap_remove(&m, key);
                        assert_ptr_equal(v, present[k] ? &vals[k] : NULL);
                        present[k] = false;
                }
        }
        for (int k = 0; k < N; k++) {
                snprintf(key, sizeof(key), "source-%d", k);
                assert_ptr_equal(sl_hmap_get(&m, key), present[k] ? &vals[k] : NULL);
                want += present[k];
        }
        assert_int_equal(sl_hmap_count(&m), want);
        assert_true(m.cnt <= m.cap / 4 * 3);
        while ((e = sl_hmap_next(&m, &it))) {
                int k = *(int *)e->val;
                assert_true(present[k]);
                seen++;
        }
        assert_int_equal(seen, want);
        sl_hmap_close(&m, NULL);
        assert_int_equal(sl_hmap_count(&m), 0);
}

static void close_frees_values_and_reserve_sizes(void **state)
{
        sl_hmap_t m;
        char key[16];
        (void)state;

        sl_hmap_init(&m);
        assert_int_equal(sl_hmap_reserve(&m, 100), SL_OK);
        size_t cap = m.cap;
        assert_true(cap / 4 * 3 >= 100);
        for (int i = 0; i < 100; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                sl_hmap_ent_t *e = sl_hmap_add(&m, key, NULL);
                assert_non_null(e);
                e->val = malloc(8); /* freed by close: ASan/valgrind would say */
        }
        assert_int_equal(m.cap, cap); /* reserved: no growth */
        sl_hmap_close(&m, free);
        assert_null(m.slots);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(fnv1a_vectors),
            cmocka_unit_test(add_get_replace),
            cmocka_unit_test(matches_a_reference),
            cmocka_unit_test(close_frees_values_and_reserve_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
