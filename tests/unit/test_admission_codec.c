/* Unit tests for the admission changelog encoding (src/limits/admission_codec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "limits/admission_codec.h"
#include "sluice/err.h"

static void state_round_trips(void **state)
{
        sl_source_state_t in = {.window_start = 1795000000000LL,
                                .count = 12345,
                                .throttled = 7,
                                .paused_until = 1795000060000LL,
                                .updated_at = 1795000000999LL,
                                .dlq_window_start = 1794999960000LL,
                                .dlq_seen = 987,
                                .dlq_dead = 494,
                                .pause_cause = SL_PAUSE_CAUSE_DLQ_RATE};
        sl_source_state_t out;
        unsigned char buf[SL_ADMISSION_STATE_MAX];
        size_t n = sl_admission_state_encode(&in, buf);
        (void)state;

        assert_true(n <= SL_ADMISSION_STATE_MAX);
        memset(&out, 0xff, sizeof(out));
        assert_int_equal(sl_admission_state_decode(buf, n, &out), SL_OK);
        assert_memory_equal(&in, &out, sizeof(in));
}

static void truncated_or_trailing_bytes_are_errors(void **state)
{
        /* Every field one byte long: a v1 record (before the source breaker) is the
         * first 5 bytes, which is the one cut that decodes. */
        sl_source_state_t in = {1, 2, 3, 4, 5, 6, 7, 8, SL_PAUSE_CAUSE_FLOOD}, out;
        unsigned char buf[SL_ADMISSION_STATE_MAX + 1];
        size_t n = sl_admission_state_encode(&in, buf);
        (void)state;

        assert_int_equal(n, 9);
        for (size_t cut = 0; cut < n; cut++)
                if (cut != 5)
                        assert_int_equal(sl_admission_state_decode(buf, cut, &out),
                                         SL_ERR_DECODE);
        buf[n] = 0;
        assert_int_equal(sl_admission_state_decode(buf, n + 1, &out), SL_ERR_DECODE);
        memset(buf, 0xff, sizeof(buf)); /* a varint that never ends */
        assert_int_equal(sl_admission_state_decode(buf, sizeof(buf), &out),
                         SL_ERR_DECODE);
}

static void v1_records_decode_with_the_breaker_zeroed(void **state)
{
        sl_source_state_t in = {.window_start = 1795000000000LL,
                                .count = 50,
                                .throttled = 20,
                                .paused_until = 1795000060000LL,
                                .updated_at = 1795000000999LL,
                                .dlq_window_start = 1,
                                .dlq_seen = 2,
                                .dlq_dead = 3,
                                .pause_cause = SL_PAUSE_CAUSE_DLQ_RATE};
        sl_source_state_t out, want = in;
        unsigned char buf[SL_ADMISSION_STATE_MAX];
        size_t n = sl_admission_state_encode(&in, buf), v1;
        (void)state;

        /* The v2 fields are 4 one-byte varints at the end: a v1 writer stopped
         * before them. */
        v1 = n - 4;
        memset(&out, 0x5a, sizeof(out));
        assert_int_equal(sl_admission_state_decode(buf, v1, &out), SL_OK);
        want.dlq_window_start = want.dlq_seen = want.dlq_dead = 0;
        want.pause_cause = SL_PAUSE_CAUSE_NONE;
        assert_memory_equal(&out, &want, sizeof(want));
}

static void pause_cause_out_of_range_is_an_error(void **state)
{
        sl_source_state_t in = {0}, out;
        unsigned char buf[SL_ADMISSION_STATE_MAX];
        size_t n;
        (void)state;

        in.pause_cause = SL_PAUSE_CAUSE__CNT;
        n = sl_admission_state_encode(&in, buf);
        assert_int_equal(sl_admission_state_decode(buf, n, &out), SL_ERR_DECODE);
        in.pause_cause = -1;
        n = sl_admission_state_encode(&in, buf);
        assert_int_equal(sl_admission_state_decode(buf, n, &out), SL_ERR_DECODE);
}

static void progress_round_trips(void **state)
{
        unsigned char buf[10];
        int64_t off = 0;
        (void)state;
        size_t n = sl_admission_progress_encode(987654321, buf);
        assert_int_equal(sl_admission_progress_decode(buf, n, &off), SL_OK);
        assert_int_equal(off, 987654321);
        assert_int_equal(sl_admission_progress_decode(buf, n - 1, &off), SL_ERR_DECODE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(state_round_trips),
            cmocka_unit_test(truncated_or_trailing_bytes_are_errors),
            cmocka_unit_test(v1_records_decode_with_the_breaker_zeroed),
            cmocka_unit_test(pause_cause_out_of_range_is_an_error),
            cmocka_unit_test(progress_round_trips),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
