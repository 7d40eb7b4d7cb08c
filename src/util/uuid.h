/*
 * UUIDs in their 36-character text form ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", any
 * case) and as 16 bytes: the one parser, validator and formatter of the codebase.
 * Parsing is table-driven (one load per character, no branches on the digits), as it
 * runs once per event in ingress and once per re-injection in the retry stage.
 */
#ifndef SL_UTIL_UUID_H
#define SL_UTIL_UUID_H

#include <stdbool.h>
#include <stdint.h>

#define SL_UUID_STRLEN 36 /* text form, without the NUL */

/* SL_OK and out[] for a UUID in text form (exactly 36 characters then NUL, any case);
 * SL_ERR_INVALID for anything else, out[] untouched. */
int sl_uuid_parse(const char *s, uint8_t out[16]);

/* True when s is a UUID in text form (sl_uuid_parse would accept it). */
bool sl_uuid_valid(const char *s);

/* in[] as canonical lower-case text into out (37 bytes, NUL-terminated). */
void sl_uuid_format(const uint8_t in[16], char out[SL_UUID_STRLEN + 1]);

/* A new random (version 4) UUID as canonical text into out (37 bytes). */
void sl_uuid_random(char out[SL_UUID_STRLEN + 1]);

#endif
