/*
 * libFuzzer target for the envelope codec and validation: any bytes go through
 * sl_envelope_decode() (with the v1 and v2 writers registered) and, when they decode,
 * through sl_envelope_validate() with a payload schema registered for type "t", and
 * back through encode/decode.  Built by CMake with -DSLUICE_FUZZ=ON and clang (target
 * fuzz_envelope, test fuzz.envelope); scripts/test.sh's fuzz step runs it for 30 s:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DSLUICE_FUZZ=ON -DSLUICE_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_envelope && ctest --test-dir build/fuzz -L
 * fuzz Seed corpus: tests/fuzz/corpus/envelope/ (valid envelopes from the v1 and v2
 * writers, one with every field, and invalid ones: empty, header only, bad magic, unknown
 * fingerprint, truncated, a payload its type's schema rejects, an expired ttl).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope/envelope.h"
#include "envelope/validate.h"
#include "sluice/err.h"

static sl_codec_t *codec;
static sl_types_t *types;

static void fuzz_init(void)
{
        char errstr[256];
        codec = sl_codec_new(errstr, sizeof(errstr));
        if (!codec)
                abort();
        sl_codec_add_writers_dir(codec, SL_SOURCE_DIR "/schemas", errstr, sizeof(errstr));
        types = sl_types_new();
        const char *schema =
            "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":"
            "[\"null\",\"int\",{\"type\":\"array\",\"items\":\"string\"}],\"default\":"
            "null}]}";
        sl_payload_schema_t *ps = sl_payload_schema_new(schema, errstr, sizeof(errstr));
        if (!ps)
                abort();
        sl_types_put(types, "t", ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static sl_envelope_t env;
        sl_reject_t rej;
        if (!codec)
                fuzz_init();
        if (sl_envelope_decode(codec, data, size, &env, &rej) != SL_OK)
                return 0;
        sl_validate_opts_t opts = {.now_ms = 1714564800000LL};
        sl_envelope_validate(&env, &opts, types, &rej);
        void *out;
        size_t out_len;
        if (sl_envelope_encode(codec, &env, &out, &out_len) == SL_OK) {
                sl_envelope_t env2;
                sl_envelope_init(&env2);
                if (sl_envelope_decode(codec, out, out_len, &env2, &rej) != SL_OK)
                        abort(); /* what we encode we must decode */
                sl_envelope_clear(&env2);
                free(out);
        }
        return 0;
}
