/*
 * envelope.c - the envelope validator, see envelope.h.
 *
 * Broker thread. The order of checks is part of the contract: a message with
 * several faults is always reported with the same (first) one, so tests and
 * MES engineers see stable reasons.
 */
#include "envelope.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "json_locate.h"
#include "json_number.h"
#include "json_strict.h"
#include "timestamp.h"
#include "utf8.h"

enum { F_CNC_ID, F_PART_PROGRAM, F_TIMESTAMP, F_PAYLOAD, N_FIELDS };
static const char *const field_names[N_FIELDS] = {"cnc_id", "part_program", "timestamp", "payload"};

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return "a string";
    }
    if (cJSON_IsNumber(v)) {
        return "a number";
    }
    if (cJSON_IsBool(v)) {
        return "a boolean";
    }
    if (cJSON_IsNull(v)) {
        return "null";
    }
    if (cJSON_IsArray(v)) {
        return "an array";
    }
    return "an object";
}

bool cnc_envelope_valid_cnc_id(const char *s, size_t len)
{
    if (len == 0 || len > CNC_CNC_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/*
 * Finds a member name that occurs twice among obj's children. Small objects
 * are compared pairwise; larger ones go through an open-addressing set.
 * Returns the repeated name or NULL; allocation failure sets *nomem.
 */
static const char *duplicate_name(const cJSON *obj, size_t n, bool *nomem)
{
    *nomem = false;
    if (n <= 16) {
        for (const cJSON *a = obj->child; a != NULL; a = a->next) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (a->string[0] == b->string[0] && strcmp(a->string, b->string) == 0) {
                    return a->string;
                }
            }
        }
        return NULL;
    }
    size_t cap = 32;
    while (cap < n * 2) {
        cap <<= 1;
    }
    const char **set = calloc(cap, sizeof *set);
    if (set == NULL) {
        *nomem = true;
        return NULL;
    }
    const char *dup = NULL;
    for (const cJSON *a = obj->child; a != NULL && dup == NULL; a = a->next) {
        size_t i = (size_t)XXH3_64bits(a->string, strlen(a->string)) & (cap - 1);
        while (set[i] != NULL) {
            if (strcmp(set[i], a->string) == 0) {
                dup = a->string;
                break;
            }
            i = (i + 1) & (cap - 1);
        }
        set[i] = a->string;
    }
    free(set);
    return dup;
}

static size_t count_children(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        n++;
    }
    return n;
}

/* The name of child v (the index-th) of the value at prefix: "payload.spin", "payload.a[2]". */
static const char *member_path(char *buf, size_t len, const char *prefix, const cJSON *v,
                               size_t index)
{
    if (v->string != NULL) {
        snprintf(buf, len, "%s.%s", prefix, v->string);
    } else {
        snprintf(buf, len, "%s[%zu]", prefix, index);
    }
    return buf;
}

/*
 * Checks one payload value (recursively for nested ones). The value's path
 * is only formatted on the reject path: the accept path does no printf.
 */
