/*
 * script_sandbox.h - a Lua 5.4 state a handler script can run in without
 * being able to hurt the broker: a memory cap, an instruction budget per
 * call, and an environment holding only what a handler needs.
 *
 * Broker thread (one sandbox per `lua` handler instance; the checker and
 * the benchmarks likewise single-threaded).
 *
 * Environment: the base functions that cannot reach outside (assert, error,
 * ipairs, next, pairs, pcall, xpcall (its handler runs once the call has failed), rawequal,
 * rawget, rawlen, select,
 * tonumber, tostring, type, getmetatable, setmetatable without __gc, load of
 * text chunks only), the string, table, math and utf8 libraries (read-only;
 * string.dump gone) and `cnc` (null, now_ms). No io, os, package, require,
 * debug, collectgarbage, coroutine, print, rawset or dofile. Once the script
 * and its init have run the globals are locked: a write is an error, so one
 * machine's message cannot leave a value behind for another's.
 *
 * Budget: a count hook charges VM instructions; library functions whose own
 * work grows with their input (pattern matching, string.rep, table.concat,
 * table.sort, table.unpack, load) charge it too: the pattern functions the
 * steps they take as they go (script_patterns.c), the others their work before
 * they start. Spending it raises an error no pcall in the
 * script can hold on to: every instruction after that raises again.
 *
 * Time: a few operations cost more than one instruction's worth and are not
 * charged (a comparison or concatenation of long strings, a call passing a
 * long vararg, next on an emptied hash). Two limits bound them: no string may be longer
 * than max_string bytes (refused as memory is), and the count hook also
 * checks the broker thread's CPU time spent in the call (from the first
 * hook, CNC_SANDBOX_HOOK_EVERY instructions in), raising the same error.
 * The budget is the limit a real script meets, the same on every machine;
 * the time limit only stops what the budget cannot see, and counts CPU
 * time, so a busy machine that preempts the broker does not trip it.
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
    size_t max_string;   /* bytes: a longer string is refused as memory is */
    bool mem_refused;    /* an allocation was refused since the last begin */
    bool string_refused; /* ... and it was a string longer than max_string */
    uint64_t budget;     /* instructions per call */
    uint64_t spent;      /* since the last begin */
    bool over_budget;    /* the budget ran out since the last begin */
    bool over_time;      /* ... because the call's time ran out */
    int64_t max_ns;      /* the broker thread's CPU time per call */
    int64_t started_ns;  /* the thread's CPU time at the first hook of the call; 0 before */
    int hook_every;      /* instructions between count hooks */
    bool in_call;        /* between begin and end: a refusal arms the hook, the overdraft holds */
};

/* The limits of one sandbox (the `lua` handler's params). */
struct cnc_sandbox_limits {
    size_t mem_limit;  /* bytes of the state once the libraries are in; 0: none */
    size_t max_string; /* bytes of one string */
    uint64_t budget;   /* instructions per call */
    int64_t max_ns;    /* the broker thread's CPU time per call */
};

/* Steps of the pattern matcher charged as one instruction (measured: bench/RESULTS.md). */
#define CNC_SANDBOX_STEPS_PER_INSTRUCTION 8

/* VM instructions between two count hooks (each also reads the clock). */
#define CNC_SANDBOX_HOOK_EVERY 1000

/*
 * A new state with the environment above as its globals (not yet locked) and the given
 * limits. 0, or -1 when out of memory. Free with cnc_sandbox_close (also after a failed open).
 */
int cnc_sandbox_open(struct cnc_sandbox *sb, const struct cnc_sandbox_limits *limits);
void cnc_sandbox_close(struct cnc_sandbox *sb);

/*
 * Charges steps of library work (CNC_SANDBOX_STEPS_PER_INSTRUCTION to an instruction), raising
 * the spent-budget error once the budget is spent (a longjmp: hold nothing that needs freeing).
 */
void cnc_sandbox_charge(lua_State *L, double steps);

/* Starts a call's budget and time: nothing spent, no memory refused yet. */
void cnc_sandbox_begin(struct cnc_sandbox *sb);

/* Ends a call: no hook, so the plugin's own clean-up after a refusal runs unhindered. */
void cnc_sandbox_end(struct cnc_sandbox *sb);

/* Which limit ended a call, if one did. */
enum cnc_sandbox_stop {
    CNC_STOP_NONE = 0, /* the call ended by itself, or by an error of the script's own */
    CNC_STOP_STRING,   /* a string longer than max_string */
    CNC_STOP_MEMORY,   /* the memory cap (or the process out of memory: status LUA_ERRMEM) */
    CNC_STOP_TIME,     /* its CPU time */
    CNC_STOP_BUDGET,   /* its instructions */
};

/*
 * The limit that ended the last call (status: what its lua_pcall returned), with a sentence
 * saying so in why ("exceeded its instruction budget (max_instructions 100000)"; "" for
 * CNC_STOP_NONE). The same words for a script's load and for a message.
 */
enum cnc_sandbox_stop cnc_sandbox_stopped(const struct cnc_sandbox *sb, int status, char *why,
                                          size_t len);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t cnc_sandbox_now_ns(void);

/* Locks the globals (after the script's chunk and init have run). -1 when out of memory. */
int cnc_sandbox_lock_globals(struct cnc_sandbox *sb);

/* cnc.null: what a JSON null is in a script (a light userdata). */
void *cnc_sandbox_null(void);

#endif
