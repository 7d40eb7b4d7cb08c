/*
 * The partitioned changelog-backed store (see store.h): one open-addressing hash map
 * per partition, a dirty list per partition, a lazily created assign-only consumer for
 * restores.
 */
#include "state/store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"

typedef struct entry_s {
        char *key; /* NULL: empty slot */
        void *val;
        size_t len;
        bool dirty;
        bool deleted; /* tombstone pending flush */
} entry_t;

typedef struct part_s {
        entry_t *slots;
        size_t cap, used, live;
        size_t *dirty; /* slot indexes */
        size_t dirty_cnt, dirty_cap;
} part_t;

struct sl_store_s {
        const sl_conf_t *conf;
        char name[64];
        char changelog[256];
        part_t *parts;
        int32_t part_cnt;
        rd_kafka_t *restorer;
        rd_kafka_topic_t *rkt;
        rd_kafka_t *rkt_owner;
};

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
        return h;
}

sl_store_t *sl_store_new(const sl_conf_t *conf, const char *name, const char *changelog)
{
        sl_store_t *st = calloc(1, sizeof(*st));
        if (!st)
                return NULL;
        st->conf = conf;
        snprintf(st->name, sizeof(st->name), "%s", name);
        snprintf(st->changelog, sizeof(st->changelog), "%s", changelog);
        return st;
}

static void part_free(part_t *p)
{
        for (size_t i = 0; i < p->cap; i++) {
                free(p->slots[i].key);
                free(p->slots[i].val);
        }
        free(p->slots);
        free(p->dirty);
        memset(p, 0, sizeof(*p));
}

void sl_store_destroy(sl_store_t *st)
{
        if (!st)
                return;
        for (int32_t i = 0; i < st->part_cnt; i++)
                part_free(&st->parts[i]);
        free(st->parts);
        if (st->rkt)
                rd_kafka_topic_destroy(st->rkt);
        if (st->restorer) {
                rd_kafka_consumer_close(st->restorer);
                rd_kafka_destroy(st->restorer);
        }
        free(st);
}

static part_t *get_part(const sl_store_t *st, int32_t part)
{
        if (part < 0 || part >= st->part_cnt)
                return NULL;
        return &st->parts[part];
}

static part_t *make_part(sl_store_t *st, int32_t part)
{
        if (part >= st->part_cnt) {
                part_t *p = realloc(st->parts, (size_t)(part + 1) * sizeof(*p));
                if (!p)
                        return NULL;
                memset(p + st->part_cnt, 0, (size_t)(part + 1 - st->part_cnt) * sizeof(*p));
                st->parts = p;
                st->part_cnt = part + 1;
        }
        return &st->parts[part];
}

/* Slot of key, or of the empty slot where it would go. */
static size_t find(const part_t *p, const char *key)
{
        size_t i = hash(key) & (p->cap - 1);
        while (p->slots[i].key && strcmp(p->slots[i].key, key) != 0)
                i = (i + 1) & (p->cap - 1);
        return i;
}

/* Append a slot index to the partition's dirty list. */
static void dirty_push(part_t *p, size_t slot)
{
        if (p->dirty_cnt == p->dirty_cap) {
                size_t dc = p->dirty_cap ? p->dirty_cap * 2 : 64;
                size_t *d = realloc(p->dirty, dc * sizeof(*d));
                if (!d)
                        abort();
                p->dirty = d;
                p->dirty_cap = dc;
        }
        p->dirty[p->dirty_cnt++] = slot;
}

static int grow(part_t *p)
{
        size_t cap = p->cap ? p->cap * 2 : 64;
        entry_t *old = p->slots;
        size_t old_cap = p->cap;

        p->slots = calloc(cap, sizeof(*p->slots));
        if (!p->slots) {
                p->slots = old;
                return SL_ERR_NOMEM;
        }
        p->cap = cap;
        p->dirty_cnt = 0;
        for (size_t i = 0; i < old_cap; i++) {
                if (!old[i].key)
                        continue;
                size_t j = find(p, old[i].key);
                p->slots[j] = old[i];
                if (old[i].dirty)
                        dirty_push(p, j);
        }
        free(old);
        return SL_OK;
}

