/*
 * script_sandbox.c - the Lua state of a handler script: capped allocator,
 * instruction budget, the environment and the library wrappers that charge
 * their work to the budget. See script_sandbox.h.
 *
 * Broker thread (or the checker, single-threaded).
 */
#include "script_sandbox.h"

#include "script_patterns.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

static char null_key;   /* cnc.null */
static char budget_key; /* the error value of a spent budget */

void *cnc_sandbox_null(void)
{
    return &null_key;
}

static struct cnc_sandbox *sandbox_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static void count_hook(lua_State *L, lua_Debug *ar);

/*
 * A refused allocation ends the call: Lua raises a memory error, and should the script catch it
 * (pcall) the next instruction raises again, as a spent budget does. Each refusal costs Lua a full
 * collection first (its emergency collection), so a script must not be able to retry in a loop.
 */
static void *refuse(struct cnc_sandbox *sb)
{
    sb->mem_refused = true;
    if (sb->in_call) {
        lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, 1);
    }
    return NULL;
}

/*
 * Lua's allocator contract: nsize 0 frees; a shrink never fails. Growth past the cap fails, and
 * so does a new string longer than max_string (Lua passes the new object's type as osize).
 */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct cnc_sandbox *sb = ud;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->mem_used -= old;
        return NULL;
    }
    /* Once refused, the call ends at its next instruction; until then up to an eighth more is
       granted, so that a C function still running (Lua's string table trying to grow at every
       new string, each try after a full collection) does not meet a refusal at each step. */
    size_t cap = sb->mem_refused && sb->in_call ? sb->mem_limit + sb->mem_limit / 8 : sb->mem_limit;
    if (nsize > old && sb->mem_limit != 0 && sb->mem_used - old + nsize > cap) {
        return refuse(sb);
    }
    if (ptr == NULL && osize == LUA_TSTRING && sb->mem_limit != 0 &&
        nsize > sb->max_string + 64) { /* 64: the string's header, whatever the build's */
        sb->string_refused = true;
        return refuse(sb);
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        return nsize <= old ? ptr : NULL;
    }
    sb->mem_used = sb->mem_used - old + nsize;
    return p;
}

int64_t cnc_sandbox_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* From now on every instruction raises: a pcall in the script cannot carry on past it. */
static int raise_budget(lua_State *L, struct cnc_sandbox *sb)
{
    if (!sb->over_budget) {
        sb->over_budget = true;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushlightuserdata(L, &budget_key);
    return lua_error(L);
}

/*
 * The thread's CPU time: time the broker thread was not running (a busy machine, another
 * process) is not the script's. A system call, not the vDSO, so it is read only from the first
 * count hook on: a message done within CNC_SANDBOX_HOOK_EVERY instructions never reads it.
 */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool out_of_time(struct cnc_sandbox *sb)
{
    int64_t now = cpu_ns();
    if (sb->started_ns == 0) {
        sb->started_ns = now;
        return false;
    }
    if (now - sb->started_ns <= sb->max_ns) {
        return false;
    }
    sb->over_time = true;
    return true;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct cnc_sandbox *sb = sandbox_of(L);
    if (!sb->over_budget && !sb->mem_refused) {
        sb->spent += (uint64_t)sb->hook_every;
        if (sb->spent < sb->budget && !out_of_time(sb)) {
            return;
        }
    }
    raise_budget(L, sb);
}

void cnc_sandbox_charge(lua_State *L, double steps)
{
    struct cnc_sandbox *sb = sandbox_of(L);
    double instructions = steps / CNC_SANDBOX_STEPS_PER_INSTRUCTION;
    if (sb->over_budget || sb->mem_refused || instructions >= (double)(sb->budget - sb->spent) ||
        (instructions >= 1000 && out_of_time(sb))) {
        raise_budget(L, sb);
    }
    sb->spent += (uint64_t)instructions;
}

enum cnc_sandbox_stop cnc_sandbox_stopped(const struct cnc_sandbox *sb, int status, char *why,
                                          size_t len)
{
    why[0] = '\0';
    if (sb->string_refused) {
        snprintf(why, len, "made a string longer than max_string_kb (%zu KiB)",
                 sb->max_string / 1024);
        return CNC_STOP_STRING;
    }
    if (sb->mem_refused || status == LUA_ERRMEM) {
        snprintf(why, len, "exceeded its memory limit (max_memory_kb %zu)", sb->mem_limit / 1024);
        return CNC_STOP_MEMORY;
    }
    if (sb->over_time) {
        snprintf(why, len, "exceeded its time (max_time_ms %lld)",
                 (long long)(sb->max_ns / 1000000));
        return CNC_STOP_TIME;
    }
    if (sb->over_budget) {
        snprintf(why, len, "exceeded its instruction budget (max_instructions %llu)",
                 (unsigned long long)sb->budget);
        return CNC_STOP_BUDGET;
    }
    return CNC_STOP_NONE;
}

void cnc_sandbox_begin(struct cnc_sandbox *sb)
{
    sb->spent = 0;
    sb->over_budget = false;
    sb->over_time = false;
    sb->mem_refused = false;
    sb->string_refused = false;
    sb->started_ns = 0; /* the first hook starts the clock */
    sb->in_call = true;
    lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, sb->hook_every);
}

