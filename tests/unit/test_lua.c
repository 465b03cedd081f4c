/*
 * test_lua.c - the `lua` handler type: each limit (instruction budget, time,
 * memory, string length) and what the broker keeps doing after it, each
 * sandbox hole tried, what a script may return, per-machine state, the
 * config loader's params.script (files it refuses, key and line), reload
 * (a changed script starts afresh, an unchanged one keeps its state), and
 * the shipped seed scripts against the machine_tool instances they replace
 * on cnc-sim's lathe messages.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "analytics.h"
#include "lua_handler.h"
#include "route.h"
#include "safe_file.h"
#include "script_sandbox.h"
#include "sim.h"
#include "stored_record.h"
#include "support.h"
#include "utf8.h"

/* ---- a handler instance from inline source, and one message through it ---- */

static cJSON *held_payload; /* the last message's payload: default readings point into it */
static struct cnc_reading readings[300];
static struct cnc_anomaly anomalies[16];
static char detail[512];

static void *load_with(const char *source, const char *params_json, char *err, size_t len)
{
    cJSON *p = params_json != NULL ? cJSON_Parse(params_json) : cJSON_CreateObject();
    assert_non_null(p);
    cJSON_AddStringToObject(p, "source", source);
    err[0] = '\0';
    void *h = cnc_handler_lua.create(p, err, len);
    cJSON_Delete(p);
    return h;
}

static void *load(const char *source)
{
    char err[512];
    void *h = load_with(source, NULL, err, sizeof err);
    if (h == NULL) {
        fail_msg("script refused: %s", err);
    }
    return h;
}

/* Refused at load with an error containing expected. */
static void expect_load_error(const char *source, const char *params_json, const char *expected)
{
    char err[512];
    void *h = load_with(source, params_json, err, sizeof err);
    if (h != NULL) {
        cnc_handler_lua.destroy(h);
        fail_msg("loaded, expected \"%s\"", expected);
    }
    if (strstr(err, expected) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, expected);
    }
}

static int run_at(void *h, const char *cnc_id, int64_t ts, const char *payload,
                  struct cnc_record *rec)
{
    cJSON_Delete(held_payload);
    held_payload = cJSON_Parse(payload);
    assert_non_null(held_payload);
    *rec = (struct cnc_record){.handler = "t",
                               .readings = readings,
                               .max_readings = sizeof readings / sizeof readings[0],
                               .anomalies = anomalies,
                               .max_anomalies = sizeof anomalies / sizeof anomalies[0]};
    struct cnc_message m = {cnc_id, "program_01", ts, held_payload};
    detail[0] = '\0';
    return cnc_handler_lua.process(h, &m, rec, detail, sizeof detail);
}

static int run(void *h, const char *cnc_id, const char *payload, struct cnc_record *rec)
{
    return run_at(h, cnc_id, INT64_C(1747379028000), payload, rec);
}

/* The message is refused with a detail containing expected. */
static void expect_refused(void *h, const char *cnc_id, const char *payload, const char *expected)
{
    struct cnc_record rec;
    if (run(h, cnc_id, payload, &rec) == 0) {
        fail_msg("accepted, expected \"%s\"", expected);
    }
    if (strstr(detail, expected) == NULL) {
        fail_msg("detail \"%s\" does not contain \"%s\"", detail, expected);
    }
}

static void expect_accepted(void *h, const char *cnc_id, const char *payload,
                            struct cnc_record *rec)
{
    if (run(h, cnc_id, payload, rec) != 0) {
        fail_msg("refused: %s", detail);
    }
}

static struct cnc_script_stats stats_of(void *h)
{
    struct cnc_script_stats s = {0};
    assert_true(cnc_lua_handler_stats(&cnc_handler_lua, h, &s));
    return s;
}

static double reading_num(const struct cnc_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_readings; i++) {
        if (strcmp(rec->readings[i].name, name) == 0) {
            return rec->readings[i].num;
        }
    }
    fail_msg("no reading %s", name);
    return NAN;
}

/* A script that counts its machine's messages: the proof that the broker carries on. */
#define COUNTER                                                                                    \
    "local function count(msg, state)\n"                                                           \
    "  state.n = (state.n or 0) + 1\n"                                                             \
    "  return {readings = {n = state.n}}\n"                                                        \
    "end\n"

static void expect_count(void *h, const char *cnc_id, double n)
{
    struct cnc_record rec;
    expect_accepted(h, cnc_id, "{\"mode\":\"count\"}", &rec);
    assert_true(reading_num(&rec, "n") == n);
}

/* ---- limits ---- */

static const char *misbehaving =
    COUNTER "local big = {}\n"
            "return {process = function(msg, state)\n"
            "  local how = msg.payload.mode\n"
            "  if how == 'count' then return count(msg, state) end\n"
            "  if how == 'loop' then while true do end end\n"
            "  if how == 'pcall_loop' then\n"
            "    while true do pcall(function() while true do end end) end\n"
            "  end\n"
            "  if how == 'xpcall' then\n"
            "    while true do xpcall(function() while true do end end,\n"
            "                         function() while true do end end) end\n"
            "  end\n"
            "  local s = string.rep('x', 60000)\n"
            "  if how == 'alloc' then\n"
            "    local t = {}\n"
            "    while true do t[#t + 1] = s .. #t end\n"
            "  end\n"
            "  if how == 'pcall_alloc' then\n"
            "    while true do pcall(function() local t = {} while true do t[#t + 1] = s .. #t "
            "end end) end\n"
            "  end\n"
            "  if how == 'hoard' then\n"
            "    state.keep = state.keep or {}\n"
            "    for i = 1, 10 do state.keep[#state.keep + 1] = s .. #state.keep end\n"
            "    return {readings = {kept = #state.keep}}\n"
            "  end\n"
            "  if how == 'double' then local s = 'x' while true do s = s .. s end end\n"
            "  if how == 'error' then local t = nil; return t.field end\n"
            "  if how == 'error_table' then error({code = 7}) end\n"
            "  return nil, 'unknown mode'\n"
            "end}\n";

static void budget_stops_endless_loops(void **state)
{
    (void)state;
    void *h = load(misbehaving);
    expect_count(h, "M1", 1);
    expect_refused(h, "M1", "{\"mode\":\"loop\"}",
                   "script exceeded its instruction budget (max_instructions 100000)");
    /* A pcall (or an xpcall's handler) cannot hold on to a spent budget. */
    expect_refused(h, "M1", "{\"mode\":\"pcall_loop\"}", "instruction budget");
    expect_refused(h, "M1", "{\"mode\":\"xpcall\"}", "instruction budget");
    /* The machine's state and every other machine carry on. */
    expect_count(h, "M1", 2);
    expect_count(h, "M2", 1);
    assert_int_equal(stats_of(h).over_budget, 3);
    cnc_handler_lua.destroy(h);
}

static void budget_is_configurable(void **state)
{
    (void)state;
    char err[512];
    const char *src = "return {process = function(msg)\n"
                      "  local x = 0 for i = 1, msg.payload.n do x = x + i end\n"
                      "  return {readings = {x = x}}\n"
                      "end}\n";
    void *h = load_with(src, "{\"max_instructions\": 1000}", err, sizeof err);
    assert_non_null(h);
    struct cnc_record rec;
    expect_accepted(h, "M1", "{\"n\":10}", &rec);
    expect_refused(h, "M1", "{\"n\":100000}", "instruction budget (max_instructions 1000)");
    cnc_handler_lua.destroy(h);
    h = load(src);
    expect_accepted(h, "M1", "{\"n\":10000}", &rec); /* the default leaves room */
    cnc_handler_lua.destroy(h);
    expect_load_error(src, "{\"max_instructions\": 10}", "params.max_instructions: must be");
    expect_load_error(src, "{\"max_memory_kb\": 1.5}", "params.max_memory_kb: must be");
    expect_load_error(src, "{\"max_time_ms\": 0}", "params.max_time_ms: must be");
    expect_load_error(src, "{\"max_string_kb\": \"x\"}", "params.max_string_kb");
    expect_load_error(src, "{\"max_machines\": 0}", "params.max_machines: must be");
}

