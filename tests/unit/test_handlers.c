/*
 * test_handlers.c - the compiled-in handler types: machine_tool (statuses,
 * required variables, spindle and travel anomalies) and sensor_efficiency
 * (the documented formula's worked examples, every level boundary, critical
 * limits), and their params errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static struct cnc_registry *reg;
static struct cnc_ingest *ing;

static const char *yaml = "handlers:\n"
                          "  lathe:\n"
                          "    type: machine_tool\n"
                          "    params:\n"
                          "      statuses: [running, idle]\n"
                          "      required: [status, spin]\n"
                          "      spindle: [0, 12000]\n"
                          "      axes: {X-Axis: [0, 600], Y-Axis: [-10, 400]}\n"
                          "  press: {type: sensor_efficiency}\n"
                          "routes:\n"
                          "  - {match: CNC001, handler: lathe}\n"
                          "  - {match: PRESS-04, handler: press}\n";

static int setup(void **state)
{
    (void)state;
    char err[512];
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

static int run(const char *cnc_id, const char *payload, struct cnc_ingest_result *res)
{
    char buf[1024];
    return support_run(ing, support_msg(buf, sizeof buf, cnc_id, payload), res);
}

static void machine_tool_accepts_and_flags(void **state)
{
    (void)state;
    struct cnc_ingest_result res;
    assert_int_equal(
        run("CNC001", "{\"status\":\"running\",\"spin\":200,\"X-Axis\":30,\"Y-Axis\":80}", &res),
        0);
    assert_int_equal(res.rec.n_readings, 4);
    assert_int_equal(res.rec.n_anomalies, 0);
    assert_false(res.rec.efficiency.present);
    cnc_ingest_result_release(&res);

    /* Out of range values are kept and flagged, with the bound crossed. */
    assert_int_equal(run("CNC001",
                         "{\"status\":\"running\",\"spin\":12500,\"X-Axis\":601,\"Y-Axis\":-11}",
                         &res),
                     0);
    assert_int_equal(res.rec.n_anomalies, 3);
    const struct cnc_anomaly *a = support_anomaly(&res.rec, "spindle_range");
    assert_non_null(a);
    assert_string_equal(a->variable, "spin");
    assert_true(a->value == 12500 && a->threshold == 12000);
    assert_int_equal(a->severity, CNC_SEVERITY_CRITICAL);
    assert_string_equal(res.rec.anomalies[1].variable, "X-Axis");
    assert_true(res.rec.anomalies[1].threshold == 600);
    assert_string_equal(res.rec.anomalies[2].variable, "Y-Axis");
    assert_true(res.rec.anomalies[2].threshold == -10);
    cnc_ingest_result_release(&res);

    /* Exactly at the limits: no anomaly. */
    assert_int_equal(
        run("CNC001", "{\"status\":\"idle\",\"spin\":12000,\"X-Axis\":0,\"Y-Axis\":400}", &res), 0);
    assert_int_equal(res.rec.n_anomalies, 0);
    cnc_ingest_result_release(&res);
}

static void machine_tool_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *payload, *detail;
    } cases[] = {
        {"{\"status\":\"running\"}", "lathe: required variable \"spin\" is missing"},
        {"{\"spin\":1}", "lathe: required variable \"status\" is missing"},
        {"{\"status\":\"dancing\",\"spin\":1}",
         "lathe: status \"dancing\" is not one of running, idle"},
        {"{\"status\":7,\"spin\":1}", "lathe: status must be a string"},
        {"{\"status\":\"idle\",\"spin\":\"fast\"}", "lathe: spin must be a number"},
        {"{\"status\":\"idle\",\"spin\":1,\"X-Axis\":\"left\"}", "lathe: X-Axis must be a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cnc_ingest_result res;
        assert_int_equal(run("CNC001", cases[i].payload, &res), CNC_EREJECT);
        assert_int_equal(res.rej.code, CNC_REJECT_HANDLER_REJECTED);
        assert_string_equal(res.rej.detail, cases[i].detail);
        cnc_ingest_result_release(&res);
    }
}

