/*
 * The envelope codec's set-up: the compiled-in reader schema (schemas/envelope.avsc),
 * its CRC-64-AVRO fingerprint, and the registry of writer schemas that can be decoded.
 * Registering a writer schema checks that it resolves against the reader by the Avro
 * specification's rules (fields matched by name; string<-bytes and long<-int
 * promotions; a writer union resolves branch by branch at decode time; reader fields
 * the writer lacks need a default; writer fields the reader lacks are skipped) and
 * compiles the field map decode.c interprets.  Decoding and encoding live in decode.c
 * and encode.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope/codec_int.h"
#include "sluice/err.h"
#include "util/array.h"

extern const char sl_envelope_schema_json[];

const char *const sl__slot_names[SL_SLOT__CNT] = {
    "id",      "type",           "source", "occurred_at",
    "payload", "correlation_id", "ttl_ms", "metadata"};

const sl_slot_kind_t sl__slot_kinds[SL_SLOT__CNT] = {
    SL_KIND_STRING, SL_KIND_STRING,     SL_KIND_STRING,   SL_KIND_LONG,
    SL_KIND_STRING, SL_KIND_OPT_STRING, SL_KIND_OPT_LONG, SL_KIND_MAP_STRING};

static int sl_slot_lookup(const char *name)
{
        for (int i = 0; i < SL_SLOT__CNT; i++)
                if (!strcmp(name, sl__slot_names[i]))
                        return i;
        return -1;
}

static int sl_is_str(const sl__avro_node_t *n)
{
        return n->type == SL_AVRO_STRING || n->type == SL_AVRO_BYTES;
}

static int sl_is_long(const sl__avro_node_t *n)
{
        return n->type == SL_AVRO_INT || n->type == SL_AVRO_LONG;
}

/* Whether a non-union writer type n can fill a slot of kind k. */
static int sl_branch_resolves(sl_slot_kind_t k, const sl__avro_node_t *n)
{
        switch (k) {
        case SL_KIND_STRING:
                return sl_is_str(n);
        case SL_KIND_LONG:
                return sl_is_long(n);
        case SL_KIND_OPT_STRING:
                return n->type == SL_AVRO_NULL || sl_is_str(n);
        case SL_KIND_OPT_LONG:
                return n->type == SL_AVRO_NULL || sl_is_long(n);
        case SL_KIND_MAP_STRING:
                return n->type == SL_AVRO_MAP && sl_is_str(n->kids[0]);
        }
        return 0;
}

static int sl_resolves(sl_slot_kind_t k, const sl__avro_node_t *n)
{
        if (n->type != SL_AVRO_UNION)
                return sl_branch_resolves(k, n);
        for (size_t i = 0; i < n->cnt; i++)
                if (sl_branch_resolves(k, n->kids[i]))
                        return 1;
        return 0;
}

/* The reader schema must be exactly the envelope's shape, in any field order. */
static int sl_reader_exact(sl_slot_kind_t k, const sl__avro_node_t *n)
{
        switch (k) {
        case SL_KIND_STRING:
                return n->type == SL_AVRO_STRING;
        case SL_KIND_LONG:
                return n->type == SL_AVRO_LONG;
        case SL_KIND_OPT_STRING:
        case SL_KIND_OPT_LONG:
                return n->type == SL_AVRO_UNION && n->cnt == 2 &&
                       n->kids[0]->type == SL_AVRO_NULL &&
                       n->kids[1]->type ==
                           (k == SL_KIND_OPT_STRING ? SL_AVRO_STRING : SL_AVRO_LONG);
        case SL_KIND_MAP_STRING:
                return n->type == SL_AVRO_MAP && n->kids[0]->type == SL_AVRO_STRING;
        }
        return 0;
}

static const char *sl_short_name(const char *fullname)
{
        const char *dot = strrchr(fullname, '.');
        return dot ? dot + 1 : fullname;
}

static int sl_codec_push(sl_codec_t *codec, const sl_writer_t *w)
{
        sl_writer_t *nw = sl_array_grow(codec->writers, &codec->writer_cap,
                                        codec->writer_cnt + 1, sizeof(*nw), 4);
        if (!nw)
                return SL_ERR_NOMEM;
        codec->writers = nw;
        codec->writers[codec->writer_cnt++] = *w;
        return SL_OK;
}

