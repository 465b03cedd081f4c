/* test_json_strict.c - the RFC 8259 lexical rules cJSON lets through (plugin/ingest/json_strict.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"

static size_t at(const char *s, const char **why)
{
    return json_strict_violation(s, strlen(s), why);
}

static void valid_json_passes(void **state)
{
    (void)state;
    const char *why = NULL;
    static const char *ok[] = {
        "{\"a\":\"text\",\"b\":[1,2,{\"c\":\"x\"}]}",
        "{\n\t\"a\": \"line\\nbreak \\\" quote\"\r\n}",
        "{\"n\":[0,-0,0.5,-0.5,10,1e5,1E+2,1.25e-3,-12.0]}",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(at(ok[i], &why), strlen(ok[i]));
    }
    /* Digits, minus signs and leading zeros inside strings are text. */
    const char *s = "{\"cnc_id\":\"CNC001\",\"p\":\"-.5 01 1.\",\"k\\\\\":7}";
    assert_int_equal(at(s, &why), strlen(s));
}

static void numbers_rfc8259_forbids(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(at("{\"a\":01}", &why), 5);
    assert_string_equal(why, "number with a leading zero");
    assert_int_equal(at("{\"a\":-01}", &why), 6);
    assert_int_equal(at("{\"a\":00}", &why), 5);
    assert_int_equal(at("{\"a\":-.5}", &why), 6);
    assert_string_equal(why, "'-' not followed by a digit");
    assert_int_equal(at("{\"a\":1.}", &why), 7);
    assert_string_equal(why, "'.' in a number not followed by a digit");
    assert_int_equal(at("{\"a\":1.e5}", &why), 7);
    assert_int_equal(at("{\"a\":1e}", &why), 7);
    assert_string_equal(why, "exponent without digits");
    assert_int_equal(at("{\"a\":[1,2,03]}", &why), 10);
}

static void control_characters(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(at("{\"a\":\"line\nbreak\"}", &why), 10);
    assert_string_equal(why, "raw control character inside a string (JSON requires it escaped)");
    assert_int_equal(at("{\n \"k\x1b"
                        "y\": 1}",
                        &why),
                     5);
    /* After an escaped quote the string goes on. */
    assert_int_equal(at("{\"a\":\"x\\\"\x01\"}", &why), 9);
    /* Form feed and vertical tab are not JSON whitespace. */
    assert_int_equal(at("{\"a\":\f1}", &why), 5);
    assert_string_equal(why, "control character between tokens");
    assert_int_equal(at("{\v\"a\":1}", &why), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_json_passes),
        cmocka_unit_test(numbers_rfc8259_forbids),
        cmocka_unit_test(control_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
