/*
 * A stage's partitioned state (pstate.h): a store, one replay position per input
 * partition, an open-addressing working set rebuilt every batch (keys borrowed from
 * the batch, decoded values side by side in one block) and an open-addressing set of
 * the keys touched since the stage last cleared it (keys copied).
 */
#include "state/pstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "metrics/metrics.h"
#include "sluice/err.h"
#include "state/store.h"
#include "util/clock.h"
#include "util/hmap.h"

#define SL_PSTATE_KEY_MAX     1040 /* prefix + key, truncated beyond */
#define SL_PSTATE_ENCODED_MAX 512

/* A key of the current batch and its working copy (vals + slot * value_size). */
typedef struct work_s {
        const char *key; /* NULL: empty slot; borrowed from the batch */
        uint64_t hash;
        int32_t part;
} work_t;

/* A key changed since the last clear. */
typedef struct touched_s {
        char *key; /* NULL: empty slot */
        uint64_t hash;
        int32_t part;
        int64_t n;
} touched_t;

struct sl_pstate_s {
        sl_pstate_conf_t pc;
        const sl_conf_t *conf;
        sl_store_t *st;
        sl_replay_t *replay; /* per partition */
        bool *assigned;
        int32_t nparts;

        work_t *work; /* cap a power of two */
        unsigned char *vals;
        size_t *work_used; /* slots in use this batch */
        size_t work_cap, work_cnt;

        touched_t *touched; /* cap a power of two, at most half full */
        size_t touched_cap, touched_cnt;

        sl_metric_t *m_restore_seconds, *m_restore_records;
};

/* Never 0: a slot's hash 0 would read as empty. */
static uint64_t hash_str(const char *s)
{
        uint64_t h = sl_hash_str(s);
        return h ? h : 1;
}

static void store_key(const sl_pstate_t *ps, const char *key, char *out)
{
        snprintf(out, SL_PSTATE_KEY_MAX, "%s%s", ps->pc.codec.key_prefix, key);
}

static int ensure_parts(sl_pstate_t *ps, int32_t part)
{
        int32_t n = part + 1;
        sl_replay_t *r;
        bool *a;

        if (part < ps->nparts)
                return SL_OK;
        if (part < 0)
                return SL_ERR_INVALID;
        r = realloc(ps->replay, (size_t)n * sizeof(*r));
        if (r)
                ps->replay = r;
        a = realloc(ps->assigned, (size_t)n * sizeof(*a));
        if (a)
                ps->assigned = a;
        if (!r || !a)
                return SL_ERR_NOMEM;
        for (int32_t i = ps->nparts; i < n; i++) {
                sl_replay_restored(&ps->replay[i], -1);
                ps->assigned[i] = false;
        }
        ps->nparts = n;
        return SL_OK;
}

sl_pstate_t *sl_pstate_new(const sl_conf_t *conf, const sl_pstate_conf_t *pc,
                           char *errstr, size_t errstr_size)
{
        static const double restore_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5,
                                                1,    2,    5,   10,   30};
        const sl_pstate_codec_t *c = &pc->codec;
        char name[128], help[256];
        sl_pstate_t *ps;

        if (!pc->stage || !pc->name || !pc->keys || !pc->changelog || !c->value_size ||
            !c->encoded_max || c->encoded_max > SL_PSTATE_ENCODED_MAX || !c->key_prefix ||
            !c->decode || !c->encode || !c->progress_key || !c->progress_encode ||
            !c->progress_decode || !*c->key_prefix ||
            strncmp(c->progress_key, c->key_prefix, strlen(c->key_prefix)) == 0) {
                snprintf(errstr, errstr_size, "state: incomplete or inconsistent codec");
                return NULL;
        }
        ps = calloc(1, sizeof(*ps));
        if (!ps)
                goto fail_nomem;
        ps->pc = *pc;
        ps->conf = conf;
        ps->st = sl_store_new(conf, pc->name, pc->changelog);
        if (!ps->st)
                goto fail_nomem;
        ps->pc.changelog = NULL; /* the store has its copy; the caller's may go */
        snprintf(name, sizeof(name), "sluice_%s_state_restore_seconds", pc->stage);
        snprintf(help, sizeof(help),
                 "Time to restore one partition's %s state from its changelog.",
                 pc->name);
        ps->m_restore_seconds =
            sl_metrics_histogram(name, NULL, help, restore_bounds,
                                 sizeof(restore_bounds) / sizeof(restore_bounds[0]));
        snprintf(name, sizeof(name), "sluice_%s_state_restore_records_total", pc->stage);
        snprintf(help, sizeof(help), "Changelog records read while restoring %s state.",
                 pc->name);
        ps->m_restore_records = sl_metrics_counter(name, NULL, help);
        return ps;

