/* Unit tests for src/util/varint.h: Avro's zig-zag long, against the specification's
 * table, at the 64-bit ends, and refusing truncated and overflowing input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/varint.h"

static void avro_long_matches_the_spec(void **state)
{
        /* Examples from the Avro specification's zig-zag table. */
        static const struct {
                int64_t v;
                unsigned char bytes[3];
                size_t n;
        } cases[] = {{0, {0x00}, 1},        {-1, {0x01}, 1},
                     {1, {0x02}, 1},        {-2, {0x03}, 1},
                     {2, {0x04}, 1},        {-64, {0x7f}, 1},
                     {64, {0x80, 0x01}, 2}, {8192, {0x80, 0x80, 0x01}, 3}};
        unsigned char buf[10];
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t v;
                assert_int_equal(sl_avro_long_encode(cases[i].v, buf), cases[i].n);
                assert_memory_equal(buf, cases[i].bytes, cases[i].n);
                assert_int_equal(sl_avro_long_decode(buf, cases[i].n, &v), cases[i].n);
                assert_int_equal(v, cases[i].v);
        }
        assert_int_equal(sl_avro_long_encode(INT64_MIN, buf), 10);
}

static void avro_long_ends_round_trip(void **state)
{
        static const int64_t vals[] = {INT64_MIN, INT64_MIN + 1, -1,        0,
                                       1,         INT64_MAX - 1, INT64_MAX, INT32_MIN,
                                       INT32_MAX};
        unsigned char buf[SL_AVRO_LONG_MAX];
        (void)state;

        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
                int64_t v = 42;
                size_t n = sl_avro_long_encode(vals[i], buf);
                assert_true(n >= 1 && n <= SL_AVRO_LONG_MAX);
                assert_int_equal(sl_avro_long_decode(buf, n, &v), n);
                assert_true(v == vals[i]);
                /* one byte short: truncated */
                assert_int_equal(sl_avro_long_decode(buf, n - 1, &v), 0);
        }
}

static void avro_long_refuses_overflow(void **state)
{
        /* ten bytes whose last carries more than bit 63: refused, not wrapped */
        unsigned char over[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0x02, 0x00};
        unsigned char eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                    0x80, 0x80, 0x80, 0x80, 0x00};
        int64_t v = 42;
        (void)state;

        assert_int_equal(sl_avro_long_decode(over, sizeof(over), &v), 0);
        assert_int_equal(sl_avro_long_decode(eleven, sizeof(eleven), &v), 0);
        assert_int_equal(v, 42); /* untouched */
        over[9] = 0x01;          /* bit 63 alone is fine: INT64_MIN */
        assert_int_equal(sl_avro_long_decode(over, sizeof(over), &v), 10);
        assert_true(v == INT64_MIN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(avro_long_matches_the_spec),
            cmocka_unit_test(avro_long_ends_round_trip),
            cmocka_unit_test(avro_long_refuses_overflow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
