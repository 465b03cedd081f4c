/*
 * test_json_number.c - every number the plugin prints reads back to the same double
 * (plugin/ingest/json_number.c), as short as it can be; and the outputs that print numbers use it:
 * the analytics JSON and the retained layout.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_number.h"
#include "layout.h"
#include "support.h"

static void round_trips(void **state)
{
    (void)state;
    char out[CNC_JSON_NUMBER_MAX];
    static const double values[] = {0.0,
                                    -0.0,
                                    1.0,
                                    -1.0,
                                    0.1,
                                    0.1 + 0.2,
                                    72.4,
                                    1e21,
                                    1e-7,
                                    DBL_MAX,
                                    -DBL_MAX,
                                    DBL_MIN,
                                    5e-324,
                                    1e15 + 1,
                                    9007199254740993.0,
                                    1747379028.123,
                                    123456789012345678.0,
                                    2.2250738585072009e-308};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        cnc_json_number(values[i], out);
        double back = strtod(out, NULL);
        if (memcmp(&back, &values[i], sizeof back) != 0) {
            fail_msg("%.17g printed as %s reads back as %.17g", values[i], out, back);
        }
    }
    /* 200,000 random bit patterns (finite ones). */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) {
            continue;
        }
        cnc_json_number(v, out);
        double back = strtod(out, NULL);
        if (memcmp(&back, &v, sizeof back) != 0) {
            fail_msg("%.17g printed as %s reads back as %.17g", v, out, back);
        }
    }
    /* Short where the value is. */
    cnc_json_number(0.1, out);
    assert_string_equal(out, "0.1");
    cnc_json_number(72.4, out);
    assert_string_equal(out, "72.4");
    cnc_json_number(0.1 + 0.2, out);
    assert_string_equal(out, "0.30000000000000004");
    cnc_json_number(DBL_MAX, out);
    assert_string_equal(out, "1.7976931348623157e+308"); /* cJSON: 1.79769313486232e+308 */
    cnc_json_number(5e-324, out);
    assert_string_equal(out, "5e-324");
    cnc_json_number(NAN, out);
    assert_string_equal(out, "null");
}

/* The analytics of an accepted message carry the payload's numbers exactly. */
static void analytics_and_layout_exact(void **state)
{
    (void)state;
    struct cnc_registry *reg = NULL;
    char err[512], buf[512];
    struct cnc_ingest *ing = support_ingest(
        "handlers: {any: {type: generic, rules: [{variable: big, above: 1.7976931348623157e308},"
        " {variable: x, above: 0.30000000000000004}]}}\n"
        "routes: [{match: \"*\", handler: any}]\n",
        &reg, err, sizeof err);
    assert_non_null(ing);
    struct cnc_ingest_result res;
    support_msg(buf, sizeof buf, "M1",
                "{\"big\":1.7976931348623157e308,\"tiny\":5e-324,\"x\":0.30000000000000004,"
                "\"y\":0.1}");
    assert_int_equal(support_run(ing, buf, &res), 0);
    size_t len;
    const char *text = cnc_ingest_analytics(ing, &res, &len);
    assert_non_null(text);
    cJSON *o = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItem(o, "values");
    assert_true(cJSON_GetObjectItem(v, "big")->valuedouble == DBL_MAX);
    assert_true(cJSON_GetObjectItem(v, "tiny")->valuedouble == 5e-324);
    assert_true(cJSON_GetObjectItem(v, "x")->valuedouble == 0.1 + 0.2);
    assert_non_null(strstr(text, "\"big\":1.7976931348623157e+308"));
    assert_non_null(strstr(text, "\"y\":0.1,") != NULL ? "" : strstr(text, "\"y\":0.1}"));
    cJSON_Delete(o);
    cnc_ingest_result_release(&res);
    /* The retained layout prints the rules' thresholds as configured. */
    char *layout = cnc_layout_json(cnc_ingest_config(ing), cnc_ingest_routes(ing), "node-1");
    assert_non_null(strstr(layout, "\"above\":1.7976931348623157e+308"));
    assert_non_null(strstr(layout, "\"above\":0.30000000000000004"));
    assert_non_null(strstr(layout, "{\"node\":\"node-1\","));
    cJSON_free(layout);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(analytics_and_layout_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
