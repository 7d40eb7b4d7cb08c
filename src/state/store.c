/*
 * The partitioned changelog-backed store (see store.h): one hash map (util/hmap.h)
 * per partition from key to record, a dirty list per partition, a lazily created
 * assign-only consumer for restores.
 */
#include "state/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/clock.h"
#include "util/hmap.h"

/* A key's record: its latest value, kept (as a tombstone) after a delete until the
 * partition is dropped, so that the flush can send the delete. */
typedef struct rec_s {
        const char *key; /* the map's copy */
        size_t len, cap; /* value bytes used / room */
        size_t dirty_at; /* index in the dirty list, when dirty */
        bool dirty;
        bool deleted; /* tombstone pending flush */
        _Alignas(max_align_t) unsigned char val[];
} rec_t;

typedef struct part_s {
        sl_hmap_t map; /* key -> rec_t, owned */
        size_t live;   /* records not deleted */
        rec_t **dirty;
        size_t dirty_cnt, dirty_cap;
} part_t;

struct sl_store_s {
        const sl_conf_t *conf;
        char name[64];
        char changelog[256];
        part_t *parts;
        int32_t part_cnt;
        rd_kafka_t *restorer;
};

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
        sl_hmap_close(&p->map, free);
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
                memset(p + st->part_cnt, 0,
                       (size_t)(part + 1 - st->part_cnt) * sizeof(*p));
                st->parts = p;
                st->part_cnt = part + 1;
        }
        return &st->parts[part];
}

/* Append r to the partition's dirty list, which has the room (dirty_room). */
static void mark_dirty(part_t *p, rec_t *r)
{
        if (r->dirty)
                return;
        r->dirty = true;
        r->dirty_at = p->dirty_cnt;
        p->dirty[p->dirty_cnt++] = r;
}

/* Room in the dirty list for one more record: SL_OK or SL_ERR_NOMEM. */
static int dirty_room(part_t *p)
{
        rec_t **d =
            sl_array_grow(p->dirty, &p->dirty_cap, p->dirty_cnt + 1, sizeof(*d), 64);

        if (!d)
                return SL_ERR_NOMEM;
        p->dirty = d;
        return SL_OK;
}

/* Put without marking dirty (restore) or with (stage writes). */
static int put(sl_store_t *st, int32_t part, const char *key, const void *val, size_t len,
               bool dirty)
{
        part_t *p = make_part(st, part);
        sl_hmap_ent_t *e;
        rec_t *r;

        if (!p || (dirty && dirty_room(p) != SL_OK))
                return SL_ERR_NOMEM;
        if (!(e = sl_hmap_add(&p->map, key, NULL)))
                return SL_ERR_NOMEM;
        r = e->val;
        if (!r || r->cap < len) {
                /* Same size or smaller (fixed-width records): overwritten in place. */
                rec_t *bigger = realloc(r, sizeof(*r) + (len ? len : 1));
                if (!bigger) {
                        if (!r)
                                sl_hmap_remove(&p->map, key);
                        return SL_ERR_NOMEM;
                }
                if (!r) {
                        memset(bigger, 0, sizeof(*bigger));
                        bigger->key = e->key;
                        bigger->deleted = true; /* not live until set below */
                } else if (bigger->dirty) {
                        p->dirty[bigger->dirty_at] = bigger;
                }
                bigger->cap = len;
                e->val = r = bigger;
        }
        if (r->deleted) {
                r->deleted = false;
                p->live++;
        }
        memcpy(r->val, val, len);
        r->len = len;
        if (dirty)
                mark_dirty(p, r);
        return SL_OK;
}

int sl_store_put(sl_store_t *st, int32_t part, const char *key, const void *val,
                 size_t len)
{
        return put(st, part, key, val, len, true);
}

const void *sl_store_get(const sl_store_t *st, int32_t part, const char *key, size_t *len)
{
        const part_t *p = get_part(st, part);
        const rec_t *r = p ? sl_hmap_get(&p->map, key) : NULL;

        if (!r || r->deleted)
                return NULL;
        if (len)
                *len = r->len;
        return r->val;
}