/*
 * Runs the wrapped library function (upvalue 1) on this call's stack: a plain C function
 * without upvalues of its own (every function wrapped here is one), so calling it directly is
 * what Lua would have done, without a second call frame.
 */
static int call_original(lua_State *L)
{
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* string.rep: its output (an empty one still loops n times in Lua's own). */
static int charged_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    cnc_sandbox_charge(L, (double)n * (double)(l + lsep));
    return call_original(L);
}

/*
 * A plain table's length: the table library's loops are bounded by it. A table with a metatable
 * is refused: its __len could answer the charge one length and the library another, and its
 * __index/__newindex (next, say) could make each step of the library's loop as long as it
 * likes, with no instruction counted in between.
 */
static double plain_len(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) != LUA_TTABLE) {
        return 0; /* the library refuses it */
    }
    if (lua_getmetatable(L, idx)) {
        luaL_error(L, "table.%s: a table with a metatable is not allowed in handler scripts", fn);
    }
    return (double)lua_rawlen(L, idx);
}

static double span(lua_Integer from, lua_Integer to)
{
    return to >= from ? (double)to - (double)from + 1 : 0;
}

/*
 * The table library's loops, charged one instruction per element they may touch: concat and
 * unpack their range, sort n log n comparisons, move its range, insert and remove the elements
 * they shift. Plain tables only (plain_len).
 */
static int charged_table(lua_State *L)
{
    enum { CONCAT, UNPACK, SORT, MOVE, INSERT, REMOVE };
    static const char *const names[] = {"concat", "unpack", "sort", "move", "insert", "remove"};
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    double len = plain_len(L, 1, names[kind]), n = 0;
    switch (kind) {
    case CONCAT:
        n = span(luaL_optinteger(L, 3, 1),
                 lua_isnoneornil(L, 4) ? (lua_Integer)len : luaL_checkinteger(L, 4));
        break;
    case UNPACK:
        n = span(luaL_optinteger(L, 2, 1),
                 lua_isnoneornil(L, 3) ? (lua_Integer)len : luaL_checkinteger(L, 3));
        break;
    case SORT:
        n = len > 1 ? len * log2(len) : len;
        break;
    case MOVE:
        plain_len(L, lua_isnoneornil(L, 5) ? 1 : 5, names[kind]);
        n = span(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3));
        break;
    case INSERT:
        n = lua_gettop(L) >= 3 ? span(luaL_checkinteger(L, 2), (lua_Integer)len) : 1;
        break;
    case REMOVE:
        n = lua_gettop(L) >= 2 ? span(luaL_checkinteger(L, 2), (lua_Integer)len) : 1;
        break;
    }
    cnc_sandbox_charge(L, n * CNC_SANDBOX_STEPS_PER_INSTRUCTION);
    return call_original(L);
}

/*
 * Functions whose work grows with the strings they are given (string.byte, upper, lower,
 * reverse, sub, format; utf8.len, codepoint, offset, char): a step per byte of every string
 * argument, and per argument.
 */
