/*
 * script_sandbox.h - a Lua 5.4 state a handler script can run in without
 * being able to hurt the broker: a memory cap, an instruction budget per
 * call, and an environment holding only what a handler needs.
 *
 * Broker thread (one sandbox per `lua` handler instance; the checker and
 * the benchmarks likewise single-threaded).
 *
 * Environment: the base functions that cannot reach outside (assert, error,
 * ipairs, next, pairs, pcall, xpcall, rawequal, rawget, rawlen, select,
 * tonumber, tostring, type, getmetatable, setmetatable without __gc, load of
 * text chunks only), the string, table, math and utf8 libraries (read-only;
 * string.dump gone) and `cnc` (null, now_ms). No io, os, package, require,
 * debug, collectgarbage, coroutine, print, rawset or dofile. Once the script
 * and its init have run the globals are locked: a write is an error, so one
 * machine's message cannot leave a value behind for another's.
 *
 * Budget: a count hook charges VM instructions; library functions whose own
 * work grows with their input (pattern matching, string.rep, table.concat,
 * table.sort, table.unpack, load) charge it too, the pattern functions their
 * worst case before they start. Spending it raises an error no pcall in the
 * script can hold on to: every instruction after that raises again.
 */
#ifndef CNC_SCRIPT_SANDBOX_H
#define CNC_SCRIPT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

struct cnc_sandbox {
    lua_State *L;
    size_t mem_used;
    size_t mem_limit;
    bool mem_refused; /* an allocation was refused since the last begin */
    uint64_t budget;  /* instructions per call */
    uint64_t spent;   /* since the last begin */
    bool over_budget; /* the budget ran out since the last begin */
    int hook_every;   /* instructions between count hooks */
};

/* Steps of the pattern matcher charged as one instruction (measured: bench/RESULTS.md). */
#define CNC_SANDBOX_STEPS_PER_INSTRUCTION 8

/*
 * A new state with the environment above as its globals (not yet locked), memory capped at
 * mem_limit bytes, budget instructions per call. 0, or -1 when out of memory. Free with
 * cnc_sandbox_close (also after a failed open).
 */
int cnc_sandbox_open(struct cnc_sandbox *sb, size_t mem_limit, uint64_t budget);
void cnc_sandbox_close(struct cnc_sandbox *sb);

/* Starts a call's budget: nothing spent, no memory refused yet. */
void cnc_sandbox_begin(struct cnc_sandbox *sb);

/* Locks the globals (after the script's chunk and init have run). -1 when out of memory. */
int cnc_sandbox_lock_globals(struct cnc_sandbox *sb);

/* True when the error value at idx is the one a spent budget raises. */
bool cnc_sandbox_is_budget_error(lua_State *L, int idx);

/* cnc.null: what a JSON null is in a script (a light userdata). */
void *cnc_sandbox_null(void);

#endif
