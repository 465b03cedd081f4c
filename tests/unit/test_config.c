/*
 * test_config.c - the YAML config loader (plugin/config/config.c): defaults, every
 * key type, and errors that name the file, line and key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "support.h"

static struct cnc_config *load(const char *yaml, char *err, size_t len)
{
    return cnc_config_load_buffer("t.yaml", yaml, strlen(yaml), err, len);
}

#define MINIMAL "handlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: any}]\n"

static void expect_error(const char *yaml, const char *expected)
{
    char err[512] = "";
    struct cnc_config *cfg = load(yaml, err, sizeof err);
    if (cfg != NULL) {
        cnc_config_destroy(cfg);
        fail_msg("accepted, expected error \"%s\":\n%s", expected, yaml);
    }
    if (strstr(err, expected) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, expected);
    }
}

static void defaults(void **state)
{
    (void)state;
    char err[512];
    struct cnc_config *cfg = load(MINIMAL, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(cfg->ingest.n_topics, 1);
    assert_string_equal(cfg->ingest.topics[0], "cnc/+/data");
    assert_int_equal(cfg->ingest.max_message_bytes, 65536);
    assert_int_equal(cfg->ingest.max_payload_fields, 256);
    assert_int_equal(cfg->ingest.unknown_fields, CNC_UNKNOWN_FIELDS_REJECT);
    assert_false(cfg->ingest.allow_nested);
    assert_int_equal(cfg->ingest.max_future_skew_s, 300);
    assert_int_equal(cfg->ingest.on_invalid, CNC_ON_INVALID_REJECT);
    assert_string_equal(cfg->ingest.rejected_topic, "cnc/rejected");
    assert_int_equal(cfg->writer.batch_size, 1000);
    assert_int_equal(cfg->writer.flush_interval_ms, 100);
    assert_int_equal(cfg->spool.max_bytes, 1LL << 30);
    assert_string_equal(cfg->analytics.topic, "cnc/analytics");
    assert_string_equal(cfg->metrics.topic, "cnc/ingest/stats");
    assert_false(cnc_config_has(cfg, "mysql"));
    assert_true(cnc_config_has(cfg, "routes"));
    assert_int_equal(cfg->n_handlers, 1);
    assert_int_equal(cfg->n_routes, 1);
    assert_int_equal(cfg->routes[0].line, 2);
    cnc_config_destroy(cfg);
}

static void every_key_type(void **state)
{
    (void)state;
    char err[512];
    const char *yaml = "ingest:\n"
                       "  topics: [\"cnc/+/data\", \"plant/+/cnc/#\"]\n"
                       "  max_message_bytes: 16KiB\n"
                       "  max_payload_fields: 32\n"
                       "  unknown_fields: ignore\n"
                       "  allow_nested: yes\n"
                       "  max_future_skew_s: 0\n"
                       "  on_invalid: pass\n"
                       "  rejected_topic: \"\"\n"
                       "mysql: {host: db.local, port: 3307, user: cnc, database: plant}\n"
                       "spool: {max_bytes: 2G, fsync: batch}\n"
                       "handler_modules: [/opt/x.so]\n" MINIMAL;
    struct cnc_config *cfg = load(yaml, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cfg->ingest.n_topics, 2);
    assert_string_equal(cfg->ingest.topics[1], "plant/+/cnc/#");
    assert_int_equal(cfg->ingest.max_message_bytes, 16384);
    assert_int_equal(cfg->ingest.max_payload_fields, 32);
    assert_int_equal(cfg->ingest.unknown_fields, CNC_UNKNOWN_FIELDS_IGNORE);
    assert_true(cfg->ingest.allow_nested);
    assert_int_equal(cfg->ingest.max_future_skew_s, 0);
    assert_int_equal(cfg->ingest.on_invalid, CNC_ON_INVALID_PASS);
    assert_string_equal(cfg->ingest.rejected_topic, "");
    assert_true(cnc_config_has(cfg, "mysql"));
    assert_string_equal(cfg->mysql.host, "db.local");
    assert_int_equal(cfg->mysql.port, 3307);
    assert_string_equal(cfg->mysql.database, "plant");
    assert_int_equal(cfg->spool.max_bytes, 2LL << 30);
    assert_int_equal(cfg->spool.fsync, CNC_FSYNC_BATCH);
    assert_int_equal(cfg->n_handler_modules, 1);
    assert_string_equal(cfg->handler_modules[0], "/opt/x.so");
    cnc_config_destroy(cfg);
}

static void handler_params_to_json(void **state)
{
    (void)state;
    char err[512];
    const char *yaml = "handlers:\n"
                       "  t:\n"
                       "    type: generic\n"
                       "    params:\n"
                       "      spindle_max: 12000\n"
                       "      statuses: [running, idle]\n"
                       "      label: \"42\"\n"
                       "      strict: true\n"
                       "routes: [{match: \"*\", handler: t}]\n";
    struct cnc_config *cfg = load(yaml, err, sizeof err);
    assert_non_null(cfg);
    const cJSON *p = cfg->handlers[0].params;
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "spindle_max")));
    assert_int_equal(cJSON_GetObjectItem(p, "spindle_max")->valueint, 12000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "statuses")), 2);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(p, "label"))); /* quoted stays text */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "strict")));
    assert_int_equal(cnc_config_line_of(cfg, "handlers.t.params.spindle_max", 0), 5);
    assert_int_equal(cnc_config_line_of(cfg, "handlers.t.params.strict", 0), 8);
    cnc_config_destroy(cfg);
}

