/*
 * sluice-admin's base64url (processors/admin/params.c): what the keyset cursor and the
 * stream's "bearer.<base64url(token)>" subprotocol are decoded with.  Round trips of
 * every length, the alphabet without padding, and refusals of what a client may send
 * that is not base64url or does not fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin_int.h"

static void round_trips_every_length(void **state)
{
        unsigned char raw[64];
        char text[100], back[80];

        (void)state;
        for (size_t i = 0; i < sizeof(raw); i++)
                raw[i] = (unsigned char)(i * 37 + 11);
        for (size_t n = 1; n <= sizeof(raw); n++) {
                sl__adm_b64url_encode(raw, n, text, sizeof(text));
                assert_int_equal(strlen(text), (n * 8 + 5) / 6); /* no padding */
                assert_null(strpbrk(text, "+/="));
                assert_int_equal(
                    sl__adm_b64url_decode(text, strlen(text), back, sizeof(back)),
                    (long)n);
                assert_memory_equal(back, raw, n);
        }
}

static void decodes_what_browsers_send(void **state)
{
        char out[64];

        (void)state;
        /* btoa("a/b=c?@x~") with + -> -, / -> _, padding removed (app.js's b64url) */
        assert_int_equal(sl__adm_b64url_decode("YS9iPWM_QHh-", 12, out, sizeof(out)), 9);
        assert_string_equal(out, "a/b=c?@x~");
}

static void refuses_what_is_not_base64url(void **state)
{
        char out[8];

        (void)state;
        assert_int_equal(sl__adm_b64url_decode("YWJj+w", 6, out, sizeof(out)), -1);
        assert_int_equal(sl__adm_b64url_decode("YWJj=", 5, out, sizeof(out)), -1);
        assert_int_equal(sl__adm_b64url_decode("YW\0j", 4, out, sizeof(out)), -1);
        /* 9 bytes do not fit in 8 with the NUL */
        assert_int_equal(sl__adm_b64url_decode("YWJjZGVmZ2hp", 12, out, sizeof(out)), -1);
        assert_int_equal(sl__adm_b64url_decode("YWJjZGVmZw", 10, out, sizeof(out)), 7);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(round_trips_every_length),
            cmocka_unit_test(decodes_what_browsers_send),
            cmocka_unit_test(refuses_what_is_not_base64url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
