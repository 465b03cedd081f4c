/*
 * state_map.c - a handler instance's machine-state mapping, see state_map.h.
 *
 * Built on the broker thread at start and reload (or in the offline checker);
 * cnc_state_map_read runs on the broker thread for every message.
 */
#include "state_map.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state_value {
    char *text;
    size_t len;
    enum cnc_state_category category;
};

struct ideal_cycle {
    char *program;
    double seconds;
};

#define CNC_IDEAL_CYCLES_MAX 100000 /* part programs in states.ideal_cycle_s */

static const char *const count_keys[CNC_COUNT__N] = {"part_count_variable", "good_count_variable",
                                                     "reject_count_variable"};

struct cnc_state_map {
    char *variable;
    char *reason_variable; /* NULL: none */
    int64_t offline_after_ms;
    char *count_variable[CNC_COUNT__N]; /* NULL: not read */
    uint64_t count_wrap, max_count_step;
    struct ideal_cycle *cycles; /* sorted by program */
    size_t n_cycles;
    double default_cycle_s;     /* NaN: none */
    struct state_value *values; /* sorted by text (memcmp, then length) */
    size_t n_values;
};

static const char *const category_names[CNC_STATE__COUNT] = {
    "productive", "idle", "planned_downtime", "unplanned_downtime", "unknown"};

const char *cnc_state_category_name(enum cnc_state_category c)
{
    return (unsigned)c < CNC_STATE__COUNT ? category_names[c] : "unknown";
}

/* The shipped handlers' categories (issue #17): their seeds' status and mode values. */
static const char *const machine_tool_values[][2] = {
    {"running", "productive"},       {"idle", "idle"},
    {"setup", "planned_downtime"},   {"maintenance", "planned_downtime"},
    {"alarm", "unplanned_downtime"}, {"stopped", "unplanned_downtime"},
};
static const char *const sensor_efficiency_values[][2] = {
    {"active", "productive"},
    {"idle", "idle"},
    {"maintenance", "planned_downtime"},
    {"offline", "unplanned_downtime"},
};

