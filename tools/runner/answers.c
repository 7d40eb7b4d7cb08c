/* sluice-runner's answers waiting out their latency (see answers.h). */
#include "answers.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/array.h"

/* Copy s (NUL included) to *p and advance it; returns the copy. */
static const char *put_str(char **p, const char *s)
{
        size_t n = strlen(s) + 1;
        char *at = *p;

        memcpy(at, s, n);
        *p += n;
        return at;
}

int sl_runner_answer_init(sl_runner_answer_t *a, const sl_workflow_launch_t *l,
                          const void *key, size_t key_len)
{
        size_t n = strlen(l->launch_id) + strlen(l->trigger_id) + strlen(l->event_id) +
                   3 + key_len;
        char *p;

        memset(a, 0, sizeof(*a));
        if (!(a->mem_ = p = malloc(n)))
                return SL_ERR_NOMEM;
        a->launch_id = put_str(&p, l->launch_id);
        a->trigger_id = put_str(&p, l->trigger_id);
        a->event_id = put_str(&p, l->event_id);
        if (key) {
                memcpy(p, key, key_len);
                a->key = p;
                a->key_len = key_len;
        }
        return SL_OK;
}

void sl_runner_answer_clear(sl_runner_answer_t *a)
{
        free(a->mem_);
        memset(a, 0, sizeof(*a));
}

void sl_runner_answers_init(sl_runner_answers_t *q)
{
        memset(q, 0, sizeof(*q));
}

void sl_runner_answers_close(sl_runner_answers_t *q)
{
        for (size_t i = 0; i < q->cnt; i++)
                sl_runner_answer_clear(&q->v[q->head + i]);
        free(q->v);
        sl_runner_answers_init(q);
}

int sl_runner_answers_push(sl_runner_answers_t *q, sl_runner_answer_t *a)
{
        if (q->head + q->cnt == q->cap && q->head > 0) {
                /* The front moved on: slide the queue down before growing. */
                memmove(q->v, q->v + q->head, q->cnt * sizeof(*q->v));
                q->head = 0;
        }
        sl_runner_answer_t *v =
            sl_array_grow(q->v, &q->cap, q->head + q->cnt + 1, sizeof(*q->v), 64);
        if (!v)
                return SL_ERR_NOMEM;
        q->v = v;
        q->v[q->head + q->cnt++] = *a;
        memset(a, 0, sizeof(*a));
        return SL_OK;
}

int64_t sl_runner_answers_next_due(const sl_runner_answers_t *q)
{
        return q->cnt ? q->v[q->head].due_at : INT64_MAX;
}

bool sl_runner_answers_pop_due(sl_runner_answers_t *q, int64_t now,
                               sl_runner_answer_t *out)
{
        if (!q->cnt || q->v[q->head].due_at > now)
                return false;
        *out = q->v[q->head];
        q->head = --q->cnt ? q->head + 1 : 0;
        return true;
}

size_t sl_runner_answers_drop_partition(sl_runner_answers_t *q, int32_t partition,
                                        void (*each)(void *opaque,
                                                     const sl_runner_answer_t *a),
                                        void *opaque)
{
        size_t kept = 0, dropped = 0;

        for (size_t i = 0; i < q->cnt; i++) {
                sl_runner_answer_t *a = &q->v[q->head + i];

                if (a->partition != partition) {
                        q->v[q->head + kept++] = *a;
                        continue;
                }
                if (each)
                        each(opaque, a);
                sl_runner_answer_clear(a);
                dropped++;
        }
        q->cnt = kept;
        if (!kept)
                q->head = 0;
        return dropped;
}
