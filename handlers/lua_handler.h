/*
 * lua_handler.h - the `lua` handler type (handlers/lua.c) and what it
 * counts, for the plugin's metrics and the checker.
 *
 * Broker thread.
 */
#ifndef CNC_LUA_HANDLER_H
#define CNC_LUA_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cnc_handler.h"

/* The type's name, which the config loader also knows: it reads params.script for it. */
#define CNC_LUA_TYPE "lua"

/* The largest script file the loader reads (bytes). */
#define CNC_LUA_SCRIPT_MAX (1024 * 1024)

extern const struct cnc_handler_type cnc_handler_lua;

struct cnc_script_stats {
    uint64_t over_budget;  /* messages refused: the instruction budget ran out */
    uint64_t over_time;    /* messages refused: max_time_ms ran out first */
    uint64_t over_memory;  /* messages refused: the memory cap (or string cap) was reached */
    uint64_t state_resets; /* memory refusals after which every machine's state was reset */
    uint64_t rests;        /* ... and even that left it full: a second of refusals unrun */
    uint64_t errors;       /* messages refused: the script raised an error */
    uint64_t refused;      /* messages the script refused (nil, "reason") */
    uint64_t bad_results;  /* messages refused: what process returned was not a record */
    uint64_t untracked;    /* messages without per-machine state (out of memory) */
    uint64_t evicted;      /* machines whose state made room for another */
    size_t instances;      /* lua handler instances counted in */
    size_t machines;       /* machines with a state table */
    size_t memory_bytes;   /* the script's Lua state */
};

/* Adds instance's counts to *sum when type is the lua type; false otherwise. */
bool cnc_lua_handler_stats(const struct cnc_handler_type *type, const void *instance,
                           struct cnc_script_stats *sum);

#endif
