/*
 * Triggers as the trigger stage sees them: the rows of the triggers table (migration
 * 0008) turned into an immutable snapshot (sl_triggers_t), and a watch that keeps one
 * current through LISTEN sluice_triggers, with a full reload after every reconnect and
 * a periodic reload (triggers.reload.ms) as a backstop: the engine of watch.c.
 *
 * A snapshot holds every trigger, enabled or not (a disabled trigger's matches are
 * still recorded, as 'paused'), each with its filter and parameters template parsed
 * once, at load.  A row whose filter or template does not parse (written by hand with
 * psql; sluicectl refuses them) is left out and logged once per (trigger, text).
 *
 * Candidate lookup: triggers with an exact event type sit in a hash map by type, so
 * its cost does not grow with the number of triggers; glob types ('*', '?': see
 * util/glob.h) are kept in a separate list that every lookup scans.
 *
 * Threading: a snapshot is immutable and may be read from any thread while it lives.
 * The watch is not thread-safe: one thread polls; the snapshot a poll returns stays
 * valid until the next poll or sl_triggers_watch_destroy().
 */
#ifndef SL_PG_TRIGGERS_WATCH_H
#define SL_PG_TRIGGERS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "trigger/filter.h"
#include "trigger/launch_state.h"
#include "trigger/template.h"

typedef enum sl_on_limit {
        SL_ON_LIMIT_SKIP = 0, /* over the window: record the match as 'throttled' */
        SL_ON_LIMIT_DEFER,    /* over the window: hold it, launch when there is room */
} sl_on_limit_t;

/* One trigger's definition as stored: the triggers table's columns.  Strings are
 * NUL-terminated; NULL where the column is NULL (source, filter, paused_*). */
typedef struct sl_trigger_def_s {
        const char *id; /* canonical UUID text */
        const char *name;
        bool enabled;
        bool paused;             /* manual pause */
        int64_t paused_until_ms; /* ms since the epoch; 0: until resumed */
        const char *paused_by;
        const char *paused_reason;
        const char *event_type; /* exact, or a glob with '*' / '?' */
        const char *source;     /* NULL: any source */
        const char *filter;     /* NULL: every event of the type matches */
        const char *workflow;
        const char *params_template; /* JSON object text */
        int64_t rate_limit;          /* launches per window; <= 0: unlimited */
        int64_t window_ms;
        sl_on_limit_t on_limit;
        /* Circuit breaker (see migrations/0008_triggers.sql). */
        int64_t failure_window_ms;
        int32_t failure_rate; /* percent; 0: off */
        int32_t min_results;
        int32_t failure_count; /* 0: off */
        int64_t open_ms;
        int64_t open_max_ms;
        int32_t probes;
        int64_t result_timeout_ms;
        int64_t updated_at_ms;
} sl_trigger_def_t;

/* A loaded trigger: its definition (strings owned by the snapshot) and what was parsed
 * from it once.  Borrowed from the snapshot; valid while the snapshot lives. */
typedef struct sl_trigger_s {
        sl_trigger_def_t def;
        uint8_t id[16];      /* def.id as bytes: the launch id namespace */
        bool is_glob;        /* def.event_type has '*' or '?' */
        sl_filter_t *filter; /* NULL when def.filter is NULL */
        sl_template_t *tmpl; /* never NULL */
        bool uses_payload;   /* the filter or the template reads the payload */
        size_t seq_;         /* private: position among the definitions given */
} sl_trigger_t;

typedef struct sl_triggers_s sl_triggers_t;

/* What the launch decision reads of t's definition (launch_state.h): the launch stage
 * and shadow evaluation (history/shadow.h) build it the same way. */
void sl_trigger_launch_policy(const sl_trigger_t *t, sl_launch_policy_t *pol);

/* Called for a definition the snapshot leaves out: what ("filter", "template", "id")
 * and the parser's words (with the position).  opaque is the builder's caller's. */
typedef void(sl_triggers_bad_cb)(void *opaque, const sl_trigger_def_t *def,
                                 const char *what, const char *errstr);

