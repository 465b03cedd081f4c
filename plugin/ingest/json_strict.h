/*
 * json_strict.h - what RFC 8259 forbids and cJSON lets through.
 *
 * Any thread; pure functions. cJSON accepts raw control characters inside
 * strings, control characters other than space, tab, CR and LF between
 * tokens, and numbers such as 01, -01, -.5 (it hands them to strtod). The
 * database's JSON check refuses all of these, and under INSERT IGNORE that
 * would drop an acknowledged message, so they are refused at ingest instead
 * (reject not_json). Runs over every message on the broker thread, before
 * cJSON: strings are skipped with memchr, and the control-character check
 * clears compact JSON eight bytes at a time.
 */
#ifndef CNC_JSON_STRICT_H
#define CNC_JSON_STRICT_H

#include <stddef.h>

/*
 * Returns the offset of the first byte RFC 8259 forbids there, with the
 * reason in *why, or len when there is none. Only the lexical rules above
 * are checked, plus what outside strings can be no JSON at all and is easy
 * to name: a single quote (Python's repr of a dict), a bare word other than
 * true/false/null (True, None, NaN, undefined); the syntax is cJSON's to
 * check.
 */
size_t json_strict_violation(const char *buf, size_t len, const char **why);

#endif
