/*
 * json_strict.c - RFC 8259 lexical rules cJSON does not enforce (see
 * json_strict.h). Any thread; on the broker thread for every message.
 */
#include "json_strict.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool any_control_byte(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if (((w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL) != 0) {
            return true;
        }
        i += 8;
    }
    for (; i < len; i++) {
        if (s[i] < 0x20) {
            return true;
        }
    }
    return false;
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Checks the number starting at s[i]: the offset after it, or len with *bad and *why set. */
static size_t number_end(const unsigned char *s, size_t len, size_t i, size_t *bad,
                         const char **why)
{
#define FAIL(at, reason)                                                                           \
    do {                                                                                           \
        *bad = (at) < len ? (at) : len - 1;                                                        \
        *why = (reason);                                                                           \
        return len;                                                                                \
    } while (0)
    if (s[i] == '-') {
        i++;
    }
    if (i < len && s[i] == '0') {
        i++;
        if (i < len && digit(s[i])) {
            FAIL(i - 1, "number with a leading zero");
        }
    } else if (i < len && digit(s[i])) {
        while (i < len && digit(s[i])) {
            i++;
        }
    } else {
        FAIL(i, "'-' not followed by a digit");
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !digit(s[i])) {
            FAIL(i, "'.' in a number not followed by a digit");
        }
        while (i < len && digit(s[i])) {
            i++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= len || !digit(s[i])) {
            FAIL(i, "exponent without digits");
        }
        while (i < len && digit(s[i])) {
            i++;
        }
    }
    return i;
#undef FAIL
}

/* Bytes outside strings that need a look: 1 quote, 2 number start, 3 control character. */
static const unsigned char attention[256] = {
    [0x00] = 3, [0x01] = 3, [0x02] = 3, [0x03] = 3, [0x04] = 3, [0x05] = 3, [0x06] = 3,
    [0x07] = 3, [0x08] = 3, [0x0B] = 3, [0x0C] = 3, [0x0E] = 3, [0x0F] = 3, [0x10] = 3,
    [0x11] = 3, [0x12] = 3, [0x13] = 3, [0x14] = 3, [0x15] = 3, [0x16] = 3, [0x17] = 3,
    [0x18] = 3, [0x19] = 3, [0x1A] = 3, [0x1B] = 3, [0x1C] = 3, [0x1D] = 3, [0x1E] = 3,
    [0x1F] = 3, ['"'] = 1,  ['-'] = 2,  ['0'] = 2,  ['1'] = 2,  ['2'] = 2,  ['3'] = 2,
    ['4'] = 2,  ['5'] = 2,  ['6'] = 2,  ['7'] = 2,  ['8'] = 2,  ['9'] = 2,
};

/* The offset after the string opening at s[i] (len if unterminated: cJSON reports it). */
static size_t string_end(const unsigned char *s, size_t len, size_t i)
{
    size_t j = i + 1;
    for (;;) {
        const unsigned char *q = memchr(s + j, '"', len - j);
        if (q == NULL) {
            return len;
        }
        size_t k = (size_t)(q - s), run = 0;
        while (k - run > i + 1 && s[k - run - 1] == '\\') {
            run++;
        }
        j = k + 1;
        if (run % 2 == 0) {
            return j;
        }
    }
}

size_t json_strict_violation(const char *buf, size_t len, const char **why)
{
    const unsigned char *s = (const unsigned char *)buf;
    bool controls = any_control_byte(s, len);
    size_t bad = len;
    size_t i = 0;
    for (;;) {
        while (i < len && attention[s[i]] == 0) {
            i++;
        }
        if (i >= len) {
            return len;
        }
        switch (attention[s[i]]) {
        case 1: {
            size_t j = string_end(s, len, i);
            if (controls) {
                for (size_t k = i + 1; k < j; k++) {
                    if (s[k] < 0x20) {
                        *why = "raw control character inside a string (JSON requires it escaped)";
                        return k;
                    }
                }
            }
            i = j;
            break;
        }
        case 2:
            i = number_end(s, len, i, &bad, why);
            if (bad < len) {
                return bad;
            }
            break;
        default:
            *why = "control character between tokens";
            return i;
        }
    }
}
