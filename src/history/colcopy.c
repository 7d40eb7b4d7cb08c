/*
 * Column blocks of a binary COPY stream (colcopy.h): the encoder keeps the input not
 * yet written in one buffer and, once it holds block_bytes more, writes every complete
 * row in it as one block; the decoder keeps the input until a whole block is there and
 * writes its rows back in one piece.
 */
#include "history/colcopy.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COPY_SIG_LEN 11
#define COPY_HDR_LEN 19 /* signature, flags, extension length */
#define END_MARK     0xFFFFFFFFu

static const uint8_t copy_sig[COPY_SIG_LEN] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                               '\n', 0xff, '\r', '\n', 0};

typedef struct field_s {
        size_t off; /* in buf */
        int32_t len;
} field_t;

struct sl_colcopy_s {
        bool enc;
        int err;   /* sticky */
        bool head; /* header passed */
        bool done; /* trailer passed */
        sl_colcopy_out_fn out;
        void *opaque;
        uint8_t *buf; /* input not yet written */
        size_t len, cap;
        size_t block_bytes, kept; /* encoder: write when len - kept >= block_bytes */
        uint8_t *blk;             /* a block being written */
        size_t blkcap;
        field_t *fld; /* encoder: the fields of the block's rows */
        size_t nfld, fldcap;
        long long rows;
};

static uint32_t be32(const uint8_t *b)
{
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint16_t be16(const uint8_t *b)
{
        return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}

static void put32(uint8_t *b, uint32_t v)
{
        b[0] = (uint8_t)(v >> 24);
        b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)v;
}

static void put16(uint8_t *b, uint16_t v)
{
        b[0] = (uint8_t)(v >> 8);
        b[1] = (uint8_t)v;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
        size_t n = *cap ? *cap : 1024;
        void *q;

        if (need <= *cap)
                return true;
        while (n < need)
                n *= 2;
        if (!(q = realloc(*p, n * elem)))
                return false;
        *p = q;
        *cap = n;
        return true;
}

static int emit(sl_colcopy_t *cc, const void *p, size_t n)
{
        if (n && cc->out(cc->opaque, p, n) != 0)
                return SL_COLCOPY_OUT;
        return 0;
}

static sl_colcopy_t *coder_new(bool enc, size_t block_bytes, sl_colcopy_out_fn out,
                               void *opaque)
{
        sl_colcopy_t *cc = calloc(1, sizeof(*cc));

        if (!cc)
                return NULL;
        cc->enc = enc;
        cc->block_bytes = block_bytes ? block_bytes : 1;
        cc->out = out;
        cc->opaque = opaque;
        return cc;
}

sl_colcopy_t *sl_colcopy_encoder_new(size_t block_bytes, sl_colcopy_out_fn out,
                                     void *opaque)
{
        return coder_new(true, block_bytes, out, opaque);
}

sl_colcopy_t *sl_colcopy_decoder_new(sl_colcopy_out_fn out, void *opaque)
{
        return coder_new(false, 0, out, opaque);
}

void sl_colcopy_destroy(sl_colcopy_t *cc)
{
        if (!cc)
                return;
        free(cc->buf);
        free(cc->blk);
        free(cc->fld);
        free(cc);
}

long long sl_colcopy_rows(const sl_colcopy_t *cc)
{
        return cc->rows;
}

/* ---- encoder ------------------------------------------------------------------- */

/* Writes the block of the nrows rows of ncols fields in cc->fld. */
static int enc_block(sl_colcopy_t *cc, size_t nrows, uint16_t ncols)
{
        size_t body = 0, o = 10;

        for (size_t i = 0; i < nrows * ncols; i++)
                body += 4 + (cc->fld[i].len > 0 ? (size_t)cc->fld[i].len : 0);
        if (body > UINT32_MAX - 10 || nrows >= END_MARK)
                return SL_COLCOPY_BAD; /* a block is far smaller: rows of > 4 GB */
        if (!grow((void **)&cc->blk, &cc->blkcap, body + 10, 1))
                return SL_COLCOPY_NOMEM;
        put32(cc->blk, (uint32_t)nrows);
        put16(cc->blk + 4, ncols);
        put32(cc->blk + 6, (uint32_t)body);
        for (size_t c = 0; c < ncols; c++) {
                for (size_t r = 0; r < nrows; r++, o += 4)
                        put32(cc->blk + o, (uint32_t)cc->fld[r * ncols + c].len);
                for (size_t r = 0; r < nrows; r++) {
                        const field_t *f = &cc->fld[r * ncols + c];
                        if (f->len > 0) {
                                memcpy(cc->blk + o, cc->buf + f->off, (size_t)f->len);
                                o += (size_t)f->len;
                        }
                }
        }
        cc->rows += (long long)nrows;
        return emit(cc, cc->blk, o);
}

