/*
 * script_patterns.h - Lua's string pattern functions with their work charged to a handler
 * script's instruction budget as they go (script_patterns.c). The sandbox puts them in the
 * string library in place of Lua's own.
 *
 * Broker thread, inside a script's protected call.
 */
#ifndef CNC_SCRIPT_PATTERNS_H
#define CNC_SCRIPT_PATTERNS_H

#include <lua.h>

int cnc_pattern_find(lua_State *L);
int cnc_pattern_match(lua_State *L);
int cnc_pattern_gmatch(lua_State *L);
int cnc_pattern_gsub(lua_State *L);

#endif
