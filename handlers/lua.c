/*
 * lua.c - the `lua` handler type: a handler script in Lua 5.4 (README
 * "Writing a handler script").
 *
 *   params:
 *     script: /etc/mosquitto/cnc_handlers/lathe.lua   (read by the config loader into
 *                                                      params.source; or source: inline)
 *     max_instructions: 100000   per message (and for the script's load and init)
 *     max_memory_kb: 65536       the script's Lua state, per-machine state included
 *     max_string_kb: 64          the longest string a script may make
 *     max_time_ms: 10            CPU time per message: stops what the instruction count cannot see
 *     max_machines: N            per-machine state tables (default ingest.max_tracked_machines,
 *                                filled in by the config loader)
 *     anything else              handed to the script's init(params)
 *
 * The script returns a table with process(msg, state) and optionally
 * init(params). process returns a result table (script_convert.h) or nil and
 * a reason: the message is refused (handler_rejected) with that reason. An
 * error, a spent instruction budget or time, or the memory cap refuses that
 * message alone, counted. After a memory refusal the machine's state starts
 * afresh and the state is collected, so one hoarding machine cannot lock out
 * the rest; if the state still holds over three quarters of the cap, every
 * machine's state starts afresh; if even that does not free it (the script's
 * own tables hold it), the instance refuses its messages for a second
 * without running the script, as each refusal costs a full collection.
 *
 * Broker thread (process); create/destroy at config load and reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "cnc_error.h"
#include "lua_handler.h"
#include "machine_table.h"
#include "params.h"
#include "registry.h"
#include "script_convert.h"
#include "script_sandbox.h"
#include "utf8.h"

struct lua_handler {
    struct cnc_sandbox sb;
    struct cnc_machine_table machines;
    int process_ref;          /* registry: the script's process function */
    int call_ref;             /* registry: protected_process with the key strings (upvalues) */
    bool wants_state;         /* process takes a second parameter (or ...): per-machine state */
    bool has_init;            /* the script has init(params): params of its own go there */
    int states_ref;           /* registry: per-machine state tables, by machine row + 1 */
    int last_ref;             /* registry: the last result, alive while its record is in use */
    int64_t resting_until_ns; /* CLOCK_MONOTONIC: messages refused unrun until then */
    struct cnc_script_stats stats;
};

#define RESTING_NS 1000000000LL

/* What the protected part of process works on. */
struct call {
    struct lua_handler *h;
    const struct cnc_message *msg;
    struct cnc_record *rec;
    char *detail;
    size_t detail_len;
    long row; /* the machine's state row, -1 untracked */
    int rc;
};

static void lh_destroy(void *instance)
{
    struct lua_handler *h = instance;
    if (h == NULL) {
        return;
    }
    cnc_sandbox_close(&h->sb);
    cnc_machine_table_free(&h->machines);
    free(h);
}

/* "params.script: " + what Lua said ("lathe.lua:3: ..."), or the limit hit, made one valid line. */
static void script_error(lua_State *L, const struct cnc_sandbox *sb, int status, const char *script,
                         bool inline_source, char *err, size_t err_len)
{
    char why[200], msg[400];
    if (cnc_sandbox_stopped(sb, status, why, sizeof why) != CNC_STOP_NONE) {
        /* inline, the key params.source says where already */
        snprintf(msg, sizeof msg, "%s%sloading the script %s", inline_source ? "" : script,
                 inline_source ? "" : ": ", why);
    } else {
        snprintf(msg, sizeof msg, "%s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an error");
    }
    utf8_make_valid(msg, sizeof msg);
    utf8_make_loggable(msg, sizeof msg);
    snprintf(err, err_len, "params.%s: %s", inline_source ? "source" : "script", msg);
}

/* The handler's own limits (the header comment), each a whole number in [min, max]. */
enum { MAX_INSTRUCTIONS, MAX_MEMORY_KB, MAX_STRING_KB, MAX_TIME_MS, MAX_MACHINES, N_LIMITS };
static const struct {
    const char *name;
    double dflt, min, max;
} limits_of[N_LIMITS] = {
    [MAX_INSTRUCTIONS] = {"max_instructions", 100000, 1000, 1e9},
    [MAX_MEMORY_KB] = {"max_memory_kb", 65536, 256, 4194304},
    [MAX_STRING_KB] = {"max_string_kb", 64, 1, 65536},
    [MAX_TIME_MS] = {"max_time_ms", 10, 1, 10000},
    [MAX_MACHINES] = {"max_machines", 65536, 1, 1e7},
};
#define LIMIT_NAMES "max_instructions, max_memory_kb, max_string_kb, max_time_ms, max_machines"

