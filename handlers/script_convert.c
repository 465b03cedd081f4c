/*
 * script_convert.c - messages into Lua tables, script results into records;
 * see script_convert.h.
 *
 * Broker thread.
 */
#include "script_convert.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "readings.h"
#include "script_sandbox.h"
#include "utf8.h"

int cnc_script_push_json(lua_State *L, const cJSON *v, int depth)
{
    if (depth > CNC_SCRIPT_MAX_DEPTH) {
        return -1;
    }
    luaL_checkstack(L, 3, "payload nesting");
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        bool obj = cJSON_IsObject(v);
        lua_createtable(L, obj ? 0 : n, obj ? n : 0);
        lua_Integer i = 1;
        for (const cJSON *c = v->child; c != NULL; c = c->next, i++) {
            if (cnc_script_push_json(L, c, depth + 1) != 0) {
                lua_pop(L, 1);
                return -1;
            }
            if (obj) {
                lua_setfield(L, -2, c->string);
            } else {
                lua_rawseti(L, -2, i);
            }
        }
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) {
            lua_pushinteger(L, (lua_Integer)d);
        } else {
            lua_pushnumber(L, d);
        }
    } else if (cJSON_IsString(v)) {
        lua_pushstring(L, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else {
        lua_pushlightuserdata(L, cnc_sandbox_null());
    }
    return 0;
}

void cnc_script_push_keys(lua_State *L)
{
    static const char *const names[CNC_SCRIPT_N_KEYS] = {
        "cnc_id", "part_program", "timestamp", "payload", "readings", "efficiency", "anomalies"};
    for (int i = 0; i < CNC_SCRIPT_N_KEYS; i++) {
        lua_pushstring(L, names[i]);
    }
}

/* t[key] = the value at the top (popped); t at -2 before the key is pushed. */
static void set_key(lua_State *L, enum cnc_script_key key)
{
    lua_pushvalue(L, lua_upvalueindex(key));
    lua_insert(L, -2);
    lua_rawset(L, -3);
}

int cnc_script_push_message(lua_State *L, const struct cnc_message *msg)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, msg->cnc_id);
    set_key(L, CNC_KEY_CNC_ID);
    lua_pushstring(L, msg->part_program);
    set_key(L, CNC_KEY_PART_PROGRAM);
    lua_pushinteger(L, (lua_Integer)msg->ts_ms);
    set_key(L, CNC_KEY_TIMESTAMP);
    if (cnc_script_push_json(L, msg->payload, 0) != 0) {
        lua_pop(L, 1);
        return -1;
    }
    set_key(L, CNC_KEY_PAYLOAD);
    return 0;
}

/*
 * t[k] without metamethods: converting a result never runs script code, and every string the
 * record points to is reachable from the result table the handler keeps alive. idx absolute.
 */
static int raw_field(lua_State *L, int idx, const char *k)
{
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

static int fail(char *detail, size_t len, const char *fmt, const char *a, const char *b)
{
    char shown[80];
    utf8_copy_valid(a, strlen(a), shown, 64, false, NULL);
    utf8_make_loggable(shown, sizeof shown);
    snprintf(detail, len, fmt, shown, b);
    return -1;
}

/* A name the database and every subscriber can take: 1..max bytes of printable UTF-8. */
static const char *name_at(lua_State *L, int idx, size_t max, const char *what, char *detail,
                           size_t len)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        snprintf(detail, len, "script returned %s that is a %s, not a string", what,
                 luaL_typename(L, idx));
        return NULL;
    }
    size_t n, chars;
    const char *s = lua_tolstring(L, idx, &n);
    if (n == 0 || n > max || utf8_invalid_at(s, n) != n || !utf8_printable(s, n, &chars)) {
        char shown[80];
        utf8_copy_valid(s, n, shown, 64, false, NULL);
        utf8_make_loggable(shown, sizeof shown);
        snprintf(detail, len,
                 "script returned %s \"%s\"%s that is no name (1-%zu bytes of "
                 "printable UTF-8)",
                 what, shown, n > 64 ? "..." : "", max);
        return NULL;
    }
    return s;
}

static bool number_at(lua_State *L, int idx, double *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER) {
        return false;
    }
    *out = lua_tonumber(L, idx);
    return isfinite(*out);
}

