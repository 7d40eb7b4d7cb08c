/*
 * Replaying what a trigger shed (`sluicectl triggers replay-shed`, issue 11): the
 * matches it throttled, paused or refused while its breaker was open go back onto
 * sluice.trigger.matches, each with the header below, and the launch stage decides
 * each of them again through the trigger's current limit: launched (or deferred, for
 * on_limit=defer) once, under the same launch id; shed again, it stays as it was.
 */
#ifndef SL_TRIGGER_REPLAY_SHED_H
#define SL_TRIGGER_REPLAY_SHED_H

/* Header of a replayed match; its value is the replay's start time (ms, text). */
#define SL_TRIGGER_REPLAY_HDR "sluice.replay-shed"

#endif
