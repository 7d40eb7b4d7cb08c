/*
 * Changelog encoding of admission state: Avro binary of schemas/admission_state.avsc
 * (per source) and schemas/admission_progress.avsc (per partition), and the keys they
 * live under ("s:<source>", "o:").
 *
 * Versions of AdmissionState, told apart by length (Avro binary carries no version,
 * and fields are only ever appended):
 *   v1  window_start, count, throttled, paused_until, updated_at
 *   v2  v1 + dlq_window_start, dlq_seen, dlq_dead, pause_cause (the source breaker)
 * The decoder reads both (a v1 record has the breaker's fields zeroed: nothing counted,
 * an auto-pause it holds is of cause "none"); the encoder writes v2.  A worker built
 * before v2 cannot read a v2 record: its pstate starts that source afresh, with a
 * warning (a rollback loses the window counts of the sources changed since).
 */
#ifndef SL_ADMISSION_CODEC_H
#define SL_ADMISSION_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "limits/admission.h"

#define SL_ADMISSION_STATE_MAX    96 /* bytes an encoded state can take */
#define SL_ADMISSION_PROGRESS_KEY "o:"

/* Encode st into buf (at least SL_ADMISSION_STATE_MAX bytes); returns the length. */
size_t sl_admission_state_encode(const sl_source_state_t *st, unsigned char *buf);
/* v1 or v2 (above).  SL_OK, or SL_ERR_DECODE for truncated or overlong input or a
 * pause_cause out of range. */
int sl_admission_state_decode(const void *buf, size_t len, sl_source_state_t *st);

size_t sl_admission_progress_encode(int64_t offset, unsigned char *buf);
int sl_admission_progress_decode(const void *buf, size_t len, int64_t *offset);

#endif