static int cmp_reading(const void *a, const void *b)
{
    return strcmp(((const struct cnc_reading *)a)->name, ((const struct cnc_reading *)b)->name);
}

/* result.readings (at idx): name -> number | boolean | string | cnc.null, stored by name. */
static int readings_from_table(lua_State *L, int idx, struct cnc_record *rec, char *detail,
                               size_t len)
{
    size_t first = rec->n_readings;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        struct cnc_reading r = {0};
        if ((r.name = name_at(L, -2, CNC_DB_NAME_MAX, "a reading name", detail, len)) == NULL) {
            return -1;
        }
        int t = lua_type(L, -1);
        if (t == LUA_TNUMBER) {
            r.kind = CNC_VALUE_NUMBER;
            if (!number_at(L, -1, &r.num)) {
                return fail(detail, len, "script returned reading %s%s: not a finite number",
                            r.name, "");
            }
        } else if (t == LUA_TBOOLEAN) {
            r.kind = CNC_VALUE_BOOL;
            r.num = lua_toboolean(L, -1);
        } else if (t == LUA_TSTRING) {
            size_t n;
            r.kind = CNC_VALUE_STRING;
            r.str = lua_tolstring(L, -1, &n);
            if (n > 256 || utf8_invalid_at(r.str, n) != n) {
                return fail(detail, len,
                            "script returned reading %s%s: a string of at most 256 bytes "
                            "of UTF-8 without NUL",
                            r.name, "");
            }
        } else if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == cnc_sandbox_null()) {
            r.kind = CNC_VALUE_NULL;
        } else {
            return fail(detail, len,
                        "script returned reading %s as a %s (a number, boolean, string or "
                        "cnc.null)",
                        r.name, luaL_typename(L, -1));
        }
        if (cnc_record_add_reading(rec, &r) != 0) {
            snprintf(detail, len, "script returned more readings than a record holds (%zu)",
                     rec->max_readings);
            return -1;
        }
        lua_pop(L, 1);
    }
    qsort(rec->readings + first, rec->n_readings - first, sizeof *rec->readings, cmp_reading);
    return 0;
}

static const char *const levels[] = {"Low", "Medium", "High", "Critical", NULL};

static int efficiency_from_table(lua_State *L, int idx, struct cnc_efficiency *e, char *detail,
                                 size_t len)
{
    static const char *const numbers[] = {"temperature", "vibration", "score"};
    double *out[] = {&e->temperature, &e->vibration, &e->score};
    for (int i = 0; i < 3; i++) {
        raw_field(L, idx, numbers[i]);
        if (!number_at(L, -1, out[i])) {
            return fail(detail, len, "script returned efficiency.%s%s: not a finite number",
                        numbers[i], "");
        }
        lua_pop(L, 1);
    }
    if (e->score < 0 || e->score > 100) {
        return fail(detail, len, "script returned efficiency.score%s%s outside 0..100", "", "");
    }
    raw_field(L, idx, "mode");
    if ((e->mode = name_at(L, -1, CNC_DB_MODE_MAX, "efficiency.mode", detail, len)) == NULL) {
        return -1;
    }
    raw_field(L, idx, "level");
    size_t level_len = 0;
    const char *level = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &level_len) : "";
    for (int i = 0; levels[i] != NULL; i++) {
        if (level_len == strlen(levels[i]) && memcmp(level, levels[i], level_len) == 0) {
            e->level = levels[i];
        }
    }
    if (e->level == NULL) {
        return fail(detail, len,
                    "script returned efficiency.level \"%s\"%s: not one of Low, "
                    "Medium, High, Critical",
                    level, "");
    }
    raw_field(L, idx, "is_anomaly");
    e->is_anomaly = lua_toboolean(L, -1);
    lua_pop(L, 3);
    e->present = 1;
    return 0;
}

static int severity_at(lua_State *L, int idx, enum cnc_severity *out)
{
    if (lua_isnil(L, idx)) {
        *out = CNC_SEVERITY_WARNING;
        return 0;
    }
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "";
    for (int i = CNC_SEVERITY_INFO; i <= CNC_SEVERITY_CRITICAL; i++) {
        if (strcmp(s, cnc_severity_name((enum cnc_severity)i)) == 0) {
            *out = (enum cnc_severity)i;
            return 0;
        }
    }
    return -1;
}

