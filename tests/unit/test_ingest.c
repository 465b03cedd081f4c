/*
 * test_ingest.c - the whole per-message pipeline (plugin/ingest/ingest.c): topic
 * selection, own topics never inspected, routing outcome and the record the
 * generic handler makes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "support.h"

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
    ing = support_ingest(yaml, &reg, err, sizeof err);
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

/* Who may publish on the output topics: nobody but the plugin, unless named as a bridge. */
static void output_topics_and_bridges(void **state)
{
    (void)state;
    assert_true(cnc_ingest_is_output(ing, "cnc/rejected"));
    assert_true(cnc_ingest_is_output(ing, "cnc/rejected/client-1"));
    assert_true(cnc_ingest_is_output(ing, "cnc/analytics/CNC001"));
    assert_true(cnc_ingest_is_output(ing, "cnc/ingest/stats/node-2"));
    assert_false(cnc_ingest_is_output(ing, "cnc/rejectedx"));
    assert_false(cnc_ingest_is_output(ing, "cnc/CNC001/data"));
    assert_false(cnc_ingest_may_publish_output(ing, "anyone", NULL));
    assert_false(cnc_ingest_may_publish_output(ing, NULL, NULL));

    char err[512];
    struct cnc_registry *reg = NULL;
    struct cnc_ingest *b =
        support_ingest("ingest: {topics: [\"cnc/+/data\"], bridge_client_ids: [b2, \"b2.local\"], "
                       "bridge_usernames: [bridge]}\nhandlers: {any: {type: generic}}\n"
                       "routes: [{match: \"*\", handler: any}]\n",
                       &reg, err, sizeof err);
    assert_non_null(b);
    assert_true(cnc_ingest_may_publish_output(b, "b2", NULL));
    assert_true(cnc_ingest_may_publish_output(b, "b2.local", "someone"));
    assert_true(cnc_ingest_may_publish_output(b, "x", "bridge"));
    assert_false(cnc_ingest_may_publish_output(b, "b2x", "bridgex"));
    assert_false(cnc_ingest_may_publish_output(b, "bridge", "b2")); /* ids and users apart */
    cnc_ingest_destroy(b);
    cnc_registry_destroy(reg);
    reg = NULL;
    b = support_ingest("ingest: {forged_output: allow}\nhandlers: {any: {type: generic}}\n"
                       "routes: [{match: \"*\", handler: any}]\n",
                       &reg, err, sizeof err);
    assert_non_null(b);
    assert_true(cnc_ingest_may_publish_output(b, "anyone", NULL));
    cnc_ingest_destroy(b);
    cnc_registry_destroy(reg);
}

static int run(const char *topic, const char *json, struct cnc_ingest_result *res)
{
    struct cnc_topic_capture cap;
    assert_true(cnc_ingest_wants(ing, topic, &cap));
    return cnc_ingest_process(ing, &cap, json, strlen(json), cnc_now_ms(), NULL, res);
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

static int stuck_fires(struct cnc_ingest *i)
{
    char buf[256];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(i, support_msg(buf, sizeof buf, "M1", "{\"v\":5}"), &res), 0);
    int n = support_anomaly(&res.rec, "stuck") != NULL;
    cnc_ingest_result_release(&res);
    return n;
}

