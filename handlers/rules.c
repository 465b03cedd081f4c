/*
 * rules.c - threshold, z-score, Hampel (median/MAD) and stuck-value rules,
 * see rules.h.
 *
 * Broker thread. Per-machine state: a machine table (machine_table.h) gives
 * each cnc_id a row, bounded by max_tracked_machines with the machine seen
 * least recently giving up its row; a row here holds the state of every
 * stateful rule side by side, each at its own offset (a z-score 40 bytes, a
 * stuck rule 16, a Hampel rule 8 + 16 * window: its last `window` values in
 * arrival order and sorted). An evicted machine's baseline starts again if
 * it returns. Nothing is allocated per message: the rows grow (doubling)
 * only when a machine is seen for the first time.
 */
#include "rules.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnc_error.h"
#include "machine_table.h"

enum rule_kind { RULE_ABOVE, RULE_BELOW, RULE_OUTSIDE, RULE_ZSCORE, RULE_STUCK, RULE_HAMPEL };
static const char *const kind_names[] = {"above", "below", "outside", "zscore", "stuck", "hampel"};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

/* A Hampel window's bounds: its work per message (a binary search and a move of at most this
   many values, the MAD in half as many steps) and its bytes per machine (16 per sample). */
#define HAMPEL_WINDOW_MIN 3
#define HAMPEL_WINDOW_MAX 63

struct rule {
    enum rule_kind kind;
    char *name;
    char *variable;
    enum cnc_severity severity;
    double lo, hi; /* thresholds: above uses hi, below uses lo */
    /* zscore, hampel */
    double alpha_slow, alpha_fast, fast_sd, limit;
    double min_deviation; /* deviations below this (variable's units) never flag */
    uint32_t warmup, max_freeze;
    /* hampel */
    uint32_t window;
    /* stuck */
    uint32_t samples;
    char *active_variable; /* NULL: the default activity test */
    char **active_values;
    size_t n_active_values;
    size_t state; /* offset of this rule's state in a machine row (stateful kinds) */
};

struct zscore_state {
    double slow, fast, msd, last;
    uint32_t n, frozen;
};

struct stuck_state {
    double last;
    uint32_t count;
};

/* The last n (at most window) values: v[0..window) in arrival order, a ring whose oldest is at
   head once full, and v[window..window + n) the same values sorted; the long-run mean of the
   window's robust sigma over the `judged` samples so far (at most the last 10 windows). */
struct hampel_state {
    uint32_t n, head, judged;
    double scale;
    double v[];
};

struct cnc_rule_set {
    struct rule *rules;
    size_t n_rules;
    size_t row_size; /* bytes of state per machine: every stateful rule's, each 8-aligned */
    struct cnc_machine_table machines;
    unsigned char *rows; /* rows_cap * row_size, indexed by the machine's row */
    size_t rows_cap;     /* in machines */
    uint64_t untracked;  /* messages without state: out of memory */
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

static bool whole(double x, double lo, double hi)
{
    return x >= lo && x <= hi && x == floor(x);
}

static int parse_hampel(struct rule *r, const cJSON *h, size_t i, char *err, size_t len)
{
    static const char *const keys[] = {"window", "limit", "min_deviation", "warmup", NULL};
    double window = 15, limit = 5, min_deviation = 0, warmup = -1;
    if (!cJSON_IsObject(h)) {
        return fail(err, len, i, "hampel",
                    "must be a mapping {window, limit, min_deviation, warmup}");
    }
    for (const cJSON *m = h->child; m != NULL; m = m->next) {
        size_t k = 0;
        while (keys[k] != NULL && strcmp(keys[k], m->string) != 0) {
            k++;
        }
        char key[64];
        snprintf(key, sizeof key, "hampel.%s", m->string);
        if (keys[k] == NULL) {
            return fail(err, len, i, key,
                        "unknown key (known: window, limit, min_deviation, warmup)");
        }
        if (!cJSON_IsNumber(m) || m->valuedouble <= 0 || !isfinite(m->valuedouble)) {
            return fail(err, len, i, key, "must be a positive number");
        }
    }
    number_in(h, "window", &window);
    number_in(h, "limit", &limit);
    number_in(h, "min_deviation", &min_deviation);
    number_in(h, "warmup", &warmup);
    if (!whole(window, HAMPEL_WINDOW_MIN, HAMPEL_WINDOW_MAX)) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be a whole number from %d to %d samples", HAMPEL_WINDOW_MIN,
                 HAMPEL_WINDOW_MAX);
        return fail(err, len, i, "hampel.window", msg);
    }
    if (warmup > 0 && !whole(warmup, HAMPEL_WINDOW_MIN, window)) {
        return fail(err, len, i, "hampel.warmup",
                    "must be a whole number from 3 to window samples");
    }
    r->window = (uint32_t)window;
    r->warmup = (uint32_t)(warmup > 0 ? warmup : window);
    r->limit = limit;
    r->min_deviation = min_deviation;
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

