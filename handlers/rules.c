/*
 * rules.c - threshold, z-score and stuck-value rules, see rules.h.
 *
 * Broker thread. Per-machine state: a machine table (machine_table.h) gives
 * each cnc_id a row, bounded by max_tracked_machines with the machine seen
 * least recently giving up its row; a row here holds one state per stateful
 * rule. An evicted machine's baseline starts again if it returns.
 */
#include "rules.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnc_error.h"
#include "machine_table.h"

enum rule_kind { RULE_ABOVE, RULE_BELOW, RULE_OUTSIDE, RULE_ZSCORE, RULE_STUCK };
static const char *const kind_names[] = {"above", "below", "outside", "zscore", "stuck"};

struct rule {
    enum rule_kind kind;
    char *name;
    char *variable;
    enum cnc_severity severity;
    double lo, hi; /* thresholds: above uses hi, below uses lo */
    /* zscore */
    double alpha_slow, alpha_fast, fast_sd, limit;
    double min_deviation; /* zscore: deviations below this (variable's units) never flag */
    uint32_t warmup, max_freeze;
    /* stuck */
    uint32_t samples;
    char *active_variable; /* NULL: the default activity test */
    char **active_values;
    size_t n_active_values;
    int state; /* index of this rule's state in a machine row, -1 if stateless */
};

struct zscore_state {
    double slow, fast, msd, last;
    uint32_t n, frozen;
};

struct stuck_state {
    double last;
    uint32_t count;
};

union rule_state {
    struct zscore_state z;
    struct stuck_state s;
};

struct cnc_rule_set {
    struct rule *rules;
    size_t n_rules;
    size_t n_stateful;
    struct cnc_machine_table machines;
    union rule_state *rows; /* rows_cap * n_stateful, indexed by the machine's row */
    size_t rows_cap;        /* in machines */
    uint64_t untracked;     /* messages without state: out of memory */
};

static int fail(char *err, size_t len, size_t i, const char *key, const char *msg)
{
    snprintf(err, len, "rules[%zu]%s%s: %s", i, key ? "." : "", key ? key : "", msg);
    return -1;
}

static bool number_in(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static int parse_zscore(struct rule *r, const cJSON *z, size_t i, char *err, size_t len)
{
    static const char *const keys[] = {"window", "smooth",        "limit",
                                       "warmup", "min_deviation", NULL};
    double window = 100, smooth = 1, limit = 4, warmup = -1, min_deviation = 0;
    if (!cJSON_IsObject(z)) {
        return fail(err, len, i, "zscore",
                    "must be a mapping {window, smooth, limit, warmup, min_deviation}");
    }
    for (const cJSON *m = z->child; m != NULL; m = m->next) {
        size_t k = 0;
        while (keys[k] != NULL && strcmp(keys[k], m->string) != 0) {
            k++;
        }
        char key[64];
        snprintf(key, sizeof key, "zscore.%s", m->string);
        if (keys[k] == NULL) {
            return fail(err, len, i, key,
                        "unknown key (known: window, smooth, limit, warmup, min_deviation)");
        }
        if (!cJSON_IsNumber(m) || m->valuedouble <= 0 || !isfinite(m->valuedouble)) {
            return fail(err, len, i, key, "must be a positive number");
        }
    }
    number_in(z, "window", &window);
    number_in(z, "smooth", &smooth);
    number_in(z, "limit", &limit);
    number_in(z, "warmup", &warmup);
    number_in(z, "min_deviation", &min_deviation);
    if (window < 2 || window > 1e6) {
        return fail(err, len, i, "zscore.window", "must be from 2 to 1000000 samples");
    }
    if (smooth < 1 || smooth > window) {
        return fail(err, len, i, "zscore.smooth", "must be from 1 to window samples");
    }
    r->alpha_slow = 2.0 / (window + 1.0);
    r->alpha_fast = 2.0 / (smooth + 1.0);
    /* Standard deviation of an EWMA of white noise with unit sigma. */
    r->fast_sd = sqrt(r->alpha_fast / (2.0 - r->alpha_fast));
    r->limit = limit;
    r->min_deviation = min_deviation;
    r->warmup = (uint32_t)(warmup > 0 ? warmup : window / 2 > 10 ? window / 2 : 10);
    r->max_freeze = (uint32_t)window;
    return 0;
}

static int parse_stuck(struct rule *r, const cJSON *s, size_t i, char *err, size_t len)
{
    double samples = 20;
    if (!cJSON_IsObject(s)) {
        return fail(err, len, i, "stuck", "must be a mapping {samples: N}");
    }
    for (const cJSON *m = s->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "samples") != 0) {
            char key[64];
            snprintf(key, sizeof key, "stuck.%s", m->string);
            return fail(err, len, i, key, "unknown key (known: samples)");
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(s, "samples") != NULL &&
        (!number_in(s, "samples", &samples) || samples < 2 || samples > 1e6 ||
         samples != floor(samples))) {
        return fail(err, len, i, "stuck.samples", "must be a whole number from 2 to 1000000");
    }
    r->samples = (uint32_t)samples;
    return 0;
}

