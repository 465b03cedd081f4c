/*
 * test_reject.c - reject reason names (a public contract) and the JSON
 * report published on the rejected topic (plugin/ingest/reject.c).
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "reject.h"
#include "utf8.h"

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
    char *s = cnc_reject_report(&rej, "broker-2", "cnc/CNC001/data", "collector-7",
                                INT64_C(1747379029250), msg, strlen(msg), 0);
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
    assert_string_equal(cJSON_GetObjectItem(o, "node")->valuestring, "broker-2");
    cJSON_Delete(o);
    free(s);

    /* No field, no cnc_id: JSON nulls. */
    cnc_reject_set(&rej, CNC_REJECT_NOT_JSON, NULL, "empty message");
    rej.cnc_id[0] = '\0';
    s = cnc_reject_report(&rej, NULL, "cnc/x/data", "c", 0, NULL, 0, 0);
    o = cJSON_Parse(s);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "field")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "cnc_id")));
    assert_null(cJSON_GetObjectItem(o, "node")); /* none given: none said */
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
    char *s = cnc_reject_report(&rej, NULL, "t", "c", 0, big, 261, 0);
    cJSON *o = cJSON_Parse(s);
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "message")->valuestring), 255);
    cJSON_Delete(o);
    free(s);
    /* Invalid bytes become U+FFFD, so the report is always valid JSON text. */
    s = cnc_reject_report(&rej, NULL, "t", "c", 0, "ab\xFF\x00z", 5, 0);
    o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring,
                        "ab\xEF\xBF\xBD\xEF\xBF\xBDz");
    cJSON_Delete(o);
    free(s);
}

static bool valid_utf8(const char *s)
{
    return utf8_invalid_at(s, strlen(s)) == strlen(s);
}

/* The reject topic never carries invalid UTF-8, a wildcard or a second level from a client id. */
static void topic_from_client_id(void **state)
{
    (void)state;
    char topic[512];
    assert_int_equal(cnc_reject_topic("cnc/rejected", "collector-7", topic, sizeof topic), 24);
    assert_string_equal(topic, "cnc/rejected/collector-7");
    cnc_reject_topic("cnc/rejected",
                     "a/b+c#d\x01"
                     "e\x7f\xc2\x85"
                     "f",
                     topic, sizeof topic);
    assert_string_equal(topic, "cnc/rejected/a_b_c_d_e__f");
    cnc_reject_topic("cnc/rejected", "bad\xff\xfe", topic, sizeof topic);
    assert_string_equal(topic, "cnc/rejected/bad__");
    cnc_reject_topic("cnc/rejected", "", topic, sizeof topic);
    assert_string_equal(topic, "cnc/rejected/unknown");
    cnc_reject_topic("cnc/rejected", NULL, topic, sizeof topic);
    assert_string_equal(topic, "cnc/rejected/unknown");
    /* 127 ASCII bytes and a 3-byte character across the 128-byte bound: left out whole
       (it used to be cut at 255 bytes, mid-character: mosquitto_sub then disconnects). */
    char id[300];
    memset(id, 'x', 127);
    strcpy(id + 127, "\xe2\x82\xac and more");
    size_t n = cnc_reject_topic("cnc/rejected", id, topic, sizeof topic);
    assert_int_equal(n, strlen("cnc/rejected/") + 127);
    assert_true(valid_utf8(topic));
    memset(id, 'y', 126);
    strcpy(id + 126, "\xc3\xa4z");
    cnc_reject_topic("cnc/rejected", id, topic, sizeof topic);
    assert_int_equal(strlen(topic), strlen("cnc/rejected/") + 128);
    assert_true(valid_utf8(topic));
}

/* A client id of 65,535 bytes is not copied into every report: cut, and said so. */
static void long_texts_bounded(void **state)
{
    (void)state;
    struct cnc_reject rej = {0};
    cnc_reject_set(&rej, CNC_REJECT_NOT_JSON, NULL, "x");
    char *id = malloc(65536);
    memset(id, 'c', 65535);
    id[65535] = '\0';
    id[255] = '\xc3'; /* a character across the 256-byte bound */
    id[256] = '\xa4';
    char *s = cnc_reject_report(&rej, NULL, id, id, 0, "{}", 2, 0);
    assert_true(strlen(s) < 2000);
    assert_true(valid_utf8(s));
    cJSON *o = cJSON_Parse(s);
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "client_id")->valuestring), 255);
    assert_int_equal(cJSON_GetObjectItem(o, "client_id_bytes")->valuedouble, 65535);
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "topic")->valuestring), 255);
    assert_int_equal(cJSON_GetObjectItem(o, "topic_bytes")->valuedouble, 65535);
    assert_null(cJSON_GetObjectItem(o, "message_bytes"));
    cJSON_Delete(o);
    free(s);
    free(id);
    /* A field or detail cut by its bound inside a character: cut before it instead. */
    char name[200];
    memset(name, 'n', sizeof name);
    memcpy(name + 94, "\xe2\x82\xac", 3);
    name[sizeof name - 1] = '\0';
    cnc_reject_set(&rej, CNC_REJECT_BAD_PAYLOAD_VALUE, name, "%s", name);
    assert_true(valid_utf8(rej.field));
    assert_int_equal(strlen(rej.field), 94);
    assert_true(valid_utf8(rej.detail));
    /* Invalid bytes a handler module might write: replaced. */
    cnc_reject_set(&rej, CNC_REJECT_HANDLER_REJECTED, NULL,
                   "bad \xff"
                   " byte");
    assert_string_equal(rej.detail, "bad \xef\xbf\xbd"
                                    " byte");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stable_names),       cmocka_unit_test(report_shape),
        cmocka_unit_test(message_excerpt),    cmocka_unit_test(topic_from_client_id),
        cmocka_unit_test(long_texts_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
