/* Unit tests for src/runtime/floors.c (no Kafka): what may be committed per partition
 * given the batches' progress and the offsets still held, out-of-order holds, drops of
 * repeated offsets, compaction past the first capacity, and forgetting a partition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/floors.h"
#include "sluice/err.h" /* SL_OK */

static void nothing_held_commits_progress(void **state)
{
        sl_floors_t fl;
        (void)state;

        sl_floors_init(&fl);
        size_t k = sl_floors_part(&fl, "in", 0);
        assert_int_not_equal(k, SL_FLOORS_NONE);
        assert_int_equal(sl_floors_part(&fl, "in", 0), k); /* found, not added */
        assert_int_equal(sl_floors_find(&fl, "in", 1), SL_FLOORS_NONE);
        assert_int_equal(sl_floors_take_commit(&fl, k), -1); /* nothing done yet */
        sl_floors_done(&fl, k, 10);
        assert_int_equal(sl_floors_floor(&fl, k), INT64_MAX);
        assert_int_equal(sl_floors_take_commit(&fl, k), 10);
        assert_int_equal(sl_floors_take_commit(&fl, k), -1); /* already committed */
        sl_floors_done(&fl, k, 5);                           /* never backwards */
        assert_int_equal(sl_floors_take_commit(&fl, k), -1);
        sl_floors_close(&fl);
}

static void held_offset_is_never_committed_past(void **state)
{
        sl_floors_t fl;
        (void)state;

        sl_floors_init(&fl);
        size_t k = sl_floors_part(&fl, "in", 3);
        assert_int_equal(sl_floors_hold(&fl, k, 7), SL_OK);
        assert_int_equal(sl_floors_hold(&fl, k, 4),
                         SL_OK); /* out of order: kept sorted */
        sl_floors_done(&fl, k, 20);
        assert_int_equal(sl_floors_floor(&fl, k), 4);
        assert_int_equal(sl_floors_take_commit(&fl, k), 4); /* up to, not past, 4 */
        sl_floors_drop(&fl, k, 7); /* the higher one goes first: floor still 4 */
        assert_int_equal(sl_floors_take_commit(&fl, k), -1);
        sl_floors_drop(&fl, k, 4);
        assert_int_equal(sl_floors_floor(&fl, k), INT64_MAX);
        assert_int_equal(sl_floors_take_commit(&fl, k), 20);
        sl_floors_drop(&fl, k, 4); /* nothing held: no-op */
        sl_floors_close(&fl);
}

static void repeated_offset_needs_every_drop(void **state)
{
        sl_floors_t fl;
        (void)state;

        sl_floors_init(&fl);
        size_t k = sl_floors_part(&fl, "in", 0);
        sl_floors_done(&fl, k, 100);
        assert_int_equal(sl_floors_hold(&fl, k, 9), SL_OK);
        assert_int_equal(sl_floors_hold(&fl, k, 9), SL_OK);
        sl_floors_drop(&fl, k, 9);
        assert_int_equal(sl_floors_take_commit(&fl, k), 9);
        sl_floors_drop(&fl, k, 9);
        assert_int_equal(sl_floors_take_commit(&fl, k), 100);
        sl_floors_close(&fl);
}

static void many_holds_compact_and_grow(void **state)
{
        sl_floors_t fl;
        (void)state;

        sl_floors_init(&fl);
        size_t k = sl_floors_part(&fl, "in", 0);
        /* Hold and drop in a sliding window, well past the first capacity. */
        for (int64_t o = 0; o < 5000; o++) {
                assert_int_equal(sl_floors_hold(&fl, k, o), SL_OK);
                if (o >= 100)
                        sl_floors_drop(&fl, k, o - 100);
                sl_floors_done(&fl, k, o + 1);
                assert_int_equal(sl_floors_floor(&fl, k), o >= 100 ? o - 99 : 0);
        }
        assert_true(fl.parts[k].cap <= 512); /* compacted, not grown without end */
        assert_int_equal(sl_floors_take_commit(&fl, k), 4900);
        sl_floors_close(&fl);
}

static void forget_leaves_other_partitions(void **state)
{
        sl_floors_t fl;
        (void)state;

        sl_floors_init(&fl);
        size_t a = sl_floors_part(&fl, "in", 0);
        size_t b = sl_floors_part(&fl, "in", 1);
        size_t c = sl_floors_part(&fl, "other", 0);
        assert_true(a != b && b != c && a != c);
        assert_int_equal(sl_floors_hold(&fl, b, 5), SL_OK);
        assert_int_equal(sl_floors_hold(&fl, c, 8), SL_OK);
        sl_floors_forget(&fl, "in", 0);
        sl_floors_forget(&fl, "in", 9); /* unknown: no-op */
        assert_int_equal(fl.nparts, 2);
        assert_int_equal(sl_floors_find(&fl, "in", 0), SL_FLOORS_NONE);
        b = sl_floors_find(&fl, "in", 1);
        c = sl_floors_find(&fl, "other", 0);
        assert_int_equal(sl_floors_floor(&fl, b), 5);
        assert_int_equal(sl_floors_floor(&fl, c), 8);
        /* Forgotten progress starts again from nothing. */
        a = sl_floors_part(&fl, "in", 0);
        assert_int_equal(fl.parts[a].committed, -1);
        assert_int_equal(sl_floors_floor(&fl, a), INT64_MAX);
        sl_floors_close(&fl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(nothing_held_commits_progress),
            cmocka_unit_test(held_offset_is_never_committed_past),
            cmocka_unit_test(repeated_offset_needs_every_drop),
            cmocka_unit_test(many_holds_compact_and_grow),
            cmocka_unit_test(forget_leaves_other_partitions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
