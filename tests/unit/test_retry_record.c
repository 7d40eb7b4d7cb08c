/* Unit tests for the retry record encoding (src/retry/retry_record.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry/retry_record.h"
#include "sluice/err.h"

static const char env_bytes[] = "\xc3\x01\x00\x01\x02 binary envelope";

static void round_trip(void **state)
{
        sl_retry_record_t in = {.event_id = "3f2c1a9e-0000-4000-8000-000000000001",
                                .source = "shop",
                                .attempt = 3,
                                .due_at = 1795000012345LL,
                                .reason = "window_full",
                                .envelope = env_bytes,
                                .envelope_len = sizeof(env_bytes)};
        sl_retry_record_t out;
        void *buf;
        size_t len;
        char id[128];
        (void)state;

        assert_int_equal(sl_retry_record_encode(&in, &buf, &len), SL_OK);
        assert_int_equal(sl_retry_record_decode(buf, len, &out), SL_OK);
        assert_string_equal(out.event_id, in.event_id);
        assert_string_equal(out.source, "shop");
        assert_int_equal(out.attempt, 3);
        assert_int_equal(out.due_at, in.due_at);
        assert_string_equal(out.reason, "window_full");
        assert_int_equal(out.envelope_len, sizeof(env_bytes));
        assert_memory_equal(out.envelope, env_bytes, sizeof(env_bytes));
        assert_string_equal(sl_retry_record_id(in.event_id, 3, id, sizeof(id)),
                            "event-retry:3f2c1a9e-0000-4000-8000-000000000001:3");
        /* the id leads the record */
        assert_memory_equal((char *)buf + 1, "event-retry:", 12);
        sl_retry_record_clear(&out);

        for (size_t cut = 0; cut < len; cut++) {
                void *copy = malloc(cut ? cut : 1);
                memcpy(copy, buf, cut);
                assert_int_equal(sl_retry_record_decode(copy, cut, &out), SL_ERR_DECODE);
                free(copy);
        }
        free(buf);
}

static void missing_fields_are_refused(void **state)
{
        sl_retry_record_t in = {.event_id = "x", .source = NULL, .reason = "r"};
        void *buf;
        size_t len;
        (void)state;
        assert_int_equal(sl_retry_record_encode(&in, &buf, &len), SL_ERR_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(round_trip),
            cmocka_unit_test(missing_fields_are_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