static void memory_cap_refuses_the_message_alone(void **state)
{
    (void)state;
    char err[512];
    void *h = load_with(misbehaving, "{\"max_memory_kb\": 4096}", err, sizeof err);
    assert_non_null(h);
    expect_count(h, "M1", 1);
    expect_refused(h, "M1", "{\"mode\":\"alloc\"}",
                   "script exceeded its memory limit (max_memory_kb 4096)");
    expect_refused(h, "M1", "{\"mode\":\"pcall_alloc\"}", "memory limit");
    assert_true(stats_of(h).memory_bytes <= 4096 * 1024);
    expect_count(h, "M2", 1);
    assert_int_equal(stats_of(h).over_memory, 2);
    cnc_handler_lua.destroy(h);
}

static void hoarding_machine_is_reset_not_the_rest(void **state)
{
    (void)state;
    char err[512];
    void *h = load_with(misbehaving, "{\"max_memory_kb\": 2048}", err, sizeof err);
    assert_non_null(h);
    expect_count(h, "M2", 1);
    struct cnc_record rec;
    int refused_at = 0;
    for (int i = 1; i <= 40 && refused_at == 0; i++) {
        if (run(h, "HOARDER", "{\"mode\":\"hoard\"}", &rec) != 0) {
            assert_non_null(strstr(detail, "memory limit"));
            refused_at = i;
        }
    }
    assert_true(refused_at > 1);
    /* The hoarder starts afresh; M2 kept its count. */
    expect_accepted(h, "HOARDER", "{\"mode\":\"hoard\"}", &rec);
    assert_true(reading_num(&rec, "kept") == 10);
    expect_count(h, "M2", 2);
    cnc_handler_lua.destroy(h);
}

static void script_tables_full_rests_the_instance(void **state)
{
    (void)state;
    char err[512];
    /* The script's own table (not a machine's state) fills the cap. */
    const char *src = "local keep = {}\n"
                      "return {process = function(msg)\n"
                      "  local s = string.rep('x', 60000)\n"
                      "  for i = 1, 10 do keep[#keep + 1] = s .. #keep end\n"
                      "  return {readings = {kept = #keep}}\n"
                      "end}\n";
    void *h = load_with(src, "{\"max_memory_kb\": 1024}", err, sizeof err);
    assert_non_null(h);
    struct cnc_record rec;
    int i = 0;
    while (run(h, "M1", "{}", &rec) == 0) {
        assert_true(++i < 100);
    }
    assert_non_null(strstr(detail, "memory limit"));
    expect_refused(h, "M2", "{}", "refused unrun for a second");
    struct cnc_script_stats s = stats_of(h);
    assert_int_equal(s.state_resets, 1);
    assert_int_equal(s.rests, 1);
    cnc_handler_lua.destroy(h);
}

static void string_cap_and_time_limit(void **state)
{
    (void)state;
    char err[512];
    void *h = load(misbehaving);
    expect_refused(h, "M1", "{\"mode\":\"double\"}",
                   "script made a string longer than max_string_kb (64 KiB)");
    expect_count(h, "M1", 1);
    cnc_handler_lua.destroy(h);

    /* Comparing two long strings is one instruction: the budget does not see it, the clock
       does. */
    const char *slow = "local a = string.rep('x', 60000) .. 'a'\n"
                       "local b = string.rep('x', 60000) .. 'b'\n"
                       "return {process = function(msg)\n"
                       "  local n = 0\n"
                       "  while true do if a < b then n = n + 1 end end\n"
                       "end}\n";
    h = load_with(slow, "{\"max_instructions\": 1000000000, \"max_time_ms\": 20}", err, sizeof err);
    assert_non_null(h);
    expect_refused(h, "M1", "{}", "script exceeded its time (max_time_ms 20)");
    assert_int_equal(stats_of(h).over_time, 1);
    cnc_handler_lua.destroy(h);
}

/* Allocates arg 1 bytes (a userdata) inside a protected call. */
static int alloc_bytes(lua_State *L)
{
    lua_newuserdatauv(L, (size_t)lua_tointeger(L, 1), 0);
    return 1;
}

static int try_alloc(struct cnc_sandbox *sb, size_t bytes)
{
    lua_pushcfunction(sb->L, alloc_bytes);
    lua_pushinteger(sb->L, (lua_Integer)bytes);
    int st = lua_pcall(sb->L, 1, 1, 0);
    if (st == LUA_OK) {
        lua_setfield(sb->L, LUA_REGISTRYINDEX, "kept"); /* held: memory stays used */
    } else {
        lua_pop(sb->L, 1);
    }
    return st;
}

/*
 * After a refused allocation the call ends at its next instruction; until then an eighth more
 * is granted, so that C code still running (Lua's string table trying to grow at every new
 * string, each try after a full collection) meets no refusal at each step. Outside a call, no
 * overdraft.
 */
static void overdraft_after_a_refusal(void **state)
{
    (void)state;
    struct cnc_sandbox sb;
    struct cnc_sandbox_limits limits = {
        .mem_limit = 1 << 20, .max_string = 1 << 16, .budget = 100000, .max_ns = 1000000000};
    assert_int_equal(cnc_sandbox_open(&sb, &limits), 0);
    cnc_sandbox_begin(&sb);
    assert_int_equal(try_alloc(&sb, 2 << 20), LUA_ERRMEM); /* past the cap: refused */
    assert_true(sb.mem_refused);
    size_t used = sb.mem_used;
    assert_int_equal(try_alloc(&sb, (1 << 20) - used + (1 << 16)), LUA_OK); /* 1/16 over */
    assert_true(sb.mem_used > limits.mem_limit);
    assert_int_equal(try_alloc(&sb, 1 << 17), LUA_ERRMEM); /* past the eighth */
    cnc_sandbox_end(&sb);
    assert_int_equal(try_alloc(&sb, 1 << 10), LUA_ERRMEM); /* outside a call: the cap */
    cnc_sandbox_close(&sb);
}

/* Library functions that loop in C are charged before they run. */
static void library_work_is_charged(void **state)
{
    (void)state;
    static const char *const bombs[] = {
        "string.rep('x', 1000000, '')",                      /* charged before */
        "string.find(string.rep('a', 3000), '.-.-.-.-b')",   /* backtracking */
        "string.match(string.rep('a', 3000), '(.-)%1b')",    /* back-reference */
        "string.gsub(string.rep('a', 3000), '.-.-.-b', '')", /* backtracking gsub */
        "table.move({}, 1, 1e9, 1, {})",                     /* a billion moves */
        "table.unpack({}, 1, 900000)",                       /* a long vararg */
        "load(string.rep(' ', 60000) .. 'return 1')",
        /* A replacement walked at each of 60,001 matches; a pattern's literal and set walked at
           each of 60,001 starts; a step per argument. */
        "string.gsub(string.rep('x', 60000), '', string.rep('%0', 30000))",
        "string.find(string.rep('x', 60000), string.rep('x', 30000) .. '.y')",
        "string.find(string.rep('x', 60000), '[' .. string.rep('a', 30000) .. ']')",
        "math.max(table.unpack({}, 1, 90000))",
    };
    char src[512];
    for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
        snprintf(src, sizeof src,
                 "return {process = function(msg)\n"
                 "  for i = 1, 100 do local x = %s end\n"
                 "  return {}\n"
                 "end}\n",
                 bombs[i]);
        void *h = load(src);
        struct cnc_record rec;
        if (run(h, "M1", "{}", &rec) == 0) {
            fail_msg("%s: accepted", bombs[i]);
        }
        if (strstr(detail, "instruction budget") == NULL) {
            fail_msg("%s: %s", bombs[i], detail);
        }
        cnc_handler_lua.destroy(h);
    }
}