static const sl_writer_t *sl_codec_find(const sl_codec_t *codec, uint64_t fp)
{
        for (size_t i = 0; i < codec->writer_cnt; i++)
                if (codec->writers[i].fp == fp)
                        return &codec->writers[i];
        return NULL;
}

/* Compile schema s (taking ownership) as a writer; registers its canonical fingerprint
 * and, when different, python3-avro's. */
static int sl_codec_add_schema(sl_codec_t *codec, sl__avro_schema_t *s, char *errstr,
                               size_t errstr_size)
{
        const sl__avro_node_t *rec = s->root;
        const sl__avro_node_t *rrec = codec->reader ? codec->reader->root : s->root;
        sl_writer_t w = {.schema = s, .rec = rec, .owner = 1};
        int seen[SL_SLOT__CNT] = {0};
        int err = SL_ERR_INVALID;

        w.fp = sl_avro_crc64(s->canonical, strlen(s->canonical));
        if (sl_codec_find(codec, w.fp)) {
                sl__avro_schema_destroy(s);
                return SL_OK; /* already known */
        }
        if (rec->type != SL_AVRO_RECORD) {
                snprintf(errstr, errstr_size, "writer schema is a %s, not a record",
                         sl__avro_type_name(rec->type));
                goto fail;
        }
        if (strcmp(sl_short_name(rec->fullname), sl_short_name(rrec->fullname))) {
                snprintf(errstr, errstr_size,
                         "writer record %s does not match reader record %s",
                         rec->fullname, rrec->fullname);
                goto fail;
        }
        w.slot_of = malloc(rec->cnt ? rec->cnt : 1);
        if (!w.slot_of) {
                err = SL_ERR_NOMEM;
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < rec->cnt; i++) {
                int slot = sl_slot_lookup(rec->names[i]);
                w.slot_of[i] = (signed char)slot;
                if (slot < 0)
                        continue;
                if (!sl_resolves(sl__slot_kinds[slot], rec->kids[i])) {
                        snprintf(
                            errstr, errstr_size,
                            "writer field %s (%s) does not resolve to the reader's type",
                            rec->names[i], sl__avro_type_name(rec->kids[i]->type));
                        goto fail;
                }
                seen[slot] = 1;
        }
        for (int slot = 0; slot < SL_SLOT__CNT; slot++) {
                if (!seen[slot] && codec->reader && !codec->reader_has_default[slot]) {
                        snprintf(errstr, errstr_size,
                                 "writer schema lacks field %s, which has no default",
                                 sl__slot_names[slot]);
                        goto fail;
                }
        }
        if ((err = sl_codec_push(codec, &w)))
                goto fail_nomem;
        if (strcmp(s->canonical, s->canonical_py)) {
                sl_writer_t alias = w;
                alias.owner = 0;
                alias.fp = sl_avro_crc64(s->canonical_py, strlen(s->canonical_py));
                if (!sl_codec_find(codec, alias.fp) &&
                    (err = sl_codec_push(codec, &alias))) {
                        /* the first entry now owns s; only report */
                        snprintf(errstr, errstr_size, "out of memory");
                        return err;
                }
        }
        return SL_OK;

fail_nomem:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        free(w.slot_of);
        sl__avro_schema_destroy(s);
        return err;
}

sl_codec_t *sl_codec_new(char *errstr, size_t errstr_size)
{
        char why[256];
        sl_codec_t *codec = calloc(1, sizeof(*codec));
        int seen[SL_SLOT__CNT] = {0};

        if (!codec) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sl__avro_schema_t *s = sl__avro_schema_parse(
            sl_envelope_schema_json, strlen(sl_envelope_schema_json), why, sizeof(why));
        if (!s) {
                snprintf(errstr, errstr_size, "embedded envelope schema: %s", why);
                goto fail;
        }
        const sl__avro_node_t *rec = s->root;
        if (rec->type != SL_AVRO_RECORD || rec->cnt != SL_SLOT__CNT) {
                snprintf(
                    errstr, errstr_size,
                    "embedded envelope schema must be a record of the %d envelope fields",
                    SL_SLOT__CNT);
                goto fail_schema;
        }
        for (size_t i = 0; i < rec->cnt; i++) {
                int slot = sl_slot_lookup(rec->names[i]);
                if (slot < 0 || seen[slot] ||
                    !sl_reader_exact(sl__slot_kinds[slot], rec->kids[i])) {
                        snprintf(errstr, errstr_size,
                                 "embedded envelope schema: unexpected field %s",
                                 rec->names[i]);
                        goto fail_schema;
                }
                seen[slot] = 1;
                codec->reader_order[i] = (sl_slot_t)slot;
                codec->reader_has_default[slot] = rec->has_default[i];
        }
        /* The reader is writer [0]; it is not owned by that entry but by codec->reader.
         */
        if (sl_codec_add_schema(codec, s, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "embedded envelope schema: %s", why);
                goto fail;
        }
        codec->writers[0].owner = 0;
        for (size_t i = 1; i < codec->writer_cnt; i++)
                codec->writers[i].owner = 0;
        codec->reader = s;
        return codec;

fail_schema:
        sl__avro_schema_destroy(s);
fail:
        sl_codec_destroy(codec);
        return NULL;
}