/* active_when (zscore and stuck rules): which messages count as the machine working. */
static int parse_active_when(struct rule *r, const cJSON *rule, size_t i, char *err, size_t len)
{
    const cJSON *aw = cJSON_GetObjectItemCaseSensitive(rule, "active_when");
    if (aw == NULL) {
        return 0;
    }
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(aw, "variable");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(aw, "in");
    if (!cJSON_IsObject(aw) || !cJSON_IsString(var) || !cJSON_IsArray(in) ||
        cJSON_GetArraySize(aw) != 2 || cJSON_GetArraySize(in) == 0) {
        return fail(err, len, i, "active_when", "must be {variable: NAME, in: [VALUE, ...]}");
    }
    r->active_variable = strdup(var->valuestring);
    r->active_values = calloc((size_t)cJSON_GetArraySize(in), sizeof(char *));
    if (r->active_variable == NULL || r->active_values == NULL) {
        return fail(err, len, i, NULL, "out of memory");
    }
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        if (!cJSON_IsString(v)) {
            return fail(err, len, i, "active_when.in", "must be a list of strings");
        }
        if ((r->active_values[r->n_active_values] = strdup(v->valuestring)) == NULL) {
            return fail(err, len, i, NULL, "out of memory");
        }
        r->n_active_values++;
    }
    return 0;
}

