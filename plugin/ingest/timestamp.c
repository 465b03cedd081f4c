/*
 * timestamp.c - parse and format envelope timestamps, see timestamp.h.
 *
 * Any thread. Civil-date arithmetic after H. Hinnant's days_from_civil, so no
 * time zone or locale state is touched.
 */
#include "timestamp.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_number.h"

int64_t cnc_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cnc_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/*
 * An optional fraction ".D+" at s[*i]: its first three digits as milliseconds, the rest
 * truncated. false for a '.' without digits.
 */
static bool fraction_ms(const char *s, size_t len, size_t *i, unsigned *frac_ms)
{
    *frac_ms = 0;
    if (*i >= len || s[*i] != '.') {
        return true;
    }
    size_t start = ++*i;
    unsigned scale = 100;
    for (; *i < len && s[*i] >= '0' && s[*i] <= '9'; ++*i) {
        *frac_ms += (unsigned)(s[*i] - '0') * scale;
        scale /= 10;
    }
    return *i > start;
}

/*
 * Epoch seconds (below 1e12) or milliseconds written in decimal, "D+[.D+]": the integer part
 * and the fraction's digits are taken as written, the fraction truncated at the millisecond.
 */
static enum cnc_ts_result from_decimal(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int64_t whole = 0;
    if (len == 0 || s[0] < '0' || s[0] > '9') {
        return CNC_TS_BAD;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (whole > CNC_TS_MAX_MS) {
            return CNC_TS_TOO_LATE; /* and no overflow further on */
        }
        whole = whole * 10 + (s[i++] - '0');
    }
    unsigned frac_ms = 0;
    if (!fraction_ms(s, len, &i, &frac_ms) || i != len) {
        return CNC_TS_BAD;
    }
    int64_t v = whole < INT64_C(1000000000000) ? whole * 1000 + frac_ms : whole;
    if (v > CNC_TS_MAX_MS) {
        return CNC_TS_TOO_LATE;
    }
    *ms = v;
    return CNC_TS_OK;
}

enum cnc_ts_result cnc_timestamp_from_number(double v, int64_t *ms)
{
    if (!isfinite(v)) {
        return CNC_TS_BAD;
    }
    if (v < 0) {
        return CNC_TS_TOO_EARLY;
    }
    if (v >= 1e12 ? v > (double)CNC_TS_MAX_MS : v * 1000.0 > (double)CNC_TS_MAX_MS) {
        return CNC_TS_TOO_LATE;
    }
    if (v == floor(v)) {
        *ms = v >= 1e12 ? (int64_t)v : (int64_t)v * 1000;
        return CNC_TS_OK;
    }
    /* A fraction: its digits as the sender wrote them (the shortest text that reads back as v),
       truncated like an RFC 3339 fraction; v * 1000 would round 1747379028.123 to ...027.999. */
    char text[CNC_JSON_NUMBER_MAX];
    size_t n = cnc_json_number(v, text);
    if (memchr(text, 'e', n) != NULL) {
        *ms = 0; /* below 1e-5 s: 1970, refused by the caller's 2000 check */
        return CNC_TS_OK;
    }
    return from_decimal(text, n, ms);
}

/* Reads exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, int n, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[*i] - '0');
        (*i)++;
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c) {
        return false;
    }
    (*i)++;
    return true;
}

enum cnc_ts_result cnc_timestamp_from_string(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    unsigned year, mon, day, hour, min, sec, frac_ms = 0;

    if (len > 0 && s[0] >= '0' && s[0] <= '9' && (len < 5 || s[4] != '-')) {
        return from_decimal(s, len, ms);
    }
    if (!digits(s, len, &i, 4, &year) || !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &mon) ||
        !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &day)) {
        return CNC_TS_BAD;
    }
    if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) {
        return CNC_TS_BAD;
    }
    i++;
    if (!digits(s, len, &i, 2, &hour) || !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &min) ||
        !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &sec)) {
        return CNC_TS_BAD;
    }
    if (!fraction_ms(s, len, &i, &frac_ms)) {
        return CNC_TS_BAD;
    }
    int offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') ||
            !digits(s, len, &i, 2, &om) || oh > 23 || om > 59) {
            return CNC_TS_BAD;
        }
        offset_min = sign * (int)(oh * 60 + om);
    } else {
        return CNC_TS_BAD; /* RFC 3339 requires a zone */
    }
    if (i != len) {
        return CNC_TS_BAD;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 60) {
        return CNC_TS_BAD;
    }
    if (sec == 60) {
        return CNC_TS_LEAP_SECOND;
    }
    int64_t days = cnc_days_from_civil(year, mon, day);
    int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)offset_min * 60;
    int64_t v = secs * 1000 + frac_ms;
    if (v < 0) {
        return CNC_TS_TOO_EARLY;
    }
    if (v > CNC_TS_MAX_MS) {
        return CNC_TS_TOO_LATE;
    }
    *ms = v;
    return CNC_TS_OK;
}

void cnc_timestamp_format(int64_t ms, char out[25])
{
    int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    int64_t rem = ms - days * 86400000;
    int y;
    unsigned m, d;
    cnc_civil_from_days(days, &y, &m, &d);
    unsigned h = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60),
             s = (unsigned)(rem / 1000 % 60), f = (unsigned)(rem % 1000);
    /* Hand-rolled to stay clear of snprintf's locale lock on the hot path. */
    char *p = out;
    unsigned yy = (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
    *p++ = (char)('0' + yy / 1000);
    *p++ = (char)('0' + yy / 100 % 10);
    *p++ = (char)('0' + yy / 10 % 10);
    *p++ = (char)('0' + yy % 10);
    const unsigned parts[6] = {m, d, h, mi, s, f};
    const char seps[6] = {'-', '-', 'T', ':', ':', '.'};
    for (int k = 0; k < 5; k++) {
        *p++ = seps[k];
        *p++ = (char)('0' + parts[k] / 10);
        *p++ = (char)('0' + parts[k] % 10);
    }
    *p++ = '.';
    *p++ = (char)('0' + f / 100);
    *p++ = (char)('0' + f / 10 % 10);
    *p++ = (char)('0' + f % 10);
    *p++ = 'Z';
    *p = '\0';
}