/* Whether the handler reads key itself; any other param goes to the script's init. */
static bool own_param(const char *key)
{
    if (strcmp(key, "script") == 0 || strcmp(key, "source") == 0) {
        return true;
    }
    for (int i = 0; i < N_LIMITS; i++) {
        if (strcmp(key, limits_of[i].name) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A param that neither the handler nor the script takes: a misspelt limit (max_*), or any
 * param of a script without init. NULL when there is none.
 */
static const char *stray_param(const cJSON *params, bool has_init)
{
    for (const cJSON *p = params != NULL ? params->child : NULL; p != NULL; p = p->next) {
        if (!own_param(p->string) && (!has_init || strncmp(p->string, "max_", 4) == 0)) {
            return p->string;
        }
    }
    return NULL;
}

/* init's params: the instance's, less the handler's own (script, source, the limits). */
static int push_init_params(lua_State *L, const cJSON *params)
{
    lua_newtable(L);
    for (const cJSON *p = params != NULL ? params->child : NULL; p != NULL; p = p->next) {
        if (own_param(p->string)) {
            continue;
        }
        if (cnc_script_push_json(L, p, 1) != 0) {
            return -1;
        }
        lua_setfield(L, -2, p->string);
    }
    return 0;
}

static int protected_process(lua_State *L);

/* Load: the chunk, its table's process/init, init(params); protected. Upvalue-free. */
static int load_script(lua_State *L)
{
    struct lua_handler *h = lua_touserdata(L, 1);
    const cJSON *params = lua_touserdata(L, 2);
    lua_call(L, 0, 1); /* the compiled chunk, at index 3 */
    if (!lua_istable(L, -1)) {
        return luaL_error(L, "the script must return a table with process(msg, state), not %s",
                          luaL_typename(L, -1));
    }
    int mod = lua_gettop(L);
    if (lua_getfield(L, mod, "process") != LUA_TFUNCTION) {
        return luaL_error(L, "the script's table has no function process(msg, state)");
    }
    /* process(msg) alone never sees a state: none is kept, so no table per machine either. */
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">u", &ar);
    h->wants_state = ar.nparams >= 2 || ar.isvararg;
    h->process_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (lua_getfield(L, mod, "init") == LUA_TFUNCTION) {
        h->has_init = true;
        if (push_init_params(L, params) != 0) {
            return luaL_error(L, "params nested deeper than %d levels", CNC_SCRIPT_MAX_DEPTH);
        }
        lua_call(L, 1, 0);
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "the script's init must be a function");
    }
    lua_newtable(L);
    h->states_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    cnc_script_push_keys(L);
    lua_pushcclosure(L, protected_process, CNC_SCRIPT_N_KEYS);
    h->call_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 0);
    h->last_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static void *lh_create(const cJSON *params, char *err, size_t err_len)
{
    struct cnc_param_ctx c = {"params", err, err_len};
    const char *script = NULL, *source = NULL;
    double v[N_LIMITS];
    if (cnc_param_string(&c, params, "script", &script) != 0 ||
        cnc_param_string(&c, params, "source", &source) != 0) {
        return NULL;
    }
    if (source == NULL) {
        cnc_param_fail(&c, "script", "is required: the path of the handler script");
        return NULL;
    }
    const char *stray = stray_param(params, true);
    if (stray != NULL) {
        cnc_param_fail(&c, stray, "unknown limit (known: " LIMIT_NAMES ")");
        return NULL;
    }
    for (int i = 0; i < N_LIMITS; i++) {
        v[i] = limits_of[i].dflt;
        if (cnc_param_number(&c, params, limits_of[i].name, &v[i]) != 0) {
            return NULL;
        }
        if (!(v[i] >= limits_of[i].min && v[i] <= limits_of[i].max &&
              v[i] == (double)(long long)v[i])) {
            cnc_param_fail(&c, limits_of[i].name, "must be a whole number from %.0f to %.0f",
                           limits_of[i].min, limits_of[i].max);
            return NULL;
        }
    }
    struct lua_handler *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, err_len, "params: out of memory");
        return NULL;
    }
    cnc_machine_table_init(&h->machines, (size_t)v[MAX_MACHINES]);
    struct cnc_sandbox_limits limits = {
        .mem_limit = v[MAX_MEMORY_KB] * 1024 >= (double)SIZE_MAX ? SIZE_MAX
                                                                 : (size_t)v[MAX_MEMORY_KB] * 1024,
        .max_string = (size_t)v[MAX_STRING_KB] * 1024,
        .budget = (uint64_t)v[MAX_INSTRUCTIONS],
        .max_ns = (int64_t)v[MAX_TIME_MS] * 1000000,
    };
    if (cnc_sandbox_open(&h->sb, &limits) != 0) {
        snprintf(err, err_len, "params: out of memory");
        lh_destroy(h);
        return NULL;
    }
    lua_State *L = h->sb.L;
    const char *shown = script != NULL ? script : "params.source";
    char chunkname[600];
    snprintf(chunkname, sizeof chunkname, "%s%s", script != NULL ? "@" : "=", shown);
    cnc_sandbox_begin(&h->sb);
    lua_pushcfunction(L, load_script);
    lua_pushlightuserdata(L, h);
    lua_pushlightuserdata(L, (void *)params);
    int st = luaL_loadbufferx(L, source, strlen(source), chunkname, "t");
    if (st == LUA_OK) {
        st = lua_pcall(L, 3, 0, 0);
    }
    cnc_sandbox_end(&h->sb);
    if (st == LUA_OK && cnc_sandbox_lock_globals(&h->sb) != 0) {
        st = LUA_ERRMEM; /* nothing pushed: an allocation here, unprotected, could panic */
    }
    if (st != LUA_OK) {
        script_error(L, &h->sb, st, shown, script == NULL, err, err_len);
        lh_destroy(h);
        return NULL;
    }
    lua_settop(L, 0);
    if ((stray = stray_param(params, h->has_init)) != NULL) {
        cnc_param_fail(&c, stray,
                       "the script has no init(params) to take it (the handler's own: script, "
                       "source, " LIMIT_NAMES ")");
        lh_destroy(h);
        return NULL;
    }
    return h;
}

