/*
 * test_envelope.c - the envelope contract (plugin/ingest/envelope.c): every reject
 * code the validator owns, the field it names, boundaries and accepted forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"

#define NOW INT64_C(1747400000000) /* 2025-05-16T12:53:20Z */

static const struct cnc_envelope_limits limits = {
    .max_message_bytes = 65536,
    .max_payload_fields = 256,
    .reject_unknown_fields = true,
    .allow_nested = false,
    .max_future_skew_ms = 300000,
};

#define ENV(id, pp, ts, payload)                                                                   \
    "{\"cnc_id\":" id ",\"part_program\":" pp ",\"timestamp\":" ts ",\"payload\":" payload "}"
#define OK_ENV(payload) ENV("\"CNC001\"", "\"program_01\"", "\"1747379028\"", payload)

struct reject_case {
    const char *json;
    const char *topic_id; /* NULL: the filter has no + */
    enum cnc_reject_code code;
    const char *field; /* "" for none */
};

static const struct reject_case reject_cases[] = {
    {"", NULL, CNC_REJECT_NOT_JSON, ""},
    {"not json at all", NULL, CNC_REJECT_NOT_JSON, ""},
    {"{\"cnc_id\":\"a\"", NULL, CNC_REJECT_NOT_JSON, ""},
    {OK_ENV("{}") " {}", NULL, CNC_REJECT_NOT_JSON, ""},
    {"{\"cnc_id\":\"\xC3\x28\"}", NULL, CNC_REJECT_NOT_JSON, ""},
    {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,"
     "\"payload\":{\"note\":\"two\nlines\"}}",
     NULL, CNC_REJECT_NOT_JSON, ""},
    /* RFC 8259 numbers and whitespace the database's JSON check would refuse. */
    {OK_ENV("{\"spin\":01}"), NULL, CNC_REJECT_NOT_JSON, ""},
    {OK_ENV("{\"spin\":-.5}"), NULL, CNC_REJECT_NOT_JSON, ""},
    {ENV("\"CNC001\"", "\"p\"", "1747379028.", "{}"), NULL, CNC_REJECT_NOT_JSON, ""},
    {OK_ENV("\f{}"), NULL, CNC_REJECT_NOT_JSON, ""},
    {"[1,2]", NULL, CNC_REJECT_NOT_OBJECT, ""},
    {"\"text\"", NULL, CNC_REJECT_NOT_OBJECT, ""},
    {"42", NULL, CNC_REJECT_NOT_OBJECT, ""},
    {"{\"part_program\":\"p\",\"timestamp\":1747379028,\"payload\":{}}", NULL,
     CNC_REJECT_MISSING_FIELD, "cnc_id"},
    {"{\"cnc_id\":\"A\",\"timestamp\":1747379028,\"payload\":{}}", NULL, CNC_REJECT_MISSING_FIELD,
     "part_program"},
    {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"payload\":{}}", NULL, CNC_REJECT_MISSING_FIELD,
     "timestamp"},
    {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028}", NULL,
     CNC_REJECT_MISSING_FIELD, "payload"},
    {ENV("1", "\"p\"", "1747379028", "{}"), NULL, CNC_REJECT_WRONG_TYPE, "cnc_id"},
    {ENV("\"A\"", "[]", "1747379028", "{}"), NULL, CNC_REJECT_WRONG_TYPE, "part_program"},
    {ENV("\"A\"", "\"p\"", "true", "{}"), NULL, CNC_REJECT_WRONG_TYPE, "timestamp"},
    {ENV("\"A\"", "\"p\"", "null", "{}"), NULL, CNC_REJECT_WRONG_TYPE, "timestamp"},
    {ENV("\"A\"", "\"p\"", "1747379028", "\"spin=200\""), NULL, CNC_REJECT_WRONG_TYPE, "payload"},
    {ENV("\"A\"", "\"p\"", "1747379028", "[1]"), NULL, CNC_REJECT_WRONG_TYPE, "payload"},
    {OK_ENV("{}") "", NULL, CNC_REJECT_NONE, ""},
    {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,\"payload\":{},"
     "\"note\":\"x\"}",
     NULL, CNC_REJECT_UNKNOWN_FIELD, "note"},
    {"{\"cnc_id\":\"A\",\"cnc_id\":\"B\",\"part_program\":\"p\",\"timestamp\":1747379028,"
     "\"payload\":{}}",
     NULL, CNC_REJECT_DUPLICATE_KEY, "cnc_id"},
    {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,\"payload\":{},"
     "\"x\":1,\"x\":2}",
     NULL, CNC_REJECT_DUPLICATE_KEY, "x"},
    {OK_ENV("{\"spin\":1,\"feed\":2,\"spin\":3}"), NULL, CNC_REJECT_DUPLICATE_KEY, "payload.spin"},
    {ENV("\"\"", "\"p\"", "1747379028", "{}"), NULL, CNC_REJECT_BAD_CNC_ID, "cnc_id"},
    {ENV("\"CNC 001\"", "\"p\"", "1747379028", "{}"), NULL, CNC_REJECT_BAD_CNC_ID, "cnc_id"},
    {ENV("\"CNC/001\"", "\"p\"", "1747379028", "{}"), NULL, CNC_REJECT_BAD_CNC_ID, "cnc_id"},
    {ENV("\""
         "0123456789012345678901234567890123456789012345678901234567890123"
         "4"
         "\"",
         "\"p\"", "1747379028", "{}"),
     NULL, CNC_REJECT_BAD_CNC_ID, "cnc_id"},
    {OK_ENV("{}"), "CNC002", CNC_REJECT_TOPIC_MISMATCH, "cnc_id"},
    {OK_ENV("{}"), "CNC00", CNC_REJECT_TOPIC_MISMATCH, "cnc_id"},
    {ENV("\"A\"", "\"\"", "1747379028", "{}"), NULL, CNC_REJECT_BAD_PART_PROGRAM, "part_program"},
    {ENV("\"A\"", "\"p\\n1\"", "1747379028", "{}"), NULL, CNC_REJECT_BAD_PART_PROGRAM,
     "part_program"},
    {ENV("\"A\"", "\"p\"", "\"yesterday\"", "{}"), NULL, CNC_REJECT_BAD_TIMESTAMP, "timestamp"},
    {ENV("\"A\"", "\"p\"", "\"2025-05-16T07:03:49\"", "{}"), NULL, CNC_REJECT_BAD_TIMESTAMP,
     "timestamp"},
    {ENV("\"A\"", "\"p\"", "\"2025-02-30T07:03:49Z\"", "{}"), NULL, CNC_REJECT_BAD_TIMESTAMP,
     "timestamp"},
    {ENV("\"A\"", "\"p\"", "1e999", "{}"), NULL, CNC_REJECT_BAD_TIMESTAMP, "timestamp"},
    {ENV("\"A\"", "\"p\"", "\"1999-12-31T23:59:59.999Z\"", "{}"), NULL,
     CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"},
    {ENV("\"A\"", "\"p\"", "946684799", "{}"), NULL, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE,
     "timestamp"},
    {ENV("\"A\"", "\"p\"", "-1", "{}"), NULL, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"},
    /* NOW + 300 s is the limit: one ms later is out of range. */
    {ENV("\"A\"", "\"p\"", "1747400300001", "{}"), NULL, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE,
     "timestamp"},
    {OK_ENV("{\"pos\":{\"x\":1}}"), NULL, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.pos"},
    {OK_ENV("{\"axes\":[1,2]}"), NULL, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.axes"},
    {OK_ENV("{\"spin\":1e999}"), NULL, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.spin"},
    {OK_ENV("{\"spin\":-1e999}"), NULL, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.spin"},
    {OK_ENV("{\"\":1}"), NULL, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload."},
};

static void check_case(const struct reject_case *c, const struct cnc_envelope_limits *lim)
{
    cJSON *root = NULL;
    struct cnc_message msg;
    struct cnc_reject rej;
    int rc = cnc_envelope_parse(lim, c->json, strlen(c->json), c->topic_id,
                                c->topic_id ? strlen(c->topic_id) : 0, NOW, &root, &msg, &rej);
    if (c->code == CNC_REJECT_NONE) {
        if (rc != 0) {
            fail_msg("%s: unexpected %s (%s)", c->json, cnc_reject_name(rej.code), rej.detail);
        }
        cJSON_Delete(root);
        return;
    }
    if (rc != CNC_EREJECT || rej.code != c->code || strcmp(rej.field, c->field) != 0) {
        fail_msg("%s: expected %s/%s, got rc=%d %s/%s (%s)", c->json, cnc_reject_name(c->code),
                 c->field, rc, rc ? cnc_reject_name(rej.code) : "accepted", rc ? rej.field : "",
                 rc ? rej.detail : "");
    }
    assert_null(root);
    assert_true(rej.detail[0] != '\0');
}

static void every_reject(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof reject_cases / sizeof reject_cases[0]; i++) {
        check_case(&reject_cases[i], &limits);
    }
}

/* Builds an envelope whose payload has n members m0..m(n-1). */
static char *payload_with_fields(size_t n)
{
    size_t cap = n * 24 + 200;
    char *s = malloc(cap);
    size_t o = (size_t)snprintf(s, cap,
                                "{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":"
                                "1747379028,\"payload\":{");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(s + o, cap - o, "%s\"m%zu\":%zu", i ? "," : "", i, i);
    }
    snprintf(s + o, cap - o, "}}");
    return s;
}

static int parse(const char *json, const struct cnc_envelope_limits *lim, const char *topic_id,
                 struct cnc_message *msg, struct cnc_reject *rej, cJSON **root)
{
    return cnc_envelope_parse(lim, json, strlen(json), topic_id, topic_id ? strlen(topic_id) : 0,
                              NOW, root, msg, rej);
}

static void boundaries(void **state)
{
    (void)state;
    cJSON *root;
    struct cnc_message msg;
    struct cnc_reject rej;
    char buf[1024];

    /* cnc_id of exactly 64 characters, every allowed character class. */
    const char *id64 = "Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-Aa0_.:-1";
    assert_int_equal(strlen(id64), 64);
    snprintf(buf, sizeof buf, ENV("\"%s\"", "\"p\"", "1747379028", "{}"), id64);
    assert_int_equal(parse(buf, &limits, id64, &msg, &rej, &root), 0);
    assert_string_equal(msg.cnc_id, id64);
    cJSON_Delete(root);

    /* part_program of 128 characters (multi-byte ones count once), 129 refused. */
    char pp[600] = "";
    for (int i = 0; i < 128; i++) {
        strcat(pp, "\xC3\xA4");
    }
    snprintf(buf, sizeof buf, ENV("\"A\"", "\"%s\"", "1747379028", "{}"), pp);
    assert_int_equal(parse(buf, &limits, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
    strcat(pp, "x");
    snprintf(buf, sizeof buf, ENV("\"A\"", "\"%s\"", "1747379028", "{}"), pp);
    assert_int_equal(parse(buf, &limits, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_BAD_PART_PROGRAM);

    /* Payload strings up to 256 bytes. */
    char s256[300];
    memset(s256, 'x', 256);
    s256[256] = '\0';
    snprintf(buf, sizeof buf, OK_ENV("{\"operator\":\"%s\"}"), s256);
    assert_int_equal(parse(buf, &limits, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
    snprintf(buf, sizeof buf, OK_ENV("{\"operator\":\"%sy\"}"), s256);
    assert_int_equal(parse(buf, &limits, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_BAD_PAYLOAD_VALUE);
    assert_string_equal(rej.field, "payload.operator");

    /* Timestamp exactly at the future limit is accepted. */
    assert_int_equal(
        parse(ENV("\"A\"", "\"p\"", "1747400300000", "{}"), &limits, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
}

static void field_and_size_limits(void **state)
{
    (void)state;
    cJSON *root;
    struct cnc_message msg;
    struct cnc_reject rej;

    char *at = payload_with_fields(256);
    assert_int_equal(parse(at, &limits, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
    char *over = payload_with_fields(257);
    assert_int_equal(parse(over, &limits, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_TOO_MANY_FIELDS);
    assert_string_equal(rej.field, "payload");

    /* Duplicate detection in a large payload (the hashed path). */
    char *dup = payload_with_fields(100);
    char *p = strstr(dup, "\"m57\"");
    memcpy(p, "\"m12\"", 5);
    assert_int_equal(parse(dup, &limits, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_DUPLICATE_KEY);
    assert_string_equal(rej.field, "payload.m12");

    /* max_message_bytes: exactly at the limit passes, one byte more is too_large. */
    struct cnc_envelope_limits small = limits;
    small.max_message_bytes = strlen(at);
    assert_int_equal(parse(at, &small, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
    small.max_message_bytes = strlen(at) - 1;
    assert_int_equal(parse(at, &small, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_TOO_LARGE);
    free(at);
    free(over);
    free(dup);
}

static void accepted_forms(void **state)
{
    (void)state;
    cJSON *root;
    struct cnc_message msg;
    struct cnc_reject rej;
    static const struct {
        const char *ts;
        int64_t ms;
    } forms[] = {
        {"\"1747379028\"", INT64_C(1747379028000)},
        {"1747379029", INT64_C(1747379029000)},
        {"1747379029.5", INT64_C(1747379029500)},
        {"1747379030250", INT64_C(1747379030250)},
        {"\"2025-05-16T07:03:49.250Z\"", INT64_C(1747379029250)},
        {"\"2025-05-16T09:03:49.250+02:00\"", INT64_C(1747379029250)},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 ENV("\"PRESS-04\"", "\"P-118\"", "%s",
                     "{\"mode\":\"active\",\"temperature\":72.4,\"door_open\":true,"
                     "\"alarm\":null}"),
                 forms[i].ts);
        assert_int_equal(parse(buf, &limits, "PRESS-04", &msg, &rej, &root), 0);
        assert_int_equal(msg.ts_ms, forms[i].ms);
        assert_string_equal(msg.cnc_id, "PRESS-04");
        assert_string_equal(msg.part_program, "P-118");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(msg.payload, "temperature"));
        cJSON_Delete(root);
    }
    /* Whitespace around the object and pretty-printed JSON are fine. */
    const char *pretty = "\n {\n  \"cnc_id\": \"A\",\n  \"part_program\": \"p\",\n"
                         "  \"timestamp\": 1747379028,\n  \"payload\": {}\n }\r\n";
    assert_int_equal(parse(pretty, &limits, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
}

static void options(void **state)
{
    (void)state;
    cJSON *root;
    struct cnc_message msg;
    struct cnc_reject rej;
    struct cnc_envelope_limits lax = limits;
    lax.reject_unknown_fields = false;
    lax.allow_nested = true;

    const char *extra = "{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,"
                        "\"payload\":{},\"note\":\"x\"}";
    assert_int_equal(parse(extra, &lax, NULL, &msg, &rej, &root), 0);
    cJSON_Delete(root);
    /* Even ignored members may not repeat. */
    const char *twice = "{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,"
                        "\"payload\":{},\"note\":\"x\",\"note\":\"y\"}";
    assert_int_equal(parse(twice, &lax, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_DUPLICATE_KEY);

    assert_int_equal(
        parse(OK_ENV("{\"pos\":{\"x\":1,\"y\":[1,2,{\"z\":3}]}}"), &lax, NULL, &msg, &rej, &root),
        0);
    cJSON_Delete(root);
    /* Nested values are still checked when allowed. */
    assert_int_equal(parse(OK_ENV("{\"pos\":{\"x\":1,\"x\":2}}"), &lax, NULL, &msg, &rej, &root),
                     CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_DUPLICATE_KEY);
    assert_string_equal(rej.field, "payload.pos.x");
    assert_int_equal(parse(OK_ENV("{\"pos\":{\"y\":[1,1e999]}}"), &lax, NULL, &msg, &rej, &root),
                     CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_BAD_PAYLOAD_VALUE);
    assert_string_equal(rej.field, "payload.pos.y[1]");

    /* Nesting: the payload object and 30 arrays inside it (31 levels, the most MariaDB's JSON
       check takes) pass; one level more is refused, naming the innermost container. */
    char deep[256], body[128];
    for (int levels = 30; levels <= 31; levels++) {
        int n = snprintf(body, sizeof body, "{\"d\":");
        for (int k = 0; k < levels; k++) {
            body[n++] = '[';
        }
        for (int k = 0; k < levels; k++) {
            body[n++] = ']';
        }
        snprintf(body + n, sizeof body - (size_t)n, "}");
        snprintf(deep, sizeof deep, OK_ENV("%s"), body);
        int rc = parse(deep, &lax, NULL, &msg, &rej, &root);
        if (levels == 30) {
            assert_int_equal(rc, 0);
            cJSON_Delete(root);
        } else {
            assert_int_equal(rc, CNC_EREJECT);
            assert_int_equal(rej.code, CNC_REJECT_BAD_PAYLOAD_VALUE);
            assert_non_null(strstr(rej.detail, "deeper than 31 levels"));
            assert_non_null(strstr(rej.field, "payload.d[0]"));
        }
    }
}

static void cnc_id_reported(void **state)
{
    (void)state;
    cJSON *root;
    struct cnc_message msg;
    struct cnc_reject rej;
    /* A sound cnc_id is carried into the reject even when another field is at fault. */
    assert_int_equal(parse("{\"cnc_id\":\"CNC001\",\"part_program\":\"p\",\"payload\":{}}", &limits,
                           NULL, &msg, &rej, &root),
                     CNC_EREJECT);
    assert_string_equal(rej.cnc_id, "CNC001");
    assert_int_equal(parse("not json", &limits, NULL, &msg, &rej, &root), CNC_EREJECT);
    assert_string_equal(rej.cnc_id, "");
}

/* The detail of the reject of json (with limits lim), which must be code/field. */
static const char *detail_of(const char *json, const struct cnc_envelope_limits *lim,
                             enum cnc_reject_code code, const char *field)
{
    static struct cnc_reject rej;
    struct reject_case c = {json, NULL, code, field};
    check_case(&c, lim);
    cJSON *root;
    struct cnc_message msg;
    parse(json, lim, NULL, &msg, &rej, &root);
    return rej.detail;
}

/* An escaped NUL would end every C string there: refused where it stands. */
static void nul_escapes(void **state)
{
    (void)state;
    assert_non_null(strstr(detail_of(ENV("\"ANY1\\u0000evil\"", "\"p\"", "1747379028", "{}"),
                                     &limits, CNC_REJECT_BAD_CNC_ID, "cnc_id"),
                           "contains \\u0000 (U+0000), which is not allowed"));
    detail_of(ENV("\"A\"", "\"p\\u0000\"", "1747379028", "{}"), &limits,
              CNC_REJECT_BAD_PART_PROGRAM, "part_program");
    detail_of(ENV("\"A\"", "\"p\"", "\"1747379028\\u0000x\"", "{}"), &limits,
              CNC_REJECT_BAD_TIMESTAMP, "timestamp");
    /* The 256-byte bound passed with "x\u0000" and 2,000 bytes more. */
    char big[2200];
    memset(big, 'y', sizeof big);
    big[sizeof big - 1] = '\0';
    char *msg = malloc(4000);
    snprintf(msg, 4000, OK_ENV("{\"s\":\"x\\u0000%s\"}"), big);
    detail_of(msg, &limits, CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.s");
    free(msg);
    /* Two names that would both read as "a". */
    assert_non_null(strstr(detail_of(OK_ENV("{\"a\\u0000b\":1,\"a\\u0000c\":2}"), &limits,
                                     CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.a\\u0000b"),
                           "member name contains"));
    detail_of(OK_ENV("{\"deep\":{\"x\\u0000\":1}}"),
              &(struct cnc_envelope_limits){65536, 256, true, true, 300000},
              CNC_REJECT_BAD_PAYLOAD_VALUE, "payload.deep.x\\u0000");
    /* A top-level name that would read as "cnc_id". */
    detail_of("{\"cnc_id\":\"A\",\"cnc_id\\u0000\":\"B\",\"part_program\":\"p\","
              "\"timestamp\":1747379028,\"payload\":{}}",
              &limits, CNC_REJECT_UNKNOWN_FIELD, "cnc_id\\u0000");
    /* Not a NUL: an escaped backslash, then "u0000". */
    struct reject_case fine = {OK_ENV("{\"s\":\"\\\\u0000\"}"), NULL, CNC_REJECT_NONE, ""};
    check_case(&fine, &limits);
    /* Inside a member that unknown_fields: ignore never reads: no matter. */
    struct cnc_envelope_limits ignore = limits;
    ignore.reject_unknown_fields = false;
    struct reject_case ignored = {"{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":"
                                  "1747379028,\"payload\":{},\"note\":\"x\\u0000\"}",
                                  NULL, CNC_REJECT_NONE, ""};
    check_case(&ignored, &ignore);
    /* A member named with escapes is the member cJSON decodes it to (found in review). */
    detail_of("{\"cnc\\u005fid\":\"ANY1\\u0000evil\",\"part_program\":\"p\",\"timestamp\":"
              "1747379028,\"payload\":{}}",
              &ignore, CNC_REJECT_BAD_CNC_ID, "cnc_id");
    detail_of("{\"cnc_id\":\"A\",\"part_\\u0070rogram\":\"p\\u0000\\u0001\",\"timestamp\":"
              "1747379028,\"payload\":{}}",
              &limits, CNC_REJECT_BAD_PART_PROGRAM, "part_program");
    detail_of("{\"cnc_id\":\"A\",\"part_program\":\"p\",\"timestamp\":1747379028,"
              "\"p\\u0061yload\":{\"s\":\"\\u0000\"}}",
              &limits, CNC_REJECT_BAD_PAYLOAD_VALUE, "p\\u0061yload.s");
    /* The report still names a sound machine. */
    struct cnc_reject rej;
    cJSON *root;
    struct cnc_message m;
    parse(OK_ENV("{\"s\":\"\\u0000\"}"), &limits, NULL, &m, &rej, &root);
    assert_string_equal(rej.cnc_id, "CNC001");
}

/* Nesting beyond cJSON's own limit (1000) is the nesting rule, not a syntax error. */
static void nesting_beyond_the_parser(void **state)
{
    (void)state;
    size_t n = 1200;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    char *msg = malloc(3 * n + 200);
    struct cnc_envelope_limits nested = limits;
    nested.allow_nested = true;
    snprintf(msg, 3 * n + 200, OK_ENV("{\"d\":%s}"), deep);
    struct cnc_reject rej;
    cJSON *root;
    struct cnc_message m;
    const struct cnc_envelope_limits *both[] = {&nested, &limits};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(parse(msg, both[k], NULL, &m, &rej, &root), CNC_EREJECT);
        assert_int_equal(rej.code, CNC_REJECT_BAD_PAYLOAD_VALUE);
        assert_memory_equal(rej.field, "payload.d[0][0][0]", 18); /* the path, up to its bound */
        assert_non_null(strstr(rej.detail, k == 0 ? "nested deeper than 31 levels"
                                                  : "ingest.allow_nested is false"));
    }
    snprintf(msg, 3 * n + 200, ENV("\"A\"", "\"p\"", "1747379028", "%s"), deep);
    detail_of(msg, &limits, CNC_REJECT_WRONG_TYPE, "payload");
    snprintf(msg, 3 * n + 200, ENV("%s", "\"p\"", "1747379028", "{}"), deep);
    detail_of(msg, &limits, CNC_REJECT_WRONG_TYPE, "cnc_id");
    detail_of(deep, &limits, CNC_REJECT_NOT_OBJECT, "");
    snprintf(msg, 3 * n + 200, "{\"cnc_id\":\"A\",\"x\":%s}", deep);
    detail_of(msg, &limits, CNC_REJECT_UNKNOWN_FIELD, "x");
    /* A real syntax error in a deep text is still one. */
    deep[2 * n - 1] = ',';
    detail_of(deep, &limits, CNC_REJECT_NOT_OBJECT, "");
    free(deep);
    free(msg);
}

/* Details that point at the real fault, and the fix. */
static void details_name_the_fault(void **state)
{
    (void)state;
    const char *d = detail_of("{'cnc_id': 'CNC001', 'part_program': 'P-1', 'timestamp': "
                              "1747379028, 'payload': {'spin': 200}}",
                              &limits, CNC_REJECT_NOT_JSON, "");
    assert_non_null(strstr(d, "a single quote: JSON strings and member names take double quotes"));
    assert_non_null(strstr(d, "at byte offset 1"));
    assert_non_null(strstr(detail_of(OK_ENV("{\"on\":True}"), &limits, CNC_REJECT_NOT_JSON, ""),
                           "a Python literal (True, False or None)"));
    assert_non_null(strstr(detail_of(OK_ENV("{\"t\":NaN}"), &limits, CNC_REJECT_NOT_JSON, ""),
                           "NaN and Infinity are not JSON numbers"));
    assert_non_null(strstr(detail_of(OK_ENV("{\"t\":-Infinity}"), &limits, CNC_REJECT_NOT_JSON, ""),
                           "-Infinity is not a JSON number"));
    /* Timestamps: the unit it looks like, the date it was read as, no "before 2000" for 1e308. */
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "1747379028123456", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "1747379028123456 read as epoch milliseconds is after "
                        "9999-12-31T23:59:59.999Z; it looks like epoch microseconds "
                        "(2025-05-16T07:03:48.123Z): send milliseconds or seconds");
    assert_non_null(strstr(detail_of(ENV("\"A\"", "\"p\"", "\"1747379028123456789\"", "{}"),
                                     &limits, CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                           "it looks like epoch nanoseconds (2025-05-16T07:03:48.123Z)"));
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "1e308", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "1e+308 read as epoch milliseconds is after 9999-12-31T23:59:59.999Z");
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "1747379", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "1747379 read as epoch seconds is 1970-01-21T05:22:59.000Z, before "
                        "2000-01-01T00:00:00Z");
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "-5", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "-5 read as epoch seconds is negative, before 2000-01-01T00:00:00Z");
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "\"1999-12-31T23:59:59Z\"", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "1999-12-31T23:59:59.000Z is before 2000-01-01T00:00:00Z");
    assert_non_null(strstr(detail_of(ENV("\"A\"", "\"p\"", "\"2025-05-16T07:03:60Z\"", "{}"),
                                     &limits, CNC_REJECT_BAD_TIMESTAMP, "timestamp"),
                           "second 60 (a leap second) is not accepted"));
    assert_string_equal(detail_of(ENV("\"A\"", "\"p\"", "1747486400", "{}"), &limits,
                                  CNC_REJECT_TIMESTAMP_OUT_OF_RANGE, "timestamp"),
                        "2025-05-17T12:53:20.000Z is 86400 s ahead of the broker clock, limit "
                        "300 s (ingest.max_future_skew_s)");
    assert_non_null(strstr(detail_of("\xEF\xBB\xBF" OK_ENV("{}"), &limits, CNC_REJECT_NOT_JSON, ""),
                           "a byte order mark (U+FEFF) before the JSON"));
    struct reject_case ok = {OK_ENV("{\"a\":true,\"b\":false,\"c\":null}"), NULL, CNC_REJECT_NONE,
                             ""};
    check_case(&ok, &limits);
    /* An unknown member: the report names the machine the message carried. */
    struct cnc_reject rej;
    cJSON *root;
    struct cnc_message m;
    assert_int_equal(parse("{\"cnc_id\":\"CNC001\",\"part_program\":\"p\",\"timestamp\":"
                           "1747379028,\"payload\":{},\"note\":\"x\"}",
                           &limits, NULL, &m, &rej, &root),
                     CNC_EREJECT);
    assert_int_equal(rej.code, CNC_REJECT_UNKNOWN_FIELD);
    assert_string_equal(rej.cnc_id, "CNC001");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_reject),
        cmocka_unit_test(boundaries),
        cmocka_unit_test(field_and_size_limits),
        cmocka_unit_test(accepted_forms),
        cmocka_unit_test(options),
        cmocka_unit_test(cnc_id_reported),
        cmocka_unit_test(nul_escapes),
        cmocka_unit_test(nesting_beyond_the_parser),
        cmocka_unit_test(details_name_the_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
