/*
 * test_report_limit.c - the per-client reject report limit (plugin/ingest/report_limit.c): N a
 * second per client, the held-back count said in the next report and totalled, clients apart,
 * bounded memory under a flood of client ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "report_limit.h"

static void per_client_and_second(void **state)
{
    (void)state;
    struct cnc_report_limit *rl = cnc_report_limit_create(3);
    assert_non_null(rl);
    uint64_t held = 99;
    int sent = 0;
    for (int i = 0; i < 10; i++) {
        sent += cnc_report_limit_take(rl, "bad", 5000 + i, &held);
        assert_int_equal(held, 0);
    }
    assert_int_equal(sent, 3);
    /* Another client is not held back by the first. */
    assert_true(cnc_report_limit_take(rl, "good", 5500, &held));
    assert_true(cnc_report_limit_take(rl, NULL, 5500, &held)); /* no client id */
    /* The next second: the first report says what was held back. */
    assert_true(cnc_report_limit_take(rl, "bad", 6000, &held));
    assert_int_equal(held, 7);
    assert_true(cnc_report_limit_take(rl, "bad", 6001, &held));
    assert_int_equal(held, 0);
    assert_int_equal(cnc_report_limit_suppressed(rl), 7);
    /* A reload lifts the limit. */
    cnc_report_limit_set(rl, 0);
    for (int i = 0; i < 100; i++) {
        assert_true(cnc_report_limit_take(rl, "bad", 6002, &held));
    }
    cnc_report_limit_destroy(rl);
}

/* 100,000 client ids (forged or many collectors): the table stays its size, and every new
   client still gets its first report. */
static void flood_of_client_ids(void **state)
{
    (void)state;
    struct cnc_report_limit *rl = cnc_report_limit_create(1);
    uint64_t held;
    char id[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof id, "c%d", i);
        assert_true(cnc_report_limit_take(rl, id, 1000 + i / 100, &held));
    }
    /* A client followed all along keeps its limit. */
    assert_true(cnc_report_limit_take(rl, "steady", 2000, &held));
    assert_false(cnc_report_limit_take(rl, "steady", 2001, &held));
    assert_int_equal(cnc_report_limit_suppressed(rl), 1);
    cnc_report_limit_destroy(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_client_and_second),
        cmocka_unit_test(flood_of_client_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