void sl_codec_destroy(sl_codec_t *codec)
{
        if (!codec)
                return;
        for (size_t i = 0; i < codec->writer_cnt; i++) {
                if (codec->writers[i].owner)
                        sl__avro_schema_destroy(codec->writers[i].schema);
                /* aliases share slot_of with their owner entry */
                if (i == 0 || codec->writers[i].slot_of != codec->writers[i - 1].slot_of)
                        free(codec->writers[i].slot_of);
        }
        free(codec->writers);
        sl__avro_schema_destroy(codec->reader);
        free(codec);
}

int sl_codec_add_writer(sl_codec_t *codec, const char *schema_json, char *errstr,
                        size_t errstr_size)
{
        char why[256];
        if (!codec || !schema_json) {
                snprintf(errstr, errstr_size, "no schema given");
                return SL_ERR_INVALID;
        }
        sl__avro_schema_t *s =
            sl__avro_schema_parse(schema_json, strlen(schema_json), why, sizeof(why));
        if (!s) {
                snprintf(errstr, errstr_size, "%s", why);
                return SL_ERR_INVALID;
        }
        return sl_codec_add_schema(codec, s, errstr, errstr_size);
}

static char *sl_read_file(const char *path, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0, cap = 0;

        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return NULL;
        }
        for (;;) {
                if (cap - len <= 4096) {
                        /* room for 4096 more bytes and the NUL */
                        char *nb = sl_array_grow(buf, &cap, len + 4096 + 1, 1, 8192);
                        if (!nb) {
                                snprintf(errstr, errstr_size, "%s: out of memory", path);
                                goto fail;
                        }
                        buf = nb;
                }
                size_t n = fread(buf + len, 1, cap - 1 - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                snprintf(errstr, errstr_size, "%s: read error", path);
                goto fail;
        }
        fclose(f);
        buf[len] = '\0';
        return buf;
fail:
        free(buf);
        fclose(f);
        return NULL;
}

int sl_codec_add_writers_dir(sl_codec_t *codec, const char *dir, char *errstr,
                             size_t errstr_size)
{
        struct dirent **ents = NULL;
        char why[256];
        int n, err = SL_OK;

        n = scandir(dir, &ents, NULL, alphasort);
        if (n < 0) {
                snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
                return SL_ERR_IO;
        }
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                size_t nl = strlen(name);
                if (!err && !strncmp(name, "envelope", 8) && nl > 5 &&
                    !strcmp(name + nl - 5, ".avsc")) {
                        char *path, *text;
                        if (asprintf(&path, "%s/%s", dir, name) < 0) {
                                err = SL_ERR_NOMEM;
                                snprintf(errstr, errstr_size, "out of memory");
                        } else {
                                text = sl_read_file(path, errstr, errstr_size);
                                if (!text) {
                                        err = SL_ERR_IO;
                                } else if (sl_codec_add_writer(codec, text, why,
                                                               sizeof(why))) {
                                        snprintf(errstr, errstr_size, "%s: %s", path,
                                                 why);
                                        err = SL_ERR_INVALID;
                                }
                                free(text);
                                free(path);
                        }
                }
                free(ents[i]);
        }
        free(ents);
        return err;
}

uint64_t sl_codec_fingerprint(const sl_codec_t *codec)
{
        return codec->writers[0].fp;
}
