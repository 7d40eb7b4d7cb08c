/* Unit tests for src/retry/delayq.c: the order records pop in (due time, then push
 * order), pop_due against the clock, revocation, the bytes held, who owns the records,
 * growth.  Records are really encoded and decoded, so every clear frees an arena; run
 * under the ASan build too, which catches a record leaked or freed twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry/delayq.h"
#include "retry/retry_record.h"
#include "sluice/err.h"

#define T0 1700000000000LL

/* A seeded xorshift64*: the same "random" sequence on every run. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
        rng_state = seed ? seed : 1;
}

static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

/* The envelope bytes of record `attempt`: a pattern tied to it, so a record that
 * travelled with the wrong entry, or whose arena was freed, shows. */
static unsigned char env_byte(int32_t attempt, size_t k)
{
        return (unsigned char)(attempt * 31 + (int32_t)k);
}

/* A decoded record (owns an arena), as sluice-retry holds one after consuming it. */
static sl_retry_record_t make_rr(int32_t attempt, int64_t due_at, size_t env_len)
{
        unsigned char env[256];
        sl_retry_record_t in = {.event_id = "3f2c1a9e-0000-4000-8000-000000000001",
                                .source = "shop",
                                .attempt = attempt,
                                .due_at = due_at,
                                .reason = "window_full",
                                .envelope = env,
                                .envelope_len = env_len};
        sl_retry_record_t rr;
        void *buf;
        size_t len;

        assert_true(env_len <= sizeof(env));
        for (size_t k = 0; k < env_len; k++)
                env[k] = env_byte(attempt, k);
        assert_int_equal(sl_retry_record_encode(&in, &buf, &len), SL_OK);
        assert_int_equal(sl_retry_record_decode(buf, len, &rr), SL_OK);
        free(buf);
        assert_non_null(rr.arena_);
        return rr;
}

static void check_rr(const sl_retry_record_t *rr, int32_t attempt, size_t env_len)
{
        assert_int_equal(rr->attempt, attempt);
        assert_string_equal(rr->source, "shop");
        assert_string_equal(rr->reason, "window_full");
        assert_int_equal(rr->envelope_len, env_len);
        for (size_t k = 0; k < env_len; k++)
                assert_int_equal(((const unsigned char *)rr->envelope)[k],
                                 env_byte(attempt, k));
}

/* Push one record whose attempt and offset are both `id`, so a popped entry says which
 * push it was. */
static void push(sl_retry_delayq_t *q, int32_t id, int64_t due_at, const char *topic,
                 int32_t partition, size_t env_len)
{
        sl_retry_record_t rr = make_rr(id, due_at, env_len);
        assert_int_equal(sl_retry_delayq_push(q, &rr, due_at, topic, partition, id),
                         SL_OK);
}

static void random_pushes_pop_in_due_order_ties_in_push_order(void **state)
{
        enum { N = 3000 };
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        int64_t last_due = INT64_MIN, last_offset = -1;
        size_t ties = 0;
        (void)state;

        rng_seed(0x5eed0001);
        sl_retry_delayq_init(&q);
        /* due times within 300 ms: thousands of pushes make plenty of ties */
        for (int32_t i = 0; i < N; i++)
                push(&q, i, T0 + (int64_t)(rng() % 300), "sluice.retry.1s", 0, i % 64);
        assert_int_equal(sl_retry_delayq_count(&q), N);
        for (size_t n = 0; n < N; n++) {
                assert_int_equal(sl_retry_delayq_pop_due(&q, INT64_MAX, &out), 1);
                assert_true(out.due_at >= last_due);
                if (out.due_at == last_due) {
                        assert_true(out.offset > last_offset);
                        ties++;
                }
                check_rr(&out.rr, (int32_t)out.offset, (size_t)out.offset % 64);
                assert_int_equal(out.rr.due_at, out.due_at);
                assert_string_equal(out.topic, "sluice.retry.1s");
                last_due = out.due_at;
                last_offset = out.offset;
                sl_retry_record_clear(&out.rr);
        }
        assert_true(ties > N / 2);
        assert_int_equal(sl_retry_delayq_count(&q), 0);
        assert_int_equal(sl_retry_delayq_pop_due(&q, INT64_MAX, &out), 0);
        sl_retry_delayq_close(&q);
}

