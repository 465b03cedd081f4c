/*
 * utf8.c - strict UTF-8 validation (RFC 3629), see utf8.h.
 *
 * Any thread. The ASCII fast path matters: it runs over every message byte
 * on the broker thread before cJSON sees it.
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_invalid_at(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;

    while (i < len) {
        /* Eight ASCII bytes at a time, none of them NUL. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            uint64_t has_high = w & 0x8080808080808080ULL;
            uint64_t has_zero = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
            if (has_high | has_zero) {
                break;
            }
            i += 8;
        }
        if (i >= len) {
            break;
        }
        unsigned c = s[i];
        if (c == 0) {
            return i;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        uint32_t min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need) {
            return i;
        }
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80) {
                return i;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return i;
        }
        i += need + 1;
    }
    return len;
}

bool utf8_printable(const char *str, size_t len, size_t *n_chars)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7F) {
            return false;
        }
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
        if (c == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F) {
            return false;
        }
        if ((c & 0xC0) != 0x80) {
            n++;
        }
    }
    *n_chars = n;
    return true;
}

/* The length of the valid sequence at s (1-4), or 0 when none starts there. */
static size_t valid_sequence(const char *s, size_t len)
{
    size_t n = len < 4 ? len : 4;
    for (size_t k = 1; k <= n; k++) {
        if (utf8_invalid_at(s, k) == k) {
            return k;
        }
    }
    return 0;
}

size_t utf8_copy_valid(const char *in, size_t len, char *out, size_t max, bool topic_level,
                       bool *cut)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    bool left_out = false;
    while (i < len) {
        size_t n = s[i] == 0 ? 0 : s[i] < 0x80 ? 1 : valid_sequence(in + i, len - i);
        const char *piece = in + i;
        size_t piece_len = n;
        bool control =
            n == 1 ? (s[i] < 0x20 || s[i] == 0x7F) : n == 2 && s[i] == 0xC2 && s[i + 1] <= 0x9F;
        if (n == 0) {
            piece = topic_level ? "_" : "\xEF\xBF\xBD";
            piece_len = topic_level ? 1 : 3;
            n = 1;
        } else if (topic_level && (control || s[i] == '+' || s[i] == '#' || s[i] == '/')) {
            piece = "_";
            piece_len = 1;
        }
        if (o + piece_len > max) {
            left_out = true;
            break;
        }
        memcpy(out + o, piece, piece_len);
        o += piece_len;
        i += n;
    }
    out[o] = '\0';
    if (cut != NULL) {
        *cut = left_out;
    }
    return o;
}

void utf8_make_valid(char *s, size_t cap)
{
    size_t len = strlen(s);
    if (utf8_invalid_at(s, len) == len) {
        return; /* the common case: nothing to do */
    }
    /* A character cut at the end (by snprintf's bound) is dropped, not replaced. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned c = (unsigned char)s[len - back];
        if (c >= 0xC0) {
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (want > back) {
                s[len - back] = '\0';
                len -= back;
            }
            break;
        }
        if (c < 0x80) {
            break;
        }
    }
    if (utf8_invalid_at(s, len) == len) {
        return;
    }
    char tmp[1024];
    size_t max = (cap < sizeof tmp ? cap : sizeof tmp) - 1;
    utf8_copy_valid(s, len, tmp, max, false, NULL);
    memcpy(s, tmp, strlen(tmp) + 1);
}

void utf8_make_loggable(char *s, size_t cap)
{
    for (char *c = s; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7F) {
            *c = '?';
        }
    }
    utf8_make_valid(s, cap);
}
