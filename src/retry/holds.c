/* The paused-partition set of sluice-retry (see holds.h). */
#include "retry/holds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/array.h"

void sl_retry_holds_init(sl_retry_holds_t *h)
{
        memset(h, 0, sizeof(*h));
}

void sl_retry_holds_close(sl_retry_holds_t *h)
{
        free(h->v);
        memset(h, 0, sizeof(*h));
}

static sl_retry_hold_t *find(const sl_retry_holds_t *h, const char *topic,
                             int32_t partition)
{
        for (size_t i = 0; i < h->cnt; i++)
                if (h->v[i].partition == partition && strcmp(h->v[i].topic, topic) == 0)
                        return &h->v[i];
        return NULL;
}

int sl_retry_holds_put(sl_retry_holds_t *h, const char *topic, int32_t partition,
                       int64_t offset, int64_t wake_at)
{
        sl_retry_hold_t *e = find(h, topic, partition);

        if (!e) {
                sl_retry_hold_t *v =
                    sl_array_grow(h->v, &h->cap, h->cnt + 1, sizeof(*v), 16);
                if (!v)
                        return SL_ERR_NOMEM;
                h->v = v;
                e = &h->v[h->cnt++];
                snprintf(e->topic, sizeof(e->topic), "%s", topic);
                e->partition = partition;
        }
        e->offset = offset;
        e->wake_at = wake_at;
        return SL_OK;
}

const sl_retry_hold_t *sl_retry_holds_find(const sl_retry_holds_t *h, const char *topic,
                                           int32_t partition)
{
        return find(h, topic, partition);
}

int sl_retry_holds_remove(sl_retry_holds_t *h, const char *topic, int32_t partition)
{
        sl_retry_hold_t *e = find(h, topic, partition);

        if (!e)
                return 0;
        *e = h->v[--h->cnt];
        return 1;
}

size_t sl_retry_holds_take_awake(sl_retry_holds_t *h, int64_t now, sl_retry_hold_t *out,
                                 size_t cap)
{
        size_t n = 0;

        for (size_t i = 0; i < h->cnt && n < cap;) {
                if (h->v[i].wake_at <= now) {
                        out[n++] = h->v[i];
                        h->v[i] = h->v[--h->cnt];
                } else {
                        i++;
                }
        }
        return n;
}

int64_t sl_retry_holds_next_wake(const sl_retry_holds_t *h)
{
        int64_t next = INT64_MAX;

        for (size_t i = 0; i < h->cnt; i++)
                if (h->v[i].wake_at < next)
                        next = h->v[i].wake_at;
        return next;
}