static void pop_due_respects_now(void **state)
{
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        (void)state;

        sl_retry_delayq_init(&q);
        assert_int_equal(sl_retry_delayq_next_due(&q), INT64_MAX);
        assert_int_equal(sl_retry_delayq_pop_due(&q, INT64_MAX, &out), 0);
        push(&q, 0, T0 + 30, "sluice.retry.1s", 0, 8);
        push(&q, 1, T0 + 20, "sluice.retry.1s", 1, 8);
        push(&q, 2, T0 + 10, "sluice.retry.1s", 2, 8);
        push(&q, 3, T0 + 20, "sluice.retry.1s", 3, 8);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 10);

        /* nothing before its time, and *out untouched when nothing pops */
        memset(&out, 0xa5, sizeof(out));
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 9, &out), 0);
        assert_int_equal(out.offset, (int64_t)0xa5a5a5a5a5a5a5a5ULL);
        assert_int_equal(sl_retry_delayq_count(&q), 4);

        /* at T0 + 20 exactly the three due ones, the tie in push order, then no more */
        int64_t want[] = {2, 1, 3};
        for (size_t k = 0; k < 3; k++) {
                assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 20, &out), 1);
                assert_int_equal(out.offset, want[k]);
                assert_int_equal(out.partition, (int32_t)want[k]);
                assert_true(out.due_at <= T0 + 20);
                sl_retry_record_clear(&out.rr);
        }
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 20, &out), 0);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 30);
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 29, &out), 0);
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 30, &out), 1);
        assert_int_equal(out.offset, 0);
        sl_retry_record_clear(&out.rr);
        assert_int_equal(sl_retry_delayq_next_due(&q), INT64_MAX);
        sl_retry_delayq_close(&q);
}

static void next_due_follows_the_earliest(void **state)
{
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        (void)state;

        sl_retry_delayq_init(&q);
        push(&q, 0, T0 + 500, "t", 0, 1);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 500);
        push(&q, 1, T0 + 700, "t", 0, 1); /* later: no change */
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 500);
        push(&q, 2, T0 + 100, "t", 0, 1); /* earlier: it leads */
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 100);
        push(&q, 3, T0 + 100, "t", 0, 1); /* a tie: same answer */
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 100);
        /* already overdue (a late consumer): due at once */
        push(&q, 4, T0 - 60000, "t", 0, 1);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 - 60000);
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0, &out), 1);
        assert_int_equal(out.offset, 4);
        sl_retry_record_clear(&out.rr);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0 + 100);
        sl_retry_delayq_close(&q);
}

/* A revoked partition's entries go, the same partition number of another topic stays,
 * and the heap still pops the rest in order. */
static void drop_partition_removes_only_that_partition(void **state)
{
        enum { N = 2000 };
        static const char *topics[] = {"sluice.retry.1s", "sluice.retry.10s",
                                       "sluice.retry.1m"};
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        size_t want_dropped = 0, want_bytes = 0, popped = 0;
        int64_t last_due = INT64_MIN, last_offset = -1;
        (void)state;

        rng_seed(0x5eed0002);
        sl_retry_delayq_init(&q);
        for (int32_t i = 0; i < N; i++) {
                const char *topic = topics[rng() % 3];
                int32_t partition = (int32_t)(rng() % 4);
                size_t env_len = (size_t)(rng() % 200);
                push(&q, i, T0 + (int64_t)(rng() % 100), topic, partition, env_len);
                if (partition == 2 && strcmp(topic, "sluice.retry.10s") == 0)
                        want_dropped++;
                else
                        want_bytes += env_len;
        }
        assert_true(want_dropped > 0);

        assert_int_equal(sl_retry_delayq_drop_partition(&q, "sluice.retry.10s", 2),
                         want_dropped);
        assert_int_equal(sl_retry_delayq_count(&q), N - want_dropped);
        assert_int_equal(q.bytes, want_bytes);
        /* again, a partition never queued, a topic never queued: nothing more goes */
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "sluice.retry.10s", 2), 0);
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "sluice.retry.10s", 9), 0);
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "sluice.retry.10", 1), 0);
        assert_int_equal(sl_retry_delayq_count(&q), N - want_dropped);

        while (sl_retry_delayq_pop_due(&q, INT64_MAX, &out)) {
                assert_false(out.partition == 2 &&
                             strcmp(out.topic, "sluice.retry.10s") == 0);
                assert_true(out.due_at >= last_due);
                if (out.due_at == last_due)
                        assert_true(out.offset > last_offset);
                check_rr(&out.rr, (int32_t)out.offset, out.rr.envelope_len);
                last_due = out.due_at;
                last_offset = out.offset;
                want_bytes -= out.rr.envelope_len;
                assert_int_equal(q.bytes, want_bytes);
                sl_retry_record_clear(&out.rr);
                popped++;
        }
        assert_int_equal(popped, N - want_dropped);
        assert_int_equal(q.bytes, 0);

        /* dropping everything empties it; dropping from empty is a no-op */
        push(&q, 0, T0, "t", 0, 5);
        push(&q, 1, T0, "t", 0, 5);
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "t", 0), 2);
        assert_int_equal(sl_retry_delayq_count(&q), 0);
        assert_int_equal(q.bytes, 0);
        assert_int_equal(sl_retry_delayq_next_due(&q), INT64_MAX);
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "t", 0), 0);
        sl_retry_delayq_close(&q);
}

