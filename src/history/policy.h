/*
 * History retention and archiving decisions: what to do with one daily partition of
 * workflow_events, or with one archive file, at a given instant.  Pure (the clock is
 * a parameter); src/history/maintain.c applies the decisions with Postgres and files.
 *
 * Ages count from a partition's upper bound: a day is "past N days" when its end is
 * at least N days before now.  keep_days of a partition is retention.events.days, or
 * the longest retention.event_types entry of a type it holds (per-type retention may
 * only be longer than the default: a day goes whole, see docs/history.md).
 *
 * Archiving off (after_days 0):
 *   past keep_days                        DROP
 *   otherwise                             KEEP
 * Archiving on, a live partition, by the state of its archive in force:
 *   not past after_days                   KEEP
 *   none (or failed), writing             ARCHIVE: write, verify, then drop
 *   verified                              DROP_ARCHIVED: count under lock, drop
 *   restored, restored past after_days    DROP_ARCHIVED (re-verified first)
 *   restored recently                     KEEP
 *   dropped (the day came back: rows      HOLD: nothing is done, an operator looks
 *   written after the drop)
 * Archiving on, an archive whose partition is gone (state dropped):
 *   past keep_days                        EXPIRE: delete the file
 *   otherwise                             KEEP
 */
#ifndef SL_HISTORY_POLICY_H
#define SL_HISTORY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HISTORY_DAY_MS   86400000LL
#define SL_HISTORY_KEEP_MAX 32
#define SL_HISTORY_TYPE_MAX 200

typedef struct sl_history_keep_s {
        char type[SL_HISTORY_TYPE_MAX + 1];
        int days;
} sl_history_keep_t;

typedef struct sl_history_policy_s {
        int events_days; /* retention.events.days */
        int after_days;  /* archive.after.days; 0: archiving off */
        sl_history_keep_t keep[SL_HISTORY_KEEP_MAX]; /* retention.event_types */
        size_t nkeep;
} sl_history_policy_t;

/* The state of a range's archive in force (the archives table's state column). */
typedef enum sl_history_astate {
        SL_HIST_A_NONE,
        SL_HIST_A_WRITING,
        SL_HIST_A_VERIFIED,
        SL_HIST_A_DROPPED,
        SL_HIST_A_RESTORED,
        SL_HIST_A_FAILED,
        SL_HIST_A_EXPIRED,
} sl_history_astate_t;

typedef enum sl_history_action {
        SL_HIST_KEEP,
        SL_HIST_DROP,          /* archiving off: drop the partition */
        SL_HIST_ARCHIVE,       /* write + verify the archive, then drop */
        SL_HIST_DROP_ARCHIVED, /* the archive is verified: drop the partition */
        SL_HIST_EXPIRE,        /* delete the archive file (its partition is gone) */
        SL_HIST_HOLD,          /* leave it, and say why */
} sl_history_action_t;

typedef struct sl_history_item_s {
        int64_t lo_ms, hi_ms;      /* the day: [lo, hi) */
        bool live;                 /* the partition exists */
        sl_history_astate_t state; /* of its archive in force (NONE: none) */
        int64_t restored_ms;       /* RESTORED: when */
        /* present[i]: the day holds rows of policy keep[i].type */
        bool present[SL_HISTORY_KEEP_MAX];
} sl_history_item_t;

/* "TYPE=DAYS,TYPE=DAYS" (spaces around items allowed; "" none) into pol->keep.  Each
 * DAYS must be more than pol->events_days (set it first) and at most 36500; a type at
 * most once.  0, or -1 with errstr naming key and the item. */
int sl_history_parse_keep(sl_history_policy_t *pol, const char *key, const char *spec,
                          char *errstr, size_t errstr_size);

/* retention.events.days or the longest per-type retention of a type the day holds. */
int sl_history_keep_days(const sl_history_policy_t *pol, const sl_history_item_t *it);

/* The decision for it at now_ms; *why (may be NULL) gets a static phrase. */
sl_history_action_t sl_history_decide(const sl_history_policy_t *pol,
                                      const sl_history_item_t *it, int64_t now_ms,
                                      const char **why);

const char *sl_history_action_name(sl_history_action_t a);
/* The archives.state text of s, and back (SL_HIST_A_NONE when unknown). */
const char *sl_history_astate_name(sl_history_astate_t s);
sl_history_astate_t sl_history_astate_parse(const char *s);

#endif
