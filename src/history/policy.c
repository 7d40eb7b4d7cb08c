/*
 * Retention and archive decisions (policy.h): pure functions of the policy, one
 * partition's or archive's facts and the time.  No Postgres, no files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history/policy.h"

static const char *const action_names[] = {"keep",          "drop",   "archive",
                                           "drop-archived", "expire", "hold"};
static const char *const astate_names[] = {"none",     "writing", "verified", "dropped",
                                           "restored", "failed",  "expired"};

const char *sl_history_action_name(sl_history_action_t a)
{
        return (size_t)a < sizeof(action_names) / sizeof(action_names[0])
                   ? action_names[a]
                   : "?";
}

const char *sl_history_astate_name(sl_history_astate_t s)
{
        return (size_t)s < sizeof(astate_names) / sizeof(astate_names[0])
                   ? astate_names[s]
                   : "?";
}

sl_history_astate_t sl_history_astate_parse(const char *s)
{
        for (size_t i = 0; s && i < sizeof(astate_names) / sizeof(astate_names[0]); i++)
                if (strcmp(s, astate_names[i]) == 0)
                        return (sl_history_astate_t)i;
        return SL_HIST_A_NONE;
}

int sl_history_parse_keep(sl_history_policy_t *pol, const char *key, const char *spec,
                          char *errstr, size_t errstr_size)
{
        const char *p = spec ? spec : "";

        pol->nkeep = 0;
        while (*p) {
                const char *end = strchr(p, ','), *eq;
                size_t len = end ? (size_t)(end - p) : strlen(p);
                char item[SL_HISTORY_TYPE_MAX + 32], *dend;
                long days;

                while (len && (*p == ' '))
                        p++, len--;
                while (len && p[len - 1] == ' ')
                        len--;
                if (len == 0 || len >= sizeof(item)) {
                        snprintf(errstr, errstr_size,
                                 "%s: an empty or too long item (TYPE=DAYS,...)", key);
                        return -1;
                }
                memcpy(item, p, len);
                item[len] = '\0';
                eq = strrchr(item, '=');
                if (!eq || eq == item || (size_t)(eq - item) > SL_HISTORY_TYPE_MAX) {
                        snprintf(errstr, errstr_size,
                                 "%s: \"%s\" is not TYPE=DAYS (a type of 1..%d bytes)",
                                 key, item, SL_HISTORY_TYPE_MAX);
                        return -1;
                }
                days = strtol(eq + 1, &dend, 10);
                if (!eq[1] || *dend || days < 1 || days > 36500) {
                        snprintf(errstr, errstr_size,
                                 "%s: \"%s\": DAYS must be a whole number in 1..36500",
                                 key, item);
                        return -1;
                }
                if (days <= pol->events_days) {
                        snprintf(errstr, errstr_size,
                                 "%s: \"%s\": a per-type retention must be longer than "
                                 "retention.events.days (%d): a day partition is dropped "
                                 "whole, so a shorter one could only be met by deleting "
                                 "rows (docs/history.md)",
                                 key, item, pol->events_days);
                        return -1;
                }
                if (pol->nkeep == SL_HISTORY_KEEP_MAX) {
                        snprintf(errstr, errstr_size, "%s: more than %d types", key,
                                 SL_HISTORY_KEEP_MAX);
                        return -1;
                }
                for (size_t i = 0; i < pol->nkeep; i++) {
                        if ((size_t)(eq - item) == strlen(pol->keep[i].type) &&
                            memcmp(pol->keep[i].type, item, (size_t)(eq - item)) == 0) {
                                snprintf(errstr, errstr_size, "%s: type \"%s\" twice",
                                         key, pol->keep[i].type);
                                return -1;
                        }
                }
                memcpy(pol->keep[pol->nkeep].type, item, (size_t)(eq - item));
                pol->keep[pol->nkeep].type[eq - item] = '\0';
                pol->keep[pol->nkeep].days = (int)days;
                pol->nkeep++;
                if (end && end[1] == '\0') {
                        snprintf(errstr, errstr_size,
                                 "%s: an empty item after the last ','", key);
                        return -1;
                }
                p = end ? end + 1 : p + len;
        }
        return 0;
}

int sl_history_keep_days(const sl_history_policy_t *pol, const sl_history_item_t *it)
{
        int days = pol->events_days;

        for (size_t i = 0; i < pol->nkeep; i++)
                if (it->present[i] && pol->keep[i].days > days)
                        days = pol->keep[i].days;
        return days;
}

static bool past(int64_t t_ms, int days, int64_t now_ms)
{
        return t_ms <= now_ms - (int64_t)days * SL_HISTORY_DAY_MS;
}

sl_history_action_t sl_history_decide(const sl_history_policy_t *pol,
                                      const sl_history_item_t *it, int64_t now_ms,
                                      const char **why)
{
        const char *w_;
        const char **w = why ? why : &w_;
        int keep = sl_history_keep_days(pol, it);

        if (pol->after_days == 0 || !it->live) {
                if (!it->live && it->state != SL_HIST_A_DROPPED) {
                        *w = "no partition and no dropped archive";
                        return SL_HIST_KEEP;
                }
                if (!past(it->hi_ms, keep, now_ms)) {
                        *w = keep > pol->events_days ? "within a per-type retention"
                                                     : "within retention";
                        return SL_HIST_KEEP;
                }
                *w = "past retention";
                return it->live ? SL_HIST_DROP : SL_HIST_EXPIRE;
        }
        if (!past(it->hi_ms, pol->after_days, now_ms)) {
                *w = "newer than archive.after.days";
                return SL_HIST_KEEP;
        }
        switch (it->state) {
        case SL_HIST_A_NONE:
        case SL_HIST_A_FAILED:
        case SL_HIST_A_EXPIRED:
        case SL_HIST_A_WRITING:
                *w = "past archive.after.days, not archived";
                return SL_HIST_ARCHIVE;
        case SL_HIST_A_VERIFIED:
                *w = "archive verified";
                return SL_HIST_DROP_ARCHIVED;
        case SL_HIST_A_RESTORED:
                if (past(it->restored_ms, pol->after_days, now_ms)) {
                        *w = "restored more than archive.after.days ago";
                        return SL_HIST_DROP_ARCHIVED;
                }
                *w = "restored recently";
                return SL_HIST_KEEP;
        case SL_HIST_A_DROPPED:
        default:
                *w = "the day has rows again after its archive was dropped: restore or "
                     "inspect it";
                return SL_HIST_HOLD;
        }
}