/* Build a snapshot from n definitions (borrowed: copied).  Definitions whose id,
 * filter or template do not parse are left out after a call to bad (may be NULL).
 * Two definitions with the same name: the later one is left out the same way.
 * NULL with errstr set only when out of memory.  Caller frees with
 * sl_triggers_destroy(). */
sl_triggers_t *sl_triggers_new(const sl_trigger_def_t *defs, size_t n,
                               sl_triggers_bad_cb *bad, void *opaque, char *errstr,
                               size_t errstr_size);
void sl_triggers_destroy(sl_triggers_t *ts); /* NULL-safe */

/* Number of triggers in the snapshot. */
size_t sl_triggers_count(const sl_triggers_t *ts);
/* The i-th trigger, in name order (i < count). */
const sl_trigger_t *sl_triggers_at(const sl_triggers_t *ts, size_t i);
/* The position of t (a pointer this snapshot gave out) in name order:
 * sl_triggers_at(ts, i) == t.  For per-trigger arrays a caller keeps beside the
 * snapshot (the match stage's counts). */
size_t sl_triggers_index(const sl_triggers_t *ts, const sl_trigger_t *t);
/* The trigger with this name, or NULL. */
const sl_trigger_t *sl_triggers_find(const sl_triggers_t *ts, const char *name);
/* True when some trigger's filter or template reads the payload. */
bool sl_triggers_use_payload(const sl_triggers_t *ts);

/* Most candidates any one lookup can return: the largest group of one exact type plus
 * every glob.  A buffer of this size (allocated once per snapshot) is always enough. */
size_t sl_triggers_max_candidates(const sl_triggers_t *ts);

/* The triggers an event of this type (and source) may match: every trigger with
 * exactly this type, then every glob trigger whose pattern matches it, each in name
 * order, keeping only those whose source is NULL or equal to source (source NULL: no
 * source check).  Filters are not evaluated here.  Writes up to cap pointers
 * (borrowed from ts) to out and returns how many there are in all (more than cap:
 * the rest was not written).  No allocation. */
size_t sl_triggers_candidates(const sl_triggers_t *ts, const char *type,
                              const char *source, const sl_trigger_t **out, size_t cap);

/* The reload query: every trigger, in name order, columns in the order
 * sl_triggers_from_result() reads them. */
extern const char sl_triggers_sql[];

/* A snapshot from the rows of sl_triggers_sql (res borrowed).  bad as for
 * sl_triggers_new().  NULL with errstr set when a row is malformed (a column the
 * query did not return) or out of memory. */
sl_triggers_t *sl_triggers_from_result(const PGresult *res, sl_triggers_bad_cb *bad,
                                       void *opaque, char *errstr, size_t errstr_size);

/* One-shot blocking load of every trigger (bad rows logged).  Caller frees the
 * snapshot with sl_triggers_destroy(). */
sl_triggers_t *sl_triggers_load(PGconn *pg, char *errstr, size_t errstr_size);

typedef struct sl_triggers_watch_s sl_triggers_watch_t;

/* Opens its own connection with the pg.* keys, LISTENs and loads (blocking).  NULL
 * with errstr set on failure.  Caller frees with sl_triggers_watch_destroy(). */
sl_triggers_watch_t *sl_triggers_watch_new(const sl_conf_t *conf, char *errstr,
                                           size_t errstr_size);
void sl_triggers_watch_destroy(sl_triggers_watch_t *tw); /* NULL-safe */

/* Non-blocking: consumes notifications, reloads if anything changed (or after a
 * reconnect, or every triggers.reload.ms).  Returns the current snapshot (borrowed,
 * valid until the next call), never NULL.  A failed reload keeps the previous
 * snapshot and logs once. */
const sl_triggers_t *sl_triggers_watch_poll(sl_triggers_watch_t *tw);

/* Snapshots built so far (1 after _new): a change of it means a reload happened. */
uint64_t sl_triggers_watch_loads(const sl_triggers_watch_t *tw);

#endif