static int parse_rule(struct rule *r, const cJSON *o, size_t i, char *err, size_t len)
{
    static const char *const keys[] = {"name",    "variable", "severity", "above",       "below",
                                       "outside", "zscore",   "stuck",    "active_when", NULL};
    r->state = -1;
    if (!cJSON_IsObject(o)) {
        return fail(err, len, i, NULL, "must be a mapping with variable: and one rule kind");
    }
    int kinds = 0;
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        size_t k = 0;
        while (keys[k] != NULL && strcmp(keys[k], m->string) != 0) {
            k++;
        }
        if (keys[k] == NULL) {
            return fail(err, len, i, m->string,
                        "unknown key (known: name, variable, severity, above, below, outside, "
                        "zscore, stuck, active_when)");
        }
        for (int kind = 0; kind < 5; kind++) {
            if (strcmp(m->string, kind_names[kind]) == 0) {
                r->kind = (enum rule_kind)kind;
                kinds++;
            }
        }
    }
    if (kinds != 1) {
        return fail(err, len, i, NULL, "needs exactly one of above, below, outside, zscore, stuck");
    }
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(o, "variable");
    if (!cJSON_IsString(var) || var->valuestring[0] == '\0') {
        return fail(err, len, i, "variable", "must name a payload variable");
    }
    if (strlen(var->valuestring) > CNC_DB_NAME_MAX) {
        return fail(err, len, i, "variable", "at most 64 bytes (as payload member names)");
    }
    if ((r->variable = strdup(var->valuestring)) == NULL) {
        return fail(err, len, i, NULL, "out of memory");
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (name != NULL && (!cJSON_IsString(name) || name->valuestring[0] == '\0')) {
        return fail(err, len, i, "name", "must be a non-empty string");
    }
    char dflt[128];
    snprintf(dflt, sizeof dflt, "%s_%s", r->variable, kind_names[r->kind]);
    if (strlen(name != NULL ? name->valuestring : dflt) > CNC_DB_NAME_MAX) {
        return fail(err, len, i, "name",
                    name != NULL ? "at most 64 bytes (the database's rule column)"
                                 : "the default <variable>_<kind> is over 64 bytes (the "
                                   "database's rule column): give the rule a name");
    }
    if ((r->name = strdup(name != NULL ? name->valuestring : dflt)) == NULL) {
        return fail(err, len, i, NULL, "out of memory");
    }
    r->severity = CNC_SEVERITY_WARNING;
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(o, "severity");
    if (sev != NULL) {
        int found = 0;
        for (int s = CNC_SEVERITY_INFO; s <= CNC_SEVERITY_CRITICAL; s++) {
            if (cJSON_IsString(sev) && strcmp(sev->valuestring, cnc_severity_name(s)) == 0) {
                r->severity = (enum cnc_severity)s;
                found = 1;
            }
        }
        if (!found) {
            return fail(err, len, i, "severity", "must be info, warning or critical");
        }
    }
    if (r->kind != RULE_STUCK && r->kind != RULE_ZSCORE &&
        cJSON_GetObjectItemCaseSensitive(o, "active_when") != NULL) {
        return fail(err, len, i, "active_when", "only applies to zscore and stuck rules");
    }
    const cJSON *arg = cJSON_GetObjectItemCaseSensitive(o, kind_names[r->kind]);
    switch (r->kind) {
    case RULE_ABOVE:
        if (!number_in(o, "above", &r->hi)) {
            return fail(err, len, i, "above", "must be a number");
        }
        return 0;
    case RULE_BELOW:
        if (!number_in(o, "below", &r->lo)) {
            return fail(err, len, i, "below", "must be a number");
        }
        return 0;
    case RULE_OUTSIDE: {
        const cJSON *a = cJSON_GetArrayItem(arg, 0), *b = cJSON_GetArrayItem(arg, 1);
        if (!cJSON_IsArray(arg) || cJSON_GetArraySize(arg) != 2 || !cJSON_IsNumber(a) ||
            !cJSON_IsNumber(b) || a->valuedouble > b->valuedouble) {
            return fail(err, len, i, "outside", "must be [low, high] with low <= high");
        }
        r->lo = a->valuedouble;
        r->hi = b->valuedouble;
        return 0;
    }
    case RULE_ZSCORE:
        return parse_zscore(r, arg, i, err, len) != 0 ? -1 : parse_active_when(r, o, i, err, len);
    case RULE_STUCK:
        return parse_stuck(r, arg, i, err, len) != 0 ? -1 : parse_active_when(r, o, i, err, len);
    }
    return 0;
}

struct cnc_rule_set *cnc_rules_create(const cJSON *rules, size_t max_machines, char *err,
                                      size_t err_len)
{
    size_t n = rules != NULL ? (size_t)cJSON_GetArraySize(rules) : 0;
    /* Every rule is evaluated for every message of the instance: bounded work. */
    if (n > CNC_RULES_MAX) {
        snprintf(err, err_len, "rules: %zu rules, more than %d per handler instance", n,
                 CNC_RULES_MAX);
        return NULL;
    }
    struct cnc_rule_set *rs = calloc(1, sizeof *rs);
    if (rs == NULL || (rs->rules = calloc(n ? n : 1, sizeof *rs->rules)) == NULL) {
        snprintf(err, err_len, "rules: out of memory");
        free(rs);
        return NULL;
    }
    cnc_machine_table_init(&rs->machines, max_machines);
    size_t i = 0;
    for (const cJSON *o = rules != NULL ? rules->child : NULL; o != NULL; o = o->next, i++) {
        rs->n_rules++;
        if (parse_rule(&rs->rules[i], o, i, err, err_len) != 0) {
            cnc_rules_destroy(rs);
            return NULL;
        }
        /* (rule, variable) keys a stored anomaly of a message: two rules must not share it. */
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->rules[j].name, rs->rules[i].name) == 0 &&
                strcmp(rs->rules[j].variable, rs->rules[i].variable) == 0) {
                char msg[256];
                snprintf(msg, sizeof msg,
                         "\"%.64s\" on %.64s is already rules[%zu]'s name: give one another name",
                         rs->rules[i].name, rs->rules[i].variable, j);
                fail(err, err_len, i, "name", msg);
                cnc_rules_destroy(rs);
                return NULL;
            }
        }
        if (rs->rules[i].kind == RULE_ZSCORE || rs->rules[i].kind == RULE_STUCK) {
            rs->rules[i].state = (int)rs->n_stateful++;
        }
    }
    return rs;
}