static int failf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int cmp_text(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int cmp_value(const void *a, const void *b)
{
    const struct state_value *x = a, *y = b;
    return cmp_text(x->text, x->len, y->text, y->len);
}

static int add_value(struct cnc_state_map *m, const char *text, enum cnc_state_category c,
                     char *err, size_t err_len, const char *where)
{
    size_t len = strlen(text);
    if (len == 0 || len > CNC_STATE_TEXT_MAX) {
        return failf(err, err_len, "%s: a state value is 1 to %d bytes", where, CNC_STATE_TEXT_MAX);
    }
    if (m->n_values >= CNC_STATE_VALUES_MAX) {
        return failf(err, err_len, "%s: more than %d state values", where, CNC_STATE_VALUES_MAX);
    }
    for (size_t i = 0; i < m->n_values; i++) { /* at most 1024, at config time */
        if (m->values[i].len == len && memcmp(m->values[i].text, text, len) == 0) {
            return failf(err, err_len, "%s: \"%s\" is already in %s", where, text,
                         category_names[m->values[i].category]);
        }
    }
    struct state_value *v = &m->values[m->n_values];
    if ((v->text = strdup(text)) == NULL) {
        return failf(err, err_len, "%s: out of memory", where);
    }
    v->len = len;
    v->category = c;
    m->n_values++;
    return 0;
}

static int category_of(const char *name)
{
    for (int c = 0; c < CNC_STATE_UNKNOWN; c++) {
        if (strcmp(name, category_names[c]) == 0) {
            return c;
        }
    }
    return -1;
}

static int read_categories(struct cnc_state_map *m, const cJSON *cats, char *err, size_t err_len)
{
    if (!cJSON_IsObject(cats)) {
        return failf(err, err_len,
                     "states.categories: must be a mapping of category to a list of values "
                     "(productive, idle, planned_downtime, unplanned_downtime)");
    }
    for (const cJSON *c = cats->child; c != NULL; c = c->next) {
        int cat = category_of(c->string);
        if (cat < 0) {
            return failf(err, err_len,
                         "states.categories.%.64s: unknown category (known: productive, idle, "
                         "planned_downtime, unplanned_downtime)",
                         c->string);
        }
        if (!cJSON_IsArray(c)) {
            return failf(err, err_len, "states.categories.%s: must be a list of state values",
                         c->string);
        }
        int i = 0;
        for (const cJSON *v = c->child; v != NULL; v = v->next, i++) {
            char where[128];
            snprintf(where, sizeof where, "states.categories.%s[%d]", c->string, i);
            char num[32];
            const char *text = NULL;
            if (cJSON_IsString(v)) {
                text = v->valuestring;
            } else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
                       fabs(v->valuedouble) < 1e15) {
                snprintf(num, sizeof num, "%.0f", v->valuedouble);
                text = num;
            } else if (cJSON_IsBool(v)) {
                text = cJSON_IsTrue(v) ? "true" : "false";
            }
            if (text == NULL) {
                return failf(err, err_len, "%s: must be a string or an integer state code", where);
            }
            if (add_value(m, text, (enum cnc_state_category)cat, err, err_len, where) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int defaults_for(struct cnc_state_map *m, const char *type_name, const cJSON *params,
                        char *err, size_t err_len)
{
    const char *const(*table)[2] = NULL;
    size_t n = 0;
    const char *param = NULL, *variable = NULL;
    if (strcmp(type_name, "machine_tool") == 0) {
        table = machine_tool_values;
        n = sizeof machine_tool_values / sizeof machine_tool_values[0];
        param = "status_variable";
        variable = "status";
    } else if (strcmp(type_name, "sensor_efficiency") == 0) {
        table = sensor_efficiency_values;
        n = sizeof sensor_efficiency_values / sizeof sensor_efficiency_values[0];
        param = "mode_variable";
        variable = "mode";
    }
    if (variable != NULL && m->variable == NULL) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, param);
        if ((m->variable = strdup(cJSON_IsString(v) ? v->valuestring : variable)) == NULL) {
            return failf(err, err_len, "states: out of memory");
        }
    }
    if (m->n_values == 0) {
        for (size_t i = 0; i < n; i++) {
            if (add_value(m, table[i][0], (enum cnc_state_category)category_of(table[i][1]), err,
                          err_len, "states") != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int read_name(const cJSON *v, const char *key, char **out, char *err, size_t err_len)
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) > CNC_DB_NAME_MAX) {
        return failf(err, err_len, "states.%s: must be a payload member name (at most %d bytes)",
                     key, CNC_DB_NAME_MAX);
    }
    if ((*out = strdup(v->valuestring)) == NULL) {
        return failf(err, err_len, "states.%s: out of memory", key);
    }
    return 0;
}

static int count_index(const char *key)
{
    for (int c = 0; c < CNC_COUNT__N; c++) {
        if (strcmp(key, count_keys[c]) == 0) {
            return c;
        }
    }
    return -1;
}

static int cmp_cycle(const void *a, const void *b)
{
    return strcmp(((const struct ideal_cycle *)a)->program,
                  ((const struct ideal_cycle *)b)->program);
}

/* ideal_cycle_s: {default: S, PROGRAM: S, ...}, seconds > 0. */
static int read_cycles(struct cnc_state_map *m, const cJSON *c, char *err, size_t err_len)
{
    if (!cJSON_IsObject(c)) {
        return failf(err, err_len,
                     "states.ideal_cycle_s: must be a mapping of part program to seconds (and "
                     "default)");
    }
    size_t n = 0;
    for (const cJSON *e = c->child; e != NULL; e = e->next) {
        n++;
    }
    if (n > CNC_IDEAL_CYCLES_MAX) {
        return failf(err, err_len, "states.ideal_cycle_s: more than %d part programs",
                     CNC_IDEAL_CYCLES_MAX);
    }
    if ((m->cycles = calloc(n ? n : 1, sizeof *m->cycles)) == NULL) {
        return failf(err, err_len, "states.ideal_cycle_s: out of memory");
    }
    for (const cJSON *e = c->child; e != NULL; e = e->next) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || e->valuedouble > 86400 * 365.0) {
            return failf(err, err_len,
                         "states.ideal_cycle_s.%.128s: must be a number of seconds above 0",
                         e->string);
        }
        if (strcmp(e->string, "default") == 0) {
            m->default_cycle_s = e->valuedouble;
            continue;
        }
        if (strlen(e->string) > 128) {
            return failf(err, err_len, "states.ideal_cycle_s: a part program is at most 128 bytes");
        }
        struct ideal_cycle *ic = &m->cycles[m->n_cycles];
        if ((ic->program = strdup(e->string)) == NULL) {
            return failf(err, err_len, "states.ideal_cycle_s: out of memory");
        }
        ic->seconds = e->valuedouble;
        m->n_cycles++;
    }
    qsort(m->cycles, m->n_cycles, sizeof *m->cycles, cmp_cycle);
    return 0;
}

static int read_states(struct cnc_state_map *m, const cJSON *states, bool *off, char *err,
                       size_t err_len)
{
    if (!cJSON_IsObject(states)) {
        return failf(err, err_len,
                     "states: must be a mapping (variable, categories, reason_variable, "
                     "offline_after_s)");
    }
    for (const cJSON *k = states->child; k != NULL; k = k->next) {
        if (strcmp(k->string, "variable") == 0) {
            if (read_name(k, "variable", &m->variable, err, err_len) != 0) {
                return -1;
            }
            *off = m->variable[0] == '\0';
        } else if (strcmp(k->string, "reason_variable") == 0) {
            if (read_name(k, "reason_variable", &m->reason_variable, err, err_len) != 0) {
                return -1;
            }
            if (m->reason_variable[0] == '\0') {
                return failf(err, err_len, "states.reason_variable: must not be empty");
            }
        } else if (strcmp(k->string, "offline_after_s") == 0) {
            if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) ||
                k->valuedouble < 1 || k->valuedouble > CNC_OFFLINE_AFTER_S_MAX) {
                return failf(err, err_len,
                             "states.offline_after_s: must be an integer from 1 to %d (seconds)",
                             CNC_OFFLINE_AFTER_S_MAX);
            }
            m->offline_after_ms = (int64_t)k->valuedouble * 1000;
        } else if (strcmp(k->string, "categories") == 0) {
            if (read_categories(m, k, err, err_len) != 0) {
                return -1;
            }
        } else if (count_index(k->string) >= 0) {
            int c = count_index(k->string);
            if (m->count_variable[c] != NULL) {
                return failf(err, err_len, "states.%s: duplicate key", k->string);
            }
            if (read_name(k, k->string, &m->count_variable[c], err, err_len) != 0) {
                return -1;
            }
            if (m->count_variable[c][0] == '\0') {
                return failf(err, err_len, "states.%s: must not be empty", k->string);
            }
        } else if (strcmp(k->string, "count_wrap") == 0 ||
                   strcmp(k->string, "max_count_step") == 0) {
            bool wrap = k->string[0] == 'c';
            if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) ||
                k->valuedouble < (wrap ? 2 : 1) || k->valuedouble > 9007199254740992.0) {
                return failf(err, err_len, "states.%s: must be an integer from %d to 2^53",
                             k->string, wrap ? 2 : 1);
            }
            *(wrap ? &m->count_wrap : &m->max_count_step) = (uint64_t)k->valuedouble;
        } else if (strcmp(k->string, "ideal_cycle_s") == 0) {
            if (read_cycles(m, k, err, err_len) != 0) {
                return -1;
            }
        } else {
            return failf(err, err_len,
                         "states.%.64s: unknown key (known keys: variable, categories, "
                         "reason_variable, offline_after_s, part_count_variable, "
                         "good_count_variable, reject_count_variable, count_wrap, "
                         "max_count_step, ideal_cycle_s)",
                         k->string);
        }
    }
    return 0;
}

