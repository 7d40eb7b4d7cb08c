/*
 * One event against a triggers snapshot (see matcher.h): candidates, one payload
 * parse at most, filters, filled templates.
 */
#include "matcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/err.h"

void sl_matcher_init(sl_matcher_t *mt)
{
        memset(mt, 0, sizeof(*mt));
        sl_template_buf_init(&mt->params);
}

void sl_matcher_close(sl_matcher_t *mt)
{
        free(mt->cand);
        sl_template_buf_close(&mt->params);
        memset(mt, 0, sizeof(*mt));
}

int sl_matcher_reserve(sl_matcher_t *mt, const sl_triggers_t *ts)
{
        size_t need = sl_triggers_max_candidates(ts);
        const sl_trigger_t **c;

        if (need <= mt->cap && mt->cand)
                return SL_OK;
        c = realloc(mt->cand, (need ? need : 1) * sizeof(*c));
        if (!c)
                return SL_ERR_NOMEM;
        mt->cand = c;
        mt->cap = need;
        return SL_OK;
}

int sl_matcher_event(sl_matcher_t *mt, const sl_triggers_t *ts, const sl_envelope_t *env,
                     sl_matcher_cb *cb, void *opaque, sl_matcher_result_t *res)
{
        sl_matcher_result_t local;
        json_t *payload = NULL;
        size_t n;
        int err = SL_OK;

        if (!res)
                res = &local;
        res->candidates = res->matches = res->payload_skips = 0;
        res->payload_parsed = res->payload_bad = false;
        res->payload_err[0] = '\0';

        n = sl_triggers_candidates(ts, env->type, env->source, mt->cand, mt->cap);
        res->candidates = n;
        if (n > mt->cap)
                return SL_ERR_STATE;
        for (size_t i = 0; i < n && err == SL_OK; i++) {
                const sl_trigger_t *t = mt->cand[i];

                if (t->uses_payload && !res->payload_parsed) {
                        json_error_t jerr;

                        res->payload_parsed = true;
                        payload = json_loadb(env->payload, env->payload_len, 0, &jerr);
                        if (!payload) {
                                res->payload_bad = true;
                                snprintf(res->payload_err, sizeof(res->payload_err),
                                         "at %d: %s", jerr.position, jerr.text);
                        }
                }
                if (t->uses_payload && !payload) {
                        res->payload_skips++;
                        continue;
                }
                if (t->filter && !sl_filter_eval(t->filter, env, payload))
                        continue;
                err = sl_template_fill(t->tmpl, env, payload, &mt->params);
                if (err != SL_OK)
                        break;
                res->matches++;
                err = cb(opaque, t, mt->params.data, mt->params.len);
        }
        json_decref(payload);
        return err;
}
