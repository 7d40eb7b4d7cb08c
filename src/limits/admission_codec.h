/*
 * Changelog encoding of admission state: Avro binary of schemas/admission_state.avsc
 * (per source) and schemas/admission_progress.avsc (per partition), and the keys they
 * live under ("s:<source>", "o:").
 */
#ifndef SL_ADMISSION_CODEC_H
#define SL_ADMISSION_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "limits/admission.h"

#define SL_ADMISSION_STATE_MAX    64 /* bytes an encoded state can take */
#define SL_ADMISSION_PROGRESS_KEY "o:"

/* Encode st into buf (at least SL_ADMISSION_STATE_MAX bytes); returns the length. */
size_t sl_admission_state_encode(const sl_source_state_t *st, unsigned char *buf);
/* SL_OK, or SL_ERR_DECODE for truncated or overlong input. */
int sl_admission_state_decode(const void *buf, size_t len, sl_source_state_t *st);

size_t sl_admission_progress_encode(int64_t offset, unsigned char *buf);
int sl_admission_progress_decode(const void *buf, size_t len, int64_t *offset);

#endif
