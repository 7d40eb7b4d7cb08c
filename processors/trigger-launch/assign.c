/* The launch stage: partitions assigned and revoked; state restored from the changelog
 * and from Postgres (launch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/kafka.h"
#include "launch_int.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "sluice/err.h"
#include "util/clock.h"
#include "util/fatal.h"

/* --- assignment ------------------------------------------------------------------- */

/* parts restricted to trigger.matches (the store's partitions); caller destroys. */
static rd_kafka_topic_partition_list_t *
matches_only(sl_launch_t *lc, const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(parts->cnt);

        for (int i = 0; i < parts->cnt; i++)
                if (strcmp(parts->elems[i].topic, lc->topic_matches) == 0)
                        rd_kafka_topic_partition_list_add(l, parts->elems[i].topic,
                                                          parts->elems[i].partition);
        return l;
}

static int learn_partitions(sl_launch_t *lc, sl_runtime_t *rt)
{
        char errstr[512];

        lc->nparts = sl_kafka_partition_count(sl_runtime_producer(rt), lc->topic_matches,
                                              10000, errstr, sizeof(errstr));
        if (lc->nparts > 0)
                return SL_OK;
        lc->nparts = 0;
        sl_log_error("%s", errstr);
        return SL_ERR_KAFKA;
}

int32_t sl__tl_part_of(const sl_launch_t *lc, const char *trigger_id)
{
        return sl_kafka_partition_for(trigger_id, strlen(trigger_id), lc->nparts);
}

static void restore_count(void *opaque, const char *trigger_id, int64_t n)
{
        sl_launch_t *lc = opaque;
        int32_t p = sl__tl_part_of(lc, trigger_id);
        sl_tstate_t st;

        if (sl_pstate_get(lc->ps, p, trigger_id, &st) != SL_OK)
                memset(&st, 0, sizeof(st));
        st.deferred = n;
        if (sl_pstate_put(lc->ps, p, trigger_id, &st) == SL_OK)
                sl__tl_trig_get(lc, trigger_id, p)->deferred = n;
        if (n > 0)
                lc->release_at = 1; /* look at once */
}

/* Launches in the trigger's current window as Postgres has them: the window holds at
 * least that many (the changelog may be behind Postgres after a crash). */
static void restore_window(void *opaque, const char *trigger_id, int64_t n)
{
        sl_launch_t *lc = opaque;
        int32_t p = sl__tl_part_of(lc, trigger_id);
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, trigger_id);
        sl_tstate_t st;

        if (!t || sl_pstate_get(lc->ps, p, trigger_id, &st) != SL_OK)
                return;
        if (sl_window_roll(&st.window, t->def.window_ms, sl_wall_ms()))
                st.throttled = 0;
        if (n > st.window.count) {
                st.window.count = n;
                (void)sl_pstate_put(lc->ps, p, trigger_id, &st);
        }
}

/* A launch that waits for its result: timed again here.  One that left the deferred
 * queue is produced again by the next batch: no input record is read again for it, and
 * a crash may have come between its Postgres row and its delivery (a repeat carries the
 * same launch id). */
static void restore_waiting(void *opaque, const char *launch_id, const char *trigger_id,
                            int64_t launched_at, bool probe, bool was_deferred)
{
        sl_launch_t *lc = opaque;
        const sl_trigger_t *t = sl_hmap_get(&lc->by_id, trigger_id);

        if (t)
                sl__tl_wait_for_result(
                    sl__tl_trig_get(lc, trigger_id, sl__tl_part_of(lc, trigger_id)),
                    launch_id, launched_at, t->def.result_timeout_ms, probe);
        if (was_deferred) {
                sl__tl_grow((void **)&lc->relaunch, &lc->relaunch_cap, lc->nrelaunch + 1,
                            sizeof(*lc->relaunch));
                snprintf(lc->relaunch[lc->nrelaunch++].id, 37, "%s", launch_id);
        }
}

