/* Unit tests for src/history/policy.c: retention and archive decisions with an
 * injected clock, and the per-type retention list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "history/policy.h"

#define DAY  SL_HISTORY_DAY_MS
#define NOW  (1796000000000LL - 1796000000000LL % DAY + 3600000) /* 01:00 UTC */
#define TDAY (NOW - NOW % DAY)                                   /* today 00:00 */

static sl_history_item_t day_ago(int n)
{
        sl_history_item_t it = {0};
        it.lo_ms = TDAY - (int64_t)n * DAY;
        it.hi_ms = it.lo_ms + DAY;
        it.live = true;
        return it;
}

static sl_history_policy_t policy(int events, int after)
{
        sl_history_policy_t pol = {0};
        pol.events_days = events;
        pol.after_days = after;
        return pol;
}

static void drop_exactly_past_retention(void **state)
{
        sl_history_policy_t pol = policy(30, 0);
        (void)state;
        /* the day that ended 30 days ago (started 31 days ago) is past; 30 is not */
        sl_history_item_t d31 = day_ago(31), d30 = day_ago(30);
        assert_int_equal(sl_history_decide(&pol, &d31, NOW, NULL), SL_HIST_DROP);
        assert_int_equal(sl_history_decide(&pol, &d30, NOW, NULL), SL_HIST_KEEP);
        /* exactly at the boundary: hi == now - 30 days */
        assert_int_equal(sl_history_decide(&pol, &d31, d31.hi_ms + 30 * DAY, NULL),
                         SL_HIST_DROP);
        assert_int_equal(sl_history_decide(&pol, &d31, d31.hi_ms + 30 * DAY - 1, NULL),
                         SL_HIST_KEEP);
}

static void per_type_keeps_the_day_whole(void **state)
{
        sl_history_policy_t pol = policy(30, 0);
        char err[256];
        sl_history_item_t d40 = day_ago(40);
        (void)state;
        assert_int_equal(
            sl_history_parse_keep(&pol, "k", "audit=60, billing=90", err, sizeof(err)),
            0);
        assert_int_equal(pol.nkeep, 2);
        assert_string_equal(pol.keep[1].type, "billing");
        assert_int_equal(sl_history_decide(&pol, &d40, NOW, NULL), SL_HIST_DROP);
        d40.present[0] = true; /* holds audit rows */
        assert_int_equal(sl_history_keep_days(&pol, &d40), 60);
        assert_int_equal(sl_history_decide(&pol, &d40, NOW, NULL), SL_HIST_KEEP);
        assert_int_equal(sl_history_decide(&pol, &d40, NOW + 21 * DAY, NULL),
                         SL_HIST_DROP);
}

static void per_type_refusals_name_the_key(void **state)
{
        sl_history_policy_t pol = policy(30, 0);
        char err[512];
        (void)state;
        assert_int_equal(sl_history_parse_keep(&pol, "retention.event_types", "a=20", err,
                                               sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "retention.event_types"));
        assert_non_null(strstr(err, "longer than"));
        assert_int_equal(sl_history_parse_keep(&pol, "k", "a=40,a=50", err, sizeof(err)),
                         -1);
        assert_int_equal(sl_history_parse_keep(&pol, "k", "=40", err, sizeof(err)), -1);
        assert_int_equal(sl_history_parse_keep(&pol, "k", "a=x", err, sizeof(err)), -1);
        assert_int_equal(sl_history_parse_keep(&pol, "k", "a=40,", err, sizeof(err)), -1);
        assert_int_equal(sl_history_parse_keep(&pol, "k", "", err, sizeof(err)), 0);
        assert_int_equal(pol.nkeep, 0);
        /* a type may hold '=': the last one splits */
        assert_int_equal(sl_history_parse_keep(&pol, "k", "x=y=45", err, sizeof(err)), 0);
        assert_string_equal(pol.keep[0].type, "x=y");
}

static void archive_states(void **state)
{
        sl_history_policy_t pol = policy(30, 8);
        sl_history_item_t it = day_ago(9), young = day_ago(8);
        (void)state;
        assert_int_equal(sl_history_decide(&pol, &young, NOW, NULL), SL_HIST_KEEP);
        it.state = SL_HIST_A_NONE;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_ARCHIVE);
        it.state = SL_HIST_A_FAILED;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_ARCHIVE);
        it.state = SL_HIST_A_WRITING;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_ARCHIVE);
        it.state = SL_HIST_A_VERIFIED;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_DROP_ARCHIVED);
        it.state = SL_HIST_A_RESTORED;
        it.restored_ms = NOW - DAY;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_KEEP);
        it.restored_ms = NOW - 8 * DAY;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_DROP_ARCHIVED);
        it.state = SL_HIST_A_DROPPED; /* live again after its drop */
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_HOLD);
}

static void archives_expire_past_retention(void **state)
{
        sl_history_policy_t pol = policy(30, 8);
        char err[256];
        sl_history_item_t it = day_ago(31);
        (void)state;
        it.live = false;
        it.state = SL_HIST_A_DROPPED;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_EXPIRE);
        it = day_ago(20);
        it.live = false;
        it.state = SL_HIST_A_DROPPED;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_KEEP);
        /* an archive holding a kept type lives as long as the type's retention */
        assert_int_equal(sl_history_parse_keep(&pol, "k", "audit=365", err, sizeof(err)),
                         0);
        it = day_ago(31);
        it.live = false;
        it.state = SL_HIST_A_DROPPED;
        it.present[0] = true;
        assert_int_equal(sl_history_decide(&pol, &it, NOW, NULL), SL_HIST_KEEP);
}

static void names(void **state)
{
        (void)state;
        for (int s = SL_HIST_A_NONE; s <= SL_HIST_A_EXPIRED; s++)
                assert_int_equal(sl_history_astate_parse(
                                     sl_history_astate_name((sl_history_astate_t)s)),
                                 s);
        assert_string_equal(sl_history_action_name(SL_HIST_DROP_ARCHIVED),
                            "drop-archived");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(drop_exactly_past_retention),
            cmocka_unit_test(per_type_keeps_the_day_whole),
            cmocka_unit_test(per_type_refusals_name_the_key),
            cmocka_unit_test(archive_states),
            cmocka_unit_test(archives_expire_past_retention),
            cmocka_unit_test(names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
