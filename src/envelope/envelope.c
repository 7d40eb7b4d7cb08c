/*
 * The envelope object: initialisation, release, the per-envelope arena that decoded
 * strings live in, and the reason codes' string forms.  The arena is reserved once per
 * decode (its size is bounded by the input length) so strings never move while an
 * envelope is being filled, and it is kept across decodes so the hot path does not
 * allocate once warm.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope/envelope_int.h"
#include "sluice/err.h"

static const char *const sl_reject_names[SL_REJECT__CNT] = {
    [SL_REJECT_NONE] = "none",
    [SL_REJECT_FRAMING] = "framing",
    [SL_REJECT_UNKNOWN_SCHEMA] = "unknown_schema",
    [SL_REJECT_DECODE] = "decode",
    [SL_REJECT_BAD_ID] = "bad_id",
    [SL_REJECT_EMPTY_TYPE] = "empty_type",
    [SL_REJECT_EMPTY_SOURCE] = "empty_source",
    [SL_REJECT_BAD_TEXT] = "bad_text",
    [SL_REJECT_BAD_OCCURRED_AT] = "bad_occurred_at",
    [SL_REJECT_TTL_EXPIRED] = "ttl_expired",
    [SL_REJECT_BAD_TTL] = "bad_ttl",
    [SL_REJECT_PAYLOAD_NOT_JSON] = "payload_not_json",
    [SL_REJECT_PAYLOAD_NOT_OBJECT] = "payload_not_object",
    [SL_REJECT_PAYLOAD_SCHEMA] = "payload_schema",
    [SL_REJECT_RETRIES_EXHAUSTED] = "retries_exhausted",
};

const char *sl_reject_code_str(sl_reject_code_t code)
{
        if ((unsigned)code >= SL_REJECT__CNT)
                return "unknown";
        return sl_reject_names[code];
}

sl_reject_code_t sl_reject_code_parse(const char *s)
{
        if (!s)
                return SL_REJECT__CNT;
        for (int i = 0; i < SL_REJECT__CNT; i++)
                if (!strcmp(s, sl_reject_names[i]))
                        return (sl_reject_code_t)i;
        return SL_REJECT__CNT;
}

void sl_envelope_init(sl_envelope_t *env)
{
        memset(env, 0, sizeof(*env));
}

void sl_envelope_clear(sl_envelope_t *env)
{
        if (!env)
                return;
        free(env->arena_);
        free(env->meta_space_);
        memset(env, 0, sizeof(*env));
}

int sl__envelope_arena_reset(sl_envelope_t *env, size_t n)
{
        if (n > env->arena_size_) {
                /* First sized to fit (in 64-byte steps), then doubled: ingress keeps an
                 * arena per record of two batches, so a fixed 512 bytes held ~5 MiB
                 * more than the ~200 a typical event needs. */
                size_t sz =
                    env->arena_size_ ? env->arena_size_ * 2 : (n + 63) & ~(size_t)63;
                while (sz < n)
                        sz *= 2;
                char *a = malloc(sz);
                if (!a)
                        return SL_ERR_NOMEM;
                free(env->arena_);
                env->arena_ = a;
                env->arena_size_ = sz;
        }
        env->arena_used_ = 0;
        return SL_OK;
}

const char *sl__envelope_strdup(sl_envelope_t *env, const char *p, size_t n)
{
        char *d = env->arena_ + env->arena_used_;
        if (n)
                memcpy(d, p, n);
        d[n] = '\0';
        env->arena_used_ += n + 1;
        return d;
}

/* meta_space_ holds meta_cap_ key pointers followed by meta_cap_ value pointers. */
int sl__envelope_meta_reserve(sl_envelope_t *env, size_t cnt, size_t keep)
{
        if (cnt <= env->meta_cap_)
                return SL_OK;
        size_t cap = env->meta_cap_ ? env->meta_cap_ : 8;
        while (cap < cnt)
                cap *= 2;
        const char **ns = malloc(2 * cap * sizeof(*ns));
        if (!ns)
                return SL_ERR_NOMEM;
        const char **os = env->meta_space_;
        if (os && keep) {
                memcpy(ns, os, keep * sizeof(*ns));
                memcpy(ns + cap, os + env->meta_cap_, keep * sizeof(*ns));
        }
        free(os);
        env->meta_space_ = ns;
        env->meta_cap_ = cap;
        return SL_OK;
}

void sl__envelope_meta_set(sl_envelope_t *env, size_t i, const char *k, const char *v)
{
        const char **s = env->meta_space_;
        s[i] = k;
        s[env->meta_cap_ + i] = v;
}

void sl__envelope_meta_finish(sl_envelope_t *env, size_t cnt)
{
        const char **s = env->meta_space_;
        env->meta_cnt = cnt;
        env->meta_keys = s;
        env->meta_vals = s ? s + env->meta_cap_ : NULL;
}