/* result.anomalies: a list of {rule, variable, value, threshold?, severity?}. */
static int anomalies_from_table(lua_State *L, int idx, struct cnc_record *rec, char *detail,
                                size_t len)
{
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > CNC_SCRIPT_MAX_ANOMALIES) {
        snprintf(detail, len, "script returned %llu anomalies, more than %d", (unsigned long long)n,
                 CNC_SCRIPT_MAX_ANOMALIES);
        return -1;
    }
    for (lua_Unsigned i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, (lua_Integer)i) != LUA_TTABLE) {
            snprintf(detail, len, "script returned anomalies[%llu] that is a %s, not a table",
                     (unsigned long long)i, luaL_typename(L, -1));
            return -1;
        }
        int a_idx = lua_gettop(L);
        struct cnc_anomaly a = {.threshold = NAN};
        raw_field(L, a_idx, "rule");
        raw_field(L, a_idx, "variable");
        raw_field(L, a_idx, "value");
        raw_field(L, a_idx, "threshold");
        raw_field(L, a_idx, "severity");
        if ((a.rule = name_at(L, a_idx + 1, CNC_DB_NAME_MAX, "an anomaly rule", detail, len)) ==
                NULL ||
            (a.variable = name_at(L, a_idx + 2, CNC_DB_NAME_MAX, "an anomaly variable", detail,
                                  len)) == NULL) {
            return -1;
        }
        if (!number_at(L, a_idx + 3, &a.value) ||
            (!lua_isnil(L, a_idx + 4) && !number_at(L, a_idx + 4, &a.threshold))) {
            return fail(detail, len,
                        "script returned anomaly %s: value and threshold must be finite "
                        "numbers%s",
                        a.rule, "");
        }
        if (severity_at(L, a_idx + 5, &a.severity) != 0) {
            return fail(detail, len,
                        "script returned anomaly %s: severity is info, warning or critical%s",
                        a.rule, "");
        }
        /* (rule, variable) keys a stored anomaly: a repeat adds nothing. */
        bool repeat = false;
        for (size_t k = 0; k < rec->n_anomalies && !repeat; k++) {
            repeat = strcmp(rec->anomalies[k].rule, a.rule) == 0 &&
                     strcmp(rec->anomalies[k].variable, a.variable) == 0;
        }
        if (!repeat) {
            cnc_record_add_anomaly(rec, &a); /* a full record drops further flags, as in C */
        }
        lua_settop(L, a_idx - 1);
    }
    return 0;
}

int cnc_script_to_record(lua_State *L, int idx, const struct cnc_message *msg,
                         struct cnc_record *rec, char *detail, size_t detail_len)
{
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, lua_upvalueindex(CNC_KEY_READINGS));
    lua_rawget(L, idx);
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) {
        if (cnc_readings_from_payload(msg->payload, rec, detail, detail_len) != 0) {
            return -1;
        }
    } else if (t != LUA_TTABLE ||
               readings_from_table(L, lua_gettop(L), rec, detail, detail_len) != 0) {
        if (t != LUA_TTABLE) {
            snprintf(detail, detail_len, "script returned readings as a %s, not a table",
                     lua_typename(L, t));
        }
        return -1;
    }
    lua_pushvalue(L, lua_upvalueindex(CNC_KEY_EFFICIENCY));
    lua_rawget(L, idx);
    t = lua_type(L, -1);
    if (t != LUA_TNIL &&
        (t != LUA_TTABLE ||
         efficiency_from_table(L, lua_gettop(L), &rec->efficiency, detail, detail_len) != 0)) {
        if (t != LUA_TTABLE) {
            snprintf(detail, detail_len, "script returned efficiency as a %s, not a table",
                     lua_typename(L, t));
        }
        return -1;
    }
    lua_pushvalue(L, lua_upvalueindex(CNC_KEY_ANOMALIES));
    lua_rawget(L, idx);
    t = lua_type(L, -1);
    if (t != LUA_TNIL &&
        (t != LUA_TTABLE || anomalies_from_table(L, lua_gettop(L), rec, detail, detail_len) != 0)) {
        if (t != LUA_TTABLE) {
            snprintf(detail, detail_len, "script returned anomalies as a %s, not a list",
                     lua_typename(L, t));
        }
        return -1;
    }
    lua_settop(L, idx);
    return 0;
}
