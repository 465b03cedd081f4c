/*
 * dead_letter.h - records the database refuses for what they are, kept as
 * JSON lines in <spool.dir>/dead-letter.jsonl until an operator has fixed the
 * cause and re-submits them (cnc-ingest-resubmit).
 *
 * Writer thread (format, append); the resubmit tool (parse). One line per
 * record, readable and complete:
 *
 *   {"dead_at":"...Z","error":"mysql: ... (4025)","cnc_id":"PRESS-04","ts":"...Z",
 *    "received_at":"...Z","handler":"press_line","msg_key":"<32 hex>",
 *    "message":{...the message as it was published...},"record":"<hex>"}
 *
 * "record" is the spool record (stored_record.h, this machine's byte order)
 * with what the handler and rules computed, so a re-submitted record is the
 * one that was refused, byte for byte, and its msg_key is the same: a record
 * submitted twice is one row.
 *
 * The file is bounded (spool.dead_letter_max_bytes): a record that would pass
 * the bound is not written, and the writer keeps it in the spool instead,
 * which then fills and refuses new messages with spool_full: backpressure,
 * never a silent drop. (An empty file takes one line of any size.) Appends
 * and cnc-ingest-resubmit's reading take an exclusive flock on the file.
 */
#ifndef CNC_DEAD_LETTER_H
#define CNC_DEAD_LETTER_H

#include <stddef.h>
#include <stdint.h>

#include "stored_record.h"

#define CNC_DEAD_LETTER_FILE "dead-letter.jsonl"

/* The line (with its newline) for record s, whose spool bytes are record/len. 0 or CNC_ENOMEM. */
int cnc_dead_letter_format(struct cnc_buf *out, const struct cnc_stored *s, const void *record,
                           size_t len, const char *error, int64_t now_ms);

/*
 * Appends line to path with one write, synced, under the file's flock. 0;
 * CNC_EFULL when a file that is not empty would exceed max_bytes; CNC_EIO
 * (errno set) when it cannot be written. On failure the file is as it was.
 */
int cnc_dead_letter_append(const char *path, const void *line, size_t len, uint64_t max_bytes);

/* The spool record of a dead-letter line into out. 0, or CNC_EINVAL with the reason in err. */
int cnc_dead_letter_parse(const char *line, size_t len, struct cnc_buf *out, char *err,
                          size_t err_len);

#endif