static void errors_name_key_and_line(void **state)
{
    (void)state;
    expect_error("ingest:\n  max_message_bytez: 10\n" MINIMAL,
                 "t.yaml:2: ingest.max_message_bytez: unknown key");
    expect_error("ingest:\n  allow_nested: true\n  allow_nested: false\n" MINIMAL,
                 "t.yaml:3: ingest.allow_nested: duplicate key");
    expect_error("ingest:\n  max_message_bytes: lots\n" MINIMAL,
                 "t.yaml:2: ingest.max_message_bytes: must be an integer");
    expect_error("ingest:\n  max_message_bytes: 1\n" MINIMAL,
                 "t.yaml:2: ingest.max_message_bytes: must be an integer from 2");
    expect_error("ingest:\n  allow_nested: maybe\n" MINIMAL,
                 "t.yaml:2: ingest.allow_nested: must be true or false");
    expect_error("ingest:\n  on_invalid: drop\n" MINIMAL,
                 "t.yaml:2: ingest.on_invalid: must be one of reject, pass");
    expect_error("ingest:\n  topics: [\"cnc/#/data\"]\n" MINIMAL,
                 "t.yaml:2: ingest.topics: \"cnc/#/data\" is not a valid topic filter");
    expect_error("ingest:\n  topics: []\n" MINIMAL, "ingest.topics: needs at least one");
    expect_error("ingest:\n  rejected_topic: \"cnc/+/x\"\n" MINIMAL,
                 "t.yaml:2: ingest.rejected_topic: \"cnc/+/x\" is not a valid topic");
    expect_error("ingest:\n  topics: {a: 1}\n" MINIMAL, "ingest.topics: must be a list");
    expect_error("ingest:\n  max_payload_fields: [1]\n" MINIMAL,
                 "ingest.max_payload_fields: must be a single value");
    expect_error("ingest: 5\n" MINIMAL, "t.yaml:1: ingest: must be a mapping");
    expect_error("ingset:\n  topics: [a]\n" MINIMAL, "t.yaml:1: ingset: unknown section");
    expect_error("mysql: {}\nmysql: {}\n" MINIMAL, "t.yaml:2: mysql: duplicate section");
    expect_error("mysql: {port: 70000}\n" MINIMAL,
                 "mysql.port: must be an integer from 1 to 65535");
    expect_error("", "the file is empty");
    expect_error("- a\n- b\n", "the top level must be a mapping");
    expect_error("ingest: {topics: [\"a\"]\n", "(yaml)");
    expect_error("handlers: {any: {type: generic}}\n", "routes: at least one route is required");
    expect_error("handlers: {any: {params: {}}}\nroutes: [{match: a, handler: any}]\n",
                 "t.yaml:1: handlers.any: type: is required");
    expect_error("handlers:\n  any: {type: generic, kind: x}\nroutes: [{match: a, handler: any}]\n",
                 "t.yaml:2: handlers.any.kind: unknown key");
    expect_error("handlers:\n  any: {type: generic}\n  any: {type: generic}\n"
                 "routes: [{match: a, handler: any}]\n",
                 "t.yaml:3: handlers.any: duplicate handler instance");
    expect_error(
        "handlers:\n  hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh: {type: "
        "generic}\n"
        "routes: [{match: a, handler: any}]\n",
        "t.yaml:2: handlers.hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh: "
        "instance names are at most 64 bytes");
    expect_error("handlers: {any: {type: generic}}\nroutes:\n  - {match: a}\n",
                 "t.yaml:3: routes[0]: needs both match: and handler:");
    expect_error("handlers: {any: {type: generic}}\nroutes:\n  - {match: a, handler: any, x: 1}\n",
                 "t.yaml:3: routes[0].x: unknown key");
    expect_error("handlers:\n  t:\n    type: generic\n    params: {a: 1, a: 2}\n"
                 "routes: [{match: a, handler: t}]\n",
                 "t.yaml:4: handlers.t.params.a: duplicate key");
}

