/*
 * payload_span.h - where the "payload" value sits in a validated message,
 * and the message's deterministic key.
 *
 * Writer thread. The database stores the payload JSON exactly as the
 * machine sent it; cutting it out of the message bytes avoids re-parsing
 * and re-printing with cJSON for every row.
 */
#ifndef CNC_PAYLOAD_SPAN_H
#define CNC_PAYLOAD_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "stored_record.h"

/*
 * For a message that passed envelope validation: finds the top-level member
 * spelled literally "payload" and sets [*start, *end) to its value's bytes.
 * Returns 0, or -1 when it cannot (e.g. the key was written with \u escapes);
 * the caller then prints the payload from a parse instead.
 */
int cnc_payload_span(const char *msg, size_t len, size_t *start, size_t *end);

/*
 * The 16-byte msg_key: the millisecond timestamp as 6 big-endian bytes (keys
 * sort by time), then 10 bytes of XXH3-128 over cnc_id, part_program, the
 * timestamp and the message bytes. The same message always gets the same key.
 */
void cnc_msg_key(const struct cnc_stored *s, uint8_t key[16]);

#endif
