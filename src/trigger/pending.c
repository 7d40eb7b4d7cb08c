/* Launches waiting for their result (see pending.h): a hash on the launch id and a
 * min-heap on the deadline over one dense array of items. */
#include "trigger/pending.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"

struct sl_pending_item_s {
        sl_pending_entry_t e; /* first: sl_pending_at() returns &item->e */
        uint64_t seq;
        uint32_t heap_pos;
};

typedef struct sl_pending_item_s item_t;

static uint64_t hash_id(const uint8_t id[16])
{
        uint64_t a, b;

        memcpy(&a, id, 8);
        memcpy(&b, id + 8, 8);
        a ^= b * 0x9e3779b97f4a7c15ULL;
        a ^= a >> 33;
        a *= 0xff51afd7ed558ccdULL;
        a ^= a >> 33;
        return a;
}

void sl_pending_init(sl_pending_t *p, size_t cap)
{
        memset(p, 0, sizeof(*p));
        p->cap = cap ? cap : 1;
        if (p->cap > INT32_MAX / 4)
                p->cap = INT32_MAX / 4; /* table indexes are int32_t */
}

void sl_pending_close(sl_pending_t *p)
{
        free(p->items);
        free(p->heap);
        free(p->table);
        memset(p, 0, sizeof(*p));
}

size_t sl_pending_count(const sl_pending_t *p)
{
        return p->n;
}

bool sl_pending_full(const sl_pending_t *p)
{
        return p->n >= p->cap;
}

const sl_pending_entry_t *sl_pending_at(const sl_pending_t *p, size_t i)
{
        return i < p->n ? &p->items[i].e : NULL;
}

int64_t sl_pending_next_deadline(const sl_pending_t *p)
{
        return p->n ? p->items[p->heap[0]].e.deadline : INT64_MAX;
}

/* --- hash ---------------------------------------------------------------------- */

/* Slot of id, or the empty slot where it would go. */
static size_t slot_of(const sl_pending_t *p, const uint8_t id[16])
{
        size_t s = (size_t)hash_id(id) & p->mask;

        while (p->table[s] >= 0 && memcmp(p->items[p->table[s]].e.launch_id, id, 16) != 0)
                s = (s + 1) & p->mask;
        return s;
}

/* Empty slot s, shifting later entries of its probe run back (no tombstones). */
static void slot_clear(sl_pending_t *p, size_t s)
{
        size_t j = s;

        p->table[s] = -1;
        for (;;) {
                size_t home;

                j = (j + 1) & p->mask;
                if (p->table[j] < 0)
                        return;
                home = (size_t)hash_id(p->items[p->table[j]].e.launch_id) & p->mask;
                /* move j back to s unless its home lies cyclically in (s, j] */
                if (s <= j ? (s < home && home <= j) : (s < home || home <= j))
                        continue;
                p->table[s] = p->table[j];
                p->table[j] = -1;
                s = j;
        }
}

static int table_rebuild(sl_pending_t *p, size_t slots)
{
        int32_t *t = malloc(slots * sizeof(*t));

        if (!t)
                return SL_ERR_NOMEM;
        free(p->table);
        p->table = t;
        p->mask = slots - 1;
        for (size_t i = 0; i < slots; i++)
                t[i] = -1;
        for (size_t i = 0; i < p->n; i++)
                t[slot_of(p, p->items[i].e.launch_id)] = (int32_t)i;
        return SL_OK;
}

/* --- heap ---------------------------------------------------------------------- */

static bool before(const sl_pending_t *p, uint32_t a, uint32_t b)
{
        const item_t *x = &p->items[a], *y = &p->items[b];

        if (x->e.deadline != y->e.deadline)
                return x->e.deadline < y->e.deadline;
        return x->seq < y->seq;
}

static void heap_set(sl_pending_t *p, size_t pos, uint32_t item)
{
        p->heap[pos] = item;
        p->items[item].heap_pos = (uint32_t)pos;
}

static void sift_up(sl_pending_t *p, size_t pos)
{
        uint32_t it = p->heap[pos];

        while (pos > 0 && before(p, it, p->heap[(pos - 1) / 2])) {
                heap_set(p, pos, p->heap[(pos - 1) / 2]);
                pos = (pos - 1) / 2;
        }
        heap_set(p, pos, it);
}