static void load_file(void **state)
{
    (void)state;
    char err[512];
    struct cnc_config *cfg =
        cnc_config_load(CNC_SOURCE_DIR "/config/cnc_ingest.yaml", err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    cnc_config_destroy(cfg);
    assert_null(cnc_config_load("/nonexistent/cnc.yaml", err, sizeof err));
    assert_non_null(strstr(err, "config file /nonexistent/cnc.yaml: No such file or directory"));
}

/* A YAML text of depth levels of flow lists, "[[[...]]]". */
static char *deep_lists(size_t depth)
{
    char *y = malloc(2 * depth + 128);
    size_t o = (size_t)sprintf(y, "handlers: {any: {type: generic, params: {a: ");
    memset(y + o, '[', depth);
    memset(y + o + depth, ']', depth);
    strcpy(y + o + 2 * depth, "}}}\nroutes: [{match: \"*\", handler: any}]\n");
    return y;
}

/* Hostile files: each is refused at once with the key and line, never crashes or hangs. */
static void aliases_cycles_and_bombs(void **state)
{
    (void)state;
    /* An alias inside the node it refers to: endless recursion before the fix. */
    expect_error("handlers:\n  any:\n    type: generic\n    params: &p {a: *p}\n"
                 "routes: [{match: \"*\", handler: any}]\n",
                 "t.yaml:4: handlers.any.params.a: an alias refers to the node that contains it");
    expect_error("handlers:\n  any:\n    type: generic\n    params: {a: &q [1, *q]}\n"
                 "routes: [{match: \"*\", handler: any}]\n",
                 "handlers.any.params.a[1]: an alias refers to the node that contains it");
    expect_error("handlers:\n  any:\n    type: generic\n"
                 "    rules: &r [{variable: x, above: 1, name: *r}]\n"
                 "routes: [{match: \"*\", handler: any}]\n",
                 "an alias refers to the node that contains it");
    /* A billion laughs in ~600 bytes: 10^9 nodes if expanded. */
    char bomb[2048];
    size_t o = (size_t)snprintf(bomb, sizeof bomb,
                                "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, "
                                "lol, lol, lol]\n");
    (void)o;
    char *y = bomb + strlen(bomb);
    for (int i = 1; i <= 9; i++) {
        y += sprintf(y, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                     i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    }
    char text[4096];
    /* The anchors must sit where the loader converts them: inside params. */
    snprintf(text, sizeof text, "handlers:\n  any:\n    type: generic\n    params:\n");
    for (char *line = strtok(bomb, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        strcat(text, "      ");
        strcat(text, line);
        strcat(text, "\n");
    }
    strcat(text, "routes: [{match: \"*\", handler: any}]\n");
    expect_error(text,
                 "params and rules hold more than 100000 values in all once aliases are expanded");
    /* Aliases used sparingly are fine. */
    char err[512];
    struct cnc_config *cfg =
        load("handlers:\n  a: {type: generic, params: &p {x: [1, 2], y: {z: 3}}}\n"
             "  b: {type: generic, params: *p}\nroutes: [{match: \"*\", handler: a}]\n",
             err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cfg->handlers[1].params, "x")), 2);
    cnc_config_destroy(cfg);
}

static void depth_nul_and_documents(void **state)
{
    (void)state;
    /* 50,000 levels in 100 KB: cut off at 64, early (the scanner is quadratic in depth). */
    char *deep = deep_lists(50000);
    expect_error(deep, "t.yaml:1: handlers.any.params.a");
    expect_error(deep, "nested deeper than 64 levels");
    free(deep);
    deep = deep_lists(60);
    char err[512];
    struct cnc_config *cfg = load(deep, err, sizeof err);
    assert_non_null(cfg);
    cnc_config_destroy(cfg);
    free(deep);
    /* Deeper than 64 once an alias is expanded, though never in the text. */
    char *a = deep_lists(40), *text = malloc(strlen(a) * 3);
    char *open = strstr(a, "[");
    size_t n = strspn(open, "[");
    sprintf(text,
            "handlers:\n  any:\n    type: generic\n    params:\n      x: &x %.*s1%.*s\n"
            "      y: %.*s*x%.*s\n"
            "routes: [{match: \"*\", handler: any}]\n",
            (int)n, open, (int)n, open + n, (int)n, open, (int)n, open + n);
    expect_error(text, "nested deeper than 64 levels (aliases included)");
    free(a);
    free(text);
    /* A NUL in a value: "CNC\0" would silently be "CNC". */
    static const char nul[] = "handlers: {any: {type: generic}}\n"
                              "routes: [{match: \"CNC\\0X\", handler: any}]\n";
    expect_error(nul, "t.yaml:2: routes[0].match: a value contains a NUL character");
    static const char raw_nul[] = "handlers: {any: {type: generic}}\nroutes: [{match: \"CNC\0X\", "
                                  "handler: any}]\n";
    assert_null(cnc_config_load_buffer("t.yaml", raw_nul, sizeof raw_nul - 1, err, sizeof err));
    assert_non_null(strstr(err, "t.yaml:2"));
    expect_error(MINIMAL "---\ningest: {allow_nested: true}\n",
                 "t.yaml:3: (file): a second YAML document (after ---)");
}

/* An output topic that covers an ingest filter would switch validation off for it silently. */
static void output_topics_outside_the_ingest_filters(void **state)
{
    (void)state;
    expect_error("analytics: {topic: cnc}\n" MINIMAL,
                 "t.yaml:1: analytics.topic: \"cnc\" covers the ingest filter \"cnc/+/data\"");
    expect_error("ingest:\n  topics: [\"plant/#\"]\n  rejected_topic: plant\n" MINIMAL,
                 "t.yaml:3: ingest.rejected_topic: \"plant\" covers the ingest filter");
    expect_error("metrics: {topic: cnc/M1/data}\ningest: {topics: [cnc/M1/data]}\n" MINIMAL,
                 "metrics.topic: \"cnc/M1/data\" covers");
    /* One level pinned (cnc/rejected under cnc/+/data: a machine named "rejected") is allowed,
       as are the defaults. */
    char err[512];
    struct cnc_config *cfg = load("analytics: {topic: cnc/ANY1}\n" MINIMAL, err, sizeof err);
    assert_non_null(cfg);
    cnc_config_destroy(cfg);
    cfg = load("ingest: {topics: [\"#\"]}\n" MINIMAL, err, sizeof err);
    assert_non_null(cfg);
    cnc_config_destroy(cfg);
}

/* A generated config: "handlers: {any: ...}" plus n copies of item under key. */
static char *many(const char *head, const char *item, size_t n, const char *tail)
{
    size_t cap = strlen(head) + strlen(tail) + n * (strlen(item) + 20) + 1; /* %zu: 20 digits */
    char *y = malloc(cap), *o = y;
    o += sprintf(o, "%s", head);
    for (size_t i = 0; i < n; i++) {
        o += sprintf(o, item, i);
    }
    strcpy(o, tail);
    return y;
}

/* Limits of what a config may ask of every message, and values a config may not hold. */
static void per_message_limits(void **state)
{
    (void)state;
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, NULL, 0);
    /* Globs: each message may try them all. */
    char *y = many("handlers: {any: {type: generic}}\nroutes:\n",
                   "  - {match: \"G%zu*\", handler: any}\n", 257, "");
    support_expect_error(&reg, y, "routes[256]: more than 256 glob routes");
    free(y);
    /* Rules: each is evaluated for every message of the instance. */
    y = many("handlers:\n  any:\n    type: generic\n    rules:\n",
             "      - {name: r%zu, variable: v, above: 1}\n", 129,
             "routes: [{match: \"*\", handler: any}]\n");
    support_expect_error(&reg, y, "129 rules, more than 128 per handler instance");
    free(y);
    /* A status list is checked against every message. */
    y = many("handlers:\n  m:\n    type: machine_tool\n    params:\n      statuses: [s", "s%zu, ",
             1025, "x]\nroutes: [{match: \"*\", handler: m}]\n");
    support_expect_error(&reg, y, "handlers.m.params.statuses: at most 1024 strings");
    free(y);
    /* Aliases make a 4 MiB file hold millions of routes: at most 200,000. */
    y = many("handlers: {any: {type: generic}}\nroutes: [&r {match: \"Z*\", handler: any}", ", *r",
             200000, "]\n");
    support_expect_error(&reg, y, "routes: 200001 routes, more than 200000");
    free(y);
    y = many("handlers:\n", "  h%zu: {type: generic}\n", 65537,
             "routes: [{match: \"*\", handler: h0}]\n");
    support_expect_error(&reg, y, "handlers: 65537 handler instances, more than 65536");
    free(y);
    /* NaN, infinity: not numbers (a NaN mode factor passed the 0..1 range check). */
    support_expect_error(&reg,
                         "handlers: {p: {type: sensor_efficiency, params: {mode_factors: "
                         "{active: .nan, idle: 0.5}}}}\nroutes: [{match: \"*\", handler: p}]\n",
                         "handlers.p.params.mode_factors.active");
    support_expect_error(&reg,
                         "handlers: {p: {type: generic, rules: [{variable: v, above: 1e999}]}}\n"
                         "routes: [{match: \"*\", handler: p}]\n",
                         "above: must be a number");
    cnc_registry_destroy(reg);
    /* Control characters of a refused value do not reach the log raw. */
    char err[512];
    assert_null(load("ingest: {rejected_topic: \"x\\n1796197008: cnc_ingest: reloaded\"}\n" MINIMAL,
                     err, sizeof err));
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "x?1796197008"));
}

