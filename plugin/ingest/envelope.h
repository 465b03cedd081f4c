/*
 * envelope.h - validation of the four-field envelope (DESIGN.md "The envelope").
 *
 * Broker thread, for every message on an ingest topic; also the checker,
 * the benchmark and the fuzz harness. No I/O, no locks; allocation only
 * inside cJSON's parse.
 */
#ifndef CNC_ENVELOPE_H
#define CNC_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cnc_record.h"
#include "reject.h"

#define CNC_CNC_ID_MAX 64
#define CNC_PART_PROGRAM_MAX 128
#define CNC_PAYLOAD_STRING_MAX 256
/* Objects and arrays nested in one another, the payload object counting as 1: the most MariaDB's
   JSON check accepts (it refuses 32, and INSERT IGNORE would drop such a message unseen). */
#define CNC_PAYLOAD_DEPTH_MAX 31
#define CNC_PAYLOAD_NAME_MAX 64

struct cnc_envelope_limits {
    size_t max_message_bytes;
    size_t max_payload_fields;
    bool reject_unknown_fields;
    bool allow_nested;
    int64_t max_future_skew_ms;
};

/*
 * Parses and checks one message. topic_cnc_id is the topic's first `+`
 * level (NULL when the matched filter has none); now_ms is the broker clock.
 *
 * On success returns 0, *root holds the parsed tree (the caller frees it with
 * cJSON_Delete) and msg borrows from it. On a refusal returns CNC_EREJECT,
 * fills rej (the first problem found, in a fixed order: size, UTF-8, JSON
 * syntax, object, duplicate keys, unknown members, missing members, types,
 * cnc_id, topic, part_program, timestamp, payload) and *root is NULL.
 */
int cnc_envelope_parse(const struct cnc_envelope_limits *lim, const char *buf, size_t len,
                       const char *topic_cnc_id, size_t topic_cnc_id_len, int64_t now_ms,
                       cJSON **root, struct cnc_message *msg, struct cnc_reject *rej);

/* True when s[0..len) is a well-formed cnc_id (1-64 chars of [A-Za-z0-9_.:-]). */
bool cnc_envelope_valid_cnc_id(const char *s, size_t len);

#endif