static void mark_dirty(part_t *p, size_t slot)
{
        if (p->slots[slot].dirty)
                return;
        dirty_push(p, slot);
        p->slots[slot].dirty = true;
}

/* Put without marking dirty (restore) or with (stage writes). */
static int put(sl_store_t *st, int32_t part, const char *key, const void *val, size_t len,
               bool dirty)
{
        part_t *p = make_part(st, part);
        size_t i;
        void *copy;

        if (!p)
                return SL_ERR_NOMEM;
        if ((p->used + 1) * 4 >= p->cap * 3 && grow(p) != SL_OK)
                return SL_ERR_NOMEM;
        i = find(p, key);
        if (p->slots[i].key && !p->slots[i].deleted && p->slots[i].len == len) {
                /* Same size (fixed-width records): overwrite in place. */
                memcpy(p->slots[i].val, val, len);
                if (dirty)
                        mark_dirty(p, i);
                return SL_OK;
        }
        copy = malloc(len ? len : 1);
        if (!copy)
                return SL_ERR_NOMEM;
        memcpy(copy, val, len);
        if (!p->slots[i].key) {
                p->slots[i].key = strdup(key);
                p->used++;
                p->live++;
        } else {
                if (p->slots[i].deleted)
                        p->live++;
                free(p->slots[i].val);
        }
        p->slots[i].val = copy;
        p->slots[i].len = len;
        p->slots[i].deleted = false;
        if (dirty)
                mark_dirty(p, i);
        return SL_OK;
}

int sl_store_put(sl_store_t *st, int32_t part, const char *key, const void *val, size_t len)
{
        return put(st, part, key, val, len, true);
}

const void *sl_store_get(const sl_store_t *st, int32_t part, const char *key, size_t *len)
{
        const part_t *p = get_part(st, part);
        size_t i;

        if (!p || !p->cap)
                return NULL;
        i = find(p, key);
        if (!p->slots[i].key || p->slots[i].deleted)
                return NULL;
        if (len)
                *len = p->slots[i].len;
        return p->slots[i].val;
}

int sl_store_delete(sl_store_t *st, int32_t part, const char *key)
{
        part_t *p = get_part(st, part);
        size_t i;

        if (!p || !p->cap)
                return SL_ERR_NOTFOUND;
        i = find(p, key);
        if (!p->slots[i].key || p->slots[i].deleted)
                return SL_ERR_NOTFOUND;
        /* Keep the key as a tombstone until it is flushed (open addressing keeps
         * probe chains intact that way too). */
        free(p->slots[i].val);
        p->slots[i].val = NULL;
        p->slots[i].len = 0;
        p->slots[i].deleted = true;
        p->live--;
        mark_dirty(p, i);
        return SL_OK;
}

size_t sl_store_count(const sl_store_t *st, int32_t part)
{
        const part_t *p = get_part(st, part);
        return p ? p->live : 0;
}

void sl_store_foreach(const sl_store_t *st, int32_t part,
                      void (*cb)(const char *key, const void *val, size_t len, void *opaque),
                      void *opaque)
{
        const part_t *p = get_part(st, part);
        if (!p)
                return;
        for (size_t i = 0; i < p->cap; i++)
                if (p->slots[i].key && !p->slots[i].deleted)
                        cb(p->slots[i].key, p->slots[i].val, p->slots[i].len, opaque);
}

