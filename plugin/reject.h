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
    char detail[200];
    char cnc_id[65]; /* "" unless a well-formed cnc_id was read */
};

/* Fills rej; field may be NULL. Returns CNC_EREJECT for tail calls. */
int cnc_reject_set(struct cnc_reject *rej, enum cnc_reject_code code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Builds the report object as compact JSON text. message/len are the raw
 * message bytes: the first 256 are included as text (invalid UTF-8 replaced
 * by U+FFFD). Returns a string to free() or NULL on allocation failure.
 */
char *cnc_reject_report(const struct cnc_reject *rej, const char *topic, const char *client_id,
                        int64_t received_ms, const void *message, size_t len);

#endif