static int check_value(const struct cnc_envelope_limits *lim, const cJSON *v, const char *prefix,
                       size_t index, int depth, struct cnc_reject *rej)
{
    char path[sizeof rej->field];
    char sub[2 * sizeof rej->field];
    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble)) {
            return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE,
                                  member_path(path, sizeof path, prefix, v, index),
                                  "number is not finite (out of double range)");
        }
        return 0;
    }
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (n > CNC_PAYLOAD_STRING_MAX) {
            return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE,
                                  member_path(path, sizeof path, prefix, v, index),
                                  "string of %zu bytes, limit %d", n, CNC_PAYLOAD_STRING_MAX);
        }
        return 0;
    }
    if (cJSON_IsBool(v) || cJSON_IsNull(v)) {
        return 0;
    }
    member_path(path, sizeof path, prefix, v, index);
    if (!lim->allow_nested) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE, path,
                              "%s is not allowed here (ingest.allow_nested is false)",
                              type_name(v));
    }
    if (depth > CNC_PAYLOAD_DEPTH_MAX) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE, path,
                              "nested deeper than %d levels (the database's JSON limit)",
                              CNC_PAYLOAD_DEPTH_MAX);
    }
    if (cJSON_IsObject(v)) {
        bool nomem;
        const char *dup = duplicate_name(v, count_children(v), &nomem);
        if (nomem) {
            return cnc_reject_set(rej, CNC_REJECT_TOO_LARGE, path, "out of memory");
        }
        if (dup != NULL) {
            snprintf(sub, sizeof sub, "%s.%s", path, dup);
            return cnc_reject_set(rej, CNC_REJECT_DUPLICATE_KEY, sub, "key appears twice");
        }
    }
    size_t i = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next, i++) {
        int rc = check_value(lim, c, path, i, depth + 1, rej);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int check_payload(const struct cnc_envelope_limits *lim, const cJSON *payload,
                         struct cnc_reject *rej)
{
    char path[sizeof rej->field];
    size_t n = count_children(payload);
    if (n > lim->max_payload_fields) {
        return cnc_reject_set(rej, CNC_REJECT_TOO_MANY_FIELDS, "payload",
                              "%zu members, limit %zu (ingest.max_payload_fields)", n,
                              lim->max_payload_fields);
    }
    bool nomem;
    const char *dup = duplicate_name(payload, n, &nomem);
    if (nomem) {
        return cnc_reject_set(rej, CNC_REJECT_TOO_LARGE, "payload", "out of memory");
    }
    if (dup != NULL) {
        snprintf(path, sizeof path, "payload.%s", dup);
        return cnc_reject_set(rej, CNC_REJECT_DUPLICATE_KEY, path, "key appears twice");
    }
    size_t i = 0;
    for (const cJSON *v = payload->child; v != NULL; v = v->next, i++) {
        size_t name_len = strlen(v->string);
        size_t chars;
        if (name_len == 0 || name_len > CNC_PAYLOAD_NAME_MAX ||
            !utf8_printable(v->string, name_len, &chars)) {
            return cnc_reject_set(
                rej, CNC_REJECT_BAD_PAYLOAD_VALUE, member_path(path, sizeof path, "payload", v, i),
                "member names must be 1-%d bytes of printable text", CNC_PAYLOAD_NAME_MAX);
        }
        int rc = check_value(lim, v, "payload", i, 2, rej);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/*
 * For an epoch number out of range: what it would be in a smaller unit, when that is a
 * plausible time (from 2000 to a day past the broker clock). "" when none is.
 */
static void unit_hint(double v, bool read_as_ms, int64_t now_ms, char *out, size_t len)
{
    static const struct {
        double divisor;
        const char *unit;
    } units[] = {{1e3, "microseconds"}, {1e6, "nanoseconds"}};
    out[0] = '\0';
    for (size_t i = 0; read_as_ms && i < sizeof units / sizeof units[0]; i++) {
        double ms = v / units[i].divisor;
        if (ms >= (double)CNC_TS_MIN_MS && ms <= (double)(now_ms + 86400000)) {
            char when[25];
            cnc_timestamp_format((int64_t)ms, when);
            snprintf(out, len, "; it looks like epoch %s (%s): send milliseconds or seconds",
                     units[i].unit, when);
            return;
        }
    }
}

static int check_timestamp(const struct cnc_envelope_limits *lim, const cJSON *ts, int64_t now_ms,
                           int64_t *out, struct cnc_reject *rej)
{
    enum cnc_ts_result r;
    double v = NAN; /* the epoch number, when the timestamp is one */
    if (cJSON_IsNumber(ts)) {
        v = ts->valuedouble;
        r = cnc_timestamp_from_number(v, out);
    } else {
        const char *s = ts->valuestring;
        r = cnc_timestamp_from_string(s, strlen(s), out);
        if (r != CNC_TS_OK && s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789.") == strlen(s)) {
            v = strtod(s, NULL); /* for the detail only */
        }
    }
    if (r == CNC_TS_BAD) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_TIMESTAMP, "timestamp",
                              "not epoch seconds, epoch milliseconds or RFC 3339 with a zone");
    }
    if (r == CNC_TS_LEAP_SECOND) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_TIMESTAMP, "timestamp",
                              "second 60 (a leap second) is not accepted: epoch time, which is "
                              "what is stored, has none (23:59:59.999 is the minute's last "
                              "millisecond)");
    }
    if (r == CNC_TS_OK && *out >= CNC_TS_MIN_MS && *out <= now_ms + lim->max_future_skew_ms) {
        return 0; /* in range: what follows only words a refusal (printing v costs ~3,500 insns) */
    }
    char number[CNC_JSON_NUMBER_MAX] = "";
    const char *unit = "";
    if (!isnan(v)) {
        cnc_json_number(v, number);
        unit = v >= 1e12 ? " read as epoch milliseconds" : " read as epoch seconds";
    }
    char hint[128];
    unit_hint(v, !isnan(v) && v >= 1e12, now_ms, hint, sizeof hint);
    if (r == CNC_TS_TOO_EARLY || (r == CNC_TS_OK && *out < CNC_TS_MIN_MS)) {
        char when[25] = "";
        if (r == CNC_TS_OK) {
            cnc_timestamp_format(*out, when);
        }
        if (number[0] != '\0') {
            return cnc_reject_set(rej, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp",
                                  "%s%s is %s, before 2000-01-01T00:00:00Z", number, unit,
                                  when[0] ? when : "negative");
        }
        return cnc_reject_set(rej, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp",
                              "%s is before 2000-01-01T00:00:00Z", when[0] ? when : "the time");
    }
    if (r == CNC_TS_TOO_LATE) {
        return cnc_reject_set(rej, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp",
                              "%s%s is after 9999-12-31T23:59:59.999Z%s",
                              number[0] ? number : "the time", unit, hint);
    }
    if (*out > now_ms + lim->max_future_skew_ms) {
        char when[25];
        cnc_timestamp_format(*out, when);
        return cnc_reject_set(rej, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp",
                              "%s is %lld s ahead of the broker clock, limit %lld s "
                              "(ingest.max_future_skew_s)%s",
                              when, (long long)((*out - now_ms) / 1000),
                              (long long)(lim->max_future_skew_ms / 1000), hint);
    }
    return 0;
}

