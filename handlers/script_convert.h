/*
 * script_convert.h - between the plugin's data and a handler script's: a
 * message (and params) become Lua tables, what `process` returns becomes a
 * struct cnc_record, checked as strictly as a message from a machine.
 *
 * Broker thread, inside the protected call of a script handler (a memory
 * error raised here is the script's: see lua.c).
 */
#ifndef CNC_SCRIPT_CONVERT_H
#define CNC_SCRIPT_CONVERT_H

#include <stddef.h>

#include <lua.h>

#include "cnc_record.h"

/*
 * The names a message and a result are made of, interned once per script: the functions below
 * that take them must run inside a C closure whose first upvalues are these strings, in this
 * order (cnc_script_push_keys pushes them for lua_pushcclosure).
 */
enum cnc_script_key {
    CNC_KEY_CNC_ID = 1,
    CNC_KEY_PART_PROGRAM,
    CNC_KEY_TIMESTAMP,
    CNC_KEY_PAYLOAD,
    CNC_KEY_READINGS,
    CNC_KEY_EFFICIENCY,
    CNC_KEY_ANOMALIES,
    CNC_KEY__END
};
#define CNC_SCRIPT_N_KEYS (CNC_KEY__END - 1)

/* Pushes the CNC_SCRIPT_N_KEYS key strings. */
void cnc_script_push_keys(lua_State *L);

/* A longer anomalies list is refused (each entry is compared with those already taken). */
#define CNC_SCRIPT_MAX_ANOMALIES 1024

/* Nested JSON deeper than this becomes an error of the message (allow_nested payloads). */
#define CNC_SCRIPT_MAX_DEPTH 32

/*
 * Pushes a JSON value: objects as tables, arrays as sequences, null as
 * cnc.null, integral numbers below 2^53 as integers. -1 (nothing pushed)
 * when deeper than CNC_SCRIPT_MAX_DEPTH.
 */
int cnc_script_push_json(lua_State *L, const cJSON *v, int depth);

/* Pushes {cnc_id =, part_program =, timestamp = (ms), payload =}. -1 as above. In the closure. */
int cnc_script_push_message(lua_State *L, const struct cnc_message *msg);

/*
 * Fills rec from the table at idx ({readings =, efficiency =, anomalies =}):
 * without readings, every scalar payload member (as the C handlers do).
 * Every name and string is checked (length, UTF-8, no control characters),
 * every number finite. Strings point into the Lua state: the caller keeps
 * the table reachable until it has finished with rec. 0, or -1 with a
 * reason in detail. In the closure.
 */
int cnc_script_to_record(lua_State *L, int idx, const struct cnc_message *msg,
                         struct cnc_record *rec, char *detail, size_t detail_len);

#endif
