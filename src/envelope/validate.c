/*
 * sl_envelope_validate(): the field rules every envelope must pass after decoding, in
 * the documented order, each with its reason code: id is a canonical UUID, type and
 * source are non-empty, every string is UTF-8 without NUL, occurred_at is within
 * [min_occurred_at, now + max_future_ms], ttl_ms is positive and not yet expired,
 * the payload is a JSON object jsonb accepts, and it conforms to the type's payload
 * schema when one is registered.  Pure: the clock comes in opts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "envelope/envelope_int.h"
#include "envelope/validate.h"
#include "sluice/err.h"
#include "util/clock.h"
#include "util/utf8.h"
#include "util/uuid.h"

#define SL_DEFAULT_MIN_OCCURRED_AT 946684800000LL /* 2000-01-01T00:00:00Z */
#define SL_DEFAULT_MAX_FUTURE_MS   300000LL       /* 5 minutes */

static int sl_reject(sl_reject_t *rej, sl_reject_code_t code, const char *fmt, ...)
{
        va_list ap;
        rej->code = code;
        va_start(ap, fmt);
        vsnprintf(rej->msg, sizeof(rej->msg), fmt, ap);
        va_end(ap);
        return SL_ERR_REJECTED;
}

static int sl_text_bad(const char *what, const char *s, size_t len, sl_reject_t *rej)
{
        ptrdiff_t bad = sl_utf8_check(s, len);
        if (bad < 0)
                return 0;
        sl_reject(rej, SL_REJECT_BAD_TEXT, "%s: %s at byte %td", what,
                  s[bad] ? "invalid UTF-8" : "NUL character", bad);
        return 1;
}

static int64_t sl_sat_add(int64_t a, int64_t b)
{
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

int sl_envelope_validate(const sl_envelope_t *env, const sl_validate_opts_t *opts,
                         const sl_types_t *types, sl_reject_t *rej)
{
        static const sl_validate_opts_t defaults = {0};
        char msg[sizeof(rej->msg)];

        if (!opts)
                opts = &defaults;
        rej->code = SL_REJECT_NONE;
        rej->msg[0] = '\0';

        if (!sl_uuid_valid(env->id))
                return sl_reject(rej, SL_REJECT_BAD_ID,
                                 "id \"%.36s\" is not a UUID (8-4-4-4-12 hex digits)",
                                 env->id);
        if (!env->type || !*env->type)
                return sl_reject(rej, SL_REJECT_EMPTY_TYPE, "type is empty");
        if (!env->source || !*env->source)
                return sl_reject(rej, SL_REJECT_EMPTY_SOURCE, "source is empty");

        size_t payload_len = env->payload ? env->payload_len : 0;
        if (env->payload && !payload_len)
                payload_len = strlen(env->payload);
        if (sl_text_bad("type", env->type, strlen(env->type), rej) ||
            sl_text_bad("source", env->source, strlen(env->source), rej) ||
            (env->correlation_id && sl_text_bad("correlation_id", env->correlation_id,
                                                strlen(env->correlation_id), rej)))
                return SL_ERR_REJECTED;
        /* One pass over the payload: a JSON object that passes is valid UTF-8 without
         * NUL; a failure is bad_text when the bytes are to blame, else it is reported
         * after the time checks, in its place in the order. */
        sl_reject_code_t json_code = SL_REJECT_PAYLOAD_NOT_JSON;
        if (env->payload) {
                json_code =
                    sl__json_check_object(env->payload, payload_len, msg, sizeof(msg));
                if (json_code != SL_REJECT_NONE &&
                    sl_text_bad("payload", env->payload, payload_len, rej))
                        return SL_ERR_REJECTED;
        }
        for (size_t i = 0; i < env->meta_cnt; i++) {
                const char *k = env->meta_keys[i], *v = env->meta_vals[i];
                if (!k || !v)
                        return sl_reject(rej, SL_REJECT_BAD_TEXT,
                                         "metadata entry %zu is NULL", i);
                if (sl_text_bad("metadata key", k, strlen(k), rej) ||
                    sl_text_bad("metadata value", v, strlen(v), rej))
                        return SL_ERR_REJECTED;
        }

        int64_t now = opts->now_ms ? opts->now_ms : sl_wall_ms();
        int64_t min =
            opts->min_occurred_at ? opts->min_occurred_at : SL_DEFAULT_MIN_OCCURRED_AT;
        int64_t ahead =
            opts->max_future_ms ? opts->max_future_ms : SL_DEFAULT_MAX_FUTURE_MS;
        if (env->occurred_at < min)
                return sl_reject(
                    rej, SL_REJECT_BAD_OCCURRED_AT,
                    "occurred_at %lld ms is before the earliest allowed %lld ms",
                    (long long)env->occurred_at, (long long)min);
        if (env->occurred_at > sl_sat_add(now, ahead))
                return sl_reject(
                    rej, SL_REJECT_BAD_OCCURRED_AT,
                    "occurred_at %lld ms is %lld ms in the future (at most %lld "
                    "allowed)",
                    (long long)env->occurred_at, (long long)(env->occurred_at - now),
                    (long long)ahead);
        if (env->has_ttl) {
                if (env->ttl_ms <= 0)
                        return sl_reject(rej, SL_REJECT_BAD_TTL,
                                         "ttl_ms %lld is not positive",
                                         (long long)env->ttl_ms);
                if (sl_sat_add(env->occurred_at, env->ttl_ms) < now)
                        return sl_reject(
                            rej, SL_REJECT_TTL_EXPIRED, "ttl_ms %lld expired %lld ms ago",
                            (long long)env->ttl_ms,
                            (long long)(now - sl_sat_add(env->occurred_at, env->ttl_ms)));
        }

        if (!env->payload)
                return sl_reject(rej, SL_REJECT_PAYLOAD_NOT_JSON, "payload is missing");
        if (json_code != SL_REJECT_NONE)
                return sl_reject(rej, json_code, "%s", msg);

        const sl_payload_schema_t *ps = sl_types_get(types, env->type);
        if (ps &&
            sl__payload_schema_check(ps, env->payload, payload_len, msg, sizeof(msg)))
                return sl_reject(rej, SL_REJECT_PAYLOAD_SCHEMA, "%s", msg);
        return SL_OK;
}