static int charged_bytes(lua_State *L)
{
    int n = lua_gettop(L);
    double steps = n;
    for (int i = 1; i <= n; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            steps += (double)lua_rawlen(L, i);
        }
    }
    cnc_sandbox_charge(L, steps);
    return call_original(L);
}

/* load: text only, a string chunk, the script's globals unless an env is given. */
static int text_load(lua_State *L)
{
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    if (s == NULL || lua_type(L, 1) != LUA_TSTRING) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: handler scripts load string chunks only");
        return 2;
    }
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strchr(mode, 'b') != NULL) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: binary chunks are refused in handler scripts");
        return 2;
    }
    cnc_sandbox_charge(L, (double)len);
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (!lua_isnone(L, 4)) {
        lua_pushvalue(L, 4);
        if (lua_setupvalue(L, -2, 1) == NULL) {
            lua_pop(L, 1);
        }
    }
    return 1;
}

/*
 * Keys a metatable may not hold: __gc (a finalizer would run script code at any allocation,
 * outside any budget) and __mode (weak tables: a chain of weak keys makes every collection
 * quadratic, uncharged). Lua reads both at collection time, so a metatable handed to
 * setmetatable gets a guard of its own (a metatable whose __newindex refuses them, protected
 * by __metatable) and cannot gain them afterwards either; the script has no rawset.
 */
static bool forbidden_meta_key(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        return false;
    }
    const char *k = lua_tostring(L, idx);
    return strcmp(k, "__gc") == 0 || strcmp(k, "__mode") == 0;
}

static int guard_newindex(lua_State *L)
{
    if (forbidden_meta_key(L, 2)) {
        return luaL_error(L, "%s is not allowed in handler scripts' metatables",
                          lua_tostring(L, 2));
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

/* setmetatable(t, mt): mt without __gc or __mode, guarded from then on (upvalue 3: the guard). */
static int guarded_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        static const char *const keys[] = {"__gc", "__mode"};
        for (int i = 0; i < 2; i++) {
            if (lua_getfield(L, 2, keys[i]) != LUA_TNIL) {
                return luaL_error(L, "setmetatable: %s is not allowed in handler scripts", keys[i]);
            }
            lua_pop(L, 1);
        }
        if (lua_getmetatable(L, 2)) {
            if (!lua_rawequal(L, -1, lua_upvalueindex(3))) {
                return luaL_error(L, "setmetatable: a metatable with a metatable of its own is not "
                                     "allowed in handler scripts");
            }
            lua_pop(L, 1);
        } else {
            lua_pushvalue(L, lua_upvalueindex(3));
            lua_setmetatable(L, 2);
        }
    }
    return call_original(L);
}

/* A cheap clock for telling a long call from a short one (cycles on x86-64, else ns). */
static uint64_t ticks(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* A next() that took this many ticks looks at the call's CPU time (~10 us). */
#define LONG_NEXT_TICKS 30000

/*
 * next, and what pairs returns for a table without __pairs. Lua's next scans from the given
 * key to the next one in use: on a table whose hash part was emptied (2^20 slots, one key) a
 * single call is a millisecond, and a C caller (table.sort's comparison, a metamethod) calls it
 * without an instruction counted. A call that took long looks at the CPU time spent.
 */
static int timed_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    uint64_t t0 = ticks();
    int more = lua_next(L, 1);
    if (ticks() - t0 > LONG_NEXT_TICKS) {
        struct cnc_sandbox *sb = sandbox_of(L);
        if (out_of_time(sb)) {
            raise_budget(L, sb);
        }
    }
    if (more) {
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

/* pairs(t): t's __pairs when it has one (Lua 5.4), else timed_next, t, nil. */
static int timed_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        return 3;
    }
    lua_pushcfunction(L, timed_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/*
 * xpcall(f, msgh, ...): f under pcall, then msgh(error) once f has failed. Lua's own xpcall runs
 * msgh where the error is raised, and an error raised by the count hook is raised with hooks
 * off: a message handler that loops would then run for ever. Without the debug library a
 * handler cannot look at the failed frames anyway, so running it afterwards loses nothing.
 */
static int hooked_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checkstack(L, n + 1, "too many arguments to xpcall"); /* Lua grants a C function 20 */
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++) {
        lua_pushvalue(L, i);
    }
    int base = n + 1; /* the true, then f's results */
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        return lua_gettop(L) - base + 1;
    }
    lua_pushvalue(L, 2);
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0); /* the handler's result, or the error it raised */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