/* active_when (zscore, hampel and stuck rules): which messages count as the machine working. */
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
    static const char *const keys[] = {"name",   "variable",    "severity", "above",
                                       "below",  "outside",     "zscore",   "stuck",
                                       "hampel", "active_when", NULL};
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
                        "zscore, hampel, stuck, active_when)");
        }
        for (size_t kind = 0; kind < N_KINDS; kind++) {
            if (strcmp(m->string, kind_names[kind]) == 0) {
                r->kind = (enum rule_kind)kind;
                kinds++;
            }
        }
    }
    if (kinds != 1) {
        return fail(err, len, i, NULL,
                    "needs exactly one of above, below, outside, zscore, hampel, stuck");
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
    if (r->kind != RULE_STUCK && r->kind != RULE_ZSCORE && r->kind != RULE_HAMPEL &&
        cJSON_GetObjectItemCaseSensitive(o, "active_when") != NULL) {
        return fail(err, len, i, "active_when", "only applies to zscore, hampel and stuck rules");
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
    case RULE_HAMPEL:
        return parse_hampel(r, arg, i, err, len) != 0 ? -1 : parse_active_when(r, o, i, err, len);
    }
    return 0;
}

/* Bytes of per-machine state of a rule (0: stateless), a multiple of 8 (the row's alignment). */
static size_t state_size(const struct rule *r)
{
    switch (r->kind) {
    case RULE_ZSCORE:
        return sizeof(struct zscore_state);
    case RULE_STUCK:
        return sizeof(struct stuck_state);
    case RULE_HAMPEL:
        return sizeof(struct hampel_state) + 2 * r->window * sizeof(double);
    default:
        return 0;
    }
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
        rs->rules[i].state = rs->row_size;
        rs->row_size += state_size(&rs->rules[i]);
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
static unsigned char *machine_row(struct cnc_rule_set *rs, const char *id)
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
        unsigned char *rows = realloc(rs->rows, cap * rs->row_size);
        if (rows == NULL) {
            return NULL;
        }
        rs->rows = rows;
        rs->rows_cap = cap;
        fresh = true; /* a row the table gave out while this array could not grow */
    }
    unsigned char *row = &rs->rows[(size_t)r * rs->row_size];
    if (fresh) {
        memset(row, 0, rs->row_size);
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

/* Index of the first of sorted[0..n) not less than x. */
static uint32_t lower_bound(const double *sorted, uint32_t n, double x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/*
 * The median of sorted[0..n) and the median of the absolute deviations from it (MAD), in n/2
 * steps: the deviations are already in order going outward from the middle on either side, so
 * the two runs are merged until the middle one.
 */
static void median_mad(const double *sorted, uint32_t n, double *median, double *mad)
{
    double m = n % 2 ? sorted[n / 2] : sorted[n / 2 - 1] / 2 + sorted[n / 2] / 2; /* no overflow */
    int64_t lo = (int64_t)(n - 1) / 2, hi = lo + 1;
    double prev = 0, cur = 0;
    for (uint32_t k = 0; k <= n / 2; k++) {
        prev = cur;
        if (hi >= (int64_t)n || (lo >= 0 && m - sorted[lo] <= sorted[hi] - m)) {
            cur = m - sorted[lo--];
        } else {
            cur = sorted[hi++] - m;
        }
    }
    *median = m;
    *mad = n % 2 ? cur : (prev + cur) / 2;
}

/*
 * Hampel filter over the machine's last `window` values: x is an outlier when it lies more than
 * `limit` robust sigmas (1.4826 MAD, the sigma of normal noise) and more than min_deviation from
 * their median. A spike does not move the median or the MAD of the values around it, as it moves
 * a mean and a variance; a trend or a ramp spreads the window, and with it the MAD, so it does
 * not read as an outlier. Flagged values enter the window too: a lasting step becomes the median
 * after window/2 samples and stops alarming.
 *
 * The MAD of a few samples is a noisy sigma: on normal noise, one sample in 100 lies 4 of a
 * 15-sample window's MAD sigmas out. So the sigma is at least the long-run mean of the window's
 * (over the last ten windows or so; the machine's noise level), which takes that to 1 in 3,000;
 * the window's own sigma still widens the band on a ramp.
 */
static void apply_hampel(const struct rule *r, struct hampel_state *h, double x,
                         struct cnc_record *rec)
{
    uint32_t w = r->window;
    double *ring = h->v, *sorted = h->v + w;
    if (h->n >= r->warmup) {
        double median, mad;
        median_mad(sorted, h->n, &median, &mad);
        double sigma = 1.4826 * mad;
        if (sigma == 0) {
            /* More than half the window alike (a quantized or idle value): the mean absolute
               deviation, the sigma of normal noise times 0.7979, instead. */
            double sum = 0;
            for (uint32_t k = 0; k < h->n; k++) {
                sum += fabs(sorted[k] - median);
            }
            sigma = 1.2533 * sum / h->n;
        }
        if (isfinite(sigma)) { /* a window spanning +-1e308 has no sigma: it flags nothing */
            h->judged += h->judged < UINT32_MAX;
            double a = 1.0 / (double)h->judged, a_min = 0.1 / (double)w;
            h->scale += (a > a_min ? a : a_min) * (sigma - h->scale);
            sigma = sigma > h->scale ? sigma : h->scale;
        }
        double band = r->limit * sigma;
        band = band > r->min_deviation ? band : r->min_deviation;
        double dev = x - median;
        if (band > 0 ? fabs(dev) > band : dev != 0) {
            flag(rec, r, x, median + (dev > 0 ? band : -band));
        }
    }
    uint32_t at;
    if (h->n == w) {
        /* Full: the oldest value leaves the sorted run where x comes in, in one move. */
        uint32_t out = lower_bound(sorted, w, ring[h->head]);
        ring[h->head] = x;
        h->head = h->head + 1 == w ? 0 : h->head + 1;
        at = lower_bound(sorted, w, x);
        if (at > out) {
            at--; /* x goes after the values that move down into the gap */
            memmove(&sorted[out], &sorted[out + 1], (at - out) * sizeof *sorted);
        } else {
            memmove(&sorted[at + 1], &sorted[at], (out - at) * sizeof *sorted);
        }
    } else {
        ring[h->n] = x;
        at = lower_bound(sorted, h->n, x);
        memmove(&sorted[at + 1], &sorted[at], (h->n - at) * sizeof *sorted);
        h->n++;
    }
    sorted[at] = x;
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
    unsigned char *row = NULL;
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
        case RULE_HAMPEL:
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
        void *state = row + r->state;
        if (r->kind == RULE_STUCK) {
            apply_stuck(r, state, x, active, rec);
        } else if (!active) {
            /* Another mode, another level: learn afresh when the machine works again. */
            memset(state, 0,
                   r->kind == RULE_ZSCORE ? sizeof(struct zscore_state)
                                          : sizeof(struct hampel_state));
        } else if (r->kind == RULE_ZSCORE) {
            apply_zscore(r, state, x, rec);
        } else {
            apply_hampel(r, state, x, rec);
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