/* Reload: unchanged instances keep their rule state; a failed reload leaves the old one whole. */
static void reload_keeps_rule_state(void **state)
{
    (void)state;
    static const char *yaml_a =
        "handlers:\n  h:\n    type: generic\n    rules: [{name: stuck, variable: v, stuck: "
        "{samples: 3}}]\n  other: {type: generic}\nroutes: [{match: \"*\", handler: h}]\n";
    static const char *yaml_changed =
        "handlers:\n  h:\n    type: generic\n    rules: [{name: stuck, variable: v, stuck: "
        "{samples: 4}}]\nroutes: [{match: \"*\", handler: h}]\n";
    static const char *yaml_broken =
        "handlers:\n  h:\n    type: generic\n    rules: [{name: stuck, variable: v, stuck: "
        "{samples: 3}}]\nroutes: [{match: \"*\", handler: nobody}]\n";
    char err[512];
    struct cnc_registry *r = NULL;
    struct cnc_ingest *a = support_ingest(yaml_a, &r, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(stuck_fires(a), 0);
    assert_int_equal(stuck_fires(a), 0);

    /* Same instance config, routes reordered: state carried over, third sample fires. */
    struct cnc_config *cfg =
        cnc_config_load_buffer("t.yaml", yaml_a, strlen(yaml_a), err, sizeof err);
    struct cnc_ingest *b = cnc_ingest_create(cfg, r, a, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(cnc_route_table_kept_count(cnc_ingest_routes(b)), 2);
    cnc_ingest_destroy(a);
    assert_int_equal(stuck_fires(b), 1);

    /* A broken config fails and leaves b intact, state included. */
    cfg = cnc_config_load_buffer("t.yaml", yaml_broken, strlen(yaml_broken), err, sizeof err);
    assert_null(cnc_ingest_create(cfg, r, b, err, sizeof err));
    assert_non_null(strstr(err, "handler \"nobody\" is not defined"));
    assert_int_equal(stuck_fires(b), 1);

    /* A changed rule starts from scratch. */
    cfg = cnc_config_load_buffer("t.yaml", yaml_changed, strlen(yaml_changed), err, sizeof err);
    struct cnc_ingest *c = cnc_ingest_create(cfg, r, b, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(cnc_route_table_kept_count(cnc_ingest_routes(c)), 0);
    cnc_ingest_destroy(b);
    assert_int_equal(stuck_fires(c), 0);
    assert_int_equal(stuck_fires(c), 0);
    assert_int_equal(stuck_fires(c), 0);
    assert_int_equal(stuck_fires(c), 1);
    cnc_ingest_destroy(c);
    cnc_registry_destroy(r);
}

/* The analytics JSON of an accepted message (DESIGN.md "Published topics"). */
static void analytics_json(void **state)
{
    (void)state;
    char err[512], buf[512];
    struct cnc_registry *r = NULL;
    struct cnc_ingest *i = support_ingest(
        "handlers:\n  press:\n    type: sensor_efficiency\n    rules: [{name: hot, variable: "
        "temperature, above: 90, severity: critical}]\nroutes: [{match: \"*\", handler: press}]\n",
        &r, err, sizeof err);
    assert_non_null(i);
    struct cnc_ingest_result res;
    assert_int_equal(
        support_run(i,
                    support_msg(buf, sizeof buf, "PRESS-04",
                                "{\"mode\":\"active\",\"temperature\":91,\"vibration\":1}"),
                    &res),
        0);
    size_t len;
    const char *json = cnc_ingest_analytics(i, &res, &len);
    assert_non_null(json);
    assert_int_equal(strlen(json), len);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "cnc_id")->valuestring, "PRESS-04");
    assert_string_equal(cJSON_GetObjectItem(o, "ts")->valuestring, "2025-05-16T07:03:48.000Z");
    assert_string_equal(cJSON_GetObjectItem(o, "part_program")->valuestring, "p");
    assert_string_equal(cJSON_GetObjectItem(o, "handler")->valuestring, "press");
    assert_string_equal(cJSON_GetObjectItem(o, "mode")->valuestring, "active");
    /* 91 C: 50 * (95 - 91) / 15 + 50 */
    assert_true(fabs(cJSON_GetObjectItem(o, "efficiency_score")->valuedouble - 63.3333333333) <
                1e-6);
    assert_string_equal(cJSON_GetObjectItem(o, "efficiency_level")->valuestring, "Medium");
    assert_int_equal(cJSON_GetObjectItem(o, "readings")->valueint, 3);
    cJSON *an = cJSON_GetObjectItem(o, "anomalies");
    assert_int_equal(cJSON_GetArraySize(an), 1);
    cJSON *a0 = cJSON_GetArrayItem(an, 0);
    assert_string_equal(cJSON_GetObjectItem(a0, "rule")->valuestring, "hot");
    assert_string_equal(cJSON_GetObjectItem(a0, "variable")->valuestring, "temperature");
    assert_int_equal(cJSON_GetObjectItem(a0, "value")->valueint, 91);
    assert_int_equal(cJSON_GetObjectItem(a0, "threshold")->valueint, 90);
    assert_string_equal(cJSON_GetObjectItem(a0, "severity")->valuestring, "critical");
    /* A rule anomaly marks the efficiency row as anomalous. */
    assert_true(res.rec.efficiency.is_anomaly);
    cJSON_Delete(o);
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(i);
    cnc_registry_destroy(r);
}

/*
 * An analytics text over the 8 KiB kept buffer (100 values with 64-byte names): printed into
 * memory the plugin owns, not into the message's arena, message after message, and freed once.
 */
static void analytics_json_over_the_kept_buffer(void **state)
{
    (void)state;
    char err[512];
    static char payload[12000], buf[16384];
    struct cnc_registry *r = NULL;
    struct cnc_ingest *i =
        support_ingest("handlers: {g: {type: generic}}\nroutes: [{match: \"*\", handler: g}]\n", &r,
                       err, sizeof err);
    assert_non_null(i);
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        payload[n++] = '{';
        for (int k = 0; k < 100; k++) {
            n += (size_t)snprintf(payload + n, sizeof payload - n,
                                  "%s\"%058d_%05d\":1234567.8901234%d", k ? "," : "", 0, k, round);
        }
        payload[n++] = '}';
        payload[n] = '\0';
        struct cnc_ingest_result res;
        assert_int_equal(support_run(i, support_msg(buf, sizeof buf, "CNC001", payload), &res), 0);
        size_t len;
        const char *json = cnc_ingest_analytics(i, &res, &len);
        assert_non_null(json);
        assert_true(len > 8192);
        assert_int_equal(strlen(json), len);
        cJSON *o = cJSON_Parse(json);
        assert_non_null(o);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "values")), 100);
        cJSON_Delete(o);
        cnc_ingest_result_release(&res);
    }
    cnc_ingest_destroy(i);
    cnc_registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_selected),
        cmocka_unit_test(output_topics_and_bridges),
        cmocka_unit_test(accepted_record),
        cmocka_unit_test(no_route_and_topic_rules),
        cmocka_unit_test(reload_keeps_rule_state),
        cmocka_unit_test(analytics_json),
        cmocka_unit_test(analytics_json_over_the_kept_buffer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
