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

#endif