/* The fields in contract order, after the members have been sorted into slots. */
static int check_fields(const struct cnc_envelope_limits *lim, cJSON *const f[N_FIELDS],
                        const char *topic_cnc_id, size_t topic_cnc_id_len, int64_t now_ms,
                        struct cnc_message *msg, struct cnc_reject *rej)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (f[i] == NULL) {
            return cnc_reject_set(rej, CNC_REJECT_MISSING_FIELD, field_names[i],
                                  "required member \"%s\" is missing", field_names[i]);
        }
    }
    static const char *const expected[N_FIELDS] = {"a string", "a string", "a string or a number",
                                                   "an object"};
    const bool type_ok[N_FIELDS] = {
        cJSON_IsString(f[F_CNC_ID]),
        cJSON_IsString(f[F_PART_PROGRAM]),
        cJSON_IsString(f[F_TIMESTAMP]) || cJSON_IsNumber(f[F_TIMESTAMP]),
        cJSON_IsObject(f[F_PAYLOAD]),
    };
    for (int i = 0; i < N_FIELDS; i++) {
        if (!type_ok[i]) {
            return cnc_reject_set(rej, CNC_REJECT_WRONG_TYPE, field_names[i], "must be %s, not %s",
                                  expected[i], type_name(f[i]));
        }
    }

    const char *id = f[F_CNC_ID]->valuestring;
    size_t id_len = strlen(id);
    if (!cnc_envelope_valid_cnc_id(id, id_len)) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_CNC_ID, "cnc_id",
                              "must be 1-%d characters of A-Z a-z 0-9 _ . : -", CNC_CNC_ID_MAX);
    }
    if (topic_cnc_id != NULL &&
        (topic_cnc_id_len != id_len || memcmp(topic_cnc_id, id, id_len) != 0)) {
        return cnc_reject_set(rej, CNC_REJECT_TOPIC_MISMATCH, "cnc_id",
                              "cnc_id \"%s\" differs from the topic's level \"%.*s\"", id,
                              (int)(topic_cnc_id_len > 64 ? 64 : topic_cnc_id_len), topic_cnc_id);
    }

    const char *pp = f[F_PART_PROGRAM]->valuestring;
    size_t chars;
    if (!utf8_printable(pp, strlen(pp), &chars) || chars == 0 || chars > CNC_PART_PROGRAM_MAX) {
        return cnc_reject_set(rej, CNC_REJECT_BAD_PART_PROGRAM, "part_program",
                              "must be 1-%d printable characters", CNC_PART_PROGRAM_MAX);
    }

    int rc = check_timestamp(lim, f[F_TIMESTAMP], now_ms, &msg->ts_ms, rej);
    if (rc != 0) {
        return rc;
    }
    rc = check_payload(lim, f[F_PAYLOAD], rej);
    if (rc != 0) {
        return rc;
    }
    msg->cnc_id = id;
    msg->part_program = pp;
    msg->payload = f[F_PAYLOAD];
    return 0;
}

