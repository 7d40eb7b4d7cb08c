/*
 * bench-trigger's view of the processes it measures: starting and stopping the
 * stages, their /metrics (a plain HTTP/1.0 GET, read sparingly: a probe must not take
 * the CPU it measures), and /proc (peak RSS, CPU time, Postgres's processes).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_trigger.h"

#define POLL_US 500000
#define IDLE_S  30

static char body[1 << 20];

int bt_free_port(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        if (fd >= 0)
                close(fd);
        if (port < 0)
                bt_die("free port", strerror(errno));
        return port;
}

/* The stages started and not stopped yet: stopped at exit, so a bench that dies
 * leaves no stage behind (they would retry the broker run.sh takes away forever). */
static pid_t running[8];

static void stop_all(void)
{
        for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
                if (running[i] > 0) {
                        kill(running[i], SIGKILL);
                        waitpid(running[i], NULL, 0);
                        running[i] = 0;
                }
}

pid_t bt_spawn(const char *bin, int port, const char *work, const char *name)
{
        static bool registered;
        char portarg[32], logpath[4096];
        pid_t pid;

        if (!registered && atexit(stop_all) == 0)
                registered = true;

        snprintf(portarg, sizeof(portarg), "http.port=%d", port);
        snprintf(logpath, sizeof(logpath), "%s/%s.log", work, name);
        pid = fork();
        if (pid < 0)
                bt_die("fork", strerror(errno));
        if (pid == 0) {
                int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                        close(fd);
                }
                execl(bin, bin, "-X", portarg, "-X", "log.level=warn", (char *)NULL);
                _exit(127);
        }
        for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
                if (running[i] <= 0) {
                        running[i] = pid;
                        break;
                }
        return pid;
}

void bt_stop(pid_t pid, const char *name)
{
        int st = 0;

        if (pid <= 0)
                return;
        for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
                if (running[i] == pid)
                        running[i] = 0;
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "bench-trigger: %s exited with status %d\n", name,
                        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* GET /metrics from 127.0.0.1:port into body; false when it did not answer 200. */
static bool get_metrics(int port)
{
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        size_t len = 0;
        ssize_t r;
        char *start;

        body[0] = '\0';
        if (fd < 0)
                return false;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
                close(fd);
                return false;
        }
        while (len + 1 < sizeof(body) &&
               (r = read(fd, body + len, sizeof(body) - 1 - len)) > 0)
                len += (size_t)r;
        close(fd);
        body[len] = '\0';
        if (strncmp(body, "HTTP/1.1 200", 12) != 0 || !(start = strstr(body, "\r\n\r\n")))
                return false;
        start += 2; /* keep one "\n" ahead of the first line, so every line follows one */
        memmove(body, start, len + 1 - (size_t)(start - body));
        return true;
}

double bt_metric(int port, const char *series)
{
        char line[512];

        if (!get_metrics(port))
                return -1;
        snprintf(line, sizeof(line), "\n%s ", series);
        const char *p = strstr(body, line);
        return p ? strtod(p + strlen(line), NULL) : -1;
}

bool bt_wait_series(pid_t pid, int port, const char *series, double want, double *got)
{
        double last = -2, since = bt_now_s();

        for (;;) {
                double v = bt_metric(port, series);
                if (got)
                        *got = v;
                if (v >= want)
                        return true;
                if (v != last) {
                        last = v;
                        since = bt_now_s();
                }
                if (waitpid(pid, NULL, WNOHANG) == pid || bt_now_s() - since > IDLE_S)
                        return false;
                usleep(POLL_US);
        }
}

long bt_vmhwm_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (!(fp = fopen(path, "r")))
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
                        break;
        fclose(fp);
        return kib;
}

/* utime + stime of pid, and with reaped its reaped children's, in seconds; its parent
 * into *ppid. */
static double stat_cpu(pid_t pid, bool reaped, pid_t *ppid)
{
        char path[64], buf[2048];
        unsigned long ut = 0, st = 0;
        long cut = 0, cst = 0;
        int pp = 0;
        FILE *fp;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!(fp = fopen(path, "r")))
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (!p ||
            sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld",
                   &pp, &ut, &st, &cut, &cst) != 5)
                return 0;
        if (ppid)
                *ppid = pp;
        return (double)(ut + st + (reaped ? (unsigned long)(cut + cst) : 0)) /
               (double)sysconf(_SC_CLK_TCK);
}

double bt_cpu_s(pid_t pid)
{
        return pid > 0 ? stat_cpu(pid, false, NULL) : 0;
}

double bt_pg_cpu_s(pid_t pm)
{
        DIR *d;
        struct dirent *de;
        double sum;

        if (pm <= 0 || !(d = opendir("/proc")))
                return 0;
        sum = stat_cpu(pm, true, NULL);
        while ((de = readdir(d))) {
                pid_t pid = (pid_t)atoi(de->d_name), pp = 0;
                if (pid <= 0)
                        continue;
                double c = stat_cpu(pid, false, &pp);
                if (pp == pm)
                        sum += c;
        }
        closedir(d);
        return sum;
}

pid_t bt_postmaster_of(const char *data_dir)
{
        char path[4096];
        long pid = 0;
        FILE *fp;

        if (!data_dir || !*data_dir)
                return 0;
        snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
        if ((fp = fopen(path, "r"))) {
                if (fscanf(fp, "%ld", &pid) != 1)
                        pid = 0;
                fclose(fp);
        }
        return (pid_t)pid;
}

void bt_hist_read(int port, const char *name, bt_hist_t *h)
{
        char pre[256];

        memset(h, 0, sizeof(*h));
        snprintf(pre, sizeof(pre), "\n%s_bucket{le=\"", name);
        if (!get_metrics(port))
                return;
        for (char *p = strstr(body, pre); p && h->n < BT_HMAX; p = strstr(p + 1, pre)) {
                char *q = p + strlen(pre), *e = strchr(q, '"');
                if (!e || (size_t)(e - q) >= sizeof(h->le[0]))
                        break;
                memcpy(h->le[h->n], q, (size_t)(e - q));
                h->le[h->n][e - q] = '\0';
                h->cum[h->n++] = strtod(e + 3, NULL); /* past '"} ' */
        }
}

double bt_hist_total(const bt_hist_t *a, const bt_hist_t *b)
{
        return b->n ? b->cum[b->n - 1] - (a->n ? a->cum[a->n - 1] : 0) : 0;
}

const char *bt_hist_quantile(const bt_hist_t *a, const bt_hist_t *b, double q)
{
        double total = bt_hist_total(a, b);

        for (int i = 0; i < b->n && total > 0; i++)
                if (b->cum[i] - (a->n > i ? a->cum[i] : 0) >= q * total)
                        return b->le[i];
        return "?";
}