static void efficiency_case(const char *payload, double score, const char *level, int anomaly)
{
    struct cnc_ingest_result res;
    assert_int_equal(run("PRESS-04", payload, &res), 0);
    const struct cnc_efficiency *e = &res.rec.efficiency;
    assert_true(e->present);
    if (fabs(e->score - score) > 1e-9 || strcmp(e->level, level) != 0 || e->is_anomaly != anomaly) {
        fail_msg("%s: got %.6f %s %d, expected %.6f %s %d", payload, e->score, e->level,
                 e->is_anomaly, score, level, anomaly);
    }
    cnc_ingest_result_release(&res);
}

#define P(mode, t, v) "{\"mode\":\"" mode "\",\"temperature\":" #t ",\"vibration\":" #v "}"

static void efficiency_worked_examples(void **state)
{
    (void)state;
    /* The examples in handlers/sensor_efficiency.c and the README. */
    efficiency_case(P("active", 72.4, 2.1), 100.0, "High", 0);
    efficiency_case(P("active", 88, 3.2), 50.0 * 7 / 15 + 40.0, "Medium", 0);
    efficiency_case(P("maintenance", 41, 0.2), 0.3 * (31 + 50), "Low", 0);
    efficiency_case(P("idle", 70, 2.0), 60.0, "Medium", 0);
    efficiency_case(P("active", 97, 1.0), 50.0, "Critical", 1);
    efficiency_case(P("offline", 70, 1.0), 0.0, "Low", 0);
}

static void efficiency_level_boundaries(void **state)
{
    (void)state;
    /* score 80 exactly: T component 30 (T = 86), V 50. */
    efficiency_case(P("active", 86, 1), 80.0, "High", 0);
    efficiency_case(P("active", 86.03, 1), 50.0 * (95 - 86.03) / 15 + 50, "Medium", 0);
    /* score 50 exactly: T 0 at the critical limit 95, V 50. */
    efficiency_case(P("active", 95, 1), 50.0, "Medium", 0);
    efficiency_case(P("active", 95, 2.51), 50.0 * (6 - 2.51) / 3.5, "Low", 0);
    /* Critical limits are crossed strictly beyond them. */
    efficiency_case(P("active", 95.01, 1), 50.0, "Critical", 1);
    efficiency_case(P("active", 9.99, 1), 50.0, "Critical", 1);
    efficiency_case(P("active", 70, 6), 50.0, "Medium", 0);
    efficiency_case(P("active", 70, 6.01), 50.0, "Critical", 1);
    /* Optimal band edges score full marks. */
    efficiency_case(P("active", 60, 0), 100.0, "High", 0);
    efficiency_case(P("active", 80, 2.5), 100.0, "High", 0);

    struct cnc_ingest_result res;
    assert_int_equal(run("PRESS-04", P("active", 97, 7), &res), 0);
    assert_int_equal(res.rec.n_anomalies, 2);
    assert_string_equal(res.rec.anomalies[0].rule, "temperature_critical");
    assert_true(res.rec.anomalies[0].threshold == 95);
    assert_string_equal(res.rec.anomalies[1].rule, "vibration_critical");
    assert_true(res.rec.anomalies[1].threshold == 6);
    cnc_ingest_result_release(&res);
}

static void efficiency_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *payload, *detail;
    } cases[] = {
        {"{\"temperature\":70,\"vibration\":1}", "press: mode is missing"},
        {"{\"mode\":\"warp\",\"temperature\":70,\"vibration\":1}",
         "press: mode \"warp\" is not a configured mode (configured: active, idle, maintenance, "
         "offline; the keys of params.mode_factors)"},
        {"{\"mode\":\"active\",\"vibration\":1}", "press: temperature is missing"},
        {"{\"mode\":\"active\",\"temperature\":\"hot\",\"vibration\":1}",
         "press: temperature must be a number"},
        {"{\"mode\":\"active\",\"temperature\":70}", "press: vibration is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cnc_ingest_result res;
        assert_int_equal(run("PRESS-04", cases[i].payload, &res), CNC_EREJECT);
        assert_int_equal(res.rej.code, CNC_REJECT_HANDLER_REJECTED);
        assert_string_equal(res.rej.detail, cases[i].detail);
        cnc_ingest_result_release(&res);
    }
}

