/*
 * utf8.h - strict UTF-8 checks for message bytes.
 *
 * Any thread; pure functions. mosquitto_validate_utf8() is not usable here:
 * it refuses control characters, and a JSON document may legally contain
 * newlines and tabs between tokens.
 */
#ifndef CNC_UTF8_H
#define CNC_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns the offset of the first byte that is not part of well-formed UTF-8
 * (overlong forms, surrogates, code points above U+10FFFF and NUL bytes are
 * refused), or len when all of buf is valid.
 */
size_t utf8_invalid_at(const char *buf, size_t len);

/*
 * For valid UTF-8: true when every code point is printable (no C0 or C1
 * control character and no DEL); *n_chars receives the number of code points.
 */
bool utf8_printable(const char *s, size_t len, size_t *n_chars);

/*
 * Copies in (len bytes, not NUL-terminated) into out as valid UTF-8 of at most max bytes
 * (out has room for max + 1; it is NUL-terminated). A byte that does not start a valid
 * sequence becomes U+FFFD; a character that does not fit whole is left out, never cut.
 * With topic_level, the copy is one safe MQTT topic level: control characters (C0, DEL,
 * C1), '+', '#', '/' and invalid bytes become '_' (mosquitto refuses controls in topics, a
 * wildcard or '/' would change what the topic means). Returns the bytes written;
 * *cut (may be NULL) is set when input was left out for lack of room.
 */
size_t utf8_copy_valid(const char *in, size_t len, char *out, size_t max, bool topic_level,
                       bool *cut);

/* In place: the NUL-terminated s made valid UTF-8 (as utf8_copy_valid, without topic rules). */
void utf8_make_valid(char *s, size_t cap);

/* In place: s fit for one line of the broker's log: control characters (a newline would forge a
   line of its own) made '?', then valid UTF-8. */
void utf8_make_loggable(char *s, size_t cap);

#endif
