/* Unit tests for src/util/uuid.c: the one UUID parser, validator and formatter
 * (any case in, lower case out, exactly 36 characters, nothing else accepted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "util/uuid.h"

static void valid_forms(void **state)
{
        (void)state;
        assert_true(sl_uuid_valid("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6f"));
        assert_true(sl_uuid_valid("0B1F3C2E-8C1D-4B7A-9F6E-1A2B3C4D5E6F"));
        assert_false(sl_uuid_valid("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6"));
        assert_false(sl_uuid_valid("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6f0"));
        assert_false(sl_uuid_valid("0b1f3c2e8c1d-4b7a-9f6e-1a2b3c4d5e6f-"));
        assert_false(sl_uuid_valid("'); drop table x; --aaaaaaaaaaaaaaaaa"));
        assert_false(sl_uuid_valid("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6g"));
        assert_false(sl_uuid_valid("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e\xff"));
        assert_false(sl_uuid_valid(" b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6f"));
        assert_false(sl_uuid_valid(""));
        assert_false(sl_uuid_valid(NULL));
}

static void parse_and_format(void **state)
{
        static const uint8_t want[16] = {0x0b, 0x1f, 0x3c, 0x2e, 0x8c, 0x1d, 0x4b, 0x7a,
                                         0x9f, 0x6e, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f};
        uint8_t b[16], untouched[16];
        char text[37];
        (void)state;

        assert_int_equal(sl_uuid_parse("0B1F3C2E-8c1d-4B7A-9f6e-1A2B3C4D5E6F", b), SL_OK);
        assert_memory_equal(b, want, 16);
        sl_uuid_format(b, text);
        assert_string_equal(text, "0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6f");

        memset(b, 0xaa, sizeof(b));
        memcpy(untouched, b, sizeof(b));
        assert_int_equal(sl_uuid_parse("0b1f3c2e-8c1d-4b7a-9f6e-1a2b3c4d5e6z", b),
                         SL_ERR_INVALID);
        assert_memory_equal(b, untouched, 16); /* untouched on failure */

        /* every byte value round-trips */
        for (int v = 0; v < 256; v += 17) {
                uint8_t in[16], out[16];
                memset(in, v, sizeof(in));
                in[15] = (uint8_t)(255 - v);
                sl_uuid_format(in, text);
                assert_int_equal(strlen(text), 36);
                assert_int_equal(sl_uuid_parse(text, out), SL_OK);
                assert_memory_equal(in, out, 16);
        }
}

static void random_is_v4(void **state)
{
        char a[37], b[37];
        (void)state;

        sl_uuid_random(a);
        sl_uuid_random(b);
        assert_true(sl_uuid_valid(a));
        assert_string_not_equal(a, b);
        assert_int_equal(a[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(valid_forms),
            cmocka_unit_test(parse_and_format),
            cmocka_unit_test(random_is_v4),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
