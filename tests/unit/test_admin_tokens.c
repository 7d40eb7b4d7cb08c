/*
 * admin.tokens: parsing (every malformed entry refused with words that never show a
 * secret) and the constant-time lookup (exact matches only: no prefix, no extension,
 * no near miss).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin/tokens.h"
#include "config/config.h"

static void parses_names_scopes_and_secrets(void **state)
{
        sl_admin_tokens_t toks = {0};
        char err[256];

        (void)state;
        assert_int_equal(sl_admin_tokens_parse("graf:read:aaaaaaaaaaaaaaaa,"
                                               "ops:read+operate:bbbbbbbbbbbbbbbbbb,"
                                               "bot:operate:cccccccccccccccc",
                                               &toks, err, sizeof(err)),
                         0);
        assert_int_equal(toks.cnt, 3);
        assert_string_equal(toks.v[0].name, "graf");
        assert_int_equal(toks.v[0].scopes, SL_ADMIN_SCOPE_READ);
        assert_int_equal(toks.v[1].scopes, SL_ADMIN_SCOPE_READ | SL_ADMIN_SCOPE_OPERATE);
        assert_int_equal(toks.v[2].scopes, SL_ADMIN_SCOPE_OPERATE);
        assert_int_equal(toks.v[1].secret_len, 18);
        sl_admin_tokens_close(&toks);

        assert_int_equal(sl_admin_tokens_parse("", &toks, err, sizeof(err)), 0);
        assert_int_equal(toks.cnt, 0);
        sl_admin_tokens_close(&toks);
}

static void refuses_bad_entries_without_showing_secrets(void **state)
{
        static const char *const bad[] = {
            "nocolons",
            "a:read",
            ":read:ssssssssssssssss1",
            "a b:read:ssssssssssssssss2",
            "a:write:ssssssssssssssss3",
            "a:read+:ssssssssssssssss4",
            "a:+read:ssssssssssssssss5",
            "a:read:short6",
            "a:read:ssssssss ssssssss7",
            "a:read:ssssssssssssssss8,",
            "a:read:ssssssssssssssss9,a:operate:tttttttttttttttt9",
            "a:read:ssssssssssssssss0,b:operate:ssssssssssssssss0",
            "a:read:sss\x01sssssssssssssZ",
        };
        char err[256];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sl_admin_tokens_t toks = {0};
                err[0] = '\0';
                assert_int_equal(sl_admin_tokens_parse(bad[i], &toks, err, sizeof(err)),
                                 -1);
                assert_true(err[0] != '\0');
                assert_null(strstr(err, "ssssssss"));
                assert_null(strstr(err, "tttttttt"));
                sl_admin_tokens_close(&toks);
        }
}

static void finds_exact_secrets_only(void **state)
{
        sl_admin_tokens_t toks = {0};
        const char *s = "abcdefghijklmnop";
        char err[256];

        (void)state;
        assert_int_equal(sl_admin_tokens_parse("a:read:abcdefghijklmnop,"
                                               "b:operate:zyxwvutsrqponmlkjih",
                                               &toks, err, sizeof(err)),
                         0);
        assert_string_equal(sl_admin_tokens_find(&toks, s, strlen(s))->name, "a");
        assert_string_equal(sl_admin_tokens_find(&toks, "zyxwvutsrqponmlkjih", 19)->name,
                            "b");
        assert_null(sl_admin_tokens_find(&toks, s, 15));                   /* prefix */
        assert_null(sl_admin_tokens_find(&toks, "abcdefghijklmnopq", 17)); /* longer */
        assert_null(sl_admin_tokens_find(&toks, "abcdefghijklmnoP", 16));  /* near miss */
        assert_null(sl_admin_tokens_find(&toks, "abcdefghabcdefgh", 16));
        assert_null(sl_admin_tokens_find(&toks, "", 0));
        /* A repeated short secret read cyclically is not the configured one. */
        assert_null(sl_admin_tokens_find(&toks, "abcdefgh", 8));
        sl_admin_tokens_close(&toks);
}

static void the_config_key_is_checked_and_secret(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char err[256];

        (void)state;
        assert_true(sl_conf_is_secret("admin.tokens"));
        assert_int_equal(sl_conf_set(conf, "admin.tokens", "a:read:hunter2hunter2hunter2",
                                     err, sizeof(err)),
                         0);
        assert_int_not_equal(
            sl_conf_set(conf, "admin.tokens", "a:read:hunter2", err, sizeof(err)), 0);
        assert_non_null(strstr(err, "admin.tokens"));
        assert_null(strstr(err, "hunter2"));
        sl_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_names_scopes_and_secrets),
            cmocka_unit_test(refuses_bad_entries_without_showing_secrets),
            cmocka_unit_test(finds_exact_secrets_only),
            cmocka_unit_test(the_config_key_is_checked_and_secret),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
