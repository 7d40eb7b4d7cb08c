/* The rewind decision after a Postgres restore (rewind.h): pure. */
#include "rewind.h"

sl_rewind_t sl_rewind_decide(const sl_rewind_in_t *in)
{
        sl_rewind_t r = {.action = SL_REWIND_MOVE, .to = in->low};
        int64_t margin = in->margin > 0 ? in->margin : 0;

        if (in->db_last >= 0) {
                if (in->db_last + 1 < in->low) {
                        r.action = SL_REWIND_LOST;
                        return r;
                }
                r.to = in->db_last + 1 - margin;
                if (r.to < in->low)
                        r.to = in->low;
        }
        if (in->committed >= 0 && in->committed <= r.to) {
                r.action = SL_REWIND_KEEP;
                r.to = in->committed;
        }
        return r;
}

const char *sl_rewind_action_str(sl_rewind_action_t a)
{
        switch (a) {
        case SL_REWIND_KEEP:
                return "keep";
        case SL_REWIND_MOVE:
                return "move";
        case SL_REWIND_LOST:
                return "lost";
        }
        return "?";
}
