/* Unit tests for src/kafka/rewind.c: where a group resumes after a Postgres restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kafka/rewind.h"

static sl_rewind_t decide(int64_t db_last, int64_t committed, int64_t low, int64_t margin)
{
        sl_rewind_in_t in = {
            .db_last = db_last, .committed = committed, .low = low, .margin = margin};
        return sl_rewind_decide(&in);
}

/* The restore lost rows the group had committed past: back to the database's last
 * row, one batch earlier. */
static void moves_back_to_the_database_less_a_batch(void **state)
{
        (void)state;
        sl_rewind_t r = decide(999, 1500, 0, 100);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 900);
        r = decide(999, 1500, 0, 0);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 1000);
}

/* Never forward: a group behind the database reads what it has left, again. */
static void never_moves_a_group_forward(void **state)
{
        (void)state;
        sl_rewind_t r = decide(999, 400, 0, 100);
        assert_int_equal(r.action, SL_REWIND_KEEP);
        assert_int_equal(r.to, 400);
        r = decide(999, 900, 0, 100); /* exactly at the target */
        assert_int_equal(r.action, SL_REWIND_KEEP);
        assert_int_equal(r.to, 900);
        r = decide(-1, 0, 0, 100); /* nothing in the database, nothing read */
        assert_int_equal(r.action, SL_REWIND_KEEP);
        assert_int_equal(r.to, 0);
}

/* The margin never reaches before the topic's first offset. */
static void margin_stops_at_the_low_watermark(void **state)
{
        (void)state;
        sl_rewind_t r = decide(49, 80, 0, 20000);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 0);
        r = decide(5049, 6000, 5000, 20000);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 5000);
}

/* A partition the database holds no row of is read from its start. */
static void no_rows_reads_from_the_start(void **state)
{
        (void)state;
        sl_rewind_t r = decide(-1, 300, 0, 100);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 0);
        r = decide(-1, 300, 120, 100);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 120);
}

/* No committed offset: the target is committed, not left to auto.offset.reset (which
 * may say latest). */
static void no_committed_offset_gets_the_target(void **state)
{
        (void)state;
        sl_rewind_t r = decide(999, -1001 /* RD_KAFKA_OFFSET_INVALID */, 0, 100);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 900);
}

/* Retention deleted records after the database's last one: reported, not hidden. */
static void records_gone_from_the_topic_are_lost(void **state)
{
        (void)state;
        sl_rewind_t r = decide(999, 1500, 1001, 100);
        assert_int_equal(r.action, SL_REWIND_LOST);
        assert_int_equal(r.to, 1001);
        /* The very next record still there is not a loss. */
        r = decide(999, 1500, 1000, 100);
        assert_int_equal(r.action, SL_REWIND_MOVE);
        assert_int_equal(r.to, 1000);
}

static void action_names(void **state)
{
        (void)state;
        assert_string_equal(sl_rewind_action_str(SL_REWIND_KEEP), "keep");
        assert_string_equal(sl_rewind_action_str(SL_REWIND_MOVE), "move");
        assert_string_equal(sl_rewind_action_str(SL_REWIND_LOST), "lost");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(moves_back_to_the_database_less_a_batch),
            cmocka_unit_test(never_moves_a_group_forward),
            cmocka_unit_test(margin_stops_at_the_low_watermark),
            cmocka_unit_test(no_rows_reads_from_the_start),
            cmocka_unit_test(no_committed_offset_gets_the_target),
            cmocka_unit_test(records_gone_from_the_topic_are_lost),
            cmocka_unit_test(action_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
