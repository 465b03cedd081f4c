/*
 * test_reject.c - reject reason names (a public contract) and the JSON
 * report published on the rejected topic (plugin/reject.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "reject.h"

static void stable_names(void **state)
{
    (void)state;
    static const char *const contract[] = {
        "not_json",          "not_object",          "too_large",
        "missing_field",     "wrong_type",          "unknown_field",
        "duplicate_key",     "bad_cnc_id",          "topic_mismatch",
        "bad_part_program",  "bad_timestamp",       "timestamp_out_of_range",
        "bad_payload_value", "too_many_fields",     "no_route",
        "handler_rejected",  "unauthorized_cnc_id", "spool_full",
    };
    assert_int_equal(CNC_REJECT__COUNT - 1, sizeof contract / sizeof contract[0]);
    for (int c = 1; c < CNC_REJECT__COUNT; c++) {
        assert_string_equal(cnc_reject_name((enum cnc_reject_code)c), contract[c - 1]);
    }
    assert_string_equal(cnc_reject_name(CNC_REJECT_NONE), "accepted");
}

static void report_shape(void **state)
{
    (void)state;
    struct cnc_reject rej = {0};
    cnc_reject_set(&rej, CNC_REJECT_BAD_TIMESTAMP, "timestamp", "not %s", "a timestamp");
    strcpy(rej.cnc_id, "CNC001");
    const char *msg = "{\"cnc_id\":\"CNC001\",\"timestamp\":\"yesterday\"}";
    char *s = cnc_reject_report(&rej, "cnc/CNC001/data", "collector-7", INT64_C(1747379029250), msg,
                                strlen(msg));
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "reason")->valuestring, "bad_timestamp");
    assert_string_equal(cJSON_GetObjectItem(o, "field")->valuestring, "timestamp");
    assert_string_equal(cJSON_GetObjectItem(o, "detail")->valuestring, "not a timestamp");
    assert_string_equal(cJSON_GetObjectItem(o, "topic")->valuestring, "cnc/CNC001/data");
    assert_string_equal(cJSON_GetObjectItem(o, "client_id")->valuestring, "collector-7");
    assert_string_equal(cJSON_GetObjectItem(o, "cnc_id")->valuestring, "CNC001");
    assert_string_equal(cJSON_GetObjectItem(o, "received_at")->valuestring,
                        "2025-05-16T07:03:49.250Z");
    assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring, msg);
    cJSON_Delete(o);
    free(s);

    /* No field, no cnc_id: JSON nulls. */
    cnc_reject_set(&rej, CNC_REJECT_NOT_JSON, NULL, "empty message");
    rej.cnc_id[0] = '\0';
    s = cnc_reject_report(&rej, "cnc/x/data", "c", 0, NULL, 0);
    o = cJSON_Parse(s);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "field")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "cnc_id")));
    assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring, "");
    cJSON_Delete(o);
    free(s);
}

static void message_excerpt(void **state)
{
    (void)state;
    struct cnc_reject rej = {0};
    cnc_reject_set(&rej, CNC_REJECT_NOT_JSON, NULL, "x");
    /* 255 ASCII bytes then a 2-byte character cut by the 256-byte limit: dropped. */
    char big[400];
    memset(big, 'a', 255);
    memcpy(big + 255, "\xC3\xA4tail", 6);
    char *s = cnc_reject_report(&rej, "t", "c", 0, big, 261);
    cJSON *o = cJSON_Parse(s);
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "message")->valuestring), 255);
    cJSON_Delete(o);
    free(s);
    /* Invalid bytes become U+FFFD, so the report is always valid JSON text. */
    s = cnc_reject_report(&rej, "t", "c", 0, "ab\xFF\x00z", 5);
    o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring,
                        "ab\xEF\xBF\xBD\xEF\xBF\xBDz");
    cJSON_Delete(o);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stable_names),
        cmocka_unit_test(report_shape),
        cmocka_unit_test(message_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