/* mysql.hosts: a cluster's servers, in the order tried; one server's keys do not mix in. */
static void mysql_hosts(void **state)
{
    (void)state;
    char err[512] = "";
    struct cnc_config *cfg = load(
        "mysql:\n  user: u\n  hosts: [db1:3306, \"10.0.0.2:3307\", \"[fd00::3]:3306\"]\n" MINIMAL,
        err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cfg->mysql.n_hosts, 3);
    assert_string_equal(cfg->mysql.hosts[2], "[fd00::3]:3306");
    char host[CNC_MYSQL_HOST_MAX];
    unsigned port = 0;
    assert_true(cnc_config_host_port(cfg->mysql.hosts[2], host, sizeof host, &port));
    assert_string_equal(host, "fd00::3");
    assert_int_equal(port, 3306);
    assert_true(cnc_config_host_port(cfg->mysql.hosts[1], host, sizeof host, &port));
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 3307);
    cnc_config_destroy(cfg);
    cfg = load("mysql: {hosts: db1:3306}\n" MINIMAL, err, sizeof err); /* one, as a scalar */
    assert_non_null(cfg);
    assert_int_equal(cfg->mysql.n_hosts, 1);
    cnc_config_destroy(cfg);

    static const char *const bad[] = {
        "db1",       "db1:",         ":3306",         "db1:0",      "db1:65536",         "db1:33o6",
        "db 1:3306", "fd00::3:3306", "[fd00::3]3306", "db1:123456", "/run/mysqld.sock:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char y[256];
        snprintf(y, sizeof y, "mysql:\n  hosts: [db0:1, \"%s\"]\n" MINIMAL, bad[i]);
        char want[128];
        snprintf(want, sizeof want, "t.yaml:2: mysql.hosts: \"%s\" is not a valid host:port",
                 bad[i]);
        expect_error(y, want);
    }
    char *y = many("mysql:\n  hosts: [", "db%zu:3306, ", 16, "db16:3306]\n" MINIMAL);
    expect_error(y, "mysql.hosts: at most 16 servers (17 given)");
    free(y);
    char longname[400];
    memset(longname, 'a', 300);
    snprintf(longname + 300, sizeof longname - 300, ":3306");
    char yl[600];
    snprintf(yl, sizeof yl, "mysql: {hosts: [\"%s\"]}\n" MINIMAL, longname);
    expect_error(yl, "is not a valid host:port (a name or address of at most 255 bytes");
    expect_error("mysql: {hosts: [db1:3306, db2:3306, db1:3306]}\n" MINIMAL,
                 "mysql.hosts: \"db1:3306\" is listed twice");
    expect_error("mysql: {hosts: [{db1: 3306}]}\n" MINIMAL, "each host:port must be a string");
    expect_error("mysql:\n  port: 3307\n  hosts: [db1:3306]\n" MINIMAL,
                 "t.yaml:3: mysql.hosts: with mysql.port as well");
    expect_error("mysql:\n  hosts: [db1:3306]\n  socket: /run/mysqld/mysqld.sock\n" MINIMAL,
                 "t.yaml:2: mysql.hosts: with mysql.socket as well");
    /* How batches are sent: bulk where the server offers it unless told otherwise. */
    cfg = load("mysql: {hosts: db1:3306}\n" MINIMAL, err, sizeof err);
    assert_int_equal(cfg->mysql.insert, CNC_INSERT_AUTO);
    cnc_config_destroy(cfg);
    cfg = load("mysql: {hosts: db1:3306, insert: multi_row}\n" MINIMAL, err, sizeof err);
    assert_int_equal(cfg->mysql.insert, CNC_INSERT_MULTI_ROW);
    cnc_config_destroy(cfg);
    expect_error("mysql: {insert: fast}\n" MINIMAL, "mysql.insert:");
}

