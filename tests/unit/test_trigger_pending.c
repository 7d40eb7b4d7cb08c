/* Unit tests for src/trigger/pending.c: add, complete, expire in deadline order,
 * duplicates, late results, the cap, and a random run against a simple model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "trigger/pending.h"

static void id_of(uint32_t n, uint8_t id[16])
{
        memset(id, 0, 16);
        memcpy(id, &n, sizeof(n));
        id[15] = 0x5a;
}

static void complete_returns_the_entry_once(void **state)
{
        sl_pending_t p;
        sl_pending_entry_t e;
        uint8_t a[16], b[16];
        (void)state;

        sl_pending_init(&p, 10);
        id_of(1, a);
        id_of(2, b);
        assert_int_equal(sl_pending_add(&p, a, 1000, 4000, false), SL_OK);
        assert_int_equal(sl_pending_add(&p, b, 1001, 4001, true), SL_OK);
        assert_int_equal(sl_pending_add(&p, a, 1002, 4002, false), SL_ERR_DUPLICATE);
        assert_int_equal(sl_pending_count(&p), 2);
        assert_true(sl_pending_complete(&p, b, &e));
        assert_memory_equal(e.launch_id, b, 16);
        assert_int_equal(e.launched_at, 1001);
        assert_int_equal(e.deadline, 4001);
        assert_true(e.was_probe);
        assert_false(sl_pending_complete(&p, b, &e)); /* a duplicate result */
        assert_int_equal(sl_pending_count(&p), 1);
        sl_pending_close(&p);
}

static void expire_in_deadline_order(void **state)
{
        sl_pending_t p;
        sl_pending_entry_t out[8];
        uint8_t id[16];
        int64_t deadlines[] = {5000, 3000, 4000, 3000, 9000};
        (void)state;

        sl_pending_init(&p, 10);
        for (uint32_t i = 0; i < 5; i++) {
                id_of(i, id);
                assert_int_equal(sl_pending_add(&p, id, 0, deadlines[i], false), SL_OK);
        }
        assert_int_equal(sl_pending_next_deadline(&p), 3000);
        assert_int_equal(sl_pending_expire(&p, 2999, out, 8), 0);
        assert_int_equal(sl_pending_expire(&p, 5000, out, 2), 2); /* max respected */
        assert_int_equal(out[0].deadline, 3000);
        assert_int_equal(out[1].deadline, 3000);
        id_of(1, id);
        assert_memory_equal(out[0].launch_id, id, 16); /* ties in insertion order */
        assert_int_equal(sl_pending_expire(&p, 5000, out, 8), 2);
        assert_int_equal(out[0].deadline, 4000);
        assert_int_equal(out[1].deadline, 5000);
        assert_int_equal(sl_pending_count(&p), 1);
        /* a result after its expiry is unknown */
        id_of(0, id);
        assert_false(sl_pending_complete(&p, id, NULL));
        sl_pending_close(&p);
        assert_int_equal(sl_pending_next_deadline(&p), INT64_MAX);
}

static void full_refuses_and_changes_nothing(void **state)
{
        sl_pending_t p;
        uint8_t id[16];
        (void)state;

        sl_pending_init(&p, 3);
        for (uint32_t i = 0; i < 3; i++) {
                id_of(i, id);
                assert_false(sl_pending_full(&p));
                assert_int_equal(sl_pending_add(&p, id, 0, 100 + i, false), SL_OK);
        }
        assert_true(sl_pending_full(&p));
        id_of(9, id);
        assert_int_equal(sl_pending_add(&p, id, 0, 1, false), SL_ERR_STATE);
        assert_int_equal(sl_pending_count(&p), 3);
        assert_int_equal(sl_pending_next_deadline(&p), 100);
        id_of(1, id);
        assert_true(sl_pending_complete(&p, id, NULL));
        id_of(9, id);
        assert_int_equal(sl_pending_add(&p, id, 0, 1, false), SL_OK);
        sl_pending_close(&p);
}

static void iteration_sees_every_entry(void **state)
{
        sl_pending_t p;
        uint8_t id[16];
        int seen[100] = {0};
        (void)state;

        sl_pending_init(&p, 1000);
        for (uint32_t i = 0; i < 100; i++) {
                id_of(i, id);
                sl_pending_add(&p, id, i, 1000 + i, false);
        }
        for (uint32_t i = 0; i < 100; i += 3) {
                id_of(i, id);
                sl_pending_complete(&p, id, NULL);
        }
        for (size_t i = 0; i < sl_pending_count(&p); i++) {
                uint32_t n;
                memcpy(&n, sl_pending_at(&p, i)->launch_id, sizeof(n));
                assert_true(n < 100);
                seen[n]++;
        }
        for (uint32_t i = 0; i < 100; i++)
                assert_int_equal(seen[i], i % 3 ? 1 : 0);
        assert_null(sl_pending_at(&p, sl_pending_count(&p)));
        sl_pending_close(&p);
}

/* Random adds, completes and expiries against an array model. */
static void random_run_matches_a_model(void **state)
{
        enum { N = 3000 };
        static int64_t model[N]; /* deadline, or -1 when not pending */
        sl_pending_t p;
        sl_pending_entry_t out[16], e;
        uint8_t id[16];
        int64_t now = 0;
        unsigned seed = 12345;
        (void)state;

        for (int i = 0; i < N; i++)
                model[i] = -1;
        sl_pending_init(&p, 500);
        for (int step = 0; step < 50000; step++) {
                uint32_t n = (uint32_t)(rand_r(&seed) % N);
                int op = rand_r(&seed) % 10;

                id_of(n, id);
                if (op < 5) {
                        int64_t d = now + 1 + rand_r(&seed) % 200;
                        int r = sl_pending_add(&p, id, now, d, false);
                        size_t held = 0;

                        for (int i = 0; i < N; i++)
                                held += model[i] >= 0;
                        if (model[n] >= 0) {
                                assert_int_equal(r, SL_ERR_DUPLICATE);
                        } else if (held >= 500) {
                                assert_int_equal(r, SL_ERR_STATE);
                        } else {
                                assert_int_equal(r, SL_OK);
                                model[n] = d;
                        }
                } else if (op < 8) {
                        bool found = sl_pending_complete(&p, id, &e);
                        assert_int_equal(found, model[n] >= 0);
                        if (found)
                                assert_int_equal(e.deadline, model[n]);
                        model[n] = -1;
                } else {
                        size_t k;
                        int64_t last = INT64_MIN;

                        now += rand_r(&seed) % 20;
                        while ((k = sl_pending_expire(&p, now, out, 16)) > 0) {
                                for (size_t j = 0; j < k; j++) {
                                        uint32_t m;
                                        memcpy(&m, out[j].launch_id, sizeof(m));
                                        assert_int_equal(model[m], out[j].deadline);
                                        assert_true(out[j].deadline <= now);
                                        assert_true(out[j].deadline >= last);
                                        last = out[j].deadline;
                                        model[m] = -1;
                                }
                        }
                        for (int i = 0; i < N; i++)
                                assert_true(model[i] < 0 || model[i] > now);
                }
        }
        sl_pending_close(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(complete_returns_the_entry_once),
            cmocka_unit_test(expire_in_deadline_order),
            cmocka_unit_test(full_refuses_and_changes_nothing),
            cmocka_unit_test(iteration_sees_every_entry),
            cmocka_unit_test(random_run_matches_a_model),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