/*
 * Patterns real scripts use run within the budget (charged their steps, not their worst case),
 * with Lua's own semantics (the matcher is Lua's, counting).
 */
static void patterns_run_as_in_lua(void **state)
{
    (void)state;
    void *h =
        load("local function eq(a, b) assert(a == b, tostring(a) .. ' ~= ' .. tostring(b)) end\n"
             "return {process = function(msg)\n"
             "  local k, v = ('  spindle = fast '):match('^%s*(%w+)%s*=%s*(%w+)%s*$')\n"
             "  eq(k, 'spindle'); eq(v, 'fast')\n"
             "  local y, mo, d, hh, mi, ss = ('2025-05-16T07:03:48Z'):match("
             "'^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)')\n"
             "  eq(y .. mo .. d .. hh .. mi .. ss, '20250516070348')\n"
             "  local t = {}\n"
             "  for key, val in ('a=1, b=22, c=333'):gmatch('(%w+)=(%w+)') do t[#t + 1] = key .. "
             "val end\n"
             "  eq(table.concat(t, ' '), 'a1 b22 c333')\n"
             "  eq(select(2, ('x.y.z'):gsub('%.', '/')), 2)\n"
             "  eq(('hello world'):gsub('(%w+)', '<%1>'), '<hello> <world>')\n"
             "  eq(('$name is $age'):gsub('%$(%w+)', {name = 'CNC001', age = 7}), 'CNC001 is 7')\n"
             "  eq(('abc'):gsub('%w', function(c) return c:upper() .. '.' end), 'A.B.C.')\n"
             "  eq(('THE (quick) fox'):find('%((%a+)%)'), 5)\n"
             "  eq(('alarm E042: spindle'):match('E(%d+)'), '042')\n"
             "  eq(('a.b'):find('.', 1, true), 2)\n"
             "  eq(('hello'):find('l', -2), 4)\n"
             "  eq(select(3, ('key = value'):find('()=()')), 5)\n"
             "  eq(('[[x]]'):match('%b[]'), '[[x]]')\n"
             "  eq(('THE (quick) fox'):gsub('%f[%a]%a+', 'w'), 'w (w) w')\n"
             "  eq(('aaa'):match('^(a-)a$'), 'aa')\n"
             "  eq(pcall(string.match, 'x', '(%1)'), false)\n"
             "  return {}\n"
             "end}\n");
    struct cnc_record rec;
    expect_accepted(h, "M1", "{}", &rec);
    cnc_handler_lua.destroy(h);
}

static void errors_refuse_that_message_alone(void **state)
{
    (void)state;
    void *h = load(misbehaving);
    expect_refused(h, "M1", "{\"mode\":\"error\"}",
                   "script error: params.source:31: attempt to index a nil value (local 't')");
    expect_refused(h, "M1", "{\"mode\":\"error_table\"}",
                   "script raised an error value of type table");
    expect_refused(h, "M1", "{\"mode\":\"other\"}", "unknown mode");
    expect_count(h, "M1", 1);
    struct cnc_script_stats s = stats_of(h);
    assert_int_equal(s.errors, 2);
    assert_int_equal(s.refused, 1);
    cnc_handler_lua.destroy(h);
}

/* ---- the sandbox ---- */

static void sandbox_has_no_way_out(void **state)
{
    (void)state;
    void *h = load("local names = {'io', 'os', 'package', 'require', 'debug', 'collectgarbage',\n"
                   "  'dofile', 'loadfile', 'print', 'rawset', 'coroutine', '_G', 'loadstring',\n"
                   "  'module', 'setfenv', 'getfenv', 'newproxy', 'warn'}\n"
                   "return {process = function(msg)\n"
                   "  local found = {}\n"
                   "  for _, n in ipairs(names) do\n"
                   "    if _ENV[n] ~= nil then found[#found + 1] = n end\n"
                   "  end\n"
                   "  if string.dump ~= nil then found[#found + 1] = 'string.dump' end\n"
                   "  if getmetatable('') ~= false then found[#found + 1] = 'string mt' end\n"
                   "  if getmetatable(_ENV) ~= false then found[#found + 1] = '_ENV mt' end\n"
                   "  if #found > 0 then return nil, table.concat(found, ' ') end\n"
                   "  return {}\n"
                   "end}\n");
    struct cnc_record rec;
    expect_accepted(h, "M1", "{}", &rec);
    cnc_handler_lua.destroy(h);
}

static void sandbox_holes_are_closed(void **state)
{
    (void)state;
    static const struct {
        const char *code, *expected;
    } holes[] = {
        {"x = 1", "assignment to global 'x'"},
        {"_ENV.y = 1", "assignment to global 'y'"},
        {"setmetatable(_ENV, nil)", "cannot change a protected metatable"},
        {"string.format = nil", "string is read-only"},
        {"math.pi = 3", "math is read-only"},
        {"cnc.null = 1", "cnc is read-only"},
        {"local f, t = pairs(string); assert(t == nil, 'pairs handed out the library'); "
         "for k in f do end; local k = f(nil, nil); assert(k ~= nil)",
         "ok"},
        {"setmetatable({}, {__gc = function() end})", "__gc is not allowed"},
        {"setmetatable({}, {__mode = 'k'})", "__mode is not allowed"},
        {"local mt = {}; setmetatable({}, mt); mt.__mode = 'k'",
         "__mode is not allowed in handler scripts' metatables"},
        {"local mt = {}; setmetatable({}, mt); setmetatable(mt, nil)",
         "cannot change a protected metatable"},
        {"setmetatable({}, setmetatable({}, {}))", "a metatable with a metatable of its own"},
        /* A __len that answers the charge 0 and the library a billion; __index = next. */
        {"local k = 0; local t = setmetatable({}, {__len = function() k = k + 1; "
         "return k % 2 == 1 and 0 or math.maxinteger - 1 end}); table.insert(t, 1, 'x')",
         "table.insert: a table with a metatable is not allowed"},
        {"table.concat(setmetatable({}, {__index = next}), ',', 1, 8000)",
         "table.concat: a table with a metatable is not allowed"},
        {"table.move({1, 2}, 1, 2, 1, setmetatable({}, {}))",
         "table.move: a table with a metatable is not allowed"},
        {"local f, t = pairs({}); assert(f == next, 'pairs hands out the script-visible next')",
         "ok"},
        {"assert(string.pack == nil and string.unpack == nil and string.packsize == nil)", "ok"},
        {"local f, e = load('\\27Lua', 'b', 'b'); assert(f, e)", "binary chunks are refused"},
        {"local f, e = load(function() return nil end); assert(f, e)", "string chunks only"},
        {"local f = assert(load('z = 1')); f()", "assignment to global 'z'"},
        {"local f, e = load('return 1', 'c', 't', {}); assert(f() == 1, 'env load')", "ok"},
        {"rawset(_ENV, 'w', 1)", "attempt to call a nil value (global 'rawset')"},
        {"('').dump(function() end)", "attempt to call a nil value (field 'dump')"},
        {"string.rep('x', 1 << 40)", "instruction budget"},
        {"local t = {}; t[1] = t; do return nil, 'self reference allowed' end",
         "self reference allowed"},
        {"assert(math.type(cnc.now_ms()) == 'integer' and cnc.now_ms() > 1.7e12, 'clock'); "
         "error('ok')",
         "ok"},
    };
    char src[768];
    for (size_t i = 0; i < sizeof holes / sizeof holes[0]; i++) {
        snprintf(src, sizeof src, "return {process = function(msg)\n  %s\n  error('ok')\nend}\n",
                 holes[i].code);
        void *h = load(src);
        struct cnc_record rec;
        if (run(h, "M1", "{}", &rec) == 0) {
            fail_msg("%s: accepted", holes[i].code);
        }
        if (strstr(detail, holes[i].expected) == NULL) {
            fail_msg("%s: \"%s\", expected \"%s\"", holes[i].code, detail, holes[i].expected);
        }
        cnc_handler_lua.destroy(h);
    }
}

