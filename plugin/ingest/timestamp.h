/*
 * timestamp.h - the envelope's timestamp forms, normalised to UTC milliseconds.
 *
 * Any thread; pure functions (no locale, no time zone database, no libc
 * time conversion that takes a lock).
 *
 * Accepted forms (DESIGN.md, "The envelope"):
 *   - a JSON number or a string of digits with an optional fraction:
 *     epoch seconds when below 1e12, epoch milliseconds from 1e12 on;
 *   - RFC 3339 with a zone: 2025-05-16T07:03:49.250Z, ...+02:00; 't' or a
 *     space may stand for 'T', 'z' for 'Z'.
 * Fractions beyond the millisecond are truncated in every form, digit by
 * digit as written (a JSON number by its shortest round-trip text, so
 * 1747379028.1239 is ...028.123, not rounded up). Second 60 (a leap second)
 * is refused in every minute: epoch time, which is what is stored, has none.
 */
#ifndef CNC_TIMESTAMP_H
#define CNC_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#define CNC_TS_MIN_MS INT64_C(946684800000) /* 2000-01-01T00:00:00Z */

#define CNC_TS_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

enum cnc_ts_result {
    CNC_TS_OK = 0,
    CNC_TS_BAD = -1,         /* not a timestamp in any accepted form */
    CNC_TS_LEAP_SECOND = -2, /* RFC 3339 with second 60 */
    CNC_TS_TOO_EARLY = -3,   /* a timestamp before 1970 (negative) */
    CNC_TS_TOO_LATE = -4,    /* a timestamp after 9999-12-31 */
};

/* *ms is set for CNC_TS_OK; 2000-01-01 and the future skew are the caller's checks. */
enum cnc_ts_result cnc_timestamp_from_number(double v, int64_t *ms);
enum cnc_ts_result cnc_timestamp_from_string(const char *s, size_t len, int64_t *ms);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) into out[25]. */
void cnc_timestamp_format(int64_t ms, char out[25]);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
int64_t cnc_days_from_civil(int64_t y, unsigned m, unsigned d);
void cnc_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

#endif