int cnc_state_map_create(const char *type_name, const cJSON *params, const cJSON *states,
                         struct cnc_state_map **out, char *err, size_t err_len)
{
    *out = NULL;
    struct cnc_state_map *m = calloc(1, sizeof *m);
    if (m == NULL || (m->values = calloc(CNC_STATE_VALUES_MAX, sizeof *m->values)) == NULL) {
        free(m);
        return failf(err, err_len, "states: out of memory");
    }
    m->offline_after_ms = (int64_t)CNC_OFFLINE_AFTER_S_DEFAULT * 1000;
    m->max_count_step = CNC_MAX_COUNT_STEP_DEFAULT;
    m->default_cycle_s = NAN;
    bool off = false;
    if ((states != NULL && read_states(m, states, &off, err, err_len) != 0) ||
        defaults_for(m, type_name, params, err, err_len) != 0) {
        cnc_state_map_destroy(m);
        return -1;
    }
    if (off || m->variable == NULL) {
        if (!off && states != NULL) {
            cnc_state_map_destroy(m);
            return failf(err, err_len,
                         "states.variable: required for a handler of type %s (which payload "
                         "member holds the machine's state)",
                         type_name);
        }
        cnc_state_map_destroy(m);
        return 0; /* tracks nothing */
    }
    qsort(m->values, m->n_values, sizeof *m->values, cmp_value);
    *out = m;
    return 0;
}