/* No global can be assigned once loaded, a new one or one the chunk made (nor a library). */
static void globals_do_not_leak_between_machines(void **state)
{
    (void)state;
    void *h = load("last_machine = 'none'\n"
                   "return {process = function(msg)\n"
                   "  if msg.payload.new then seen_by_a = true end\n"
                   "  if msg.payload.old then last_machine = msg.cnc_id end\n"
                   "  if msg.payload.lib then pairs = nil end\n"
                   "  return {readings = {leaked = seen_by_a ~= nil, last = last_machine,\n"
                   "                      pairs = type(pairs)}}\n"
                   "end}\n");
    expect_refused(h, "A", "{\"new\":1}", "assignment to global 'seen_by_a'");
    expect_refused(h, "A", "{\"old\":1}", "assignment to global 'last_machine'");
    expect_refused(h, "A", "{\"lib\":1}", "assignment to global 'pairs'");
    struct cnc_record rec;
    expect_accepted(h, "B", "{}", &rec);
    assert_true(reading_num(&rec, "leaked") == 0);
    assert_string_equal(rec.readings[0].name, "last");
    assert_string_equal(rec.readings[0].str, "none");
    assert_string_equal(rec.readings[2].str, "function");
    cnc_handler_lua.destroy(h);
}

/*
 * A table whose hash part was emptied (2^18 slots, one key left): each next() from that key
 * scans the slots after it, in C. table.sort with next as the comparison calls it with no
 * instruction counted in between; the CPU time stops it. The key is the table itself (sort
 * passes two elements), so where it lands is chance: of five such tables the one whose scan
 * is longest is taken (all five in the last tenth of their slots: 1 in 100,000).
 */
/*
 * next() on a table whose hash part was emptied scans every dead slot after the key it is given,
 * and table.sort's comparison calls it with no instruction counted. The script builds the worst
 * case the same way on every run, from Lua 5.4's hashing of integers (key k goes to slot
 * k mod (2^17 - 1) of a 2^17-slot hash part; -k to (2^13 - k) mod (2^17 - 1)): keys -1 .. -2^17
 * less -2^13 fill every slot but slot 0 (-2^17 collides with -1 and takes the last slot), so T,
 * the one key left, lands in slot 0 whatever its address. The script checks that it did. With
 * the integers removed each next(T, T) scans 131,071 dead slots: the sort's ~50,000 comparisons
 * would take seconds.
 */
static void long_next_scans_are_timed(void **state)
{
    (void)state;
    char err[512];
    void *h = load_with("local T\n"
                        "return {process = function(msg)\n"
                        "  local p = msg.payload\n"
                        "  if p.make then\n"
                        "    T = {}\n"
                        "    for k = 1, 1 << 17 do\n"
                        "      if k ~= 1 << 13 then T[-k] = true end\n"
                        "    end\n"
                        "    T[T] = true\n"
                        "    assert(next(T) == T, 'T is not in the first slot')\n"
                        "    for k = 1, 1 << 17 do T[-k] = nil end\n"
                        "  elseif p.sort then\n"
                        "    local X = {}\n"
                        "    for i = 1, 4000 do X[i] = T end\n"
                        "    table.sort(X, next)\n"
                        "  end\n"
                        "  return {}\n"
                        "end}\n",
                        "{\"max_instructions\": 100000000, \"max_memory_kb\": 262144, "
                        "\"max_time_ms\": 200}",
                        err, sizeof err);
    if (h == NULL) {
        fail_msg("%s", err);
    }
    struct cnc_record rec;
    expect_accepted(h, "M1", "{\"make\":1}", &rec);
    expect_refused(h, "M1", "{\"sort\":1}", "script exceeded its time (max_time_ms 200)");
    expect_accepted(h, "M1", "{}", &rec);
    cnc_handler_lua.destroy(h);
}

static void state_per_machine_bounded(void **state)
{
    (void)state;
    char err[512];
    char src[512];
    snprintf(src, sizeof src, "%sreturn {process = count}\n", COUNTER);
    void *h = load_with(src, "{\"max_machines\": 2}", err, sizeof err);
    assert_non_null(h);
    expect_count(h, "A", 1);
    expect_count(h, "A", 2);
    expect_count(h, "B", 1);
    expect_count(h, "A", 3);
    expect_count(h, "C", 1); /* takes B's row: B was heard least recently */
    expect_count(h, "A", 4);
    expect_count(h, "B", 1);
    struct cnc_script_stats s = stats_of(h);
    assert_int_equal(s.machines, 2);
    assert_int_equal(s.evicted, 2);
    cnc_handler_lua.destroy(h);
}

/* ---- what a script gets and returns ---- */

static void message_reaches_the_script(void **state)
{
    (void)state;
    void *h = load("return {process = function(msg)\n"
                   "  local p = msg.payload\n"
                   "  assert(msg.cnc_id == 'M7' and msg.part_program == 'program_01')\n"
                   "  assert(math.type(msg.timestamp) == 'integer' and msg.timestamp == "
                   "1747379028000)\n"
                   "  assert(math.type(p.i) == 'integer' and math.type(p.f) == 'float')\n"
                   "  assert(p.b == true and p.s == 'text' and p.n == cnc.null)\n"
                   "  return {readings = {i = p.i + 1, f = p.f, b = p.b, s = p.s, n = p.n}}\n"
                   "end}\n");
    struct cnc_record rec;
    if (run(h, "M7", "{\"i\":41,\"f\":2.5,\"b\":true,\"s\":\"text\",\"n\":null}", &rec) != 0) {
        fail_msg("%s", detail);
    }
    assert_int_equal(rec.n_readings, 5);
    /* Sorted by name. */
    assert_string_equal(rec.readings[0].name, "b");
    assert_int_equal(rec.readings[0].kind, CNC_VALUE_BOOL);
    assert_string_equal(rec.readings[2].name, "i");
    assert_true(rec.readings[2].num == 42);
    assert_int_equal(rec.readings[3].kind, CNC_VALUE_NULL);
    assert_string_equal(rec.readings[4].str, "text");
    cnc_handler_lua.destroy(h);
}