static int now_ms(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return 1;
}

static int readonly_newindex(lua_State *L)
{
    return luaL_error(L, "%s is read-only in handler scripts",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static int global_newindex(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
    return luaL_error(L,
                      "assignment to global '%s': globals are fixed once the script has loaded; "
                      "keep per-machine values in state (process's second argument)",
                      k);
}

/*
 * pairs() on a read-only library: an iterator over the library (upvalue 1) that never hands the
 * table itself out (pairs returning next and the table would let a script write to it).
 */
static int proxy_next(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    if (lua_next(L, -2) != 0) {
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

static int proxy_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
}

/* Replaces lib[name] (lib at the top) by fn with the original and tag as upvalues. */
static void wrap(lua_State *L, const char *name, lua_CFunction fn, int tag)
{
    lua_getfield(L, -1, name);
    lua_pushinteger(L, tag);
    lua_pushcclosure(L, fn, 2);
    lua_setfield(L, -2, name);
}

/*
 * Makes the table at view a read-only view of the table at backing: reads go through
 * (__index), every write to a key view lacks reaches newindex (at the top, popped), pairs()
 * lists backing without handing it out, and the metatable is protected. The read-only
 * libraries are views of the real ones; the locked globals a view of what the chunk left.
 */
static void make_view(lua_State *L, int view, int backing)
{
    int newindex = lua_gettop(L);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, backing);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, backing);
    lua_pushcclosure(L, proxy_next, 1);
    lua_pushcclosure(L, proxy_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, view);
    lua_pop(L, 1);
}

/* Sets env[name] to a read-only view of the table at the top (popped). */
static void set_readonly(lua_State *L, int env, const char *name)
{
    int lib = lua_gettop(L);
    lua_newtable(L);
    lua_pushstring(L, name);
    lua_pushcclosure(L, readonly_newindex, 1);
    make_view(L, lib + 1, lib);
    lua_setfield(L, env, name);
    lua_settop(L, lib - 1);
}

static const char *const base_allowed[] = {
    "assert", "error",    "ipairs",   "pcall",        "rawequal", "rawget",   "rawlen",
    "select", "tonumber", "tostring", "getmetatable", "type",     "_VERSION", NULL,
};

/* Builds the environment; runs protected (a memory error here is an open that failed). */
static int build_env(lua_State *L)
{
    luaL_requiref(L, "_G", luaopen_base, 0);
    int base = lua_gettop(L);
    lua_newtable(L);
    int env = lua_gettop(L);
    for (int i = 0; base_allowed[i] != NULL; i++) {
        lua_getfield(L, base, base_allowed[i]);
        lua_setfield(L, env, base_allowed[i]);
    }
    lua_getfield(L, base, "setmetatable");
    lua_pushinteger(L, 0);
    lua_createtable(L, 0, 2); /* the guard every script metatable gets */
    lua_pushcfunction(L, guard_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushcclosure(L, guarded_setmetatable, 3);
    lua_setfield(L, env, "setmetatable");
    lua_pushcfunction(L, timed_next);
    lua_setfield(L, env, "next");
    lua_pushcfunction(L, timed_pairs);
    lua_setfield(L, env, "pairs");
    lua_pushcfunction(L, text_load);
    lua_setfield(L, env, "load");
    lua_pushcfunction(L, hooked_xpcall);
    lua_setfield(L, env, "xpcall");

    luaL_requiref(L, "string", luaopen_string, 0);
    /* dump makes binary chunks; pack, unpack and packsize take sizes from their format
       ("c60000000") that no argument's length shows, and a handler of JSON needs none. */
    static const char *const removed[] = {"dump", "pack", "unpack", "packsize"};
    for (int i = 0; i < 4; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, removed[i]);
    }
    /* Lua's matcher, counting its steps as it goes (script_patterns.c). */
    static const luaL_Reg patterns[] = {{"find", cnc_pattern_find},
                                        {"match", cnc_pattern_match},
                                        {"gmatch", cnc_pattern_gmatch},
                                        {"gsub", cnc_pattern_gsub},
                                        {NULL, NULL}};
    luaL_setfuncs(L, patterns, 0);
    wrap(L, "rep", charged_rep, 0);
    static const char *const byte_fns[] = {"byte", "upper",  "lower", "reverse",
                                           "sub",  "format", "char",  NULL};
    for (int i = 0; byte_fns[i] != NULL; i++) {
        wrap(L, byte_fns[i], charged_bytes, 0);
    }
    /* The string metatable (method calls on strings) hides itself: getmetatable("") is false. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    set_readonly(L, env, "string");

    luaL_requiref(L, "table", luaopen_table, 0);
    static const char *const table_fns[] = {"concat", "unpack", "sort", "move", "insert", "remove"};
    for (int i = 0; i < 6; i++) {
        wrap(L, table_fns[i], charged_table, i);
    }
    set_readonly(L, env, "table");
    luaL_requiref(L, "math", luaopen_math, 0);
    wrap(L, "max", charged_bytes, 0); /* a step per argument: a long vararg */
    wrap(L, "min", charged_bytes, 0);
    set_readonly(L, env, "math");
    luaL_requiref(L, "utf8", luaopen_utf8, 0);
    static const char *const utf8_fns[] = {"len", "codepoint", "offset", "char", NULL};
    for (int i = 0; utf8_fns[i] != NULL; i++) {
        wrap(L, utf8_fns[i], charged_bytes, 0);
    }
    set_readonly(L, env, "utf8");

    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, &null_key);
    lua_setfield(L, -2, "null");
    lua_pushcfunction(L, now_ms);
    lua_setfield(L, -2, "now_ms");
    set_readonly(L, env, "cnc");

    /* The environment becomes the globals: load() and new chunks see it, nothing else. */
    lua_pushvalue(L, env);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    /* The libraries' own registrations (package.loaded) are dropped with the base table. */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    return 0;
}

