/*
 * Replay safety per input partition (replay.h): the verify-mode table as code.
 */
#include "state/replay.h"

void sl_replay_restored(sl_replay_t *r, int64_t progress)
{
        r->progress = progress < 0 ? -1 : progress;
        r->verify = true;
        r->saw_new = r->found_new = false;
}

void sl_replay_begin(sl_replay_t *r)
{
        r->saw_new = r->found_new = false;
}

sl_replay_action_t sl_replay_event(sl_replay_t *r, int64_t offset, sl_replay_record_t rec)
{
        bool is_new = offset > r->progress;

        if (!r->verify)
                return SL_REPLAY_DECIDE;
        if (is_new) {
                r->saw_new = true;
                if (rec != SL_REPLAY_NO_RECORD)
                        r->found_new = true;
        }
        if (rec != SL_REPLAY_RECORD_DECIDED)
                return SL_REPLAY_DECIDE;
        return is_new ? SL_REPLAY_REUSE_COUNT : SL_REPLAY_REUSE;
}

bool sl_replay_is_new(const sl_replay_t *r, int64_t offset)
{
        return offset > r->progress;
}

bool sl_replay_end(sl_replay_t *r)
{
        bool left = r->verify && r->saw_new && !r->found_new;

        if (left)
                r->verify = false;
        r->saw_new = r->found_new = false;
        return left;
}

bool sl_replay_progress(sl_replay_t *r, int64_t last_offset)
{
        if (last_offset <= r->progress)
                return false;
        r->progress = last_offset;
        return true;
}