/* bytes is the sum of the queued envelopes, whatever order they arrive and leave in. */
static void bytes_accounting(void **state)
{
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        (void)state;

        sl_retry_delayq_init(&q);
        assert_int_equal(q.bytes, 0);
        push(&q, 0, T0 + 3, "t", 0, 100);
        push(&q, 1, T0 + 1, "t", 1, 0); /* an empty envelope counts nothing */
        push(&q, 2, T0 + 2, "t", 0, 250);
        assert_int_equal(q.bytes, 350);
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 1, &out), 1);
        assert_int_equal(out.rr.envelope_len, 0);
        sl_retry_record_clear(&out.rr);
        assert_int_equal(q.bytes, 350);
        assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + 2, &out), 1);
        sl_retry_record_clear(&out.rr);
        assert_int_equal(q.bytes, 100);
        push(&q, 3, T0 + 9, "t", 1, 7);
        assert_int_equal(q.bytes, 107);
        assert_int_equal(sl_retry_delayq_drop_partition(&q, "t", 0), 1);
        assert_int_equal(q.bytes, 7);
        sl_retry_delayq_close(&q);
        assert_int_equal(q.bytes, 0);
        assert_int_equal(sl_retry_delayq_count(&q), 0);
}

/* push takes the record (the caller's copy is zeroed, so clearing it is harmless), a
 * popped record belongs to the caller and outlives the queue, close frees the rest. */
static void ownership(void **state)
{
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        sl_retry_record_t rr, zero;
        (void)state;

        memset(&zero, 0, sizeof(zero));
        sl_retry_delayq_init(&q);
        rr = make_rr(7, T0, 32);
        assert_int_equal(sl_retry_delayq_push(&q, &rr, T0, "sluice.retry.1s", 3, 41),
                         SL_OK);
        assert_memory_equal(&rr, &zero, sizeof(rr));
        sl_retry_record_clear(
            &rr); /* what a caller's cleanup path does: no double free */

        for (int32_t i = 0; i < 50; i++)
                push(&q, 100 + i, T0 + 1 + i, "sluice.retry.1s", 3, 16);

        assert_int_equal(sl_retry_delayq_pop_due(&q, T0, &out), 1);
        assert_int_equal(out.offset, 41);
        assert_int_equal(out.partition, 3);
        assert_string_equal(out.topic, "sluice.retry.1s");
        sl_retry_delayq_close(&q); /* frees the 50 still queued, not the popped one */
        check_rr(&out.rr, 7, 32);
        assert_string_equal(out.rr.event_id, "3f2c1a9e-0000-4000-8000-000000000001");
        sl_retry_record_clear(&out.rr);

        /* closed is as good as initialised */
        push(&q, 1, T0, "t", 0, 4);
        assert_int_equal(sl_retry_delayq_count(&q), 1);
        sl_retry_delayq_close(&q);
        sl_retry_delayq_close(&q); /* twice is harmless */
}

/* Mixed pushes, pops against an advancing clock and revocations, checked against a
 * plain array with a linear search for the earliest (due_at, push order). */
typedef struct {
        int64_t due_at, id;
        int32_t partition;
        size_t env_len;
} model_t;