/* The machine's state table onto the stack: made fresh for a machine new to its row. */
static void push_state(lua_State *L, struct call *c)
{
    struct lua_handler *h = c->h;
    bool fresh;
    c->row = cnc_machine_table_row(&h->machines, c->msg->cnc_id, &fresh);
    if (c->row < 0) {
        h->stats.untracked++;
        lua_newtable(L); /* out of memory for the table: a state for this message alone */
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->states_ref);
    if (fresh || lua_rawgeti(L, -1, c->row + 1) != LUA_TTABLE) {
        if (!fresh) {
            lua_pop(L, 1);
        }
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, c->row + 1);
    }
    lua_remove(L, -2);
}

static int protected_process(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    struct lua_handler *h = c->h;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->process_ref);
    if (cnc_script_push_message(L, c->msg) != 0) {
        snprintf(c->detail, c->detail_len, "payload nested deeper than %d levels",
                 CNC_SCRIPT_MAX_DEPTH);
        c->rc = CNC_EREJECT;
        return 0;
    }
    if (h->wants_state) {
        push_state(L, c);
    } else {
        lua_pushnil(L);
    }
    lua_call(L, 2, 2);
    if (lua_istable(L, -2)) {
        lua_pushvalue(L, -2);
        lua_rawseti(L, LUA_REGISTRYINDEX, h->last_ref); /* the record's strings stay alive */
        if (cnc_script_to_record(L, -2, c->msg, c->rec, c->detail, c->detail_len) != 0) {
            h->stats.bad_results++;
            c->rc = CNC_EREJECT;
        }
        return 0;
    }
    c->rc = CNC_EREJECT;
    if (!lua_toboolean(L, -2) && lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *why = lua_tolstring(L, -1, &n);
        utf8_copy_valid(why, n, c->detail, c->detail_len > 201 ? 200 : c->detail_len - 1, false,
                        NULL);
        utf8_make_loggable(c->detail, c->detail_len);
        h->stats.refused++;
    } else if (!lua_toboolean(L, -2)) {
        snprintf(c->detail, c->detail_len, "refused by the script");
        h->stats.refused++;
    } else {
        snprintf(c->detail, c->detail_len, "script returned a %s, not a table or nil",
                 luaL_typename(L, -2));
        h->stats.bad_results++;
    }
    return 0;
}

/* After a memory refusal: the machine's state (row >= 0), or every machine's (-1), afresh. */
static int reset_state(lua_State *L)
{
    struct lua_handler *h = lua_touserdata(L, 1);
    long row = (long)lua_tointeger(L, 2);
    if (row >= 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, h->states_ref);
        lua_pushnil(L);
        lua_rawseti(L, -2, row + 1);
    } else {
        lua_newtable(L);
        lua_rawseti(L, LUA_REGISTRYINDEX, h->states_ref);
    }
    return 0;
}