static void results_are_checked(void **state)
{
    (void)state;
    static const struct {
        const char *result, *expected;
    } bad[] = {
        {"42", "script returned a number, not a table or nil"},
        {"nil", "refused by the script"},
        {"{readings = 5}", "readings as a number, not a table"},
        {"{readings = {x = {}}}", "reading x as a table"},
        {"{readings = {x = 0/0}}", "reading x: not a finite number"},
        {"{readings = {x = math.huge}}", "reading x: not a finite number"},
        {"{readings = {['a\\nb'] = 1}}", "a reading name \"a?b\" that is no name"},
        {"{readings = {[string.rep('n', 65)] = 1}}", "that is no name (1-64 bytes"},
        {"{readings = {[7] = 1}}", "a reading name that is a number, not a string"},
        {"{readings = {x = string.rep('s', 257)}}", "a string of at most 256 bytes"},
        {"{readings = {x = '\\255'}}", "a string of at most 256 bytes of UTF-8"},
        {"{efficiency = {mode = 'a', temperature = 1, vibration = 1, score = 101, "
         "level = 'Low'}}",
         "efficiency.score outside 0..100"},
        {"{efficiency = {mode = 'a', temperature = 1, vibration = 1, score = 50, "
         "level = 'Great'}}",
         "efficiency.level \"Great\": not one of"},
        {"{efficiency = {temperature = 1, vibration = 1, score = 50, level = 'Low'}}",
         "efficiency.mode that is a nil"},
        {"{efficiency = {mode = 'a', vibration = 1, score = 50, level = 'Low'}}",
         "efficiency.temperature: not a finite number"},
        {"{anomalies = {5}}", "anomalies[1] that is a number, not a table"},
        {"{anomalies = {{rule = 'r', variable = 'v'}}}", "value and threshold must be finite"},
        {"{anomalies = {{rule = 'r', variable = 'v', value = 1, severity = 'bad'}}}",
         "severity is info, warning or critical"},
        {"{anomalies = 'x'}", "anomalies as a string, not a list"},
        {"{anomalies = (function() local a, x = {}, {rule = 'r', variable = 'v', value = 1}\n"
         "  for i = 1, 2000 do a[i] = x end return a end)()}",
         "script returned 2000 anomalies, more than 1024"},
        {"{efficiency = {mode = 'a', temperature = 1, vibration = 1, score = 50, "
         "level = 'Low\\0junk'}}",
         "not one of Low, Medium, High, Critical"},
    };
    char src[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(src, sizeof src, "return {process = function(msg) return %s end}\n",
                 bad[i].result);
        void *h = load(src);
        expect_refused(h, "M1", "{}", bad[i].expected);
        cnc_handler_lua.destroy(h);
    }
}

/* What a script is given or returns past the bounds: nesting, count, bytes a log may not take. */
static void worst_inputs_and_outputs(void **state)
{
    (void)state;
    char nested[256] = "", err[512];
    for (int i = 0; i < 40; i++) {
        strcat(nested, "{\"a\":");
    }
    strcat(nested, "1");
    for (int i = 0; i < 40; i++) {
        strcat(nested, "}");
    }
    void *h = load("return {process = function(msg) return {} end}\n");
    expect_refused(h, "M1", nested, "payload nested deeper than 32 levels");
    cnc_handler_lua.destroy(h);

    char params[300];
    snprintf(params, sizeof params, "{\"deep\": %s}", nested);
    expect_load_error("return {process = function() end, init = function() end}\n", params,
                      "params nested deeper than 32 levels");

    h = load("return {process = function(msg)\n"
             "  local r = {} for i = 1, 400 do r['r' .. i] = i end\n"
             "  return {readings = r}\n"
             "end}\n");
    expect_refused(h, "M1", "{}", "script returned more readings than a record holds (300)");
    cnc_handler_lua.destroy(h);

    /* Invalid UTF-8, control characters and newlines in what a script says: made one valid,
       printable line (the detail goes into the log and onto the rejected topic). */
    static const char *const says[] = {
        "error('bad \\255\\254 byte\\nsecond line\\27[31m')",
        "return nil, 'refused: \\255\\n\\0 after a NUL'",
        "error(string.rep('\\200', 5000))",
    };
    char src[256];
    for (size_t i = 0; i < sizeof says / sizeof says[0]; i++) {
        snprintf(src, sizeof src, "return {process = function(msg) %s end}\n", says[i]);
        h = load_with(src, NULL, err, sizeof err);
        assert_non_null(h);
        struct cnc_record rec;
        assert_int_not_equal(run(h, "M1", "{}", &rec), 0);
        size_t n = strlen(detail), chars;
        assert_true(n > 0 && n < sizeof detail);
        assert_int_equal(utf8_invalid_at(detail, n), n);
        if (!utf8_printable(detail, n, &chars)) {
            fail_msg("%s: detail not printable: %s", says[i], detail);
        }
        cnc_handler_lua.destroy(h);
    }
}

static void results_make_records(void **state)
{
    (void)state;
    void *h =
        load("return {process = function(msg)\n"
             "  return setmetatable({\n"
             "    efficiency = {mode = 'active', temperature = 70, vibration = 1.2, score = 88.5,\n"
             "                  level = 'High', is_anomaly = false},\n"
             "    anomalies = {{rule = 'r', variable = 'v', value = 3, threshold = 2},\n"
             "                 {rule = 'r', variable = 'v', value = 4, threshold = 2},\n"
             "                 {rule = 'q', variable = 'v', value = 1, severity = 'info'}},\n"
             "  }, {__index = function() error('a result is read raw') end})\n"
             "end}\n");
    struct cnc_record rec;
    expect_accepted(h, "M1", "{\"status\":\"running\",\"spin\":100}", &rec);
    /* No readings: every payload member, in payload order, as the C handlers do. */
    assert_int_equal(rec.n_readings, 2);
    assert_string_equal(rec.readings[0].name, "status");
    assert_true(rec.efficiency.present);
    assert_string_equal(rec.efficiency.mode, "active");
    assert_string_equal(rec.efficiency.level, "High");
    assert_true(rec.efficiency.score == 88.5);
    /* A repeated (rule, variable) is stored once; severity defaults to warning. */
    assert_int_equal(rec.n_anomalies, 2);
    assert_int_equal(rec.anomalies[0].severity, CNC_SEVERITY_WARNING);
    assert_true(rec.anomalies[0].value == 3);
    assert_true(isnan(rec.anomalies[1].threshold));
    assert_int_equal(rec.anomalies[1].severity, CNC_SEVERITY_INFO);
    cnc_handler_lua.destroy(h);
}

static void load_errors_name_the_line(void **state)
{
    (void)state;
    expect_load_error("return {process = function(msg)\n  local x = = 1\nend}\n", NULL,
                      "params.source: params.source:2: unexpected symbol near '='");
    expect_load_error("return 5\n", NULL, "must return a table with process(msg, state)");
    expect_load_error("return {}\n", NULL, "has no function process(msg, state)");
    expect_load_error("return {process = print}\n", NULL, "has no function process");
    expect_load_error("return {process = function() end, init = function() undefined_fn() end}\n",
                      NULL, "attempt to call a nil value (global 'undefined_fn')");
    expect_load_error("return {process = function() end, init = 3}\n", NULL,
                      "init must be a function");
    expect_load_error("return {process = function() end,\n"
                      "  init = function(p) assert(p.limit == 5, 'limit must be 5') end}\n",
                      "{\"limit\": 4}", "params.source:2: limit must be 5");
    expect_load_error("return {process = function() end}\n", "{\"max_instrutions\": 5}",
                      "params.max_instrutions: unknown limit (known: max_instructions");
    expect_load_error("return {process = function() end}\n", "{\"limit\": 5}",
                      "params.limit: the script has no init(params) to take it");
    expect_load_error("while true do end\n", NULL,
                      "loading the script exceeded its instruction budget");
    expect_load_error("local t = {} while true do t[#t + 1] = {} end\n", "{\"max_memory_kb\": 512}",
                      "loading the script exceeded its memory limit (max_memory_kb 512)");
    expect_load_error("\x1bLua", NULL, "attempt to load a binary chunk");
    /* init gets its own params, not the handler's; a script past max_string_kb loads. */
    size_t pad = 70 * 1024;
    char *src = malloc(pad + 512);
    assert_non_null(src);
    memset(src, '-', pad);
    memcpy(src, "--", 2);
    snprintf(
        src + pad, 512,
        "\nreturn {process = function() return {} end,\n"
        "  init = function(p) assert(p.limit == 5 and p.source == nil and p.script == nil\n"
        "    and p.max_instructions == nil and p.max_machines == nil, 'handler params') end}\n");
    char err[512];
    void *h = load_with(src, "{\"limit\": 5, \"max_instructions\": 5000, \"max_machines\": 9}", err,
                        sizeof err);
    free(src);
    if (h == NULL) {
        fail_msg("%s", err);
    }
    cnc_handler_lua.destroy(h);
}