/* Names the machine in any later reject, as soon as its id is known to be sound. */
static void note_cnc_id(const cJSON *v, struct cnc_reject *rej)
{
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (cnc_envelope_valid_cnc_id(v->valuestring, n)) {
            memcpy(rej->cnc_id, v->valuestring, n + 1);
        }
    }
}

/* Sorts the top-level members into the four slots; duplicate and unknown members are refused. */
static int sort_members(const struct cnc_envelope_limits *lim, const cJSON *root,
                        cJSON *f[N_FIELDS], struct cnc_reject *rej)
{
    const char *unknown = NULL;
    for (cJSON *c = root->child; c != NULL; c = c->next) {
        /* The four names differ in their first byte. */
        int slot = c->string[0] == 'c'   ? F_CNC_ID
                   : c->string[0] == 't' ? F_TIMESTAMP
                   : c->string[0] == 'p'
                       ? (c->string[1] == 'a' && c->string[2] == 'r' ? F_PART_PROGRAM : F_PAYLOAD)
                       : -1;
        if (slot >= 0 && strcmp(c->string, field_names[slot]) != 0) {
            slot = -1;
        }
        if (slot < 0) {
            if (unknown == NULL) {
                unknown = c->string;
            }
        } else if (f[slot] != NULL) {
            if (slot == F_CNC_ID) {
                rej->cnc_id[0] = '\0'; /* which of the two? */
            }
            return cnc_reject_set(rej, CNC_REJECT_DUPLICATE_KEY, field_names[slot],
                                  "key appears twice");
        } else {
            f[slot] = c;
            if (slot == F_CNC_ID) {
                note_cnc_id(c, rej); /* named in a report on any later fault */
            }
        }
    }
    if (unknown != NULL) {
        /* Unknown members may repeat each other too: a duplicate is reported first. */
        bool nomem;
        const char *dup = duplicate_name(root, count_children(root), &nomem);
        if (dup != NULL) {
            return cnc_reject_set(rej, CNC_REJECT_DUPLICATE_KEY, dup, "key appears twice");
        }
        if (lim->reject_unknown_fields) {
            return cnc_reject_set(rej, CNC_REJECT_UNKNOWN_FIELD, unknown,
                                  "only cnc_id, part_program, timestamp and payload are allowed");
        }
    }
    return 0;
}