static void matches_a_model_under_mixed_operations(void **state)
{
        enum { OPS = 20000, MAXQ = 4096 };
        static model_t m[MAXQ];
        size_t mcnt = 0, mbytes = 0;
        int64_t now = T0;
        int32_t next_id = 0;
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        (void)state;

        rng_seed(0x5eed0003);
        sl_retry_delayq_init(&q);
        for (int op = 0; op < OPS; op++) {
                uint64_t r = rng() % 100;
                if (r < 55 && mcnt < MAXQ) {
                        model_t e = {.due_at = now + (int64_t)(rng() % 400),
                                     .id = next_id++,
                                     .partition = (int32_t)(rng() % 8),
                                     .env_len = (size_t)(rng() % 100)};
                        push(&q, (int32_t)e.id, e.due_at, "sluice.retry.1s", e.partition,
                             e.env_len);
                        m[mcnt++] = e;
                        mbytes += e.env_len;
                } else if (r < 97) {
                        size_t best = SIZE_MAX;
                        now += (int64_t)(rng() % 20);
                        for (size_t i = 0; i < mcnt; i++)
                                if (m[i].due_at <= now &&
                                    (best == SIZE_MAX || m[i].due_at < m[best].due_at ||
                                     (m[i].due_at == m[best].due_at &&
                                      m[i].id < m[best].id)))
                                        best = i;
                        if (best == SIZE_MAX) {
                                assert_int_equal(sl_retry_delayq_pop_due(&q, now, &out),
                                                 0);
                                continue;
                        }
                        assert_int_equal(sl_retry_delayq_pop_due(&q, now, &out), 1);
                        assert_int_equal(out.offset, m[best].id);
                        assert_int_equal(out.due_at, m[best].due_at);
                        assert_int_equal(out.partition, m[best].partition);
                        check_rr(&out.rr, (int32_t)out.offset, m[best].env_len);
                        sl_retry_record_clear(&out.rr);
                        mbytes -= m[best].env_len;
                        memmove(&m[best], &m[best + 1], (mcnt - best - 1) * sizeof(m[0]));
                        mcnt--;
                } else {
                        int32_t partition = (int32_t)(rng() % 8);
                        size_t kept = 0;
                        for (size_t i = 0; i < mcnt; i++) {
                                if (m[i].partition == partition)
                                        mbytes -= m[i].env_len;
                                else
                                        m[kept++] = m[i];
                        }
                        assert_int_equal(sl_retry_delayq_drop_partition(
                                             &q, "sluice.retry.1s", partition),
                                         mcnt - kept);
                        mcnt = kept;
                }
                assert_int_equal(sl_retry_delayq_count(&q), mcnt);
                assert_int_equal(q.bytes, mbytes);
                int64_t want_next = INT64_MAX;
                for (size_t i = 0; i < mcnt; i++)
                        if (m[i].due_at < want_next)
                                want_next = m[i].due_at;
                assert_int_equal(sl_retry_delayq_next_due(&q), want_next);
        }
        sl_retry_delayq_close(&q);
}

/* 100,000 queued: the array grows by doubling, and they still pop in order. Due times
 * pushed descending make every push sift to the root. */
static void grows_to_a_hundred_thousand(void **state)
{
        enum { N = 100000 };
        sl_retry_delayq_t q;
        sl_retry_delayed_t out;
        size_t bytes = 0;
        (void)state;

        sl_retry_delayq_init(&q);
        for (int32_t i = 0; i < N; i++) {
                push(&q, i, T0 + (N - i) / 2, "sluice.retry.1s", i % 12, (size_t)(i % 7));
                bytes += (size_t)(i % 7);
        }
        assert_int_equal(sl_retry_delayq_count(&q), N);
        assert_true(q.cap >= N);
        assert_int_equal(q.bytes, bytes);
        assert_int_equal(sl_retry_delayq_next_due(&q), T0);

        /* the first half by the clock, then revoke a partition, then the rest close frees
         */
        int64_t last_due = INT64_MIN, last_offset = -1;
        for (size_t n = 0; n < N / 2; n++) {
                assert_int_equal(sl_retry_delayq_pop_due(&q, T0 + N, &out), 1);
                assert_true(out.due_at > last_due ||
                            (out.due_at == last_due && out.offset > last_offset));
                last_due = out.due_at;
                last_offset = out.offset;
                bytes -= out.rr.envelope_len;
                sl_retry_record_clear(&out.rr);
        }
        assert_int_equal(q.bytes, bytes);
        assert_true(sl_retry_delayq_drop_partition(&q, "sluice.retry.1s", 5) > 0);
        assert_true(sl_retry_delayq_next_due(&q) >= last_due);
        sl_retry_delayq_close(&q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(random_pushes_pop_in_due_order_ties_in_push_order),
            cmocka_unit_test(pop_due_respects_now),
            cmocka_unit_test(next_due_follows_the_earliest),
            cmocka_unit_test(drop_partition_removes_only_that_partition),
            cmocka_unit_test(bytes_accounting),
            cmocka_unit_test(ownership),
            cmocka_unit_test(matches_a_model_under_mixed_operations),
            cmocka_unit_test(grows_to_a_hundred_thousand),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
