/*
 * payload_span.c - payload bytes and msg_key, see payload_span.h.
 *
 * Writer thread. The scanner only skips: the message is already known to be
 * valid JSON, so it tracks strings (with escapes) and nesting depth and
 * nothing else.
 */
#include "payload_span.h"

#include "json_locate.h"

#include <stdbool.h>
#include <string.h>

#include <xxhash.h>

/* Index just past the JSON value starting at i. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (s[i] == '"') {
        return cnc_json_string_end(s, len, i);
    }
    if (s[i] != '{' && s[i] != '[') {
        return cnc_json_scalar_end(s, len, i);
    }
    int depth = 0;
    for (; i < len; i++) {
        if (s[i] == '"') {
            i = cnc_json_string_end(s, len, i) - 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if (s[i] == '}' || s[i] == ']') {
            if (--depth == 0) {
                return i + 1;
            }
        }
    }
    return len;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

int cnc_payload_span(const char *s, size_t len, size_t *start, size_t *end)
{
    size_t i = skip_ws(s, len, 0);
    if (i >= len || s[i] != '{') {
        return -1;
    }
    i++;
    while (i < len) {
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != '"') {
            return -1;
        }
        size_t key = i;
        i = cnc_json_string_end(s, len, i);
        bool is_payload = i - key == 9 && memcmp(s + key, "\"payload\"", 9) == 0;
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != ':') {
            return -1;
        }
        i = skip_ws(s, len, i + 1);
        if (i >= len) {
            return -1;
        }
        size_t v = i;
        i = skip_value(s, len, i);
        if (is_payload) {
            *start = v;
            *end = i;
            return 0;
        }
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != ',') {
            return -1;
        }
        i++;
    }
    return -1;
}

void cnc_msg_key(const struct cnc_stored *s, uint8_t key[16])
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, s->cnc_id.p, s->cnc_id.len);
    XXH3_128bits_update(&st, "\0", 1);
    XXH3_128bits_update(&st, s->part_program.p, s->part_program.len);
    XXH3_128bits_update(&st, "\0", 1);
    XXH3_128bits_update(&st, &s->ts_ms, sizeof s->ts_ms);
    XXH3_128bits_update(&st, s->message, s->message_len);
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits_digest(&st));
    uint64_t ms = (uint64_t)s->ts_ms;
    for (int i = 0; i < 6; i++) {
        key[i] = (uint8_t)(ms >> (8 * (5 - i)));
    }
    memcpy(key + 6, h.digest, 10);
}