fail_nomem:
        free(ps);
        snprintf(errstr, errstr_size, "state: out of memory");
        return NULL;
}

void sl_pstate_destroy(sl_pstate_t *ps)
{
        if (!ps)
                return;
        sl_store_destroy(ps->st);
        sl_pstate_touched_clear(ps);
        free(ps->touched);
        free(ps->work);
        free(ps->vals);
        free(ps->work_used);
        free(ps->replay);
        free(ps->assigned);
        free(ps);
}

int sl_pstate_assign(sl_pstate_t *ps, const rd_kafka_topic_partition_list_t *parts,
                     char *errstr, size_t errstr_size)
{
        const sl_pstate_codec_t *c = &ps->pc.codec;

        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                int64_t t0 = sl_mono_ms(), off = -1;
                size_t records = 0, len;
                const void *v;
                int err;

                if (ensure_parts(ps, p) != SL_OK) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return SL_ERR_NOMEM;
                }
                err = sl_store_restore(ps->st, p, ps->pc.restore_timeout_ms, &records,
                                       errstr, errstr_size);
                if (err != SL_OK)
                        return err;
                v = sl_store_get(ps->st, p, c->progress_key, &len);
                if (v && c->progress_decode(v, len, &off) != SL_OK)
                        off = -1;
                sl_replay_restored(&ps->replay[p], off);
                ps->assigned[p] = true;
                double secs = (double)(sl_mono_ms() - t0) / 1000.0;
                sl_metrics_observe(ps->m_restore_seconds, secs);
                sl_metrics_add(ps->m_restore_records, records);
                sl_log_info("%s state of partition %d restored: %zu changelog records, "
                            "%zu %s, progress offset %lld, %.3f s",
                            ps->pc.name, (int)p, records,
                            sl_store_count(ps->st, p) - (v ? 1 : 0), ps->pc.keys,
                            (long long)off, secs);
        }
        return SL_OK;
}

void sl_pstate_revoke(sl_pstate_t *ps, const rd_kafka_topic_partition_list_t *parts,
                      rd_kafka_t *producer)
{
        sl_store_flush(ps->st, -1, producer, NULL, NULL);
        rd_kafka_flush(producer, 30000);
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                if (p >= 0 && p < ps->nparts) {
                        ps->assigned[p] = false;
                        sl_replay_restored(&ps->replay[p], -1);
                }
                sl_store_drop(ps->st, p);
        }
}

/* --- the batch ---------------------------------------------------------------- */

int sl_pstate_begin(sl_pstate_t *ps, size_t max_keys)
{
        size_t cap = 64;

        for (int32_t p = 0; p < ps->nparts; p++)
                sl_replay_begin(&ps->replay[p]);
        while (cap < max_keys * 2)
                cap *= 2;
        if (cap <= ps->work_cap)
                return SL_OK;
        free(ps->work);
        free(ps->vals);
        free(ps->work_used);
        ps->work = calloc(cap, sizeof(*ps->work));
        ps->vals = calloc(cap, ps->pc.codec.value_size);
        ps->work_used = calloc(cap, sizeof(*ps->work_used));
        ps->work_cnt = 0;
        if (!ps->work || !ps->vals || !ps->work_used) {
                ps->work_cap = 0;
                return SL_ERR_NOMEM;
        }
        ps->work_cap = cap;
        return SL_OK;
}

