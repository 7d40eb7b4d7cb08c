/* The trigger stage's Avro records (src/trigger/records.c): round trips, the bytes of a
 * known record, nulls in the unions, and every truncation refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/err.h"
#include "trigger/records.h"

static const char TID[] = "6f1c2a34-0000-4000-8000-000000000001";
static const char EID[] = "0123abcd-4567-89ef-0123-456789abcdef";
static const char LID[] = "9b7d3c1e-1111-5222-8333-444455556666";

static void test_match_round_trip(void **state)
{
        sl_rec_buf_t b = {0};
        sl_trigger_match_t m =
                               {
                                   .trigger_id = TID,
                                   .trigger_name = "orders",
                                   .event_id = EID,
                                   .event_type = "order.created",
                                   .source = "shop",
                                   .correlation_id = "c-1",
                                   .traceparent = NULL,
                                   .workflow = "fulfil",
                                   .params = "{\"n\":5}",
                                   .occurred_at = 1714564800000LL,
                                   .accepted_at = 1714564800100LL,
                                   .matched_at = -1,
                               },
                           d;
        (void)state;

        assert_int_equal(sl_trigger_match_encode(&m, &b), SL_OK);
        assert_int_equal(sl_trigger_match_decode(b.p, b.len, &d), SL_OK);
        assert_string_equal(d.trigger_id, TID);
        assert_string_equal(d.trigger_name, "orders");
        assert_string_equal(d.event_id, EID);
        assert_string_equal(d.event_type, "order.created");
        assert_string_equal(d.source, "shop");
        assert_string_equal(d.correlation_id, "c-1");
        assert_null(d.traceparent);
        assert_string_equal(d.workflow, "fulfil");
        assert_string_equal(d.params, "{\"n\":5}");
        assert_true(d.occurred_at == 1714564800000LL);
        assert_true(d.accepted_at == 1714564800100LL);
        assert_true(d.matched_at == -1);
        /* every strict prefix is refused, and so is a trailing byte */
        for (size_t n = 0; n < b.len; n++) {
                sl_trigger_match_t t;
                assert_int_equal(sl_trigger_match_decode(b.p, n, &t), SL_ERR_DECODE);
                assert_null(t.arena_);
        }
        sl_trigger_match_clear(&d);
        m.trigger_name = NULL; /* a required string */
        assert_int_equal(sl_trigger_match_encode(&m, &b), SL_ERR_INVALID);
        sl_rec_buf_free(&b);
}

/* The exact Avro bytes of a small result, written out by hand from the spec:
 * strings are a zig-zag length then the bytes, a union its branch index first. */
static void test_result_bytes(void **state)
{
        sl_rec_buf_t b = {0};
        sl_workflow_result_t r =
                                 {
                                     .launch_id = "L",
                                     .trigger_id = "T",
                                     .status = "failed",
                                     .error = "boom",
                                     .finished_at = 3,
                                 },
                             d;
        static const unsigned char want[] = {
            0x02, 'L', 0x02, 'T',  0x0c, 'f', 'a', 'i', 'l',
            'e',  'd', 0x02, 0x08, 'b',  'o', 'o', 'm', 0x06,
        };
        (void)state;

        assert_int_equal(sl_workflow_result_encode(&r, &b), SL_OK);
        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.p, want, sizeof(want));
        assert_int_equal(sl_workflow_result_decode(b.p, b.len, &d), SL_OK);
        assert_string_equal(d.status, "failed");
        assert_string_equal(d.error, "boom");
        assert_true(d.finished_at == 3);
        sl_workflow_result_clear(&d);

        r.error = NULL;
        assert_int_equal(sl_workflow_result_encode(&r, &b), SL_OK);
        assert_int_equal(b.len, sizeof(want) - 5); /* union index 0, no string */
        assert_int_equal(b.p[11], 0x00);
        assert_int_equal(sl_workflow_result_decode(b.p, b.len, &d), SL_OK);
        assert_null(d.error);
        sl_workflow_result_clear(&d);

        /* a status other than succeeded/failed, and a union index 2, are refused */
        r.status = "maybe";
        assert_int_equal(sl_workflow_result_encode(&r, &b), SL_OK);
        assert_int_equal(sl_workflow_result_decode(b.p, b.len, &d), SL_ERR_DECODE);
        r.status = "succeeded";
        assert_int_equal(sl_workflow_result_encode(&r, &b), SL_OK);
        b.p[14] = 0x04; /* the error union's index, after "succeeded" */
        assert_int_equal(sl_workflow_result_decode(b.p, b.len, &d), SL_ERR_DECODE);
        sl_rec_buf_free(&b);
}

static void test_launch_round_trip(void **state)
{
        sl_rec_buf_t b = {0};
        sl_workflow_launch_t
            l =
                {
                    .launch_id = LID,
                    .trigger_id = TID,
                    .trigger_name = "orders",
                    .workflow = "fulfil",
                    .params = "{}",
                    .event_id = EID,
                    .correlation_id = NULL,
                    .traceparent =
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    .accepted_at = 10,
                    .launched_at = 1714564800200LL,
                },
            d;
        (void)state;

        /* the buffer is reused: a second encode into it gives the same bytes */
        assert_int_equal(sl_workflow_launch_encode(&l, &b), SL_OK);
        size_t len = b.len;
        assert_int_equal(sl_workflow_launch_encode(&l, &b), SL_OK);
        assert_int_equal(b.len, len);
        assert_int_equal(sl_workflow_launch_decode(b.p, b.len, &d), SL_OK);
        assert_string_equal(d.launch_id, LID);
        assert_null(d.correlation_id);
        assert_string_equal(d.traceparent, l.traceparent);
        assert_true(d.launched_at == l.launched_at);
        sl_workflow_launch_clear(&d);
        /* a string holding a NUL is refused */
        b.p[1] = '\0';
        assert_int_equal(sl_workflow_launch_decode(b.p, b.len, &d), SL_ERR_DECODE);
        sl_rec_buf_free(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_match_round_trip),
            cmocka_unit_test(test_result_bytes),
            cmocka_unit_test(test_launch_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