static int flush_part(sl_store_t *st, int32_t part, rd_kafka_t *producer, void *msg_opaque,
                      size_t *records)
{
        part_t *p = get_part(st, part);

        if (!p)
                return SL_OK;
        if (!st->rkt || st->rkt_owner != producer) {
                if (st->rkt)
                        rd_kafka_topic_destroy(st->rkt);
                st->rkt = rd_kafka_topic_new(producer, st->changelog, NULL);
                st->rkt_owner = producer;
        }
        for (size_t d = 0; d < p->dirty_cnt; d++) {
                entry_t *e = &p->slots[p->dirty[d]];
                rd_kafka_resp_err_t err;
                for (;;) {
                        err = rd_kafka_producev(
                                producer, RD_KAFKA_V_RKT(st->rkt), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_KEY(e->key, strlen(e->key)),
                                RD_KAFKA_V_VALUE(e->deleted ? NULL : e->val,
                                                 e->deleted ? 0 : e->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
                        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                break;
                        rd_kafka_poll(producer, 10);
                }
                if (err) {
                        sl_log_error("%s changelog %s [%d]: %s", st->name, st->changelog,
                                     (int)part, rd_kafka_err2str(err));
                        return SL_ERR_KAFKA;
                }
                e->dirty = false;
                (*records)++;
        }
        p->dirty_cnt = 0;
        return SL_OK;
}

int sl_store_flush(sl_store_t *st, int32_t part, rd_kafka_t *producer, void *msg_opaque,
                   size_t *records)
{
        size_t n = 0;
        int err = SL_OK;

        if (part >= 0)
                err = flush_part(st, part, producer, msg_opaque, &n);
        else
                for (int32_t i = 0; i < st->part_cnt && err == SL_OK; i++)
                        err = flush_part(st, i, producer, msg_opaque, &n);
        if (records)
                *records = n;
        return err;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_store_restore(sl_store_t *st, int32_t part, int timeout_ms, size_t *records,
                     char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *tp;
        rd_kafka_resp_err_t err;
        int64_t lo = 0, hi = 0, deadline = mono_ms() + timeout_ms;
        size_t n = 0;

        sl_store_drop(st, part);
        if (!st->restorer) {
                char group[96];
                snprintf(group, sizeof(group), "sluice-%s-restore", st->name);
                st->restorer = sl_kafka_consumer_new(st->conf, group, NULL, NULL, errstr,
                                                     errstr_size);
                if (!st->restorer)
                        return SL_ERR_KAFKA;
        }
        err = rd_kafka_query_watermark_offsets(st->restorer, st->changelog, part, &lo, &hi,
                                               timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "%s changelog %s [%d]: watermarks: %s",
                         st->name, st->changelog, (int)part, rd_kafka_err2str(err));
                return SL_ERR_KAFKA;
        }
        if (hi > lo) {
                tp = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(tp, st->changelog, part)->offset = lo;
                err = rd_kafka_assign(st->restorer, tp);
                rd_kafka_topic_partition_list_destroy(tp);
                if (err) {
                        snprintf(errstr, errstr_size, "%s changelog assign: %s", st->name,
                                 rd_kafka_err2str(err));
                        return SL_ERR_KAFKA;
                }
                int64_t next = lo;
                while (next < hi) {
                        rd_kafka_message_t *m;
                        if (mono_ms() > deadline) {
                                rd_kafka_assign(st->restorer, NULL);
                                snprintf(errstr, errstr_size,
                                         "%s changelog %s [%d]: restore timed out at offset "
                                         "%lld of %lld",
                                         st->name, st->changelog, (int)part,
                                         (long long)next, (long long)hi);
                                return SL_ERR_TIMEOUT;
                        }
                        m = rd_kafka_consumer_poll(st->restorer, 100);
                        if (!m)
                                continue;
                        if (m->err) {
                                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                        sl_log_warn("%s restore: %s", st->name,
                                                    rd_kafka_message_errstr(m));
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        next = m->offset + 1;
                        if (m->key && m->key_len > 0) {
                                char key[1024];
                                size_t kl = m->key_len < sizeof(key) - 1 ? m->key_len
                                                                         : sizeof(key) - 1;
                                memcpy(key, m->key, kl);
                                key[kl] = '\0';
                                if (m->payload)
                                        put(st, part, key, m->payload, m->len, false);
                                else
                                        sl_store_delete(st, part, key);
                                n++;
                        }
                        rd_kafka_message_destroy(m);
                }
                rd_kafka_assign(st->restorer, NULL);
        }
        /* Tombstones read from the changelog need no flush. */
        part_t *p = get_part(st, part);
        if (p) {
                for (size_t d = 0; d < p->dirty_cnt; d++)
                        p->slots[p->dirty[d]].dirty = false;
                p->dirty_cnt = 0;
        }
        if (records)
                *records = n;
        return SL_OK;
}

void sl_store_drop(sl_store_t *st, int32_t part)
{
        part_t *p = get_part(st, part);
        if (p)
                part_free(p);
}