void *sl_pstate_work(sl_pstate_t *ps, int32_t part, const char *key)
{
        const sl_pstate_codec_t *c = &ps->pc.codec;
        uint64_t h = hash_str(key);
        size_t i, len;
        char skey[SL_PSTATE_KEY_MAX];
        const void *v;
        void *val;

        if (ensure_parts(ps, part) != SL_OK || !ps->work_cap)
                return NULL;
        for (i = h & (ps->work_cap - 1); ps->work[i].key;
             i = (i + 1) & (ps->work_cap - 1))
                if (ps->work[i].hash == h && ps->work[i].part == part &&
                    strcmp(ps->work[i].key, key) == 0)
                        return ps->vals + i * c->value_size;
        if ((ps->work_cnt + 1) * 2 > ps->work_cap)
                return NULL; /* more keys than sl_pstate_begin() was told */
        ps->work[i] = (work_t){.key = key, .hash = h, .part = part};
        val = ps->vals + i * c->value_size;
        memset(val, 0, c->value_size);
        store_key(ps, key, skey);
        v = sl_store_get(ps->st, part, skey, &len);
        if (v && c->decode(v, len, val) != SL_OK) {
                sl_log_warn("%s state of %s does not decode: starting afresh",
                            ps->pc.name, key);
                memset(val, 0, c->value_size);
        }
        ps->work_used[ps->work_cnt++] = i;
        return val;
}

bool sl_pstate_verifying(const sl_pstate_t *ps, int32_t part)
{
        return part < 0 || part >= ps->nparts || ps->replay[part].verify;
}

sl_replay_action_t sl_pstate_replay(sl_pstate_t *ps, int32_t part, int64_t offset,
                                    sl_replay_record_t rec)
{
        if (ensure_parts(ps, part) != SL_OK) {
                sl_replay_t fresh; /* a partition never seen: in verify mode */
                sl_replay_restored(&fresh, -1);
                return sl_replay_event(&fresh, offset, rec);
        }
        return sl_replay_event(&ps->replay[part], offset, rec);
}

bool sl_pstate_is_new(const sl_pstate_t *ps, int32_t part, int64_t offset)
{
        return part < 0 || part >= ps->nparts ||
               sl_replay_is_new(&ps->replay[part], offset);
}

void sl_pstate_end(sl_pstate_t *ps)
{
        const sl_pstate_codec_t *c = &ps->pc.codec;

        /* Write the working copies back to the store, once per key. */
        for (size_t k = 0; k < ps->work_cnt; k++) {
                size_t i = ps->work_used[k];
                work_t *w = &ps->work[i];
                unsigned char buf[SL_PSTATE_ENCODED_MAX];
                char skey[SL_PSTATE_KEY_MAX];

                store_key(ps, w->key, skey);
                sl_store_put(ps->st, w->part, skey, buf,
                             c->encode(ps->vals + i * c->value_size, buf));
                w->key = NULL;
        }
        ps->work_cnt = 0;
        for (int32_t p = 0; p < ps->nparts; p++)
                sl_replay_end(&ps->replay[p]);
}

void sl_pstate_abort(sl_pstate_t *ps)
{
        for (size_t k = 0; k < ps->work_cnt; k++)
                ps->work[ps->work_used[k]].key = NULL;
        ps->work_cnt = 0;
}

int sl_pstate_flush(sl_pstate_t *ps, rd_kafka_t *producer, void *msg_opaque,
                    const int64_t *last_offsets, int32_t nparts, size_t *records)
{
        const sl_pstate_codec_t *c = &ps->pc.codec;

        for (int32_t p = 0; p < nparts; p++) {
                unsigned char buf[16];
                if (last_offsets[p] < 0 || p >= ps->nparts || !ps->assigned[p])
                        continue;
                if (sl_replay_progress(&ps->replay[p], last_offsets[p]))
                        sl_store_put(ps->st, p, c->progress_key, buf,
                                     c->progress_encode(last_offsets[p], buf));
        }
        return sl_store_flush(ps->st, -1, producer, msg_opaque, records);
}

/* --- outside a batch ---------------------------------------------------------- */

int sl_pstate_get(const sl_pstate_t *ps, int32_t part, const char *key, void *value)
{
        char skey[SL_PSTATE_KEY_MAX];
        const void *v;
        size_t len;

        if (part < 0 || part >= ps->nparts || !ps->assigned[part])
                return SL_ERR_NOTFOUND;
        store_key(ps, key, skey);
        v = sl_store_get(ps->st, part, skey, &len);
        if (!v)
                return SL_ERR_NOTFOUND;
        return ps->pc.codec.decode(v, len, value) == SL_OK ? SL_OK : SL_ERR_DECODE;
}

