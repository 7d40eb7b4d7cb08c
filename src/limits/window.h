/*
 * The fixed, epoch-aligned rate window: at most `limit` units per window of window_ms,
 * where a window starts at now - now % window_ms.  Shared by source admission
 * (limits/admission.c) and trigger launches.  Pure: the clock is a parameter and the
 * state is two integers the caller owns (and persists), so every rule is unit-tested
 * without sleeping.
 *
 * Epoch alignment means every worker that ever owns the counter agrees on where a
 * window starts, so a hand-over (rebalance, restart) never opens an extra window.
 *
 *   now in a later window than start     roll: start = that window's start, count = 0
 *   limit <= 0                           unlimited: always room, next room is now
 *   count < limit                        room: take counts one unit
 *   count >= limit                       full: next room at start + window_ms, the
 *                                        next window's start (on_limit=defer waits
 *                                        until then)
 *
 * A window never rolls backwards: a now older than start (a clock step back, a
 * replayed decision) counts in the current window.  window_ms <= 0 is one window that
 * never ends (configuration refuses it; kept defined so nothing divides by zero).
 */
#ifndef SL_WINDOW_H
#define SL_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_window_s {
        int64_t start; /* ms since the epoch; 0 with count 0: never used */
        int64_t count; /* units taken in the window */
} sl_window_t;

/* Start of the window holding t: t - t % window_ms (0 when window_ms <= 0). */
int64_t sl_window_start_of(int64_t window_ms, int64_t t);

/* Move w to the window holding now if that window is later; a new window starts
 * empty.  True when it moved. */
bool sl_window_roll(sl_window_t *w, int64_t window_ms, int64_t now);

/* True when a unit may be taken at now (after a roll; w is not changed). */
bool sl_window_has_room(const sl_window_t *w, int64_t limit, int64_t window_ms,
                        int64_t now);

/* Roll, then take one unit if there is room: true when taken. */
bool sl_window_take(sl_window_t *w, int64_t limit, int64_t window_ms, int64_t now);

/* When a unit can next be taken: now when there is room at now, else the next
 * window's start (INT64_MAX when window_ms <= 0: never). */
int64_t sl_window_next_room(const sl_window_t *w, int64_t limit, int64_t window_ms,
                            int64_t now);

#endif