void cnc_state_map_destroy(struct cnc_state_map *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; m->values != NULL && i < m->n_values; i++) {
        free(m->values[i].text);
    }
    free(m->values);
    free(m->variable);
    free(m->reason_variable);
    for (int c = 0; c < CNC_COUNT__N; c++) {
        free(m->count_variable[c]);
    }
    for (size_t i = 0; m->cycles != NULL && i < m->n_cycles; i++) {
        free(m->cycles[i].program);
    }
    free(m->cycles);
    free(m);
}

/* A member's value as state text: a string as it is, an integer code or a boolean printed. */
static bool value_text(const cJSON *v, char *scratch, size_t size, const char **text, size_t *len)
{
    if (cJSON_IsString(v)) {
        *text = v->valuestring;
        *len = strlen(v->valuestring);
        return *len > 0;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        fabs(v->valuedouble) < 1e15) {
        *len = (size_t)snprintf(scratch, size, "%.0f", v->valuedouble);
        *text = scratch;
        return true;
    }
    if (cJSON_IsBool(v)) {
        *text = cJSON_IsTrue(v) ? "true" : "false";
        *len = strlen(*text);
        return true;
    }
    return false;
}

void cnc_state_map_read(const struct cnc_state_map *m, const struct cnc_message *msg,
                        struct cnc_state_reading *r)
{
    r->present = false;
    r->reason = NULL;
    r->reason_len = 0;
    for (int c = 0; c < CNC_COUNT__N; c++) {
        r->has_count[c] = false;
        if (m->count_variable[c] == NULL) {
            continue;
        }
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(msg->payload, m->count_variable[c]);
        if (cJSON_IsNumber(cv) && cv->valuedouble >= 0 && cv->valuedouble <= 9007199254740992.0 &&
            cv->valuedouble == floor(cv->valuedouble)) {
            r->has_count[c] = true;
            r->count[c] = (uint64_t)cv->valuedouble;
        }
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg->payload, m->variable);
    if (v == NULL ||
        !value_text(v, r->scratch[0], sizeof r->scratch[0], &r->state, &r->state_len)) {
        return;
    }
    r->present = true;
    r->category = CNC_STATE_UNKNOWN;
    size_t lo = 0, hi = m->n_values;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_text(m->values[mid].text, m->values[mid].len, r->state, r->state_len);
        if (c == 0) {
            r->category = m->values[mid].category;
            break;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (m->reason_variable != NULL) {
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(msg->payload, m->reason_variable);
        if (rv != NULL &&
            !value_text(rv, r->scratch[1], sizeof r->scratch[1], &r->reason, &r->reason_len)) {
            r->reason = NULL;
            r->reason_len = 0;
        }
    }
}

int64_t cnc_state_map_offline_after_ms(const struct cnc_state_map *m)
{
    return m->offline_after_ms;
}

uint64_t cnc_state_map_count_wrap(const struct cnc_state_map *m)
{
    return m->count_wrap;
}

uint64_t cnc_state_map_max_count_step(const struct cnc_state_map *m)
{
    return m->max_count_step;
}

unsigned cnc_state_map_counters(const struct cnc_state_map *m)
{
    unsigned bits = 0;
    for (int c = 0; c < CNC_COUNT__N; c++) {
        bits |= m->count_variable[c] != NULL ? 1u << c : 0;
    }
    return bits;
}

double cnc_state_map_ideal_cycle_s(const struct cnc_state_map *m, const char *part_program)
{
    size_t lo = 0, hi = m->n_cycles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->cycles[mid].program, part_program);
        if (c == 0) {
            return m->cycles[mid].seconds;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return m->default_cycle_s;
}

const char *cnc_state_map_variable(const struct cnc_state_map *m)
{
    return m->variable;
}

cJSON *cnc_state_map_describe(const struct cnc_state_map *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cats = cJSON_AddObjectToObject(o, "categories");
    if (cJSON_AddStringToObject(o, "variable", m->variable) == NULL || cats == NULL ||
        cJSON_AddNumberToObject(o, "offline_after_s", (double)(m->offline_after_ms / 1000)) ==
            NULL ||
        (m->reason_variable != NULL &&
         cJSON_AddStringToObject(o, "reason_variable", m->reason_variable) == NULL)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int c = 0; c < CNC_STATE_UNKNOWN; c++) {
        cJSON *list = cJSON_AddArrayToObject(cats, category_names[c]);
        for (size_t i = 0; list != NULL && i < m->n_values; i++) {
            if (m->values[i].category == (enum cnc_state_category)c) {
                cJSON_AddItemToArray(list, cJSON_CreateString(m->values[i].text));
            }
        }
    }
    return o;
}