int sl_pstate_put(sl_pstate_t *ps, int32_t part, const char *key, const void *value)
{
        unsigned char buf[SL_PSTATE_ENCODED_MAX];
        char skey[SL_PSTATE_KEY_MAX];

        if (part < 0 || part >= ps->nparts || !ps->assigned[part])
                return SL_ERR_NOTFOUND;
        store_key(ps, key, skey);
        return sl_store_put(ps->st, part, skey, buf, ps->pc.codec.encode(value, buf));
}

typedef struct foreach_ctx_s {
        const sl_pstate_t *ps;
        int32_t part;
        void *value;
        void (*cb)(int32_t part, const char *key, const void *value, void *opaque);
        void *opaque;
} foreach_ctx_t;

static void foreach_one(const char *key, const void *val, size_t len, void *opaque)
{
        foreach_ctx_t *fc = opaque;
        const sl_pstate_codec_t *c = &fc->ps->pc.codec;
        size_t plen = strlen(c->key_prefix);

        if (strncmp(key, c->key_prefix, plen) == 0 &&
            c->decode(val, len, fc->value) == SL_OK)
                fc->cb(fc->part, key + plen, fc->value, fc->opaque);
}

void sl_pstate_foreach(const sl_pstate_t *ps,
                       void (*cb)(int32_t part, const char *key, const void *value,
                                  void *opaque),
                       void *opaque)
{
        foreach_ctx_t fc = {.ps = ps, .cb = cb, .opaque = opaque};

        fc.value = malloc(ps->pc.codec.value_size);
        if (!fc.value)
                return;
        for (int32_t p = 0; p < ps->nparts; p++) {
                if (!ps->assigned[p])
                        continue;
                fc.part = p;
                sl_store_foreach(ps->st, p, foreach_one, &fc);
        }
        free(fc.value);
}

/* --- keys touched since the last clear ------------------------------------------ */

static int touched_grow(sl_pstate_t *ps)
{
        size_t cap = ps->touched_cap ? ps->touched_cap * 2 : 1024;
        touched_t *t = calloc(cap, sizeof(*t));

        if (!t)
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < ps->touched_cap; i++) {
                if (!ps->touched[i].key)
                        continue;
                size_t j = ps->touched[i].hash & (cap - 1);
                while (t[j].key)
                        j = (j + 1) & (cap - 1);
                t[j] = ps->touched[i];
        }
        free(ps->touched);
        ps->touched = t;
        ps->touched_cap = cap;
        return SL_OK;
}

int sl_pstate_touch(sl_pstate_t *ps, int32_t part, const char *key, int64_t n)
{
        uint64_t h = hash_str(key);
        size_t i;

        if ((ps->touched_cnt + 1) * 2 > ps->touched_cap && touched_grow(ps) != SL_OK)
                return SL_ERR_NOMEM;
        for (i = h & (ps->touched_cap - 1); ps->touched[i].key;
             i = (i + 1) & (ps->touched_cap - 1)) {
                if (ps->touched[i].hash == h && strcmp(ps->touched[i].key, key) == 0) {
                        ps->touched[i].n += n;
                        ps->touched[i].part = part;
                        return SL_OK;
                }
        }
        ps->touched[i].key = strdup(key);
        if (!ps->touched[i].key)
                return SL_ERR_NOMEM;
        ps->touched[i].hash = h;
        ps->touched[i].part = part;
        ps->touched[i].n = n;
        ps->touched_cnt++;
        return SL_OK;
}

size_t sl_pstate_touched_count(const sl_pstate_t *ps)
{
        return ps->touched_cnt;
}

void sl_pstate_touched_foreach(const sl_pstate_t *ps,
                               void (*cb)(int32_t part, const char *key, int64_t n,
                                          void *opaque),
                               void *opaque)
{
        for (size_t i = 0; i < ps->touched_cap; i++)
                if (ps->touched[i].key)
                        cb(ps->touched[i].part, ps->touched[i].key, ps->touched[i].n,
                           opaque);
}

void sl_pstate_touched_clear(sl_pstate_t *ps)
{
        for (size_t i = 0; i < ps->touched_cap; i++) {
                free(ps->touched[i].key);
                ps->touched[i].key = NULL;
        }
        ps->touched_cnt = 0;
}
