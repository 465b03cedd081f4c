/*
 * script_sandbox.c - the Lua state of a handler script: capped allocator,
 * instruction budget, the environment and the library wrappers that charge
 * their work to the budget. See script_sandbox.h.
 *
 * Broker thread (or the checker, single-threaded).
 */
#include "script_sandbox.h"

#include <math.h>
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

bool cnc_sandbox_is_budget_error(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == &budget_key;
}

static struct cnc_sandbox *sandbox_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Lua's allocator contract: nsize 0 frees; a shrink never fails. Growth past the cap fails. */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct cnc_sandbox *sb = ud;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->mem_used -= old;
        return NULL;
    }
    if (nsize > old && sb->mem_limit != 0 && sb->mem_used - old + nsize > sb->mem_limit) {
        sb->mem_refused = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        return nsize <= old ? ptr : NULL;
    }
    sb->mem_used = sb->mem_used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar);

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

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct cnc_sandbox *sb = sandbox_of(L);
    if (!sb->over_budget) {
        sb->spent += (uint64_t)sb->hook_every;
        if (sb->spent < sb->budget) {
            return;
        }
    }
    raise_budget(L, sb);
}

/* Charges work a library function does outside the VM, before it does it. */
static void charge(lua_State *L, double steps)
{
    struct cnc_sandbox *sb = sandbox_of(L);
    double instructions = steps / CNC_SANDBOX_STEPS_PER_INSTRUCTION;
    if (sb->over_budget || instructions >= (double)(sb->budget - sb->spent)) {
        raise_budget(L, sb);
    }
    sb->spent += (uint64_t)instructions;
}

void cnc_sandbox_begin(struct cnc_sandbox *sb)
{
    sb->spent = 0;
    sb->over_budget = false;
    sb->mem_refused = false;
    lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, sb->hook_every);
}

/* Calls the wrapped library function (upvalue 1) with this call's arguments. */
static int call_original(lua_State *L)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/*
 * The worst case of Lua's backtracking matcher on a subject of n bytes: each
 * repeated item (*, +, -), balance (%b) or back-reference (%1) may try every
 * position, '?' two ways, and an unanchored pattern every start.
 */
static double pattern_worst_case(const char *p, size_t plen, double n, int anchored_ok)
{
    double bound = 1;
    size_t i = 0;
    int anchored = anchored_ok && plen > 0 && p[0] == '^';
    if (anchored) {
        i = 1;
    } else {
        bound = n + 1;
    }
    while (i < plen) {
        char c = p[i];
        if (c == '(' || c == ')' || (c == '$' && i + 1 == plen)) {
            i++;
            continue;
        }
        if (c == '%' && i + 1 < plen) {
            char e = p[i + 1];
            if (e == 'b') {
                bound *= n + 1;
                i += 4;
                continue;
            }
            if (e >= '0' && e <= '9') {
                bound *= n + 1;
                i += 2;
                continue;
            }
            if (e == 'f') {
                i += 2;
                c = i < plen ? p[i] : 0; /* a set follows: skipped below, never repeated */
                if (c != '[') {
                    continue;
                }
            } else {
                i += 2;
                goto quantifier;
            }
        }
        if (c == '[') {
            i++;
            if (i < plen && p[i] == '^') {
                i++;
            }
            do { /* the first ']' is part of the set */
                if (i < plen && p[i] == '%') {
                    i++;
                }
                i++;
            } while (i < plen && p[i] != ']');
            i++;
        } else {
            i++;
        }
    quantifier:
        if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
            bound *= n + 1;
            i++;
        } else if (i < plen && p[i] == '?') {
            bound *= 2;
            i++;
        }
    }
    return bound;
}

