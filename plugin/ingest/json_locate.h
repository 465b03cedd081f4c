/*
 * json_locate.h - where in a message's raw text something is, for reject
 * details that name the member at fault when cJSON cannot tell.
 *
 * Any thread; no allocation. Only on slow paths of the envelope check: a
 * message that contains the escape \u0000 (cJSON decodes it into a NUL, and
 * every C string ends there: "ANY1\u0000evil" would be read as "ANY1"), or one
 * that cJSON refused to parse, to see whether it nests deeper than cJSON's own
 * limit. The text has passed the strict lexical check (json_strict.h); the
 * walk is lexical too and never reads past len, whatever the bytes are.
 */
#ifndef CNC_JSON_LOCATE_H
#define CNC_JSON_LOCATE_H

#include <stdbool.h>
#include <stddef.h>

#define CNC_JSON_PATH_MAX 96

struct cnc_json_location {
    char path[CNC_JSON_PATH_MAX]; /* "payload.a[2]": member names as written, between quotes */
    char top[CNC_JSON_PATH_MAX];  /* the top-level member it is in, as written ("" at the root) */
    size_t top_index;             /* that member's position among the root's members */
    bool is_name;                 /* the string is a member name, not a value */
    bool root_is_object;          /* the text's value is an object */
    size_t depth;                 /* containers open around it, the root counting 1 */
    size_t offset;                /* byte offset of the string or container */
};

/*
 * The first string (member name or value, in text order) holding the escape
 * \u0000 for which skip(loc, arg) is false (skip may be NULL). True and *loc
 * filled when there is one.
 */
bool cnc_json_find_nul_escape(const char *buf, size_t len,
                              bool (*skip)(const struct cnc_json_location *loc, void *arg),
                              void *arg, struct cnc_json_location *loc);

/*
 * Lexical steps over raw JSON text, shared with the writer's payload scanner (payload_span.c):
 * the offset just after the string whose opening quote is at s[i] (len when unterminated), and
 * just after the number or literal starting at s[i].
 */
size_t cnc_json_string_end(const char *s, size_t len, size_t i);
size_t cnc_json_scalar_end(const char *s, size_t len, size_t i);

/* The first container opened deeper than depth (the root counting 1). True and *loc filled. */
bool cnc_json_find_depth(const char *buf, size_t len, size_t depth, struct cnc_json_location *loc);

#endif
