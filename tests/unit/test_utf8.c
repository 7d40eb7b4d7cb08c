/* Unit tests for src/util/utf8.c: the per-sequence length agrees with the whole-string
 * check, strict RFC 3629 (overlongs, surrogates, > U+10FFFF, truncation) and NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/utf8.h"

static size_t seq(const char *s, size_t n)
{
        return sl_utf8_seq((const unsigned char *)s, n);
}

static void sequences(void **state)
{
        (void)state;
        assert_int_equal(seq("a", 1), 1);
        assert_int_equal(seq("\0", 1), 0);           /* NUL */
        assert_int_equal(seq("\xc3\xa9", 2), 2);     /* é */
        assert_int_equal(seq("\xe2\x82\xac", 3), 3); /* € */
        assert_int_equal(seq("\xf0\x9f\x98\x80", 4), 4);
        assert_int_equal(seq("\xf0\x9f\x98\x80", 3), 0); /* truncated */
        assert_int_equal(seq("\xc0\xaf", 2), 0);         /* overlong */
        assert_int_equal(seq("\xe0\x80\xaf", 3), 0);     /* overlong */
        assert_int_equal(seq("\xed\xa0\x80", 3), 0);     /* surrogate */
        assert_int_equal(seq("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
        assert_int_equal(seq("\x80", 1), 0);             /* lone continuation */
        assert_int_equal(seq("\xc3\x28", 2), 0);
}

static void whole_strings(void **state)
{
        static const char ok[] = "plain ascii, longer than eight \xc3\xa9\xe2\x82\xac";
        (void)state;
        assert_int_equal(sl_utf8_check(ok, sizeof(ok) - 1), -1);
        assert_int_equal(sl_utf8_check("abcdefghij\xc3", 11), 10);
        assert_int_equal(sl_utf8_check("abcdefgh\0j", 10), 8);
        assert_int_equal(sl_utf8_check("", 0), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(sequences),
            cmocka_unit_test(whole_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