/* Writes the header, then every complete row in buf as blocks (a block ends where
 * the number of fields changes), then the trailer when it is there. */
static int enc_run(sl_colcopy_t *cc)
{
        size_t pos = 0;
        int err;

        if (!cc->head) {
                uint8_t h[12];
                size_t hlen;
                if (cc->len < COPY_HDR_LEN)
                        return 0;
                if (memcmp(cc->buf, copy_sig, COPY_SIG_LEN) != 0)
                        return SL_COLCOPY_BAD;
                hlen = COPY_HDR_LEN + (size_t)be32(cc->buf + 15);
                if (hlen < COPY_HDR_LEN || hlen > UINT32_MAX)
                        return SL_COLCOPY_BAD;
                if (cc->len < hlen)
                        return 0;
                memcpy(h, SL_COLCOPY_MAGIC, 8);
                put32(h + 8, (uint32_t)hlen);
                if ((err = emit(cc, h, sizeof(h))) || (err = emit(cc, cc->buf, hlen)))
                        return err;
                cc->head = true;
                pos = hlen;
        }
        while (!cc->done) {
                size_t nrows = 0, p = pos;
                int16_t ncols = -2;

                cc->nfld = 0;
                for (;;) { /* the complete rows from p with the first row's field count */
                        size_t q = p;
                        int16_t nf;
                        if (cc->len - q < 2)
                                break;
                        nf = (int16_t)be16(cc->buf + q);
                        if (nf < -1)
                                return SL_COLCOPY_BAD;
                        if (nf == -1 || (ncols != -2 && nf != ncols))
                                break;
                        q += 2;
                        if (!grow((void **)&cc->fld, &cc->fldcap, cc->nfld + (size_t)nf,
                                  sizeof(field_t)))
                                return SL_COLCOPY_NOMEM;
                        for (int16_t f = 0; f < nf; f++) {
                                int32_t l;
                                if (cc->len - q < 4)
                                        goto incomplete;
                                l = (int32_t)be32(cc->buf + q);
                                q += 4;
                                if (l < -1)
                                        return SL_COLCOPY_BAD;
                                if (l > 0 && cc->len - q < (size_t)l)
                                        goto incomplete;
                                cc->fld[cc->nfld + (size_t)f] = (field_t){q, l};
                                q += l > 0 ? (size_t)l : 0;
                        }
                        cc->nfld += (size_t)nf;
                        ncols = nf;
                        nrows++;
                        p = q;
                }
        incomplete:
                if (nrows) {
                        if ((err = enc_block(cc, nrows, (uint16_t)ncols)))
                                return err;
                        pos = p;
                        continue; /* a row with another field count, or no more */
                }
                if (cc->len - pos >= 2 && be16(cc->buf + pos) == 0xFFFF) {
                        uint8_t end[4];
                        put32(end, END_MARK);
                        if ((err = emit(cc, end, sizeof(end))))
                                return err;
                        pos += 2;
                        cc->done = true;
                }
                break;
        }
        if (cc->done && pos != cc->len)
                return SL_COLCOPY_BAD; /* bytes after the trailer */
        memmove(cc->buf, cc->buf + pos, cc->len - pos);
        cc->len -= pos;
        cc->kept = cc->len;
        return 0;
}

/* ---- decoder ------------------------------------------------------------------- */

/* Writes the rows of the block at b (nrows rows of ncols fields, body of body_len
 * bytes) as binary COPY. */
