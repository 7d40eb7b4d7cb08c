/* Unit tests for src/trigger/launch_id.c: UUIDv5 against the RFC vectors, and the
 * launch id's stability and case folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uuid/uuid.h>

#include "trigger/launch_id.h"

static void parse(const char *text, uint8_t out[16])
{
        assert_int_equal(uuid_parse(text, out), 0);
}

static void rfc9562_dns_vector(void **state)
{
        uint8_t ns[16], id[16];
        char text[37];
        (void)state;

        /* RFC 9562 appendix A.4: NameSpace_DNS, "www.example.com" */
        parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", ns);
        sl_uuid_v5(ns, "www.example.com", strlen("www.example.com"), id);
        sl_launch_id_format(id, text);
        assert_string_equal(text, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        assert_int_equal(id[6] >> 4, 5);      /* version 5 */
        assert_int_equal(id[8] & 0xc0, 0x80); /* RFC variant */
}

static void python_uuid5_vector(void **state)
{
        uint8_t ns[16], id[16];
        char text[37];
        (void)state;

        /* uuid.uuid5(uuid.NAMESPACE_DNS, "python.org"), Python's documented example */
        parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", ns);
        sl_uuid_v5(ns, "python.org", strlen("python.org"), id);
        sl_launch_id_format(id, text);
        assert_string_equal(text, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

static void launch_id_is_stable_and_case_blind(void **state)
{
        uint8_t trig[16], other[16], a[16], b[16], c[16], d[16];
        (void)state;

        parse("0f8fad5b-d9cb-469f-a165-70867728950e", trig);
        parse("7c9e6679-7425-40de-944b-e07fc1f90ae7", other);
        sl_launch_id(trig, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", a);
        sl_launch_id(trig, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", b);
        sl_launch_id(trig, "1B4E28BA-2FA1-11D2-883F-0016D3CCA427", c);
        sl_launch_id(other, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", d);
        assert_memory_equal(a, b, 16);
        assert_memory_equal(a, c, 16);
        assert_memory_not_equal(a, d, 16);
}

static void launch_id_equals_uuid5_of_the_lower_case_text(void **state)
{
        uint8_t trig[16], a[16], b[16];
        const char *ev = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        (void)state;

        parse("0f8fad5b-d9cb-469f-a165-70867728950e", trig);
        sl_launch_id(trig, ev, a);
        sl_uuid_v5(trig, ev, 36, b);
        assert_memory_equal(a, b, 16);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(rfc9562_dns_vector),
            cmocka_unit_test(python_uuid5_vector),
            cmocka_unit_test(launch_id_is_stable_and_case_blind),
            cmocka_unit_test(launch_id_equals_uuid5_of_the_lower_case_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
