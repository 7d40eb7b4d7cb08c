/* Unit tests for tools/runner/answers.c: answers pop in receipt order and never before
 * their time (a newer answer due earlier waits behind an older one), revocation drops
 * one partition's answers and tells the caller which, the copies outlive the decoded
 * launch, and the queue slides and grows under long use.  Run under ASan too, which
 * catches an answer's block leaked or freed twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "answers.h"
#include "sluice/err.h"

#define T0 1700000000000LL

/* Queue answer n: launch id "launch-n", key "trigger-(n % 7)", partition n % 3. */
static void push(sl_runner_answers_t *q, int n, int64_t due_at)
{
        char launch_id[32], trigger_id[32], event_id[32];
        sl_workflow_launch_t l = {
            .launch_id = launch_id, .trigger_id = trigger_id, .event_id = event_id};
        sl_runner_answer_t a;

        snprintf(launch_id, sizeof(launch_id), "launch-%d", n);
        snprintf(trigger_id, sizeof(trigger_id), "trigger-%d", n % 7);
        snprintf(event_id, sizeof(event_id), "event-%d", n);
        assert_int_equal(sl_runner_answer_init(&a, &l, trigger_id, strlen(trigger_id)),
                         SL_OK);
        /* The copies are the answer's: the launch's buffers may go. */
        memset(launch_id, 'x', sizeof(launch_id) - 1);
        memset(trigger_id, 'x', sizeof(trigger_id) - 1);
        a.due_at = due_at;
        a.partition = n % 3;
        a.offset = n;
        a.failed = n % 2;
        assert_int_equal(sl_runner_answers_push(q, &a), SL_OK);
        assert_null(a.mem_); /* taken over */
}

/* out is answer n, then cleared. */
static void check(sl_runner_answer_t *out, int n)
{
        char want[32];

        snprintf(want, sizeof(want), "launch-%d", n);
        assert_string_equal(out->launch_id, want);
        snprintf(want, sizeof(want), "event-%d", n);
        assert_string_equal(out->event_id, want);
        snprintf(want, sizeof(want), "trigger-%d", n % 7);
        assert_string_equal(out->trigger_id, want);
        assert_int_equal(out->key_len, strlen(want));
        assert_memory_equal(out->key, want, out->key_len);
        assert_int_equal(out->offset, n);
        assert_int_equal(out->failed, n % 2);
        sl_runner_answer_clear(out);
        assert_null(out->mem_);
}

static void receipt_order_and_time(void **state)
{
        sl_runner_answers_t q;
        sl_runner_answer_t out;
        (void)state;

        sl_runner_answers_init(&q);
        assert_int_equal(sl_runner_answers_next_due(&q), INT64_MAX);
        assert_false(sl_runner_answers_pop_due(&q, INT64_MAX, &out));
        push(&q, 0, T0 + 50);
        push(&q, 1, T0 + 60);
        push(&q, 2, T0 + 20); /* the latency was cut: due earlier, yet behind 0 and 1 */
        assert_int_equal(sl_runner_answers_next_due(&q), T0 + 50);
        memset(&out, 0xa5, sizeof(out));
        assert_false(sl_runner_answers_pop_due(&q, T0 + 49, &out));
        assert_int_equal(((unsigned char *)&out)[0], 0xa5); /* untouched */
        assert_true(sl_runner_answers_pop_due(&q, T0 + 50, &out));
        check(&out, 0);
        assert_false(sl_runner_answers_pop_due(&q, T0 + 59, &out));
        assert_true(sl_runner_answers_pop_due(&q, T0 + 60, &out));
        check(&out, 1);
        assert_true(sl_runner_answers_pop_due(&q, T0 + 60, &out));
        check(&out, 2);
        assert_int_equal(sl_runner_answers_count(&q), 0);
        assert_int_equal(sl_runner_answers_next_due(&q), INT64_MAX);
        sl_runner_answers_close(&q);
}

static void no_key(void **state)
{
        sl_workflow_launch_t l = {.launch_id = "l", .trigger_id = "t", .event_id = "e"};
        sl_runner_answer_t a;
        (void)state;

        assert_int_equal(sl_runner_answer_init(&a, &l, NULL, 0), SL_OK);
        assert_null(a.key);
        assert_int_equal(a.key_len, 0);
        assert_string_equal(a.launch_id, "l");
        sl_runner_answer_clear(&a);
        sl_runner_answer_clear(&a); /* zeroed: safe again */
}

static size_t forgotten[3];

static void each(void *opaque, const sl_runner_answer_t *a)
{
        (void)opaque;
        assert_int_equal(a->partition, 1);
        forgotten[a->partition]++;
}

static void drop_one_partition(void **state)
{
        sl_runner_answers_t q;
        sl_runner_answer_t out;
        int want;
        (void)state;

        sl_runner_answers_init(&q);
        for (int n = 0; n < 30; n++)
                push(&q, n, T0 + n);
        assert_true(sl_runner_answers_pop_due(&q, T0, &out)); /* head moves off 0 */
        check(&out, 0);
        assert_int_equal(sl_runner_answers_drop_partition(&q, 1, each, NULL), 10);
        assert_int_equal(forgotten[1], 10);
        assert_int_equal(sl_runner_answers_drop_partition(&q, 1, NULL, NULL), 0);
        assert_int_equal(sl_runner_answers_count(&q), 19);
        /* The rest, still in receipt order. */
        want = 2;
        while (sl_runner_answers_pop_due(&q, INT64_MAX, &out)) {
                check(&out, want);
                want += want % 3 == 0 ? 2 : 1; /* skip n % 3 == 1 */
        }
        assert_int_equal(want, 30);
        /* All dropped: the queue is empty and usable. */
        push(&q, 1, T0);
        assert_int_equal(sl_runner_answers_drop_partition(&q, 1, NULL, NULL), 1);
        assert_int_equal(sl_runner_answers_next_due(&q), INT64_MAX);
        push(&q, 3, T0);
        sl_runner_answers_close(&q); /* frees what is queued */
}

static void slides_and_grows(void **state)
{
        sl_runner_answers_t q;
        sl_runner_answer_t out;
        int pushed = 0, popped = 0;
        (void)state;

        sl_runner_answers_init(&q);
        /* A steady state far longer than the array: the queue slides, not grows. */
        for (int round = 0; round < 2000; round++) {
                for (int k = 0; k < 5; k++, pushed++)
                        push(&q, pushed, T0 + pushed);
                for (int k = 0; k < 5; k++, popped++) {
                        assert_true(sl_runner_answers_pop_due(&q, INT64_MAX, &out));
                        check(&out, popped);
                }
        }
        assert_true(q.cap <= 128);
        /* A burst: it grows. */
        for (int k = 0; k < 20000; k++, pushed++)
                push(&q, pushed, T0 + pushed);
        assert_int_equal(sl_runner_answers_count(&q), 20000);
        for (; sl_runner_answers_pop_due(&q, INT64_MAX, &out); popped++)
                check(&out, popped);
        assert_int_equal(popped, pushed);
        sl_runner_answers_close(&q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(receipt_order_and_time),
            cmocka_unit_test(no_key),
            cmocka_unit_test(drop_one_partition),
            cmocka_unit_test(slides_and_grows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