int cnc_sandbox_open(struct cnc_sandbox *sb, const struct cnc_sandbox_limits *limits)
{
    *sb = (struct cnc_sandbox){
        .budget = limits->budget ? limits->budget : 1,
        .max_string = limits->max_string,
        .max_ns = limits->max_ns,
    };
    sb->hook_every = sb->budget < CNC_SANDBOX_HOOK_EVERY ? (int)sb->budget : CNC_SANDBOX_HOOK_EVERY;
    sb->L = lua_newstate(capped_alloc, sb);
    if (sb->L == NULL) {
        return -1;
    }
    lua_gc(sb->L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(sb->L, build_env);
    if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
        return -1;
    }
    sb->mem_limit = limits->mem_limit; /* from here: the libraries are in, the script's share */
    return 0;
}

void cnc_sandbox_end(struct cnc_sandbox *sb)
{
    sb->in_call = false;
    lua_sethook(sb->L, NULL, 0, 0);
}

/*
 * The globals become an empty table reading through to what the chunk and init left in them:
 * every assignment then reaches __newindex, a global that existed at load as much as a new one
 * (Lua calls __newindex only for keys a table lacks).
 */
static int lock_globals(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    int env = lua_gettop(L);
    lua_newtable(L);
    int held = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, env) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, held);
    }
    lua_pushnil(L);
    while (lua_next(L, held) != 0) { /* env emptied: each key set to nil while walking held */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, env);
    }
    lua_pushcfunction(L, global_newindex);
    make_view(L, env, held);
    lua_settop(L, 0);
    return 0;
}

int cnc_sandbox_lock_globals(struct cnc_sandbox *sb)
{
    lua_pushcfunction(sb->L, lock_globals);
    if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
        lua_pop(sb->L, 1);
        return -1;
    }
    return 0;
}

void cnc_sandbox_close(struct cnc_sandbox *sb)
{
    if (sb->L != NULL) {
        sb->mem_limit = 0; /* closing frees; nothing it does may be refused */
        lua_close(sb->L);
        sb->L = NULL;
    }
}