/* ---- params.script in a config file: the loader, key and line, reload ---- */

static char dir[64];

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static struct cnc_config *load_config(const char *yaml, char *err, size_t len)
{
    write_file("c.yaml", yaml, 0644);
    char path[128];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    return cnc_config_load(path, err, len);
}

static const char *script_yaml = "ingest: {max_tracked_machines: 321}\n"
                                 "handlers:\n"
                                 "  counter:\n"
                                 "    type: lua\n"
                                 "    params:\n"
                                 "      script: count.lua\n"
                                 "routes:\n"
                                 "  - {match: \"*\", handler: counter}\n";

static void config_reads_the_script(void **state)
{
    (void)state;
    char err[1024];
    write_file("count.lua", COUNTER "return {process = count}\n", 0644);
    struct cnc_config *cfg = load_config(script_yaml, err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    const cJSON *p = cfg->handlers[0].params;
    assert_non_null(strstr(cJSON_GetObjectItem(p, "source")->valuestring, "state.n"));
    assert_true(cJSON_GetObjectItem(p, "max_machines")->valuedouble == 321);
    assert_string_equal(cJSON_GetObjectItem(p, "script")->valuestring, "count.lua");
    cnc_config_destroy(cfg);
}

static void config_refuses_bad_script_files(void **state)
{
    (void)state;
    char err[1024], fifo[128], yaml[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.lua", dir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    write_file("nul.lua", "return {\n\n}", 0644);
    char path[128];
    snprintf(path, sizeof path, "%s/nul.lua", dir);
    FILE *f = fopen(path, "a");
    fputc('\0', f);
    fclose(f);
    write_file("open.lua", "return {process = function() return {} end}\n", 0666);
    write_file("syntax.lua", "return {process = function(msg)\n  return {}\nend\n", 0644);
    /* One byte past CNC_LUA_SCRIPT_MAX (a comment), and symbolic links: to the FIFO (refused
       for what it points at) and to a sound script (followed). */
    snprintf(path, sizeof path, "%s/big.lua", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("--", f);
    for (int i = 2; i <= CNC_LUA_SCRIPT_MAX; i++) {
        fputc('-', f);
    }
    fclose(f);
    char link[128];
    snprintf(link, sizeof link, "%s/to_fifo.lua", dir);
    unlink(link);
    assert_int_equal(symlink(fifo, link), 0);
    snprintf(link, sizeof link, "%s/to_good.lua", dir);
    unlink(link);
    write_file("good.lua", "return {process = function() return {} end}\n", 0644);
    snprintf(path, sizeof path, "%s/good.lua", dir);
    assert_int_equal(symlink(path, link), 0);
    struct cnc_config *linked = load_config("handlers: {counter: {type: lua, params: {script: "
                                            "to_good.lua}}}\nroutes: [{match: \"*\", handler: "
                                            "counter}]\n",
                                            err, sizeof err);
    if (linked == NULL) {
        fail_msg("a symbolic link to a script: %s", err);
    }
    cnc_config_destroy(linked);
    static const struct {
        const char *params, *expected;
    } bad[] = {
        {"{script: missing.lua}", "c.yaml:6: handlers.counter.params.script: "},
        {"{script: missing.lua}", "missing.lua: No such file or directory"},
        {"{script: fifo.lua}", "fifo.lua is a FIFO (named pipe), not a regular file"},
        {"{script: nul.lua}", "nul.lua:3: holds a NUL byte: a handler script is text"},
        {"{script: open.lua}", "open.lua is writable by every user (mode 0666)"},
        {"{script: \"\"}", "handlers.counter.params.script: must be the path of a Lua file"},
        {"{script: [a]}", "handlers.counter.params.script: must be the path of a Lua file"},
        {"{script: count.lua, source: \"return {}\"}", "not both"},
        {"{}", "params.script: is required"},
        {"{script: syntax.lua}", "handlers.counter.params.script: syntax.lua:4: '}' expected"},
        {"{script: .}", "is a directory"},
        {"{script: big.lua}", "big.lua holds 1048577 bytes, more than the 1048576 allowed"},
        {"{script: to_fifo.lua}", "to_fifo.lua is a FIFO (named pipe), not a regular file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml,
                 "handlers:\n"
                 "  counter:\n"
                 "    type: lua\n"
                 "\n"
                 "\n"
                 "    params: %s\n"
                 "routes: [{match: \"*\", handler: counter}]\n",
                 bad[i].params);
        struct cnc_registry *reg = NULL;
        struct cnc_config *cfg = load_config(yaml, err, sizeof err);
        struct cnc_ingest *ing = NULL;
        if (cfg != NULL) {
            reg = cnc_registry_create(NULL, 0, err, sizeof err);
            ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
        }
        if (ing != NULL) {
            cnc_ingest_destroy(ing);
            cnc_registry_destroy(reg);
            fail_msg("%s: accepted", bad[i].params);
        }
        cnc_registry_destroy(reg);
        if (strstr(err, bad[i].expected) == NULL) {
            fail_msg("%s: \"%s\", expected \"%s\"", bad[i].params, err, bad[i].expected);
        }
    }
    unlink(fifo);
}

/* The counter of M1 through the ingest's route table. */
static double ingest_count(struct cnc_ingest *ing, const char *cnc_id)
{
    char buf[256];
    struct cnc_ingest_result res;
    if (support_run(ing, support_msg(buf, sizeof buf, cnc_id, "{}"), &res) != 0) {
        fail_msg("%s", res.rej.detail);
    }
    double n = reading_num(&res.rec, "n");
    cnc_ingest_result_release(&res);
    return n;
}

static struct cnc_ingest *reload(struct cnc_ingest *old, struct cnc_registry *reg, char *err,
                                 size_t len)
{
    struct cnc_config *cfg = load_config(script_yaml, err, len);
    if (cfg == NULL) {
        return NULL;
    }
    return cnc_ingest_create(cfg, reg, old, err, len);
}

static void reload_keeps_unchanged_scripts_and_restarts_changed_ones(void **state)
{
    (void)state;
    char err[1024];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    write_file("count.lua", COUNTER "return {process = count}\n", 0644);
    struct cnc_ingest *ing = reload(NULL, reg, err, sizeof err);
    assert_non_null(ing);
    assert_true(ingest_count(ing, "M1") == 1);
    assert_true(ingest_count(ing, "M1") == 2);

    /* Unchanged: the instance and its per-machine state carry over. */
    struct cnc_ingest *next = reload(ing, reg, err, sizeof err);
    assert_non_null(next);
    assert_int_equal(cnc_route_table_kept_count(cnc_ingest_routes(next)), 1);
    cnc_ingest_destroy(ing);
    ing = next;
    assert_true(ingest_count(ing, "M1") == 3);

    /* A script that fails to load: the reload is refused, the running version goes on. */
    write_file("count.lua", COUNTER "return {process = count\n", 0644);
    assert_null(reload(ing, reg, err, sizeof err));
    assert_non_null(strstr(err, "c.yaml:6: handlers.counter.params.script: count.lua:6:"));
    assert_true(ingest_count(ing, "M1") == 4);

    /* Changed: a new instance with fresh state, and the new logic from the next message. */
    write_file("count.lua",
               COUNTER "return {process = function(msg, state)\n"
                       "  local r = count(msg, state); r.readings.n = r.readings.n * 100\n"
                       "  return r\n"
                       "end}\n",
               0644);
    next = reload(ing, reg, err, sizeof err);
    if (next == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(cnc_route_table_kept_count(cnc_ingest_routes(next)), 0);
    cnc_ingest_destroy(ing);
    ing = next;
    assert_true(ingest_count(ing, "M1") == 100);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

/* ---- the seed scripts against the machine_tool instances they replace ---- */

/*
 * The shipped config with every cnc_id routed to instance `name`; with `script`, that
 * instance's type becomes lua running handlers/scripts/<script> (its rules kept).
 */
static struct cnc_ingest *shipped_with(const char *name, const char *script,
                                       struct cnc_registry *reg)
{
    char err[1024];
    struct cnc_config *cfg =
        cnc_config_load(CNC_SOURCE_DIR "/config/cnc_ingest.yaml", err, sizeof err);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].match);
        free(cfg->routes[i].handler);
    }
    cfg->n_routes = 1;
    cfg->routes[0].match = strdup("*");
    cfg->routes[0].handler = strdup(name);
    for (size_t i = 0; script != NULL && i < cfg->n_handlers; i++) {
        struct cnc_handler_config *h = &cfg->handlers[i];
        if (strcmp(h->name, name) != 0) {
            continue;
        }
        free(h->type);
        h->type = strdup("lua");
        cJSON_Delete(h->params);
        h->params = cJSON_CreateObject();
        char path[256];
        snprintf(path, sizeof path, CNC_SOURCE_DIR "/handlers/scripts/%s", script);
        size_t len;
        char why[512];
        char *text =
            cnc_file_read(path, 0, CNC_FILE_NO_OWNER, CNC_LUA_SCRIPT_MAX, &len, why, sizeof why);
        assert_non_null(text);
        cJSON_AddStringToObject(h->params, "source", text);
        free(text);
        /* A script has no state member of its own: the instance names it (the seed's status). */
        if (h->states != NULL && cJSON_GetObjectItem(h->states, "variable") == NULL) {
            cJSON_AddStringToObject(h->states, "variable", "status");
        }
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    if (ing == NULL) {
        fail_msg("%s", err);
    }
    return ing;
}

/* The record (or refusal) as the checker prints it. */
static char *outcome(struct cnc_ingest *ing, const char *msg, size_t len, int64_t now)
{
    struct cnc_ingest_result res;
    int rc = cnc_ingest_process(ing, NULL, msg, len, now, NULL, &res);
    cJSON *o = rc == 0 ? cnc_analytics_object(&res.msg, &res.rec, CNC_ANALYTICS_READINGS)
                       : cJSON_CreateString(res.rej.detail);
    cnc_ingest_result_release(&res);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void seed_scripts_match_machine_tool(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {{"cnc_type_a", "cnc_type_a.lua"},
                                           {"cnc_type_b", "cnc_type_b.lua"}};
    char err[512];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    for (size_t k = 0; k < 2; k++) {
        struct cnc_ingest *c = shipped_with(pairs[k][0], NULL, reg);
        struct cnc_ingest *lua = shipped_with(pairs[k][0], pairs[k][1], reg);
        /* Lathes with faults (impossible values: anomalies) and a few of every kind of
           message the handlers refuse, edited in below. */
        struct sim_options opt = {.machines = 30, .seed = 7 + k, .fault_rate = 0.02};
        struct sim *sim = sim_create(&opt);
        char topic[128], buf[2048];
        int64_t now = INT64_C(1747379028000);
        size_t same = 0, anomalous = 0, refused = 0;
        for (int i = 0; i < 20000; i++, now += 10) {
            enum sim_invalid cls;
            size_t n =
                sim_next(sim, (size_t)i % 30, now, topic, sizeof topic, buf, sizeof buf, &cls);
            if (n == 0 || strncmp(buf, "{\"cnc_id\":\"CNC", 14) != 0) {
                continue; /* the presses */
            }
            static const char *const edits[][2] = {{"\"running\"", "\"flying\""},
                                                   {"\"status\":", "\"state\":"},
                                                   {"\"spin\":", "\"spin\":\"fast\",\"x\":"},
                                                   {"\"Y-Axis\":", "\"Y-Axis\":null,\"y\":"}};
            if (i % 97 < 4) {
                char *at = strstr(buf, edits[i % 97][0]);
                if (at != NULL) {
                    char tail[2048];
                    snprintf(tail, sizeof tail, "%s", at + strlen(edits[i % 97][0]));
                    snprintf(at, sizeof buf - (size_t)(at - buf), "%s%s", edits[i % 97][1], tail);
                    n = strlen(buf);
                }
            }
            char *a = outcome(c, buf, n, now);
            char *b = outcome(lua, buf, n, now);
            if (strcmp(a, b) != 0) {
                fail_msg("%s: %s\nmachine_tool: %s\nlua:          %s", pairs[k][1], buf, a, b);
            }
            same++;
            anomalous += strstr(a, "\"rule\"") != NULL;
            refused += a[0] == '"';
            free(a);
            free(b);
        }
        sim_destroy(sim);
        /* The comparison saw every branch. */
        assert_true(same > 10000);
        assert_true(anomalous > 10);
        assert_true(refused > 100);
        cnc_ingest_destroy(c);
        cnc_ingest_destroy(lua);
    }
    cnc_registry_destroy(reg);
}

/* ---- storage: what mysql.readings: json keeps as rows ---- */

/* The names of rec's readings the stored record marks computed, space-separated. */
static void computed_names(const struct cnc_message *msg, const struct cnc_record *rec, char *out,
                           size_t len)
{
    struct cnc_buf buf = {0};
    assert_int_equal(cnc_stored_encode(&buf, msg, rec, "{}", 2, 0), 0);
    struct cnc_stored st;
    assert_int_equal(cnc_stored_decode(buf.p, buf.len, &st), 0);
    const uint8_t *c = st.readings;
    out[0] = '\0';
    for (uint16_t i = 0; i < st.n_readings; i++) {
        struct cnc_stored_reading r;
        assert_int_equal(cnc_stored_next_reading(&st, &c, &r), 0);
        assert_true(r.kind <= CNC_VALUE_STRING);
        if (r.computed) {
            size_t l = strlen(out);
            snprintf(out + l, len - l, "%s%.*s", l ? " " : "", (int)r.name.len, r.name.p);
        }
    }
    cnc_buf_free(&buf);
}

static void computed_readings_are_marked_for_storage(void **state)
{
    (void)state;
    const char *payload = "{\"s\":\"on\",\"n\":1.5,\"b\":true,\"z\":null,\"k\":7}";
    void *h = load("return {process = function(msg)\n"
                   "  local p = msg.payload\n"
                   "  return {readings = {s = p.s, n = p.n, b = p.b, z = p.z,\n"
                   "                      k = p.k * 2, extra = 1, other = 'x'}}\n"
                   "end}\n");
    struct cnc_record rec;
    expect_accepted(h, "M1", payload, &rec);
    char names[256];
    struct cnc_message msg = {"M1", "p", 0, held_payload};
    computed_names(&msg, &rec, names, sizeof names);
    /* Sorted by name: the payload's own values are not computed; k changed, two are new. */
    assert_string_equal(names, "extra k other");
    cnc_handler_lua.destroy(h);

    /* A script without readings: the payload's members, none computed. */
    h = load("return {process = function() return {} end}\n");
    expect_accepted(h, "M1", payload, &rec);
    msg.payload = held_payload; /* the message just run */
    computed_names(&msg, &rec, names, sizeof names);
    assert_string_equal(names, "");
    cnc_handler_lua.destroy(h);

    /* A C type through the pipeline (machine_tool: the payload's members in order). */
    struct cnc_registry *reg = NULL;
    char err[512];
    struct cnc_ingest *ing = support_ingest("handlers: {m: {type: machine_tool}}\n"
                                            "routes: [{match: \"*\", handler: m}]\n",
                                            &reg, err, sizeof err);
    assert_non_null(ing);
    char buf[256];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing,
                                 support_msg(buf, sizeof buf, "CNC001",
                                             "{\"status\":\"running\",\"spin\":200,\"x\":null}"),
                                 &res),
                     0);
    computed_names(&res.msg, &res.rec, names, sizeof names);
    assert_string_equal(names, "");
    /* A module converting a value in place (the member's own name pointer, another value). */
    res.rec.readings[1].num *= 25.4;
    computed_names(&res.msg, &res.rec, names, sizeof names);
    assert_string_equal(names, "spin");
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);

    /* A payload past the index's 256 stack slots, its readings out of payload order (the
       slow path, the index allocated): the members as they stand are not computed, one changed
       value and one new name are. */
    cJSON *big = cJSON_CreateObject();
    char name[16];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "m%03d", i);
        cJSON_AddNumberToObject(big, name, i);
    }
    struct cnc_reading many[301];
    struct cnc_record r2 = {.handler = "t", .readings = many, .max_readings = 301};
    for (const cJSON *m = big->child; m != NULL; m = m->next) {
        many[299 - r2.n_readings++] = (struct cnc_reading){
            .name = m->string, .kind = CNC_VALUE_NUMBER, .num = m->valuedouble};
    }
    many[10].num = -1;
    many[r2.n_readings++] = (struct cnc_reading){.name = "zz", .kind = CNC_VALUE_NULL};
    struct cnc_message big_msg = {"M1", "p", 0, big};
    computed_names(&big_msg, &r2, names, sizeof names);
    assert_string_equal(names, "m289 zz");
    cJSON_Delete(big);
}

