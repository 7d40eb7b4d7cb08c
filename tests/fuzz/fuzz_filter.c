/*
 * libFuzzer target for the trigger filter language: any bytes (cut at the first NUL)
 * go through sl_filter_parse(); what parses is evaluated against a fixed event with a
 * payload and without one, and destroyed.  A refusal must say where, inside the text.
 * Not built by default:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_filter.c src/trigger/filter.c src/trigger/path.c \
 *     src/util/array.c src/util/err.c -ljansson
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trigger/filter.h"

static sl_envelope_t env;
static json_t *payload;

static void fuzz_init(void)
{
        static const char *const keys[] = {"tenant"};
        static const char *const vals[] = {"acme"};
        strcpy(env.id, "0123abcd-4567-89ef-0123-456789abcdef");
        env.type = "order.created";
        env.source = "shop";
        env.occurred_at = 1714564800000LL;
        env.correlation_id = "c-1";
        env.meta_cnt = 1;
        env.meta_keys = keys;
        env.meta_vals = vals;
        env.payload = "{}";
        payload = json_loads("{\"n\":5,\"s\":\"abc\",\"b\":true,\"z\":null,"
                             "\"a\":[1,\"two\",{\"c\":3}],\"o\":{\"k\":{\"k\":[0]}}}",
                             0, NULL);
        if (!payload)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char errstr[256];
        size_t errpos;
        char *text = malloc(size + 1);
        if (!payload)
                fuzz_init();
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        sl_filter_t *f = sl_filter_parse(text, &errpos, errstr, sizeof(errstr));
        if (f) {
                (void)sl_filter_eval(f, &env, payload);
                (void)sl_filter_eval(f, &env, NULL);
                sl_filter_destroy(f);
        } else if (errpos > strlen(text) || strncmp(errstr, "at ", 3) != 0) {
                abort(); /* a refusal says where, inside the text */
        }
        free(text);
        return 0;
}
