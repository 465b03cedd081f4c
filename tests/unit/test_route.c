/*
 * test_route.c - the routing table (plugin/ingest/route.c): thousands of exact ids
 * by hash, globs in file order, no_route, and build errors with key and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static struct cnc_registry *reg;

static int setup(void **state)
{
    (void)state;
    char err[256];
    reg = cnc_registry_create(NULL, 0, err, sizeof err);
    return reg == NULL;
}

static int teardown(void **state)
{
    (void)state;
    cnc_registry_destroy(reg);
    return 0;
}

static struct cnc_route_table *build(const char *yaml, struct cnc_config **cfg, char *err,
                                     size_t len)
{
    *cfg = cnc_config_load_buffer("r.yaml", yaml, strlen(yaml), err, len);
    if (*cfg == NULL) {
        return NULL;
    }
    struct cnc_route_table *t = cnc_route_table_build(*cfg, reg, NULL, err, len);
    if (t == NULL) {
        cnc_config_destroy(*cfg);
        *cfg = NULL;
    }
    return t;
}

static const char *route(const struct cnc_route_table *t, const char *id)
{
    const struct cnc_handler_instance *i = cnc_route_lookup(t, id, strlen(id));
    return i ? i->name : NULL;
}

static void many_exact_then_globs(void **state)
{
    (void)state;
    enum { N = 20000 };
    size_t cap = N * 40 + 1024;
    char *y = malloc(cap);
    size_t o = (size_t)snprintf(y, cap,
                                "handlers:\n  even: {type: generic}\n"
                                "  odd: {type: generic}\n  press: {type: generic}\n"
                                "  rest: {type: generic}\nroutes:\n");
    for (int i = 0; i < N; i++) {
        o += (size_t)snprintf(y + o, cap - o, "  - {match: M%05d, handler: %s}\n", i,
                              i % 2 ? "odd" : "even");
    }
    snprintf(y + o, cap - o,
             "  - {match: \"PRESS-*\", handler: press}\n"
             "  - {match: \"M0000?\", handler: press}\n"
             "  - {match: \"*\", handler: rest}\n");
    struct cnc_config *cfg;
    char err[512];
    struct cnc_route_table *t = build(y, &cfg, err, sizeof err);
    free(y);
    if (t == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cnc_route_table_exact_count(t), N);
    assert_int_equal(cnc_route_table_glob_count(t), 3);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "M%05d", i);
        /* Exact ids win over the M0000? glob that also matches them. */
        assert_string_equal(route(t, id), i % 2 ? "odd" : "even");
    }
    assert_string_equal(route(t, "PRESS-04"), "press");
    assert_string_equal(route(t, "M99999"), "rest");
    assert_string_equal(route(t, "M0000"), "rest");
    assert_string_equal(route(t, "m00001"), "rest"); /* ids are case-sensitive */
    cnc_route_table_destroy(t);
    cnc_config_destroy(cfg);
}

static void no_route(void **state)
{
    (void)state;
    struct cnc_config *cfg;
    char err[512];
    struct cnc_route_table *t =
        build("handlers: {a: {type: generic}}\nroutes:\n  - {match: CNC001, handler: a}\n"
              "  - {match: \"LATHE-*\", handler: a}\n",
              &cfg, err, sizeof err);
    assert_non_null(t);
    assert_string_equal(route(t, "CNC001"), "a");
    assert_string_equal(route(t, "LATHE-7"), "a");
    assert_null(route(t, "CNC002"));
    assert_null(route(t, "CNC0011"));
    cnc_route_table_destroy(t);
    cnc_config_destroy(cfg);
}

static void expect_build_error(const char *yaml, const char *expected)
{
    struct cnc_config *cfg;
    char err[512] = "";
    struct cnc_route_table *t = build(yaml, &cfg, err, sizeof err);
    if (t != NULL) {
        cnc_route_table_destroy(t);
        cnc_config_destroy(cfg);
        fail_msg("built, expected \"%s\"", expected);
    }
    if (strstr(err, expected) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, expected);
    }
}

static void build_errors(void **state)
{
    (void)state;
    expect_build_error("handlers: {a: {type: generic}}\nroutes:\n  - {match: X, handler: b}\n",
                       "r.yaml:3: routes[0]: handler \"b\" is not defined");
    expect_build_error("handlers: {a: {type: generic}}\nroutes:\n  - {match: X, handler: a}\n"
                       "  - {match: X, handler: a}\n",
                       "r.yaml:4: routes[1]: cnc_id \"X\" is already routed");
    expect_build_error(
        "handlers: {a: {type: generic}}\nroutes:\n  - {match: \"bad id\", handler: a}\n",
        "r.yaml:3: routes[0]: match \"bad id\" is not a valid cnc_id");
    expect_build_error("handlers:\n  a: {type: lathe}\nroutes: [{match: X, handler: a}]\n",
                       "r.yaml:2: handlers.a.type: unknown handler type \"lathe\"");
    expect_build_error("handlers:\n  a:\n    type: generic\n    params:\n      foo: 1\n"
                       "routes: [{match: X, handler: a}]\n",
                       "r.yaml:5: handlers.a.params.foo: the generic handler takes no parameters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_exact_then_globs),
        cmocka_unit_test(no_route),
        cmocka_unit_test(build_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