/* ---- cycle_time.lua ---- */

static void cycle_time_flags_drift_and_survives_resets(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, CNC_SOURCE_DIR "/handlers/scripts/cycle_time.lua");
    size_t len;
    char why[512];
    char *text =
        cnc_file_read(path, 0, CNC_FILE_NO_OWNER, CNC_LUA_SCRIPT_MAX, &len, why, sizeof why);
    assert_non_null(text);
    char err[512];
    void *h = load_with(text, "{\"warmup\": 3, \"tolerance\": 0.2}", err, sizeof err);
    free(text);
    if (h == NULL) {
        fail_msg("%s", err);
    }
    struct cnc_record rec;
    int64_t t = INT64_C(1747379000000);
    char payload[64];
    /* Parts every 30 s, sampled every 10 s. */
    int count = 100;
    for (int i = 0; i < 30; i++, t += 10000) {
        if (i % 3 == 0) {
            count++;
        }
        snprintf(payload, sizeof payload, "{\"part_count\":%d}", count);
        assert_int_equal(run_at(h, "L1", t, payload, &rec), 0);
        assert_int_equal(rec.n_anomalies, 0);
    }
    assert_true(reading_num(&rec, "parts") == 9);
    /* A cycle of 45 s: 50 % over the baseline of 30 s. */
    t += 15000;
    snprintf(payload, sizeof payload, "{\"part_count\":%d}", ++count);
    assert_int_equal(run_at(h, "L1", t, payload, &rec), 0);
    assert_int_equal(rec.n_anomalies, 1);
    assert_string_equal(rec.anomalies[0].rule, "cycle_time_drift");
    assert_true(rec.anomalies[0].value == 45);
    assert_true(fabs(rec.anomalies[0].threshold - 36) < 0.01);
    /* A reset (counter back to 0) counts on without a cycle; then cycles resume. */
    t += 30000;
    assert_int_equal(run_at(h, "L1", t, "{\"part_count\":0}", &rec), 0);
    assert_int_equal(rec.n_anomalies, 0);
    t += 30000;
    assert_int_equal(run_at(h, "L1", t, "{\"part_count\":1}", &rec), 0);
    assert_true(reading_num(&rec, "cycle_time_s") == 30);
    assert_true(reading_num(&rec, "parts") == 11);
    /* Another machine has its own baseline; an old message is refused. */
    assert_int_equal(run_at(h, "L2", t, "{\"part_count\":5}", &rec), 0);
    assert_true(reading_num(&rec, "parts") == 0);
    assert_int_not_equal(run_at(h, "L1", t - 60000, "{\"part_count\":1}", &rec), 0);
    assert_non_null(strstr(detail, "older than the last counted message"));
    assert_int_not_equal(run_at(h, "L1", t, "{\"part_count\":-1}", &rec), 0);
    assert_non_null(strstr(detail, "part_count must be a whole number"));
    cnc_handler_lua.destroy(h);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_lua.XXXXXX");
    return mkdtemp(dir) == NULL;
}

