/*
 * Launch ids: one launch per (trigger, event), named so that a replay or a crash
 * between produce and commit gives the same id again.  launch id = UUIDv5 (RFC 9562,
 * SHA-1 name-based) with the trigger id as namespace and the event id's canonical
 * lower-case 36-character text as name.  A workflow engine drops a launch whose id it
 * has seen.
 *
 * Built on libuuid's uuid_generate_sha1() (already linked for uuid_generate), so no
 * SHA-1 of our own to maintain.
 */
#ifndef SL_TRIGGER_LAUNCH_ID_H
#define SL_TRIGGER_LAUNCH_ID_H

#include <stddef.h>
#include <stdint.h>

/* UUIDv5 of name (len bytes) in namespace ns; out gets the 16 bytes. */
void sl_uuid_v5(const uint8_t ns[16], const char *name, size_t len, uint8_t out[16]);

/* The launch id of event_id (a UUID in its text form, any case: lower-cased first)
 * for trigger_id. */
void sl_launch_id(const uint8_t trigger_id[16], const char *event_id, uint8_t out[16]);

/* The 36-character lower-case text of id into out (37 bytes with the NUL). */
void sl_launch_id_format(const uint8_t id[16], char out[37]);

#endif