static bool assigned(const rd_kafka_topic_partition_list_t *l, int32_t p)
{
        for (int i = 0; i < l->cnt; i++)
                if (l->elems[i].partition == p)
                        return true;
        return false;
}

static void touch_restored(int32_t part, const char *key, const void *value, void *opaque)
{
        sl_launch_t *lc = opaque;
        const sl_tstate_t *st = value;

        sl__tl_trig_get(lc, key, part)->deferred = st->deferred;
        (void)sl_pstate_touch(lc->ps, part, key, 0);
}

int sl__tl_assign(void *opaque, sl_runtime_t *rt,
                  const rd_kafka_topic_partition_list_t *parts)
{
        sl_launch_t *lc = opaque;
        rd_kafka_topic_partition_list_t *mine = matches_only(lc, parts);
        const char **ids = NULL;
        size_t nids = 0, cap = 0;
        char errstr[512];
        int err = SL_OK;

        sl__tl_triggers_refresh(lc);
        if (!lc->nparts)
                err = learn_partitions(lc, rt);
        if (err == SL_OK)
                err = sl_pstate_assign(lc->ps, mine, errstr, sizeof(errstr));
        else
                snprintf(errstr, sizeof(errstr), "no partition count for %s",
                         lc->topic_matches);
        if (err == SL_OK) {
                sl_pstate_foreach(lc->ps, touch_restored, lc);
                /* Postgres is the truth of the deferred queues and of what waits for a
                 * result: a crash may have left the changelog behind it. */
                for (size_t i = 0; i < sl_triggers_count(lc->ts); i++) {
                        const sl_trigger_t *t = sl_triggers_at(lc->ts, i);
                        int32_t p = sl__tl_part_of(lc, t->def.id);
                        sl_tstate_t st;
                        if (!assigned(mine, p))
                                continue;
                        sl__tl_grow((void **)&ids, &cap, nids + 1, sizeof(*ids));
                        ids[nids++] = t->def.id;
                        if (sl_pstate_get(lc->ps, p, t->def.id, &st) == SL_OK &&
                            st.deferred) {
                                st.deferred = 0; /* recounted below */
                                (void)sl_pstate_put(lc->ps, p, t->def.id, &st);
                                sl__tl_trig_get(lc, t->def.id, p)->deferred = 0;
                        }
                }
                err = sl__tl_pg_restore(&lc->pg, ids, nids, sl_wall_ms(), restore_count,
                                        restore_window, restore_waiting, lc, errstr,
                                        sizeof(errstr));
        }
        free(ids);
        rd_kafka_topic_partition_list_destroy(mine);
        if (err != SL_OK)
                sl_log_error("restoring trigger state: %s", errstr);
        return err;
}

int sl__tl_revoke(void *opaque, sl_runtime_t *rt,
                  const rd_kafka_topic_partition_list_t *parts)
{
        sl_launch_t *lc = opaque;
        rd_kafka_topic_partition_list_t *mine = matches_only(lc, parts);
        sl_hmap_ent_t *e;
        size_t it = 0;
        char **gone = NULL;
        size_t ngone = 0, cap = 0;

        sl__tl_mirror(lc, true);
        lc->nrelaunch = 0; /* the next owner produces them again */
        sl_pstate_revoke(lc->ps, mine, sl_runtime_producer(rt));
        while ((e = sl_hmap_next(&lc->trigs, &it))) {
                if (!assigned(mine, ((trig_t *)e->val)->part))
                        continue;
                sl__tl_grow((void **)&gone, &cap, ngone + 1, sizeof(*gone));
                gone[ngone++] = e->key;
        }
        for (size_t i = 0; i < ngone; i++) {
                char key[37];
                snprintf(key, sizeof(key), "%s", gone[i]);
                sl__tl_trig_free(sl_hmap_remove(&lc->trigs, key));
        }
        free(gone);
        rd_kafka_topic_partition_list_destroy(mine);
        return SL_OK;
}