static void forget_state(struct lua_handler *h, long row)
{
    lua_State *L = h->sb.L;
    lua_pushcfunction(L, reset_state);
    lua_pushlightuserdata(L, h);
    lua_pushinteger(L, row);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        lua_settop(L, 0);
    }
    lua_gc(L, LUA_GCCOLLECT);
}

/* The memory policy of the header comment, after a refusal. */
static void after_memory_refusal(struct lua_handler *h, long row)
{
    struct cnc_sandbox *sb = &h->sb;
    size_t high = sb->mem_limit / 4 * 3;
    if (row >= 0) {
        forget_state(h, row);
    } else {
        lua_gc(sb->L, LUA_GCCOLLECT);
    }
    if (sb->mem_used > high) {
        h->stats.state_resets++;
        forget_state(h, -1);
    }
    if (sb->mem_used > high) {
        h->resting_until_ns = cnc_sandbox_now_ns() + RESTING_NS;
        h->stats.rests++;
    }
}

static int lh_process(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                      char *detail, size_t detail_len)
{
    struct lua_handler *h = instance;
    lua_State *L = h->sb.L;
    if (h->resting_until_ns != 0) {
        if (cnc_sandbox_now_ns() < h->resting_until_ns) {
            h->stats.over_memory++;
            snprintf(detail, detail_len,
                     "script's memory is full (%zu of max_memory_kb %zu KiB) even with every "
                     "machine's state reset: its own tables hold it; refused unrun for a second",
                     h->sb.mem_used / 1024, h->sb.mem_limit / 1024);
            return CNC_EREJECT;
        }
        h->resting_until_ns = 0;
    }
    struct call c = {h, msg, rec, detail, detail_len, -1, 0};
    cnc_sandbox_begin(&h->sb);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->call_ref);
    lua_pushlightuserdata(L, &c);
    int st = lua_pcall(L, 1, 0, 0);
    cnc_sandbox_end(&h->sb);
    if (st == LUA_OK) {
        return c.rc;
    }
    char why[200];
    enum cnc_sandbox_stop stop = cnc_sandbox_stopped(&h->sb, st, why, sizeof why);
    if (stop != CNC_STOP_NONE) {
        uint64_t *counter[] = {
            [CNC_STOP_STRING] = &h->stats.over_memory,
            [CNC_STOP_MEMORY] = &h->stats.over_memory,
            [CNC_STOP_TIME] = &h->stats.over_time,
            [CNC_STOP_BUDGET] = &h->stats.over_budget,
        };
        (*counter[stop])++;
        snprintf(detail, detail_len, "script %s", why);
    } else {
        h->stats.errors++;
        const char *e = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (e != NULL) {
            snprintf(detail, detail_len, "script error: %s", e);
        } else {
            snprintf(detail, detail_len, "script raised an error value of type %s",
                     luaL_typename(L, -1));
        }
        utf8_make_valid(detail, detail_len);
        utf8_make_loggable(detail, detail_len);
    }
    lua_settop(L, 0);
    if (stop == CNC_STOP_MEMORY) {
        after_memory_refusal(h, c.row);
    }
    return CNC_EREJECT;
}

bool cnc_lua_handler_stats(const struct cnc_handler_type *type, const void *instance,
                           struct cnc_script_stats *sum)
{
    const struct lua_handler *h = instance;
    if (type != &cnc_handler_lua || h == NULL) {
        return false;
    }
    sum->over_budget += h->stats.over_budget;
    sum->over_time += h->stats.over_time;
    sum->state_resets += h->stats.state_resets;
    sum->rests += h->stats.rests;
    sum->over_memory += h->stats.over_memory;
    sum->errors += h->stats.errors;
    sum->refused += h->stats.refused;
    sum->bad_results += h->stats.bad_results;
    sum->untracked += h->stats.untracked;
    sum->evicted += h->machines.evicted;
    sum->machines += h->machines.n_rows;
    sum->memory_bytes += h->sb.mem_used;
    sum->instances++;
    return true;
}

const struct cnc_handler_type cnc_handler_lua = {
    .name = CNC_LUA_TYPE,
    .description = "a handler script in Lua 5.4: process(msg, state) in a sandbox with limits",
    .create = lh_create,
    .process = lh_process,
    .destroy = lh_destroy,
};