static int known_field(const char *name)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (strcmp(name, field_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* The top-level member a location is in, by its position: its name as cJSON decoded it
   ("cnc\u005fid" is cnc_id), not as written. */
static const cJSON *top_member(const cJSON *root, const struct cnc_json_location *loc)
{
    const cJSON *c = root->child;
    for (size_t i = 0; c != NULL && i < loc->top_index; i++) {
        c = c->next;
    }
    return c;
}

struct nul_search {
    const struct cnc_envelope_limits *lim;
    const cJSON *root;
};

/* With unknown_fields: ignore, what is inside an unknown member is never read. */
static bool inside_ignored_member(const struct cnc_json_location *loc, void *arg)
{
    const struct nul_search *q = arg;
    if (loc->is_name && loc->depth == 1) {
        return false; /* a top-level name itself */
    }
    const cJSON *m = top_member(q->root, loc);
    return !q->lim->reject_unknown_fields && m != NULL && known_field(m->string) < 0;
}

/*
 * A string holding the escape \u0000 (U+0000): cJSON decodes it into a NUL byte, after which
 * every C string ends, so "ANY1\u0000evil" would be checked and stored as "ANY1", a 256-byte
 * bound could be passed with "x\u0000" and 2,000 bytes more, and names "a\u0000b" and
 * "a\u0000c" would both read as "a". Refused, before any other check of the object, with the
 * reason of the field it is in.
 */
static int check_nul_escapes(const struct cnc_envelope_limits *lim, const char *buf, size_t len,
                             const cJSON *root, struct cnc_reject *rej)
{
    struct cnc_json_location loc;
    struct nul_search q = {lim, root};
    if (!cnc_json_find_nul_escape(buf, len, inside_ignored_member, &q, &loc)) {
        return 0; /* only inside members that are ignored, or not an escape after all */
    }
    const cJSON *member = top_member(root, &loc);
    bool top_level_name = loc.is_name && loc.depth == 1;
    int field = member != NULL && !top_level_name ? known_field(member->string) : -1;
    if (field != F_CNC_ID) {
        note_cnc_id(cJSON_GetObjectItemCaseSensitive(root, "cnc_id"), rej);
    }
    static const char nul[] = "contains \\u0000 (U+0000), which is not allowed: it would end "
                              "the text there";
    if (top_level_name) {
        return cnc_reject_set(rej, CNC_REJECT_UNKNOWN_FIELD, loc.top, "member name %s", nul);
    }
    switch (field) {
    case F_CNC_ID:
        return cnc_reject_set(rej, CNC_REJECT_BAD_CNC_ID, "cnc_id", "%s", nul);
    case F_PART_PROGRAM:
        return cnc_reject_set(rej, CNC_REJECT_BAD_PART_PROGRAM, "part_program", "%s", nul);
    case F_TIMESTAMP:
        return cnc_reject_set(rej, CNC_REJECT_BAD_TIMESTAMP, "timestamp", "%s", nul);
    case F_PAYLOAD:
        return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE, loc.path, "%s %s",
                              loc.is_name ? "member name" : "string", nul);
    default:
        return cnc_reject_set(rej, CNC_REJECT_UNKNOWN_FIELD, loc.top,
                              "only cnc_id, part_program, timestamp and payload are allowed");
    }
}

/*
 * cJSON refuses to parse more than CJSON_NESTING_LIMIT levels: not a syntax error but the
 * nesting rule, reported as such, for the member it is in.
 */
static int deep_nesting(const struct cnc_envelope_limits *lim, const struct cnc_json_location *loc,
                        struct cnc_reject *rej)
{
    if (!loc->root_is_object) {
        return cnc_reject_set(rej, CNC_REJECT_NOT_OBJECT, NULL,
                              "the message is an array nested deeper than %d levels, not a JSON "
                              "object",
                              CJSON_NESTING_LIMIT);
    }
    int field = known_field(loc->top);
    if (field == F_PAYLOAD && strncmp(loc->path, "payload.", 8) == 0) {
        if (!lim->allow_nested) {
            return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE, loc->path,
                                  "nested values are not allowed here (ingest.allow_nested is "
                                  "false)");
        }
        return cnc_reject_set(rej, CNC_REJECT_BAD_PAYLOAD_VALUE, loc->path,
                              "nested deeper than %d levels (the database's JSON limit)",
                              CNC_PAYLOAD_DEPTH_MAX);
    }
    if (field >= 0) {
        static const char *const expected[N_FIELDS] = {"a string", "a string",
                                                       "a string or a number", "an object"};
        return cnc_reject_set(rej, CNC_REJECT_WRONG_TYPE, field_names[field],
                              "must be %s, not an array nested deeper than %d levels",
                              expected[field], CJSON_NESTING_LIMIT);
    }
    if (lim->reject_unknown_fields) {
        return cnc_reject_set(rej, CNC_REJECT_UNKNOWN_FIELD, loc->top,
                              "only cnc_id, part_program, timestamp and payload are allowed");
    }
    return cnc_reject_set(rej, CNC_REJECT_NOT_JSON, NULL,
                          "member \"%s\" nests deeper than %d levels, more than the parser takes",
                          loc->top, CJSON_NESTING_LIMIT);
}

