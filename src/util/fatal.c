/* Dying on purpose: out of memory where it cannot be reported, broken invariants
 * (see fatal.h for the policy). */
#include "util/fatal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "log/log.h"

static atomic_flag oom_logged = ATOMIC_FLAG_INIT;

void sl_oom(const char *what)
{
        /* The log line is built on the stack (log.c): it needs no memory. */
        if (!atomic_flag_test_and_set(&oom_logged))
                sl_log_error("out of memory: %s", what ? what : "?");
        abort();
}

void sl_bug(const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        sl_log_error("bug: %s", msg);
        abort();
}