int sl_store_delete(sl_store_t *st, int32_t part, const char *key)
{
        part_t *p = get_part(st, part);
        rec_t *r = p ? sl_hmap_get(&p->map, key) : NULL;

        if (!r || r->deleted)
                return SL_ERR_NOTFOUND;
        if (dirty_room(p) != SL_OK)
                return SL_ERR_NOMEM;
        /* Keep the record as a tombstone until it is flushed. */
        r->len = 0;
        r->deleted = true;
        p->live--;
        mark_dirty(p, r);
        return SL_OK;
}

size_t sl_store_count(const sl_store_t *st, int32_t part)
{
        const part_t *p = get_part(st, part);
        return p ? p->live : 0;
}

void sl_store_foreach(const sl_store_t *st, int32_t part,
                      void (*cb)(const char *key, const void *val, size_t len,
                                 void *opaque),
                      void *opaque)
{
        const part_t *p = get_part(st, part);
        const sl_hmap_ent_t *e;
        size_t it = 0;

        if (!p)
                return;
        while ((e = sl_hmap_next(&p->map, &it))) {
                const rec_t *r = e->val;
                if (!r->deleted)
                        cb(r->key, r->val, r->len, opaque);
        }
}

static int flush_part(sl_store_t *st, int32_t part, rd_kafka_t *producer,
                      rd_kafka_topic_t *rkt, void *msg_opaque, size_t *records)
{
        part_t *p = get_part(st, part);

        if (!p)
                return SL_OK;
        for (size_t d = 0; d < p->dirty_cnt; d++) {
                rec_t *e = p->dirty[d];
                rd_kafka_resp_err_t err;
                for (;;) {
                        err = rd_kafka_producev(
                            producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(part),
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
        /* A handle per flush, not kept: the producer may be another one next time (the
         * runtime re-creates its producer after a fatal transaction error), and a
         * handle must not outlive its producer. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(producer, st->changelog, NULL);

        if (!rkt) {
                sl_log_error("%s changelog %s: %s", st->name, st->changelog,
                             rd_kafka_err2str(rd_kafka_last_error()));
                return SL_ERR_KAFKA;
        }
        if (part >= 0)
                err = flush_part(st, part, producer, rkt, msg_opaque, &n);
        else
                for (int32_t i = 0; i < st->part_cnt && err == SL_OK; i++)
                        err = flush_part(st, i, producer, rkt, msg_opaque, &n);
        rd_kafka_topic_destroy(rkt);
        if (records)
                *records = n;
        return err;
}

int sl_store_restore(sl_store_t *st, int32_t part, int timeout_ms, size_t *records,
                     char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *tp;
        rd_kafka_resp_err_t err;
        int64_t lo = 0, hi = 0, deadline = sl_mono_ms() + timeout_ms;
        size_t n = 0;

        sl_store_drop(st, part);
        if (!st->restorer) {
                char group[96];
                snprintf(group, sizeof(group), "sluice-%s-restore", st->name);
                st->restorer = sl_kafka_reader_new(st->conf, group, errstr, errstr_size);
                if (!st->restorer)
                        return SL_ERR_KAFKA;
        }
        err = rd_kafka_query_watermark_offsets(st->restorer, st->changelog, part, &lo,
                                               &hi, timeout_ms);
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
                        if (sl_mono_ms() > deadline) {
                                rd_kafka_assign(st->restorer, NULL);
                                snprintf(
                                    errstr, errstr_size,
                                    "%s changelog %s [%d]: restore timed out at offset "
                                    "%lld of %lld",
                                    st->name, st->changelog, (int)part, (long long)next,
                                    (long long)hi);
                                return SL_ERR_TIMEOUT;
                        }
                        m = rd_kafka_consumer_poll(st->restorer, 100);
                        if (!m)
                                continue;
                        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                /* The end of what is readable: past the last record
                                 * when transaction markers (never delivered) close the
                                 * log, or before a transaction still open, which is
                                 * not part of the state (read_committed). */
                                if (m->partition == part)
                                        next = hi;
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        if (m->err) {
                                sl_log_warn("%s restore: %s", st->name,
                                            rd_kafka_message_errstr(m));
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        next = m->offset + 1;
                        if (m->key && m->key_len > 0) {
                                char key[1024];
                                size_t kl = m->key_len < sizeof(key) - 1
                                                ? m->key_len
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
                        p->dirty[d]->dirty = false;
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