static void custom_params(void **state)
{
    (void)state;
    char err[512];
    struct cnc_ingest *custom = support_ingest(
        "handlers:\n  oven:\n    type: sensor_efficiency\n    params:\n"
        "      mode_variable: state\n      temperature_variable: t\n"
        "      vibration_variable: v\n      temperature: {optimal: [180, 220], critical: [100, "
        "260]}\n      mode_factors: {baking: 1.0, cooling: 0.5}\n      levels: {high: 90, "
        "medium: 40}\nroutes: [{match: \"*\", handler: oven}]\n",
        &reg, err, sizeof err);
    if (custom == NULL) {
        fail_msg("%s", err);
    }
    char buf[512];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(custom,
                                 support_msg(buf, sizeof buf, "OVEN-1",
                                             "{\"state\":\"cooling\",\"t\":240,\"v\":1}"),
                                 &res),
                     0);
    /* 0.5 * (50 * (260 - 240) / 40 + 50) = 37.5 -> below medium 40: Low. */
    assert_true(fabs(res.rec.efficiency.score - 37.5) < 1e-9);
    assert_string_equal(res.rec.efficiency.level, "Low");
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(custom);
}

static void expect_params_error(const char *handler_yaml, const char *expected)
{
    char yaml_buf[1024];
    snprintf(yaml_buf, sizeof yaml_buf, "handlers:\n  h:\n%sroutes: [{match: X, handler: h}]\n",
             handler_yaml);
    support_expect_error(&reg, yaml_buf, expected);
}

static void params_errors(void **state)
{
    (void)state;
    expect_params_error("    type: machine_tool\n    params:\n      spindel: [0, 1]\n",
                        "t.yaml:5: handlers.h.params.spindel: unknown parameter");
    expect_params_error("    type: machine_tool\n    params:\n      spindle: [10, 1]\n",
                        "t.yaml:5: handlers.h.params.spindle: must be [low, high]");
    expect_params_error("    type: machine_tool\n    params:\n      axes: {X: [1]}\n",
                        "handlers.h.params.axes.X: must be [low, high]");
    expect_params_error("    type: machine_tool\n    params:\n      statuses: []\n",
                        "handlers.h.params.statuses: must be a non-empty list");
    expect_params_error("    type: sensor_efficiency\n    params:\n"
                        "      temperature: {optimal: [60, 80], critical: [70, 95]}\n",
                        "handlers.h.params.temperature.critical: must contain the optimal range");
    expect_params_error("    type: sensor_efficiency\n    params:\n"
                        "      mode_factors: {active: 2}\n",
                        "handlers.h.params.mode_factors.active: must be a number from 0 to 1");
    expect_params_error("    type: sensor_efficiency\n    params:\n"
                        "      mode_factors: {mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm: 1}\n",
                        "handlers.h.params.mode_factors.mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm: mode "
                        "names are at most 32 bytes");
    expect_params_error("    type: sensor_efficiency\n    params:\n"
                        "      levels: {high: 40, medium: 50}\n",
                        "handlers.h.params.levels.medium: must not be above high");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(machine_tool_accepts_and_flags),
        cmocka_unit_test(machine_tool_refuses),
        cmocka_unit_test(efficiency_worked_examples),
        cmocka_unit_test(efficiency_level_boundaries),
        cmocka_unit_test(efficiency_refuses),
        cmocka_unit_test(custom_params),
        cmocka_unit_test(params_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
