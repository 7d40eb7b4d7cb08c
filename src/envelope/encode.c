/*
 * Encoding an envelope as the reader schema's single-object form: the C3 01 marker,
 * the reader fingerprint, then the Avro binary fields in the reader schema's order
 * (zig-zag varints, length-prefixed strings, unions as branch index + value, the
 * metadata map as one block).  Used by the publisher SDK, sluicectl and the retry stage.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope/codec_int.h"
#include "sluice/err.h"
#include "util/varint.h"

static inline unsigned char *sl_wr_long(unsigned char *p, int64_t v)
{
        return p + sl_avro_long_encode(v, p);
}

static unsigned char *sl_wr_str(unsigned char *p, const char *s, size_t len)
{
        p = sl_wr_long(p, (int64_t)len);
        memcpy(p, s, len);
        return p + len;
}

static size_t sl_payload_len(const sl_envelope_t *env)
{
        return env->payload_len ? env->payload_len : strlen(env->payload);
}

int sl_envelope_encode(const sl_codec_t *codec, const sl_envelope_t *env, void **out,
                       size_t *out_len)
{
        size_t need = 10 + 11 * SL_SLOT__CNT + 11 * 2;
        unsigned char *buf, *p;

        *out = NULL;
        *out_len = 0;
        if (!codec || !env || !env->type || !env->source || !env->payload ||
            memchr(env->id, '\0', sizeof(env->id)) == NULL)
                return SL_ERR_INVALID;
        if (env->meta_cnt && (!env->meta_keys || !env->meta_vals))
                return SL_ERR_INVALID;
        need += strlen(env->id) + strlen(env->type) + strlen(env->source) +
                sl_payload_len(env) +
                (env->correlation_id ? strlen(env->correlation_id) : 0);
        for (size_t i = 0; i < env->meta_cnt; i++) {
                if (!env->meta_keys[i] || !env->meta_vals[i])
                        return SL_ERR_INVALID;
                need += 20 + strlen(env->meta_keys[i]) + strlen(env->meta_vals[i]);
        }
        p = buf = malloc(need);
        if (!buf)
                return SL_ERR_NOMEM;
        uint64_t fp = sl_codec_fingerprint(codec);
        *p++ = 0xC3;
        *p++ = 0x01;
        for (int i = 0; i < 8; i++)
                *p++ = (unsigned char)(fp >> (8 * i));
        for (int i = 0; i < SL_SLOT__CNT; i++) {
                switch (codec->reader_order[i]) {
                case SL_SLOT_ID:
                        p = sl_wr_str(p, env->id, strlen(env->id));
                        break;
                case SL_SLOT_TYPE:
                        p = sl_wr_str(p, env->type, strlen(env->type));
                        break;
                case SL_SLOT_SOURCE:
                        p = sl_wr_str(p, env->source, strlen(env->source));
                        break;
                case SL_SLOT_OCCURRED_AT:
                        p = sl_wr_long(p, env->occurred_at);
                        break;
                case SL_SLOT_PAYLOAD:
                        p = sl_wr_str(p, env->payload, sl_payload_len(env));
                        break;
                case SL_SLOT_CORRELATION_ID:
                        if (env->correlation_id) {
                                p = sl_wr_long(p, 1);
                                p = sl_wr_str(p, env->correlation_id,
                                              strlen(env->correlation_id));
                        } else {
                                p = sl_wr_long(p, 0);
                        }
                        break;
                case SL_SLOT_TTL_MS:
                        if (env->has_ttl) {
                                p = sl_wr_long(p, 1);
                                p = sl_wr_long(p, env->ttl_ms);
                        } else {
                                p = sl_wr_long(p, 0);
                        }
                        break;
                case SL_SLOT_METADATA:
                        if (env->meta_cnt) {
                                p = sl_wr_long(p, (int64_t)env->meta_cnt);
                                for (size_t k = 0; k < env->meta_cnt; k++) {
                                        p = sl_wr_str(p, env->meta_keys[k],
                                                      strlen(env->meta_keys[k]));
                                        p = sl_wr_str(p, env->meta_vals[k],
                                                      strlen(env->meta_vals[k]));
                                }
                        }
                        p = sl_wr_long(p, 0);
                        break;
                case SL_SLOT__CNT:
                        break;
                }
        }
        *out = buf;
        *out_len = (size_t)(p - buf);
        return SL_OK;
}
