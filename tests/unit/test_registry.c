/*
 * test_registry.c - handler types: the compiled-in table and modules loaded
 * with dlopen (handlers/registry.c), using the example module built next to
 * the tests and a copy of it built for another interface version.
 */
#include <dlfcn.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define LASER CNC_BINARY_DIR "/handlers/cnc_handler_laser.so"
#define LASER_BADABI CNC_BINARY_DIR "/handlers/cnc_handler_laser_badabi.so"

static void builtin_types(void **state)
{
    (void)state;
    char err[256];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    assert_non_null(reg);
    assert_non_null(cnc_registry_find(reg, "generic"));
    assert_non_null(cnc_registry_find(reg, "machine_tool"));
    assert_non_null(cnc_registry_find(reg, "sensor_efficiency"));
    assert_null(cnc_registry_find(reg, "laser_cutter"));
    cnc_registry_destroy(reg);
}

static void module_loads_and_runs(void **state)
{
    (void)state;
    char err[512], yaml[512], buf[512];
    snprintf(yaml, sizeof yaml,
             "handler_modules: [\"%s\"]\nhandlers:\n  lasers: {type: laser_cutter, params: "
             "{min_gas_bar: 10}}\nroutes: [{match: \"*\", handler: lasers}]\n",
             LASER);
    struct cnc_config *cfg = cnc_config_load_buffer("t.yaml", yaml, strlen(yaml), err, sizeof err);
    assert_non_null(cfg);
    struct cnc_registry *reg =
        cnc_registry_create(cfg->handler_modules, cfg->n_handler_modules, err, sizeof err);
    if (reg == NULL) {
        fail_msg("%s", err);
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    assert_non_null(ing);
    struct cnc_ingest_result res;
    assert_int_equal(
        support_run(ing,
                    support_msg(buf, sizeof buf, "LASER-1",
                                "{\"state\":\"cutting\",\"power_w\":4200,\"speed_mm_s\":35,"
                                "\"gas_bar\":9}"),
                    &res),
        0);
    assert_int_equal(res.rec.n_readings, 5);
    assert_string_equal(res.rec.readings[3].name, "energy_j_per_mm");
    assert_true(res.rec.readings[3].num == 120.0);
    assert_non_null(support_anomaly(&res.rec, "assist_gas_low"));
    /* The module called cnc_severity_name(): it loaded (RTLD_NOW) because every helper the
       public headers declare is defined in them (it used to be the plugin's, unexported). */
    assert_string_equal(res.rec.readings[4].name, "worst_severity");
    assert_string_equal(res.rec.readings[4].str, "warning");
    cnc_ingest_result_release(&res);
    assert_int_equal(
        support_run(ing, support_msg(buf, sizeof buf, "LASER-1", "{\"power_w\":1}"), &res),
        CNC_EREJECT);
    assert_int_equal(res.rej.code, CNC_REJECT_HANDLER_REJECTED);
    assert_string_equal(res.rej.detail, "lasers: power_w and speed_mm_s must be numbers");
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

static void module_refusals(void **state)
{
    (void)state;
    char err[512];
    char *bad[] = {LASER_BADABI};
    assert_null(cnc_registry_create(bad, 1, err, sizeof err));
    assert_non_null(strstr(err, "was built for handler interface version 999, this plugin has "
                                "version 1"));
    char *missing[] = {"/nonexistent/cnc_handler_x.so"};
    assert_null(cnc_registry_create(missing, 1, err, sizeof err));
    assert_non_null(
        strstr(err, "handler_modules: /nonexistent/cnc_handler_x.so: No such file or directory"));
    char *twice[] = {LASER, LASER};
    assert_null(cnc_registry_create(twice, 2, err, sizeof err));
    assert_non_null(strstr(err, "handler type \"laser_cutter\" is already defined"));
    /* A bare name would be searched for in the library path: a path is required. */
    char *bare[] = {"libm.so.6"};
    assert_null(cnc_registry_create(bare, 1, err, sizeof err));
    assert_non_null(strstr(err, "\"libm.so.6\" is not a path"));
    /* A library without the entry point (libm, found where the loader found it). */
    void *dl = dlopen("libm.so.6", RTLD_NOW);
    struct link_map *lm = NULL;
    assert_non_null(dl);
    assert_int_equal(dlinfo(dl, RTLD_DI_LINKMAP, &lm), 0);
    char *libm[] = {lm->l_name};
    assert_null(cnc_registry_create(libm, 1, err, sizeof err));
    assert_non_null(strstr(err, "does not export cnc_handler_module()"));
    dlclose(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_types),
        cmocka_unit_test(module_loads_and_runs),
        cmocka_unit_test(module_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
