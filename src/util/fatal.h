/*
 * The two ways sluice stops on purpose, and the out-of-memory policy of the codebase:
 *
 * - Where the caller can fail cleanly (constructors, loaders, anything that already
 *   returns an error), allocation failure is an error like any other: SL_ERR_NOMEM,
 *   or NULL with "out of memory" in the caller's errstr, unwound by the goto ladder.
 * - Where there is no way to report it (void helpers in the per-record hot path: the
 *   COPY buffer, the offset floors, array literal builders, per-batch bookkeeping
 *   whose failure would leave the batch half-done), the code calls sl_oom(): it logs
 *   "out of memory: <what>" once, as one error line, and aborts.  The process manager
 *   restarts the stage, which resumes from its committed offsets, as after any crash;
 *   nothing is acknowledged that was not written.  (Redis's zmalloc OOM handler is
 *   the model; Linux overcommit makes this path rare anyway.)
 * - A broken invariant (a programming error: an unknown config key, a metric
 *   registered with two types, an offset held on an unassigned partition) calls
 *   sl_bug() with what broke; it logs one error line and aborts.
 *
 * No other code calls abort() or exit(); only main() decides to exit.
 */
#ifndef SL_UTIL_FATAL_H
#define SL_UTIL_FATAL_H

/* Logs "out of memory: <what>" (once, even when several threads get here) and aborts. */
_Noreturn void sl_oom(const char *what);

/* Logs "bug: <message>" and aborts; for invariants only a programming error breaks. */
_Noreturn void sl_bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
