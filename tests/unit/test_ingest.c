/*
 * test_ingest.c - the whole per-message pipeline (plugin/ingest.c): topic
 * selection, own topics never inspected, routing outcome and the record the
 * generic handler makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"

static struct cnc_registry *reg;
static struct cnc_ingest *ing;

static int setup(void **state)
{
    (void)state;
    char err[512];
    const char *yaml = "ingest: {topics: [\"cnc/+/data\", \"cnc/#\"]}\n"
                       "handlers: {lathes: {type: generic}}\n"
                       "routes: [{match: CNC001, handler: lathes}, {match: \"LATHE-*\", handler: "
                       "lathes}]\n";
    reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_config *cfg = cnc_config_load_buffer("i.yaml", yaml, strlen(yaml), err, sizeof err);
    ing = cfg ? cnc_ingest_create(cfg, reg, err, sizeof err) : NULL;
    if (ing == NULL) {
        fprintf(stderr, "%s\n", err);
    }
    return ing == NULL;
}

static int teardown(void **state)
{
    (void)state;
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
    return 0;
}

static void topics_selected(void **state)
{
    (void)state;
    struct cnc_topic_capture cap;
    assert_true(cnc_ingest_wants(ing, "cnc/CNC001/data", &cap));
    assert_int_equal(cap.filter_index, 0);
    assert_memory_equal(cap.plus, "CNC001", 6);
    assert_true(cnc_ingest_wants(ing, "cnc/other", &cap));
    assert_int_equal(cap.filter_index, 1);
    assert_null(cap.plus);
    assert_false(cnc_ingest_wants(ing, "factory/temp", &cap));
    /* The plugin's own output topics are never inspected, even under cnc/#. */
    assert_false(cnc_ingest_wants(ing, "cnc/rejected/client-1", &cap));
    assert_false(cnc_ingest_wants(ing, "cnc/rejected", &cap));
    assert_false(cnc_ingest_wants(ing, "cnc/analytics/CNC001", &cap));
    assert_false(cnc_ingest_wants(ing, "cnc/ingest/stats", &cap));
    assert_true(cnc_ingest_wants(ing, "cnc/rejectedx", &cap));
}

static int run(const char *topic, const char *json, struct cnc_ingest_result *res)
{
    struct cnc_topic_capture cap;
    assert_true(cnc_ingest_wants(ing, topic, &cap));
    return cnc_ingest_process(ing, &cap, json, strlen(json), cnc_now_ms(), res);
}

static void accepted_record(void **state)
{
    (void)state;
    struct cnc_ingest_result res;
    const char *msg = "{\"cnc_id\": \"CNC001\",\"part_program\": \"program_01\",\"timestamp\": "
                      "\"1747379028\",\"payload\":{\"status\": \"running\",\"spin\":200,"
                      "\"door\":true,\"alarm\":null}}";
    assert_int_equal(run("cnc/CNC001/data", msg, &res), 0);
    assert_int_equal(res.rej.code, CNC_REJECT_NONE);
    assert_string_equal(res.instance->name, "lathes");
    assert_string_equal(res.rec.handler, "lathes");
    assert_int_equal(res.rec.n_readings, 4);
    assert_string_equal(res.rec.readings[0].name, "status");
    assert_int_equal(res.rec.readings[0].kind, CNC_VALUE_STRING);
    assert_string_equal(res.rec.readings[0].str, "running");
    assert_int_equal(res.rec.readings[1].kind, CNC_VALUE_NUMBER);
    assert_true(res.rec.readings[1].num == 200.0);
    assert_int_equal(res.rec.readings[2].kind, CNC_VALUE_BOOL);
    assert_true(res.rec.readings[2].num == 1.0);
    assert_int_equal(res.rec.readings[3].kind, CNC_VALUE_NULL);
    assert_int_equal(res.msg.ts_ms, INT64_C(1747379028000));
    cnc_ingest_result_release(&res);
}

static void no_route_and_topic_rules(void **state)
{
    (void)state;
    struct cnc_ingest_result res;
    const char *other = "{\"cnc_id\":\"MILL-1\",\"part_program\":\"p\",\"timestamp\":1747379028,"
                        "\"payload\":{}}";
    assert_int_equal(run("cnc/MILL-1/data", other, &res), CNC_EREJECT);
    assert_int_equal(res.rej.code, CNC_REJECT_NO_ROUTE);
    assert_string_equal(res.rej.field, "cnc_id");
    assert_string_equal(res.rej.cnc_id, "MILL-1");
    cnc_ingest_result_release(&res);
    /* On cnc/# there is no + level, so no topic check; routing still applies. */
    const char *lathe = "{\"cnc_id\":\"LATHE-2\",\"part_program\":\"p\",\"timestamp\":1747379028,"
                        "\"payload\":{}}";
    assert_int_equal(run("cnc/line1", lathe, &res), 0);
    cnc_ingest_result_release(&res);
    assert_int_equal(run("cnc/CNC001/data", lathe, &res), CNC_EREJECT);
    assert_int_equal(res.rej.code, CNC_REJECT_TOPIC_MISMATCH);
    cnc_ingest_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_selected),
        cmocka_unit_test(accepted_record),
        cmocka_unit_test(no_route_and_topic_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
