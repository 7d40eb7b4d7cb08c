/* Unit tests for src/util/fatal.c: sl_oom and sl_bug log one error line saying what
 * happened, then abort (checked in a forked child). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fatal.h"

/* Runs die() in a child with stderr captured into out; returns its wait status. */
static int run_child(void (*die)(void), char *out, size_t size)
{
        int fd[2], status = 0;
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        assert_int_equal(pipe(fd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                signal(SIGABRT, SIG_DFL);
                dup2(fd[1], 2);
                close(fd[0]);
                die();
                _exit(0); /* not reached */
        }
        close(fd[1]);
        while (len + 1 < size && (n = read(fd[0], out + len, size - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = '\0';
        close(fd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static void oom_twice(void)
{
        sl_oom("COPY chunk");
}

static void bug(void)
{
        sl_bug("offset held on %s [%d]", "t", 3);
}

static void oom_logs_and_aborts(void **state)
{
        char out[2048];
        int status = run_child(oom_twice, out, sizeof(out));
        (void)state;

        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(out, "out of memory: COPY chunk"));
        assert_non_null(strstr(out, "\"level\":\"error\""));
}

static void bug_logs_and_aborts(void **state)
{
        char out[2048];
        int status = run_child(bug, out, sizeof(out));
        (void)state;

        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(out, "bug: offset held on t [3]"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(oom_logs_and_aborts),
            cmocka_unit_test(bug_logs_and_aborts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
