/* test_topic.c - topic filter matching with the `+` level captured (plugin/ingest/topic.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

static void match_and_capture(void **state)
{
    (void)state;
    struct cnc_topic_capture cap;
    assert_true(cnc_topic_match("cnc/+/data", "cnc/CNC001/data", &cap));
    assert_int_equal(cap.plus_len, 6);
    assert_memory_equal(cap.plus, "CNC001", 6);
    assert_true(cnc_topic_match("cnc/+/data", "cnc//data", &cap));
    assert_int_equal(cap.plus_len, 0);
    assert_false(cnc_topic_match("cnc/+/data", "cnc/CNC001/data/x", &cap));
    assert_false(cnc_topic_match("cnc/+/data", "cnc/CNC001", &cap));
    assert_false(cnc_topic_match("cnc/+/data", "cnc/CNC001/dat", &cap));
    assert_false(cnc_topic_match("cnc/+/data", "cncx/CNC001/data", &cap));
    assert_false(cnc_topic_match("cnc/+/data", "factory/line1/temperature", &cap));
    /* The first + is the one captured. */
    assert_true(cnc_topic_match("site/+/+/data", "site/A/M7/data", &cap));
    assert_memory_equal(cap.plus, "A", 1);
}

static void exact_and_hash(void **state)
{
    (void)state;
    struct cnc_topic_capture cap;
    assert_true(cnc_topic_match("cnc/data", "cnc/data", &cap));
    assert_null(cap.plus);
    assert_true(cnc_topic_match("cnc/#", "cnc/a/b/c", &cap));
    assert_true(cnc_topic_match("cnc/#", "cnc", &cap));
    assert_false(cnc_topic_match("cnc/#", "cncx", &cap));
    assert_true(cnc_topic_match("#", "anything/at/all", &cap));
    assert_true(cnc_topic_match("cnc/+/#", "cnc/M1/data/x", &cap));
    assert_memory_equal(cap.plus, "M1", 2);
}

static void system_topics(void **state)
{
    (void)state;
    struct cnc_topic_capture cap;
    assert_false(cnc_topic_match("#", "$SYS/broker/uptime", &cap));
    assert_false(cnc_topic_match("+/broker", "$SYS/broker", &cap));
    assert_true(cnc_topic_match("$SYS/#", "$SYS/broker", &cap));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(match_and_capture),
        cmocka_unit_test(exact_and_hash),
        cmocka_unit_test(system_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
