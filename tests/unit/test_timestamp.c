/* test_timestamp.c - every timestamp form of the envelope, normalised to UTC ms
 * (plugin/ingest/timestamp.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timestamp.h"

static int64_t from_string(const char *s, enum cnc_ts_result expect)
{
    int64_t ms = -1;
    assert_int_equal(cnc_timestamp_from_string(s, strlen(s), &ms), expect);
    return ms;
}

static void numbers(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(cnc_timestamp_from_number(1747379028, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379028000));
    assert_int_equal(cnc_timestamp_from_number(1747379028.25, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379028250));
    /* From 1e12 on a number is milliseconds. */
    assert_int_equal(cnc_timestamp_from_number(1747379030250.0, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379030250));
    assert_int_equal(cnc_timestamp_from_number(999999999999.0, &ms), CNC_TS_TOO_LATE);
    assert_int_equal(cnc_timestamp_from_number(1e12, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1000000000000));
    assert_int_equal(cnc_timestamp_from_number(-5, &ms), CNC_TS_TOO_EARLY);
    assert_int_equal(cnc_timestamp_from_number(1e300, &ms), CNC_TS_TOO_LATE);
    assert_int_equal(cnc_timestamp_from_number(1e308, &ms), CNC_TS_TOO_LATE);
    /* Fractions are truncated as in RFC 3339, digit by digit as written: never rounded up,
       and 1747379028.123 (1747379028.1229999 as a double) is still .123. */
    assert_int_equal(cnc_timestamp_from_number(1747379028.1239, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379028123));
    assert_int_equal(cnc_timestamp_from_number(1747379028.123, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379028123));
    assert_int_equal(cnc_timestamp_from_number(1747379028.9999, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379028999));
    assert_int_equal(cnc_timestamp_from_number(1747379030250.9, &ms), CNC_TS_OK);
    assert_int_equal(ms, INT64_C(1747379030250));
    assert_int_equal(cnc_timestamp_from_number(1e-7, &ms), CNC_TS_OK); /* 1970: the caller's */
    assert_int_equal(ms, 0);
    assert_int_equal(cnc_timestamp_from_number(INFINITY, &ms), CNC_TS_BAD);
    assert_int_equal(cnc_timestamp_from_number(NAN, &ms), CNC_TS_BAD);
}

static void digit_strings(void **state)
{
    (void)state;
    assert_int_equal(from_string("1747379028", CNC_TS_OK), INT64_C(1747379028000));
    assert_int_equal(from_string("1747379028.5", CNC_TS_OK), INT64_C(1747379028500));
    assert_int_equal(from_string("1747379030250", CNC_TS_OK), INT64_C(1747379030250));
    from_string("17473x9028", CNC_TS_BAD);
    from_string("1747379028.", CNC_TS_BAD);
    from_string("1.2.3", CNC_TS_BAD);
    from_string("", CNC_TS_BAD);
    from_string("-1747379028", CNC_TS_BAD);
    assert_int_equal(from_string("1747379028.1239", CNC_TS_OK), INT64_C(1747379028123));
    assert_int_equal(from_string("1747379028.9999", CNC_TS_OK), INT64_C(1747379028999));
    assert_int_equal(from_string("1747379030250.9", CNC_TS_OK), INT64_C(1747379030250));
    from_string("99999999999999999999999999999999999", CNC_TS_TOO_LATE);
    assert_int_equal(from_string("0000000000000000000000001747379028", CNC_TS_OK),
                     INT64_C(1747379028000));
    from_string("yesterday", CNC_TS_BAD);
}

static void rfc3339(void **state)
{
    (void)state;
    assert_int_equal(from_string("2025-05-16T07:03:49.250Z", CNC_TS_OK), INT64_C(1747379029250));
    assert_int_equal(from_string("2025-05-16T07:03:49Z", CNC_TS_OK), INT64_C(1747379029000));
    assert_int_equal(from_string("2025-05-16t07:03:49z", CNC_TS_OK), INT64_C(1747379029000));
    assert_int_equal(from_string("2025-05-16 07:03:49Z", CNC_TS_OK), INT64_C(1747379029000));
    /* Offsets: 09:03:49+02:00 is 07:03:49Z. */
    assert_int_equal(from_string("2025-05-16T09:03:49.250+02:00", CNC_TS_OK),
                     INT64_C(1747379029250));
    assert_int_equal(from_string("2025-05-16T02:03:49-05:00", CNC_TS_OK), INT64_C(1747379029000));
    /* Fractions beyond milliseconds are truncated. */
    assert_int_equal(from_string("2025-05-16T07:03:49.123999Z", CNC_TS_OK), INT64_C(1747379029123));
    assert_int_equal(from_string("2025-05-16T07:03:49.1Z", CNC_TS_OK), INT64_C(1747379029100));
    assert_int_equal(from_string("2024-02-29T00:00:00Z", CNC_TS_OK), INT64_C(1709164800000));
    assert_int_equal(from_string("2000-01-01T00:00:00Z", CNC_TS_OK), CNC_TS_MIN_MS);
    from_string("2025-05-16T07:03:49", CNC_TS_BAD); /* no zone */
    from_string("2025-02-29T00:00:00Z", CNC_TS_BAD);
    from_string("2025-13-01T00:00:00Z", CNC_TS_BAD);
    from_string("2025-05-16T24:00:00Z", CNC_TS_BAD);
    from_string("2025-05-16T07:60:00Z", CNC_TS_BAD);
    from_string("2025-05-16T07:03:49.Z", CNC_TS_BAD);
    from_string("2025-05-16T07:03:49+0200", CNC_TS_BAD);
    from_string("2025-05-16T07:03:49Zjunk", CNC_TS_BAD);
    from_string("2025-5-16T07:03:49Z", CNC_TS_BAD);
    /* Second 60 nowhere, not even where a leap second was. */
    from_string("2016-12-31T23:59:60Z", CNC_TS_LEAP_SECOND);
    from_string("2025-05-16T07:03:60Z", CNC_TS_LEAP_SECOND);
    from_string("9999-12-31T23:59:59.999-01:00", CNC_TS_TOO_LATE);
    from_string("0000-01-01T00:00:00Z", CNC_TS_TOO_EARLY);
}

static void format(void **state)
{
    (void)state;
    char out[25];
    cnc_timestamp_format(INT64_C(1747379029250), out);
    assert_string_equal(out, "2025-05-16T07:03:49.250Z");
    cnc_timestamp_format(CNC_TS_MIN_MS, out);
    assert_string_equal(out, "2000-01-01T00:00:00.000Z");
    cnc_timestamp_format(INT64_C(1709164800007), out);
    assert_string_equal(out, "2024-02-29T00:00:00.007Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers),
        cmocka_unit_test(digit_strings),
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
