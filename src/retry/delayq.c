/* The delay queue of sluice-retry (see delayq.h). */
#include "retry/delayq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/array.h"

void sl_retry_delayq_init(sl_retry_delayq_t *q)
{
        memset(q, 0, sizeof(*q));
}

void sl_retry_delayq_close(sl_retry_delayq_t *q)
{
        for (size_t i = 0; i < q->cnt; i++)
                sl_retry_record_clear(&q->v[i].rr);
        free(q->v);
        memset(q, 0, sizeof(*q));
}

/* The heap order.  seq makes it total, so equal due times pop in push order although a
 * binary heap is not stable by itself. */
static int before(const sl_retry_delayed_t *a, const sl_retry_delayed_t *b)
{
        return a->due_at < b->due_at || (a->due_at == b->due_at && a->seq < b->seq);
}

/* Entries are a few hundred bytes (the topic name), so both sifts move a hole and copy
 * the moving entry once, rather than swapping at every level. */
static void sift_up(sl_retry_delayed_t *v, size_t i)
{
        sl_retry_delayed_t e = v[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (!before(&e, &v[parent]))
                        break;
                v[i] = v[parent];
                i = parent;
        }
        v[i] = e;
}

static void sift_down(sl_retry_delayed_t *v, size_t cnt, size_t i)
{
        sl_retry_delayed_t e = v[i];

        for (;;) {
                size_t child = 2 * i + 1;
                if (child >= cnt)
                        break;
                if (child + 1 < cnt && before(&v[child + 1], &v[child]))
                        child++;
                if (!before(&v[child], &e))
                        break;
                v[i] = v[child];
                i = child;
        }
        v[i] = e;
}

int sl_retry_delayq_push(sl_retry_delayq_t *q, sl_retry_record_t *rr, int64_t due_at,
                         const char *topic, int32_t partition, int64_t offset)
{
        sl_retry_delayed_t *e;

        sl_retry_delayed_t *v = sl_array_grow(q->v, &q->cap, q->cnt + 1, sizeof(*v), 16);
        if (!v)
                return SL_ERR_NOMEM;
        q->v = v;
        e = &q->v[q->cnt];
        e->rr = *rr;
        e->due_at = due_at;
        snprintf(e->topic, sizeof(e->topic), "%s", topic);
        e->partition = partition;
        e->offset = offset;
        e->seq = q->next_seq++;
        sift_up(q->v, q->cnt++);
        q->bytes += rr->envelope_len;
        memset(rr, 0, sizeof(*rr));
        return SL_OK;
}

int64_t sl_retry_delayq_next_due(const sl_retry_delayq_t *q)
{
        return q->cnt ? q->v[0].due_at : INT64_MAX;
}

int sl_retry_delayq_pop_due(sl_retry_delayq_t *q, int64_t now, sl_retry_delayed_t *out)
{
        if (q->cnt == 0 || q->v[0].due_at > now)
                return 0;
        *out = q->v[0];
        q->bytes -= out->rr.envelope_len;
        if (--q->cnt > 0) {
                q->v[0] = q->v[q->cnt];
                sift_down(q->v, q->cnt, 0);
        }
        return 1;
}

size_t sl_retry_delayq_drop_partition(sl_retry_delayq_t *q, const char *topic,
                                      int32_t partition)
{
        size_t kept = 0, dropped;

        for (size_t i = 0; i < q->cnt; i++) {
                sl_retry_delayed_t *e = &q->v[i];
                if (e->partition == partition && strcmp(e->topic, topic) == 0) {
                        q->bytes -= e->rr.envelope_len;
                        sl_retry_record_clear(&e->rr);
                } else {
                        if (kept != i)
                                q->v[kept] = *e;
                        kept++;
                }
        }
        dropped = q->cnt - kept;
        q->cnt = kept;
        /* Compaction breaks the heap; rebuild it bottom-up, O(n).  Revocations are rare
         * and an O(log n) removal per entry would need each entry's heap index kept. */
        if (dropped)
                for (size_t i = kept / 2; i-- > 0;)
                        sift_down(q->v, kept, i);
        return dropped;
}

size_t sl_retry_delayq_count(const sl_retry_delayq_t *q)
{
        return q->cnt;
}
