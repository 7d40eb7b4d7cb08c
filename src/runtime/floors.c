/* Offset floors per partition (see floors.h): held offsets and commit progress. */
#include "runtime/floors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/array.h"

void sl_floors_init(sl_floors_t *fl)
{
        memset(fl, 0, sizeof(*fl));
}

void sl_floors_close(sl_floors_t *fl)
{
        for (size_t i = 0; i < fl->nparts; i++)
                free(fl->parts[i].held);
        free(fl->parts);
        memset(fl, 0, sizeof(*fl));
}

size_t sl_floors_find(const sl_floors_t *fl, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < fl->nparts; i++)
                if (fl->parts[i].partition == partition &&
                    strcmp(fl->parts[i].topic, topic) == 0)
                        return i;
        return SL_FLOORS_NONE;
}

size_t sl_floors_part(sl_floors_t *fl, const char *topic, int32_t partition)
{
        size_t k = sl_floors_find(fl, topic, partition);
        sl_floors_part_t *pt;

        if (k != SL_FLOORS_NONE)
                return k;
        pt = sl_array_grow(fl->parts, &fl->cap, fl->nparts + 1, sizeof(*pt), 16);
        if (!pt)
                return SL_FLOORS_NONE;
        fl->parts = pt;
        pt = &fl->parts[fl->nparts];
        memset(pt, 0, sizeof(*pt));
        snprintf(pt->topic, sizeof(pt->topic), "%s", topic);
        pt->partition = partition;
        pt->done = pt->committed = -1;
        return fl->nparts++;
}

int sl_floors_hold(sl_floors_t *fl, size_t k, int64_t offset)
{
        sl_floors_part_t *pt = &fl->parts[k];
        size_t at;

        if (pt->cnt == pt->cap && pt->head > 0) {
                /* Compact: what is before head is gone. */
                memmove(pt->held, pt->held + pt->head,
                        (pt->cnt - pt->head) * sizeof(*pt->held));
                pt->cnt -= pt->head;
                pt->head = 0;
        }
        struct sl_floors_held_s *held =
            sl_array_grow(pt->held, &pt->cap, pt->cnt + 1, sizeof(*held), 256);
        if (!held)
                return SL_ERR_NOMEM;
        pt->held = held;
        /* Held in offset order as records are processed; keep it sorted regardless. */
        for (at = pt->cnt; at > pt->head && pt->held[at - 1].offset > offset; at--)
                pt->held[at] = pt->held[at - 1];
        pt->held[at].offset = offset;
        pt->held[at].gone = false;
        pt->cnt++;
        return SL_OK;
}

void sl_floors_drop(sl_floors_t *fl, size_t k, int64_t offset)
{
        sl_floors_part_t *pt = &fl->parts[k];
        size_t lo = pt->head, hi = pt->cnt;

        /* The first hold of offset not yet gone, by binary search. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pt->held[mid].offset < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < pt->cnt && pt->held[lo].offset == offset; lo++)
                if (!pt->held[lo].gone) {
                        pt->held[lo].gone = true;
                        return;
                }
}

int64_t sl_floors_floor(sl_floors_t *fl, size_t k)
{
        sl_floors_part_t *pt = &fl->parts[k];

        while (pt->head < pt->cnt && pt->held[pt->head].gone)
                pt->head++;
        if (pt->head == pt->cnt) {
                pt->head = pt->cnt = 0; /* nothing held: reuse from the start */
                return INT64_MAX;
        }
        return pt->held[pt->head].offset;
}

void sl_floors_done(sl_floors_t *fl, size_t k, int64_t offset)
{
        if (offset > fl->parts[k].done)
                fl->parts[k].done = offset;
}

int64_t sl_floors_take_commit(sl_floors_t *fl, size_t k)
{
        sl_floors_part_t *pt = &fl->parts[k];
        int64_t lo = sl_floors_floor(fl, k);
        int64_t to = pt->done < lo ? pt->done : lo;

        if (to <= pt->committed)
                return -1;
        pt->committed = to;
        return to;
}

void sl_floors_forget(sl_floors_t *fl, const char *topic, int32_t partition)
{
        size_t k = sl_floors_find(fl, topic, partition);

        if (k == SL_FLOORS_NONE)
                return;
        free(fl->parts[k].held);
        fl->parts[k] = fl->parts[--fl->nparts];
}
