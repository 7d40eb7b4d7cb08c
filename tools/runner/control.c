/* sluice-runner's control file watch (see control.h). */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log/log.h"
#include "sluice/err.h"

/* A control file is a few lines; anything longer is a mistake. */
#define SL_RUNNER_CONTROL_MAX 65536

int sl_runner_control_init(sl_runner_control_t *c, const char *path,
                           const sl_runner_opts_t *base)
{
        memset(c, 0, sizeof(*c));
        c->base = *base;
        if (path && !(c->path = strdup(path)))
                return SL_ERR_NOMEM;
        return SL_OK;
}

void sl_runner_control_close(sl_runner_control_t *c)
{
        free(c->path);
        c->path = NULL;
}

/* The file's text, NUL-terminated; NULL with errstr set.  Caller frees with free(). */
static char *slurp(const char *path, char *errstr, size_t errstr_size)
{
        FILE *fp = fopen(path, "r");
        char *text;
        size_t n;

        if (!fp) {
                snprintf(errstr, errstr_size, "%s", strerror(errno));
                return NULL;
        }
        text = malloc(SL_RUNNER_CONTROL_MAX + 1);
        if (!text) {
                snprintf(errstr, errstr_size, "out of memory");
                fclose(fp);
                return NULL;
        }
        n = fread(text, 1, SL_RUNNER_CONTROL_MAX + 1, fp);
        if (ferror(fp) || n > SL_RUNNER_CONTROL_MAX) {
                snprintf(errstr, errstr_size, "%s",
                         ferror(fp) ? "read error" : "longer than 64 KiB");
                free(text);
                fclose(fp);
                return NULL;
        }
        text[n] = '\0';
        fclose(fp);
        return text;
}

bool sl_runner_control_poll(sl_runner_control_t *c, int64_t now, sl_runner_opts_t *opts)
{
        sl_runner_opts_t next = c->base;
        char errstr[512], *text;
        struct stat st;
        bool present;

        if (!c->path || now < c->next_check)
                return false;
        c->next_check = now + SL_RUNNER_CONTROL_CHECK_MS;
        present = stat(c->path, &st) == 0;
        if (present == c->present &&
            (!present || (st.st_ino == c->ino && st.st_size == c->size &&
                          st.st_mtim.tv_sec == c->mtime.tv_sec &&
                          st.st_mtim.tv_nsec == c->mtime.tv_nsec)))
                return false;
        /* Remembered even when it does not parse: one warning per version. */
        c->present = present;
        if (present) {
                c->ino = st.st_ino;
                c->size = st.st_size;
                c->mtime = st.st_mtim;
        }
        if (!present) {
                sl_log_info("control file %s is gone: the flags' options again", c->path);
                *opts = next;
                return true;
        }
        if (!(text = slurp(c->path, errstr, sizeof(errstr)))) {
                sl_log_warn("control file %s: %s; options unchanged", c->path, errstr);
                return false;
        }
        if (sl_runner_opts_parse(&next, text, errstr, sizeof(errstr)) != SL_OK) {
                sl_log_warn("control file %s: %s; options unchanged", c->path, errstr);
                free(text);
                return false;
        }
        free(text);
        *opts = next;
        return true;
}