static void sift_down(sl_pending_t *p, size_t pos, size_t n)
{
        uint32_t it = p->heap[pos];

        for (;;) {
                size_t c = 2 * pos + 1;

                if (c >= n)
                        break;
                if (c + 1 < n && before(p, p->heap[c + 1], p->heap[c]))
                        c++;
                if (!before(p, p->heap[c], it))
                        break;
                heap_set(p, pos, p->heap[c]);
                pos = c;
        }
        heap_set(p, pos, it);
}

/* --- add / remove -------------------------------------------------------------- */

static int grow(sl_pending_t *p)
{
        size_t alloc = p->alloc ? p->alloc * 2 : 64;
        item_t *items;
        uint32_t *heap;

        if (alloc > p->cap)
                alloc = p->cap;
        items = realloc(p->items, alloc * sizeof(*items));
        if (!items)
                return SL_ERR_NOMEM;
        p->items = items;
        heap = realloc(p->heap, alloc * sizeof(*heap));
        if (!heap)
                return SL_ERR_NOMEM;
        p->heap = heap;
        p->alloc = alloc;
        return SL_OK;
}

int sl_pending_add(sl_pending_t *p, const uint8_t launch_id[16], int64_t launched_at,
                   int64_t deadline, bool was_probe)
{
        size_t s, slots;
        item_t *it;
        int err;

        if (p->table && p->table[slot_of(p, launch_id)] >= 0)
                return SL_ERR_DUPLICATE;
        if (p->n >= p->cap)
                return SL_ERR_STATE;
        if (p->n == p->alloc && (err = grow(p)) != SL_OK)
                return err;
        for (slots = p->mask + 1; slots < 2 * p->alloc; slots *= 2)
                ;
        if (!p->table || slots != p->mask + 1) {
                if ((err = table_rebuild(p, slots < 128 ? 128 : slots)) != SL_OK)
                        return err;
        }
        it = &p->items[p->n];
        memcpy(it->e.launch_id, launch_id, 16);
        it->e.launched_at = launched_at;
        it->e.deadline = deadline;
        it->e.was_probe = was_probe;
        it->seq = p->seq++;
        s = slot_of(p, launch_id);
        p->table[s] = (int32_t)p->n;
        p->heap[p->n] = (uint32_t)p->n;
        it->heap_pos = (uint32_t)p->n;
        p->n++;
        sift_up(p, p->n - 1);
        return SL_OK;
}

/* Remove item i (its table slot is s). */
static void remove_item(sl_pending_t *p, size_t i, size_t s)
{
        size_t last = p->n - 1, pos = p->items[i].heap_pos;

        slot_clear(p, s);
        /* out of the heap: the last heap element takes its place */
        if (pos != last) {
                uint32_t moved = p->heap[last];

                heap_set(p, pos, moved);
                sift_down(p, pos, last);
                sift_up(p, p->items[moved].heap_pos);
        }
        /* out of the dense array: the last item moves into i */
        if (i != last) {
                p->items[i] = p->items[last];
                p->table[slot_of(p, p->items[i].e.launch_id)] = (int32_t)i;
                p->heap[p->items[i].heap_pos] = (uint32_t)i;
        }
        p->n--;
}

bool sl_pending_complete(sl_pending_t *p, const uint8_t launch_id[16],
                         sl_pending_entry_t *out)
{
        size_t s;

        if (!p->n)
                return false;
        s = slot_of(p, launch_id);
        if (p->table[s] < 0)
                return false;
        if (out)
                *out = p->items[p->table[s]].e;
        remove_item(p, (size_t)p->table[s], s);
        return true;
}

size_t sl_pending_expire(sl_pending_t *p, int64_t now, sl_pending_entry_t *out,
                         size_t max)
{
        size_t k = 0;

        while (k < max && p->n && p->items[p->heap[0]].e.deadline <= now) {
                size_t i = p->heap[0];

                out[k++] = p->items[i].e;
                remove_item(p, i, slot_of(p, p->items[i].e.launch_id));
        }
        return k;
}