int cnc_envelope_parse(const struct cnc_envelope_limits *lim, const char *buf, size_t len,
                       const char *topic_cnc_id, size_t topic_cnc_id_len, int64_t now_ms,
                       cJSON **root, struct cnc_message *msg, struct cnc_reject *rej)
{
    *root = NULL;
    rej->cnc_id[0] = '\0';
    if (len == 0 || buf == NULL) {
        return cnc_reject_set(rej, CNC_REJECT_NOT_JSON, NULL, "empty message");
    }
    if (len > lim->max_message_bytes) {
        return cnc_reject_set(rej, CNC_REJECT_TOO_LARGE, NULL,
                              "%zu bytes, limit %zu (ingest.max_message_bytes)", len,
                              lim->max_message_bytes);
    }
    size_t bad = utf8_invalid_at(buf, len);
    if (bad < len) {
        return cnc_reject_set(
            rej, CNC_REJECT_NOT_JSON, NULL,
            buf[bad] == '\0' ? "NUL byte at offset %zu" : "invalid UTF-8 at byte offset %zu", bad);
    }
    const char *why = NULL;
    size_t lex = json_strict_violation(buf, len, &why);
    if (lex < len) {
        return cnc_reject_set(rej, CNC_REJECT_NOT_JSON, NULL, "%s at byte offset %zu", why, lex);
    }
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (r == NULL) {
        struct cnc_json_location loc;
        if (len > CJSON_NESTING_LIMIT && cnc_json_find_depth(buf, len, CJSON_NESTING_LIMIT, &loc)) {
            return deep_nesting(lim, &loc, rej);
        }
        return cnc_reject_set(rej, CNC_REJECT_NOT_JSON, NULL,
                              "JSON syntax error at byte offset %zu",
                              end != NULL ? (size_t)(end - buf) : (size_t)0);
    }
    while (end < buf + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) {
        end++;
    }
    if (end != buf + len) {
        cJSON_Delete(r);
        return cnc_reject_set(rej, CNC_REJECT_NOT_JSON, NULL,
                              "data after the JSON value at byte offset %zu", (size_t)(end - buf));
    }
    if (!cJSON_IsObject(r)) {
        int rc = cnc_reject_set(rej, CNC_REJECT_NOT_OBJECT, NULL,
                                "the message is %s, not a JSON object", type_name(r));
        cJSON_Delete(r);
        return rc;
    }
    /* Rare: machine data seldom holds a backslash at all, which memchr finds out fastest. */
    const char *backslash = memchr(buf, '\\', len);
    if (backslash != NULL && memmem(backslash, len - (size_t)(backslash - buf), "\\u0000", 6) &&
        check_nul_escapes(lim, buf, len, r, rej) != 0) {
        cJSON_Delete(r);
        return CNC_EREJECT;
    }
    cJSON *f[N_FIELDS] = {NULL, NULL, NULL, NULL};
    int rc = sort_members(lim, r, f, rej);
    if (rc == 0) {
        rc = check_fields(lim, f, topic_cnc_id, topic_cnc_id_len, now_ms, msg, rej);
    }
    if (rc != 0) {
        cJSON_Delete(r);
        return rc;
    }
    *root = r;
    return 0;
}