void cnc_rules_destroy(struct cnc_rule_set *rs)
{
    if (rs == NULL) {
        return;
    }
    for (size_t i = 0; i < rs->n_rules; i++) {
        struct rule *r = &rs->rules[i];
        free(r->name);
        free(r->variable);
        free(r->active_variable);
        for (size_t k = 0; k < r->n_active_values; k++) {
            free(r->active_values[k]);
        }
        free(r->active_values);
    }
    free(rs->rules);
    cnc_machine_table_free(&rs->machines);
    free(rs->rows);
    free(rs);
}

/* The state row of a machine, created on first sight; NULL only when out of memory. */
static union rule_state *machine_row(struct cnc_rule_set *rs, const char *id)
{
    bool fresh;
    long r = cnc_machine_table_row(&rs->machines, id, &fresh);
    if (r < 0) {
        return NULL;
    }
    if ((size_t)r >= rs->rows_cap) {
        size_t cap = rs->rows_cap ? rs->rows_cap * 2 : 64;
        while (cap <= (size_t)r) {
            cap *= 2;
        }
        union rule_state *rows = realloc(rs->rows, cap * rs->n_stateful * sizeof *rows);
        if (rows == NULL) {
            return NULL;
        }
        rs->rows = rows;
        rs->rows_cap = cap;
        fresh = true; /* a row the table gave out while this array could not grow */
    }
    union rule_state *row = &rs->rows[(size_t)r * rs->n_stateful];
    if (fresh) {
        memset(row, 0, rs->n_stateful * sizeof *row);
    }
    return row;
}

static void flag(struct cnc_record *rec, const struct rule *r, double value, double threshold)
{
    struct cnc_anomaly a = {
        .rule = r->name,
        .variable = r->variable,
        .value = value,
        .threshold = threshold,
        .severity = r->severity,
    };
    cnc_record_add_anomaly(rec, &a);
}

static void apply_zscore(const struct rule *r, struct zscore_state *z, double x,
                         struct cnc_record *rec)
{
    if (z->n == 0) {
        z->slow = z->fast = z->last = x;
        z->msd = 0;
        z->n = 1;
        return;
    }
    double d = x - z->last;
    z->last = x;
    z->fast += r->alpha_fast * (x - z->fast);
    if (z->n < r->warmup) {
        /* During warmup the baseline follows the recent level (the fast EWMA), so a machine
           that is still settling after a mode change does not leave a stale mean behind;
           the noise estimate is a running mean of the successive differences. */
        double a = 1.0 / (double)(z->n + 1);
        a = a > r->alpha_slow ? a : r->alpha_slow;
        z->slow = z->fast;
        z->msd += a * (d * d / 2.0 - z->msd);
        z->n++;
        return;
    }
    /* limit x the noise of the smoothed value, as if the samples were independent; a signal
       with inertia (temperature) wanders further than that, which min_deviation covers. */
    double band = r->limit * sqrt(z->msd) * r->fast_sd;
    band = band > r->min_deviation ? band : r->min_deviation;
    double dev = z->fast - z->slow;
    bool out = band > 0 ? fabs(dev) > band : dev != 0;
    if (out) {
        flag(rec, r, x, z->slow + (dev > 0 ? band : -band));
        if (z->frozen < r->max_freeze) {
            z->frozen++;
            return; /* the baseline must not learn the anomaly */
        }
    } else {
        z->frozen = 0;
    }
    z->slow += r->alpha_slow * (x - z->slow);
    z->msd += r->alpha_slow * (d * d / 2.0 - z->msd);
}