/* node: this broker's name; the host name when not given; a topic level and a column. */
static void node_name(void **state)
{
    (void)state;
    char err[512] = "";
    struct cnc_config *cfg = load("node: broker-2.plant:a_1\n" MINIMAL, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_string_equal(cfg->node, "broker-2.plant:a_1");
    assert_false(cfg->metrics.per_node);
    cnc_config_destroy(cfg);
    cfg = load(MINIMAL, err, sizeof err);
    assert_non_null(cfg);
    char host[256] = "", want[CNC_NODE_MAX + 1];
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    cnc_config_default_node(want);
    assert_string_equal(cfg->node, want);
    assert_true(strncmp(host, want, strlen(want)) == 0 || strchr(want, '-') != NULL);
    cnc_config_destroy(cfg);
    char n64[80], y[200];
    memset(n64, 'n', 64);
    n64[64] = '\0';
    snprintf(y, sizeof y, "node: %s\nmetrics: {per_node: on}\n" MINIMAL, n64);
    cfg = load(y, err, sizeof err);
    assert_non_null(cfg);
    assert_true(cfg->metrics.per_node);
    cnc_config_destroy(cfg);
    snprintf(y, sizeof y, "node: %sn\n" MINIMAL, n64);
    expect_error(y, "t.yaml:1: node: \"nnnn");
    static const char *const bad[] = {"\"b/1\"", "\"b+\"",  "\"#\"",
                                      "\"\"",    "\"b 1\"", "\"b\\u00e9\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y, "node: %s\n" MINIMAL, bad[i]);
        expect_error(y, "is not a node name (1-64 characters of A-Z a-z 0-9 _ . : -");
    }
    expect_error("node: [a, b]\n" MINIMAL, "t.yaml:1: node: must be a name");
    expect_error("node: a\nnode: b\n" MINIMAL, "node: duplicate");
    /* The node is stored with every message: a reload cannot change it. */
    struct cnc_config *a = load("node: a\n" MINIMAL, err, sizeof err);
    struct cnc_config *b = load("node: b\n" MINIMAL, err, sizeof err);
    char which[64];
    assert_false(cnc_config_same_start_only(a, b, which, sizeof which));
    assert_string_equal(which, "node");
    cnc_config_destroy(a);
    cnc_config_destroy(b);
}

/* ingest.bridge_client_ids / bridge_usernames: names, each once, none empty. */
static void bridge_names(void **state)
{
    (void)state;
    char err[512];
    struct cnc_config *cfg = load(
        "ingest: {bridge_client_ids: one, bridge_usernames: [a, b]}\n" MINIMAL, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cfg->ingest.n_bridge_client_ids, 1);
    assert_string_equal(cfg->ingest.bridge_client_ids[0], "one");
    assert_int_equal(cfg->ingest.n_bridge_usernames, 2);
    assert_int_equal(cfg->ingest.forged_output, CNC_FORGED_REFUSE);
    cnc_config_destroy(cfg);
    expect_error("ingest:\n  bridge_client_ids: [a, a]\n" MINIMAL,
                 "t.yaml:2: ingest.bridge_client_ids: \"a\" is listed twice");
    expect_error("ingest:\n  bridge_usernames: [\"\"]\n" MINIMAL,
                 "ingest.bridge_usernames: each name must be 1-65535 bytes");
    expect_error("ingest:\n  bridge_usernames: [{a: 1}]\n" MINIMAL,
                 "ingest.bridge_usernames: each name must be a string");
    expect_error("ingest: {forged_output: maybe}\n" MINIMAL,
                 "ingest.forged_output: must be one of refuse, allow");
    /* The worst a list may hold: 256 names of 12,000 bytes differing only at the end (the
       duplicate check hashes them, it does not compare every pair), and one name too long. */
    char *prefix = malloc(12001);
    memset(prefix, 'b', 12000);
    prefix[11990] = '\0';
    char item[12100];
    snprintf(item, sizeof item, "\"%s%%zu\", ", prefix);
    char *y = many("ingest:\n  bridge_client_ids: [", item, 256, "\"last\"]\n" MINIMAL);
    expect_error(y, "ingest.bridge_client_ids: at most 256 of them");
    free(y);
    y = many("ingest:\n  bridge_client_ids: [", item, 255, "\"last\"]\n" MINIMAL);
    cfg = load(y, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cfg->ingest.n_bridge_client_ids, 256);
    cnc_config_destroy(cfg);
    free(y);
    char *longname = malloc(65537 + 64);
    memset(longname, 'n', 65537 + 64);
    memcpy(longname, "ingest: {bridge_usernames: [", 28);
    snprintf(longname + 28 + 65536, 64, "]}\n%s", "");
    char *y2 = malloc(65537 + 64 + sizeof MINIMAL);
    snprintf(y2, 65537 + 64 + sizeof MINIMAL, "%s" MINIMAL, longname);
    expect_error(y2, "ingest.bridge_usernames: each name must be 1-65535 bytes");
    free(y2);
    free(longname);
    free(prefix);
}

/* What a reload cannot change comes from the key tables: no key can be forgotten (the plugin's
   hand-written comparison missed mysql.create_schema). */
static void start_only_keys(void **state)
{
    (void)state;
    char err[512], which[160];
    struct cnc_config *a = load("mysql: {create_schema: false}\n" MINIMAL, err, sizeof err);
    struct cnc_config *b = load("mysql: {create_schema: true}\n" MINIMAL, err, sizeof err);
    struct cnc_config *c = load("mysql: {create_schema: false}\ningest: {max_message_bytes: 99}\n"
                                "analytics: {topic: x}\n" MINIMAL,
                                err, sizeof err);
    struct cnc_config *d = load(MINIMAL, err, sizeof err);
    struct cnc_config *e =
        load("mysql: {create_schema: false}\nspool: {dead_letter_max_bytes: 1M}\n" MINIMAL, err,
             sizeof err);
    struct cnc_config *f =
        load("mysql: {create_schema: false}\nhandler_modules: [/x.so]\n" MINIMAL, err, sizeof err);
    assert_false(cnc_config_same_start_only(a, b, which, sizeof which));
    assert_string_equal(which, "mysql.create_schema");
    assert_true(cnc_config_same_start_only(a, c, which, sizeof which)); /* reloadable keys */
    assert_false(cnc_config_same_start_only(a, d, which, sizeof which));
    assert_string_equal(which, "the mysql section");
    assert_false(cnc_config_same_start_only(a, e, which, sizeof which));
    assert_string_equal(which, "spool.dead_letter_max_bytes");
    assert_false(cnc_config_same_start_only(a, f, which, sizeof which));
    assert_string_equal(which, "handler_modules");
    struct cnc_config *all[] = {a, b, c, d, e, f};
    for (size_t i = 0; i < 6; i++) {
        cnc_config_destroy(all[i]);
    }
}

/* The config path is opened only when it is a regular file: a FIFO would block the broker. */
static void only_regular_files(void **state)
{
    (void)state;
    char err[512], dir[] = "/tmp/cnc-config-XXXXXX", fifo[64];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(cnc_config_load(fifo, err, sizeof err));
    assert_non_null(strstr(err, "is a FIFO (named pipe), not a regular file"));
    assert_null(cnc_config_load("/dev/zero", err, sizeof err));
    assert_non_null(strstr(err, "/dev/zero is a device, not a regular file"));
    assert_null(cnc_config_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "is a directory, not a regular file"));
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aliases_cycles_and_bombs),
        cmocka_unit_test(depth_nul_and_documents),
        cmocka_unit_test(only_regular_files),
        cmocka_unit_test(output_topics_outside_the_ingest_filters),
        cmocka_unit_test(per_message_limits),
        cmocka_unit_test(mysql_hosts),
        cmocka_unit_test(node_name),
        cmocka_unit_test(bridge_names),
        cmocka_unit_test(start_only_keys),
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_key_type),
        cmocka_unit_test(handler_params_to_json),
        cmocka_unit_test(errors_name_key_and_line),
        cmocka_unit_test(load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
