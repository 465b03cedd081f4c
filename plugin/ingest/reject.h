/*
 * reject.h - why a message was refused, and the JSON report published on
 * <rejected_topic>/<client_id> (DESIGN.md "Reject reasons").
 *
 * Broker thread (and the offline checker).
 */
#ifndef CNC_REJECT_H
#define CNC_REJECT_H

#include <stddef.h>
#include <stdint.h>

#include "cnc_error.h"

struct cnc_reject {
    enum cnc_reject_code code;
    char field[96]; /* "" when no single field is at fault */
    char detail[256];
    char cnc_id[65]; /* "" unless a well-formed cnc_id was read */
};

/* The stable code ("not_json", ...) of a reason; "accepted" for CNC_REJECT_NONE. */
const char *cnc_reject_name(enum cnc_reject_code code);

/* Fills rej; field may be NULL. Returns CNC_EREJECT for tail calls. */
int cnc_reject_set(struct cnc_reject *rej, enum cnc_reject_code code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Texts from the publisher are bounded in a report: the message, client id and topic. */
#define CNC_REJECT_EXCERPT_MAX 256
/* The client id as the last level of the reject topic, at most this many bytes. */
#define CNC_REJECT_TOPIC_LEVEL_MAX 128

/*
 * The report's topic, "<base>/<client id as one level>": the client id cut to
 * CNC_REJECT_TOPIC_LEVEL_MAX bytes at a character boundary, with control
 * characters, '+', '#', '/' and invalid bytes as '_' ("unknown" when absent).
 * Always valid UTF-8 without wildcards. Returns its length, 0 if out is too small.
 */
size_t cnc_reject_topic(const char *base, const char *client_id, char *out, size_t out_len);

/*
 * Builds the report object as compact JSON text, valid UTF-8 throughout.
 * message/len are the raw message bytes: the first 256 are included as text
 * (invalid UTF-8 replaced by U+FFFD, no character cut); the client id and the
 * topic are bounded the same way. A text that was cut is followed by its
 * whole length: "message_bytes", "client_id_bytes", "topic_bytes". node (the
 * broker that refused it, config `node:`) is included unless NULL; suppressed
 * (reports for this client held back since its last one, report_limit.h) as
 * "suppressed" unless 0. Returns a
 * string to free() or NULL on allocation failure.
 */
char *cnc_reject_report(const struct cnc_reject *rej, const char *node, const char *topic,
                        const char *client_id, int64_t received_ms, const void *message, size_t len,
                        uint64_t suppressed);

#endif