static int has_specials(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr("^$*+?.([%-", p[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* string.find, match, gmatch, gsub: the worst case charged before matching. */
static int charged_match(lua_State *L)
{
    size_t n, plen;
    luaL_checklstring(L, 1, &n);
    const char *p = luaL_checklstring(L, 2, &plen);
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2)); /* 0 find, 1 match, 2 gmatch, 3 gsub */
    double steps;
    if (kind == 0 && (lua_toboolean(L, 4) || !has_specials(p, plen))) {
        steps = ((double)n + 1) * ((double)plen + 1); /* a plain search */
    } else {
        steps = pattern_worst_case(p, plen, (double)n, kind != 2);
    }
    charge(L, steps);
    return call_original(L);
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
    charge(L, (double)n * (double)(l + lsep));
    return call_original(L);
}

/* table.concat, table.unpack: one step per element; table.sort n log n comparisons. */
static int charged_table(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2)); /* 0 concat, 1 unpack, 2 sort */
    double n = lua_type(L, 1) == LUA_TTABLE ? (double)lua_rawlen(L, 1) : 0;
    if (kind == 1 && lua_gettop(L) >= 3) {
        n = (double)luaL_optinteger(L, 3, 0) - (double)luaL_optinteger(L, 2, 1) + 1;
    }
    charge(L, kind == 2 && n > 1 ? n * log2(n) * CNC_SANDBOX_STEPS_PER_INSTRUCTION
                                 : n * CNC_SANDBOX_STEPS_PER_INSTRUCTION);
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
    charge(L, (double)len);
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

/* setmetatable, without finalizers: a __gc would run script code at any allocation. */
static int no_gc_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed in handler "
                                 "scripts");
        }
        lua_pop(L, 1);
    }
    return call_original(L);
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

/* pairs() on a read-only library lists the library (upvalue 1) with next (upvalue 2). */
static int proxy_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
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

/* Sets env[name] to a read-only view of the table at the top (popped); next at index next_i. */
static void set_readonly(lua_State *L, int env, const char *name, int next_i)
{
    int lib = lua_gettop(L);
    lua_newtable(L);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, lib);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_pushcclosure(L, readonly_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, lib);
    lua_pushvalue(L, next_i);
    lua_pushcclosure(L, proxy_pairs, 2);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, env, name);
    lua_settop(L, lib - 1);
}

static const char *const base_allowed[] = {
    "assert",   "error",    "ipairs",       "next",     "pairs",  "pcall",
    "xpcall",   "rawequal", "rawget",       "rawlen",   "select", "tonumber",
    "tostring", "type",     "getmetatable", "_VERSION", NULL,
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
    lua_pushcclosure(L, no_gc_setmetatable, 2);
    lua_setfield(L, env, "setmetatable");
    lua_pushcfunction(L, text_load);
    lua_setfield(L, env, "load");
    lua_getfield(L, base, "next");
    int next_i = lua_gettop(L);

    luaL_requiref(L, "string", luaopen_string, 0);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    wrap(L, "find", charged_match, 0);
    wrap(L, "match", charged_match, 1);
    wrap(L, "gmatch", charged_match, 2);
    wrap(L, "gsub", charged_match, 3);
    wrap(L, "rep", charged_rep, 0);
    /* The string metatable (method calls on strings) hides itself: getmetatable("") is false. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    set_readonly(L, env, "string", next_i);

    luaL_requiref(L, "table", luaopen_table, 0);
    wrap(L, "concat", charged_table, 0);
    wrap(L, "unpack", charged_table, 1);
    wrap(L, "sort", charged_table, 2);
    set_readonly(L, env, "table", next_i);
    luaL_requiref(L, "math", luaopen_math, 0);
    set_readonly(L, env, "math", next_i);
    luaL_requiref(L, "utf8", luaopen_utf8, 0);
    set_readonly(L, env, "utf8", next_i);

    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, &null_key);
    lua_setfield(L, -2, "null");
    lua_pushcfunction(L, now_ms);
    lua_setfield(L, -2, "now_ms");
    set_readonly(L, env, "cnc", next_i);

    /* The environment becomes the globals: load() and new chunks see it, nothing else. */
    lua_pushvalue(L, env);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    /* The libraries' own registrations (package.loaded) are dropped with the base table. */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    return 0;
}

int cnc_sandbox_open(struct cnc_sandbox *sb, size_t mem_limit, uint64_t budget)
{
    *sb = (struct cnc_sandbox){.budget = budget ? budget : 1};
    sb->hook_every = sb->budget < 1000 ? (int)sb->budget : 1000;
    sb->L = lua_newstate(capped_alloc, sb);
    if (sb->L == NULL) {
        return -1;
    }
    lua_gc(sb->L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(sb->L, build_env);
    if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
        return -1;
    }
    sb->mem_limit = mem_limit; /* from here: the libraries are in, the script's share begins */
    return 0;
}

static int lock_globals(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
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