static bool string_is(const cJSON *payload, const char *name, const char *value)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
    return cJSON_IsString(v) && strcmp(v->valuestring, value) == 0;
}

/* Without active_when: working when mode is "active" or, without a mode, status "running";
   always when it has neither. */
static bool default_active(const cJSON *payload)
{
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(payload, "mode");
    if (mode != NULL) {
        return cJSON_IsString(mode) && strcmp(mode->valuestring, "active") == 0;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(payload, "status");
    if (status != NULL) {
        return cJSON_IsString(status) && strcmp(status->valuestring, "running") == 0;
    }
    return true;
}

/* *dflt caches default_active for the message (-1: not looked at yet): one look per message,
   not per rule. */
static bool machine_active(const struct rule *r, const cJSON *payload, int *dflt)
{
    if (r->active_variable != NULL) {
        for (size_t i = 0; i < r->n_active_values; i++) {
            if (string_is(payload, r->active_variable, r->active_values[i])) {
                return true;
            }
        }
        return false;
    }
    if (*dflt < 0) {
        *dflt = default_active(payload);
    }
    return *dflt != 0;
}

static void apply_stuck(const struct rule *r, struct stuck_state *s, double x, bool active,
                        struct cnc_record *rec)
{
    if (!active) {
        s->count = 0;
        return;
    }
    if (s->count > 0 && x == s->last) {
        s->count++;
    } else {
        s->count = 1;
        s->last = x;
    }
    if (s->count >= r->samples) {
        flag(rec, r, x, (double)r->samples);
    }
}

void cnc_rules_apply(struct cnc_rule_set *rs, const struct cnc_message *msg, struct cnc_record *rec)
{
    union rule_state *row = NULL;
    bool row_looked_up = false;
    int dflt_active = -1;
    for (size_t i = 0; i < rs->n_rules; i++) {
        const struct rule *r = &rs->rules[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg->payload, r->variable);
        if (!cJSON_IsNumber(v)) {
            continue;
        }
        double x = v->valuedouble;
        switch (r->kind) {
        case RULE_ABOVE:
            if (x > r->hi) {
                flag(rec, r, x, r->hi);
            }
            continue;
        case RULE_BELOW:
            if (x < r->lo) {
                flag(rec, r, x, r->lo);
            }
            continue;
        case RULE_OUTSIDE:
            if (x < r->lo || x > r->hi) {
                flag(rec, r, x, x < r->lo ? r->lo : r->hi);
            }
            continue;
        case RULE_ZSCORE:
        case RULE_STUCK:
            break;
        }
        if (!row_looked_up) {
            row = machine_row(rs, msg->cnc_id);
            row_looked_up = true;
            if (row == NULL) {
                rs->untracked++;
            }
        }
        if (row == NULL) {
            continue;
        }
        bool active = machine_active(r, msg->payload, &dflt_active);
        if (r->kind == RULE_ZSCORE) {
            if (active) {
                apply_zscore(r, &row[r->state].z, x, rec);
            } else {
                /* Another mode, another level: learn afresh when the machine works again. */
                memset(&row[r->state].z, 0, sizeof row[r->state].z);
            }
        } else {
            apply_stuck(r, &row[r->state].s, x, active, rec);
        }
    }
}

size_t cnc_rules_count(const struct cnc_rule_set *rs)
{
    return rs->n_rules;
}

size_t cnc_rules_tracked_machines(const struct cnc_rule_set *rs)
{
    return rs->machines.n_rows;
}

uint64_t cnc_rules_untracked(const struct cnc_rule_set *rs)
{
    return rs->untracked;
}

uint64_t cnc_rules_evicted(const struct cnc_rule_set *rs)
{
    return rs->machines.evicted;
}
