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
    } else if (i < len && s[i] == 'I') {
        FAIL(i - 1, "-Infinity is not a JSON number (send null, or leave the member out)");
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

/*
 * Bytes outside strings that need a look: 1 quote, 2 number start, 3 control character,
 * 4 single quote, 5 a letter (only true, false and null may stand there).
 */
static const unsigned char attention[256] = {
    [0x00] = 3, [0x01] = 3, [0x02] = 3, [0x03] = 3, [0x04] = 3, [0x05] = 3, [0x06] = 3, [0x07] = 3,
    [0x08] = 3, [0x0B] = 3, [0x0C] = 3, [0x0E] = 3, [0x0F] = 3, [0x10] = 3, [0x11] = 3, [0x12] = 3,
    [0x13] = 3, [0x14] = 3, [0x15] = 3, [0x16] = 3, [0x17] = 3, [0x18] = 3, [0x19] = 3, [0x1A] = 3,
    [0x1B] = 3, [0x1C] = 3, [0x1D] = 3, [0x1E] = 3, [0x1F] = 3, ['"'] = 1,  ['-'] = 2,  ['0'] = 2,
    ['1'] = 2,  ['2'] = 2,  ['3'] = 2,  ['4'] = 2,  ['5'] = 2,  ['6'] = 2,  ['7'] = 2,  ['8'] = 2,
    ['9'] = 2,  ['\''] = 4, ['A'] = 5,  ['B'] = 5,  ['C'] = 5,  ['D'] = 5,  ['E'] = 5,  ['F'] = 5,
    ['G'] = 5,  ['H'] = 5,  ['I'] = 5,  ['J'] = 5,  ['K'] = 5,  ['L'] = 5,  ['M'] = 5,  ['N'] = 5,
    ['O'] = 5,  ['P'] = 5,  ['Q'] = 5,  ['R'] = 5,  ['S'] = 5,  ['T'] = 5,  ['U'] = 5,  ['V'] = 5,
    ['W'] = 5,  ['X'] = 5,  ['Y'] = 5,  ['Z'] = 5,  ['_'] = 5,  ['a'] = 5,  ['b'] = 5,  ['c'] = 5,
    ['d'] = 5,  ['e'] = 5,  ['f'] = 5,  ['g'] = 5,  ['h'] = 5,  ['i'] = 5,  ['j'] = 5,  ['k'] = 5,
    ['l'] = 5,  ['m'] = 5,  ['n'] = 5,  ['o'] = 5,  ['p'] = 5,  ['q'] = 5,  ['r'] = 5,  ['s'] = 5,
    ['t'] = 5,  ['u'] = 5,  ['v'] = 5,  ['w'] = 5,  ['x'] = 5,  ['y'] = 5,  ['z'] = 5,
};

static bool word_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * A bare word outside strings, starting at s[i]: true with *end after it if it is true, false
 * or null; else false with *why naming what it looks like (Python's repr, JavaScript's NaN).
 */
static bool literal_at(const unsigned char *s, size_t len, size_t i, size_t *end, const char **why)
{
    size_t j = i;
    while (j < len && word_char(s[j])) {
        j++;
    }
    size_t n = j - i;
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(s + i, lit, n) == 0)
    *end = j;
    if (IS("true") || IS("false") || IS("null")) {
        return true;
    }
    if (IS("True") || IS("False") || IS("None")) {
        *why = "a Python literal (True, False or None): JSON writes true, false and null "
               "(json.dumps does)";
    } else if (IS("NaN") || IS("Infinity")) {
        *why = "NaN and Infinity are not JSON numbers (send null, or leave the member out)";
    } else if (IS("undefined")) {
        *why = "undefined is not a JSON value (send null, or leave the member out)";
    } else {
        *why = "a bare word: JSON strings and member names take double quotes";
    }
#undef IS
    return false;
}

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
    /* cJSON skips a leading byte order mark; RFC 8259 forbids senders to add one, and Python's
       json.loads, among others, refuses it: a subscriber would choke on the message. */
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
        *why = "a byte order mark (U+FEFF) before the JSON: RFC 8259 forbids it (write the JSON "
               "without a BOM)";
        return 0;
    }
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
        case 4:
            *why = "a single quote: JSON strings and member names take double quotes (was the "
                   "message written with Python's str() instead of json.dumps()?)";
            return i;
        case 5: {
            size_t j;
            if (!literal_at(s, len, i, &j, why)) {
                return i;
            }
            i = j;
            break;
        }
        default:
            *why = "control character between tokens";
            return i;
        }
    }
}