static int group_teardown(void **state)
{
    (void)state;
    cJSON_Delete(held_payload);
    static const char *const files[] = {"c.yaml",   "count.lua",  "nul.lua",
                                        "open.lua", "syntax.lua", "fifo.lua"};
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budget_stops_endless_loops),
        cmocka_unit_test(budget_is_configurable),
        cmocka_unit_test(memory_cap_refuses_the_message_alone),
        cmocka_unit_test(hoarding_machine_is_reset_not_the_rest),
        cmocka_unit_test(script_tables_full_rests_the_instance),
        cmocka_unit_test(string_cap_and_time_limit),
        cmocka_unit_test(library_work_is_charged),
        cmocka_unit_test(overdraft_after_a_refusal),
        cmocka_unit_test(patterns_run_as_in_lua),
        cmocka_unit_test(errors_refuse_that_message_alone),
        cmocka_unit_test(sandbox_has_no_way_out),
        cmocka_unit_test(sandbox_holes_are_closed),
        cmocka_unit_test(globals_do_not_leak_between_machines),
        cmocka_unit_test(long_next_scans_are_timed),
        cmocka_unit_test(state_per_machine_bounded),
        cmocka_unit_test(message_reaches_the_script),
        cmocka_unit_test(results_are_checked),
        cmocka_unit_test(worst_inputs_and_outputs),
        cmocka_unit_test(results_make_records),
        cmocka_unit_test(load_errors_name_the_line),
        cmocka_unit_test(config_reads_the_script),
        cmocka_unit_test(config_refuses_bad_script_files),
        cmocka_unit_test(reload_keeps_unchanged_scripts_and_restarts_changed_ones),
        cmocka_unit_test(seed_scripts_match_machine_tool),
        cmocka_unit_test(computed_readings_are_marked_for_storage),
        cmocka_unit_test(cycle_time_flags_drift_and_survives_resets),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
