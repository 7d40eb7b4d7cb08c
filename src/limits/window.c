/* The fixed, epoch-aligned rate window (see window.h).  No I/O, no clock of its own. */
#include "limits/window.h"

int64_t sl_window_start_of(int64_t window_ms, int64_t t)
{
        if (window_ms <= 0)
                return 0;
        return t - (t % window_ms);
}

bool sl_window_roll(sl_window_t *w, int64_t window_ms, int64_t now)
{
        int64_t start = sl_window_start_of(window_ms, now);

        if (start <= w->start)
                return false;
        w->start = start;
        w->count = 0;
        return true;
}

/* The count w would have at now, after a roll. */
static int64_t count_at(const sl_window_t *w, int64_t window_ms, int64_t now)
{
        return sl_window_start_of(window_ms, now) > w->start ? 0 : w->count;
}

bool sl_window_has_room(const sl_window_t *w, int64_t limit, int64_t window_ms,
                        int64_t now)
{
        return limit <= 0 || count_at(w, window_ms, now) < limit;
}

bool sl_window_take(sl_window_t *w, int64_t limit, int64_t window_ms, int64_t now)
{
        sl_window_roll(w, window_ms, now);
        if (limit > 0 && w->count >= limit)
                return false;
        w->count++;
        return true;
}

int64_t sl_window_next_room(const sl_window_t *w, int64_t limit, int64_t window_ms,
                            int64_t now)
{
        int64_t start;

        if (sl_window_has_room(w, limit, window_ms, now))
                return now;
        if (window_ms <= 0)
                return INT64_MAX;
        start = sl_window_start_of(window_ms, now);
        if (start < w->start)
                start = w->start; /* now is older than the window: it still ends then */
        return start + window_ms;
}