static int dec_block(sl_colcopy_t *cc, const uint8_t *b, size_t nrows, size_t ncols,
                     size_t body_len)
{
        size_t p = 0, outlen = 0, o = 0;
        size_t *lens_at, *data_at;
        int err = 0;

        if (!(lens_at = calloc(2 * (ncols ? ncols : 1), sizeof(size_t))))
                return SL_COLCOPY_NOMEM;
        data_at = lens_at + ncols;
        /* where each column's lengths and data are */
        for (size_t c = 0; c < ncols; c++) {
                size_t sum = 0;
                if (nrows > (body_len - p) / 4) {
                        err = SL_COLCOPY_BAD;
                        goto out;
                }
                lens_at[c] = p;
                for (size_t r = 0; r < nrows; r++) {
                        int32_t l = (int32_t)be32(b + p + 4 * r);
                        if (l < -1) {
                                err = SL_COLCOPY_BAD;
                                goto out;
                        }
                        sum += l > 0 ? (size_t)l : 0;
                }
                p += 4 * nrows;
                if (sum > body_len - p) {
                        err = SL_COLCOPY_BAD;
                        goto out;
                }
                data_at[c] = p;
                p += sum;
                outlen += sum;
        }
        if (p != body_len) {
                err = SL_COLCOPY_BAD;
                goto out;
        }
        outlen += nrows * (2 + 4 * ncols);
        if (!grow((void **)&cc->blk, &cc->blkcap, outlen, 1)) {
                err = SL_COLCOPY_NOMEM;
                goto out;
        }
        for (size_t r = 0; r < nrows; r++) {
                put16(cc->blk + o, (uint16_t)ncols);
                o += 2;
                for (size_t c = 0; c < ncols; c++) {
                        const uint8_t *lp = b + lens_at[c] + 4 * r;
                        int32_t l = (int32_t)be32(lp);
                        memcpy(cc->blk + o, lp, 4);
                        o += 4;
                        if (l > 0) {
                                memcpy(cc->blk + o, b + data_at[c], (size_t)l);
                                data_at[c] += (size_t)l;
                                o += (size_t)l;
                        }
                }
        }
        cc->rows += (long long)nrows;
        err = emit(cc, cc->blk, o);
out:
        free(lens_at);
        return err;
}

static int dec_run(sl_colcopy_t *cc)
{
        size_t pos = 0;
        int err = 0;

        if (!cc->head) {
                size_t hlen;
                if (cc->len < 12)
                        return 0;
                if (memcmp(cc->buf, SL_COLCOPY_MAGIC, 8) != 0)
                        return SL_COLCOPY_BAD;
                hlen = be32(cc->buf + 8);
                if (hlen < COPY_HDR_LEN)
                        return SL_COLCOPY_BAD;
                if (cc->len - 12 < hlen)
                        return 0;
                if (memcmp(cc->buf + 12, copy_sig, COPY_SIG_LEN) != 0 ||
                    be32(cc->buf + 12 + 15) != hlen - COPY_HDR_LEN)
                        return SL_COLCOPY_BAD;
                if ((err = emit(cc, cc->buf + 12, hlen)))
                        return err;
                cc->head = true;
                pos = 12 + hlen;
        }
        while (!cc->done && cc->len - pos >= 4) {
                uint32_t nrows = be32(cc->buf + pos);
                size_t ncols, body;
                if (nrows == END_MARK) {
                        static const uint8_t trailer[2] = {0xff, 0xff};
                        if ((err = emit(cc, trailer, 2)))
                                return err;
                        pos += 4;
                        cc->done = true;
                        break;
                }
                if (cc->len - pos < 10)
                        break;
                ncols = be16(cc->buf + pos + 4);
                body = be32(cc->buf + pos + 6);
                if (nrows == 0 || ncols > INT16_MAX)
                        return SL_COLCOPY_BAD;
                if (cc->len - pos - 10 < body)
                        break;
                if ((err = dec_block(cc, cc->buf + pos + 10, nrows, ncols, body)))
                        return err;
                pos += 10 + body;
        }
        if (cc->done && pos != cc->len)
                return SL_COLCOPY_BAD;
        memmove(cc->buf, cc->buf + pos, cc->len - pos);
        cc->len -= pos;
        return 0;
}

/* ---- both ---------------------------------------------------------------------- */

int sl_colcopy_feed(sl_colcopy_t *cc, const void *buf, size_t n)
{
        if (cc->err)
                return cc->err;
        if (cc->done && n) /* nothing may follow the trailer */
                return cc->err = SL_COLCOPY_BAD;
        if (!grow((void **)&cc->buf, &cc->cap, cc->len + n, 1))
                return cc->err = SL_COLCOPY_NOMEM;
        memcpy(cc->buf + cc->len, buf, n);
        cc->len += n;
        if (cc->enc)
                cc->err = cc->len - cc->kept >= cc->block_bytes ? enc_run(cc) : 0;
        else
                cc->err = dec_run(cc);
        return cc->err;
}

int sl_colcopy_finish(sl_colcopy_t *cc)
{
        if (cc->err)
                return cc->err;
        if (cc->enc && !cc->done)
                cc->err = enc_run(cc);
        if (!cc->err && (!cc->done || cc->len))
                cc->err = SL_COLCOPY_BAD;
        return cc->err;
}
