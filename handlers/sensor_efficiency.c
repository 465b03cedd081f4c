/*
 * sensor_efficiency.c - the `sensor_efficiency` handler type: the analytics
 * pipeline's efficiency score, level and critical-limit anomalies from a
 * payload with a mode, a temperature and a vibration.
 *
 * The formula (deterministic; every number is a param, defaults shown):
 *
 *   component(x) for a variable with optimal range [a, b] and critical
 *   range [c, d] (c <= a <= b <= d):
 *       50                         when a <= x <= b
 *       50 * (x - c) / (a - c)     when c <= x <  a   (0 when a == c)
 *       50 * (d - x) / (d - b)     when b <  x <= d   (0 when b == d)
 *       0                          outside [c, d]
 *   temperature: optimal [60, 80], critical [10, 95]
 *   vibration:   optimal [0, 2.5], critical [0, 6]
 *
 *   score = mode_factor[mode] * (component(temperature) + component(vibration))
 *   mode_factor: active 1.0, idle 0.6, maintenance 0.3, offline 0.0
 *
 *   anomaly: temperature or vibration outside its critical range gives
 *   anomaly "temperature_critical" / "vibration_critical" (critical), with
 *   the crossed bound as threshold, and is_anomaly.
 *   level: "Critical" when a critical limit is crossed; otherwise "High"
 *   when score >= 80, "Medium" when score >= 50, else "Low".
 *
 * Worked examples (defaults):
 *   active, 72.4 C, 2.1 mm/s      -> 50 + 50 = 100                   High
 *   active, 88 C, 3.2 mm/s        -> 23.33 + 40 = 63.33              Medium
 *   maintenance, 41 C, 0.2 mm/s   -> 0.3 * (31 + 50) = 24.3          Low
 *   idle, 70 C, 2.0 mm/s          -> 0.6 * 100 = 60                  Medium
 *   active, 97 C, 1.0 mm/s        -> 0 + 50 = 50, 97 > 95            Critical
 *
 * The mode must be one of the configured modes and temperature and
 * vibration must be numbers; otherwise the message is refused
 * (handler_rejected). Every scalar member also becomes a reading.
 *
 * Broker thread (process); create/destroy at config load.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnc_error.h"
#include "cnc_handler.h"
#include "params.h"
#include "readings.h"
#include "registry.h"

struct band {
    double opt_lo, opt_hi, crit_lo, crit_hi;
};

struct mode_factor {
    char *mode;
    double factor;
};

struct sensor_efficiency {
    char *mode_variable, *temperature_variable, *vibration_variable;
    struct band temperature, vibration;
    struct mode_factor *modes;
    size_t n_modes;
    double high, medium;
};

static void se_destroy(void *instance)
{
    struct sensor_efficiency *se = instance;
    if (se == NULL) {
        return;
    }
    free(se->mode_variable);
    free(se->temperature_variable);
    free(se->vibration_variable);
    for (size_t i = 0; i < se->n_modes; i++) {
        free(se->modes[i].mode);
    }
    free(se->modes);
    free(se);
}

static int read_band(const struct cnc_param_ctx *c, const cJSON *params, const char *key,
                     struct band *b)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(params, key);
    if (obj == NULL) {
        return 0;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.%s", c->prefix, key);
    struct cnc_param_ctx bc = {prefix, c->err, c->err_len};
    static const char *const known[] = {"optimal", "critical", NULL};
    if (cnc_param_known_keys(&bc, obj, known) != 0 ||
        cnc_param_range(&bc, obj, "optimal", &b->opt_lo, &b->opt_hi) != 0 ||
        cnc_param_range(&bc, obj, "critical", &b->crit_lo, &b->crit_hi) != 0) {
        return -1;
    }
    if (b->crit_lo > b->opt_lo || b->crit_hi < b->opt_hi) {
        return cnc_param_fail(&bc, "critical", "must contain the optimal range");
    }
    return 0;
}

static void *se_create(const cJSON *params, char *err, size_t err_len)
{
    static const char *const known[] = {"mode_variable",
                                        "temperature_variable",
                                        "vibration_variable",
                                        "temperature",
                                        "vibration",
                                        "mode_factors",
                                        "levels",
                                        NULL};
    struct cnc_param_ctx c = {"params", err, err_len};
    struct sensor_efficiency *se = calloc(1, sizeof *se);
    const char *mv = "mode", *tv = "temperature", *vv = "vibration";
    if (se == NULL) {
        snprintf(err, err_len, "params: out of memory");
        return NULL;
    }
    se->temperature = (struct band){60, 80, 10, 95};
    se->vibration = (struct band){0, 2.5, 0, 6};
    se->high = 80;
    se->medium = 50;
    if (cnc_param_known_keys(&c, params, known) != 0 ||
        cnc_param_string(&c, params, "mode_variable", &mv) != 0 ||
        cnc_param_string(&c, params, "temperature_variable", &tv) != 0 ||
        cnc_param_string(&c, params, "vibration_variable", &vv) != 0 ||
        read_band(&c, params, "temperature", &se->temperature) != 0 ||
        read_band(&c, params, "vibration", &se->vibration) != 0) {
        se_destroy(se);
        return NULL;
    }
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(params, "levels");
    struct cnc_param_ctx lc = {"params.levels", err, err_len};
    static const char *const level_keys[] = {"high", "medium", NULL};
    if (cnc_param_known_keys(&lc, levels, level_keys) != 0 ||
        cnc_param_number(&lc, levels, "high", &se->high) != 0 ||
        cnc_param_number(&lc, levels, "medium", &se->medium) != 0) {
        se_destroy(se);
        return NULL;
    }
    if (se->medium > se->high) {
        cnc_param_fail(&lc, "medium", "must not be above high");
        se_destroy(se);
        return NULL;
    }
    const cJSON *factors = cJSON_GetObjectItemCaseSensitive(params, "mode_factors");
    static const char *const default_modes[] = {"active", "idle", "maintenance", "offline"};
    static const double default_factors[] = {1.0, 0.6, 0.3, 0.0};
    if (factors != NULL && (!cJSON_IsObject(factors) || factors->child == NULL)) {
        cnc_param_fail(&c, "mode_factors", "must be a mapping of mode to a factor from 0 to 1");
        se_destroy(se);
        return NULL;
    }
    size_t n = factors != NULL ? (size_t)cJSON_GetArraySize(factors) : 4;
    se->modes = calloc(n, sizeof *se->modes);
    se->mode_variable = strdup(mv);
    se->temperature_variable = strdup(tv);
    se->vibration_variable = strdup(vv);
    if (se->modes == NULL || !se->mode_variable || !se->temperature_variable ||
        !se->vibration_variable) {
        snprintf(err, err_len, "params: out of memory");
        se_destroy(se);
        return NULL;
    }
    const cJSON *f = factors != NULL ? factors->child : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *mode = f != NULL ? f->string : default_modes[i];
        double factor = f != NULL ? f->valuedouble : default_factors[i];
        if (strlen(mode) > CNC_DB_MODE_MAX) {
            struct cnc_param_ctx fc = {"params.mode_factors", err, err_len};
            cnc_param_fail(&fc, mode,
                           "mode names are at most 32 bytes (the database's mode column)");
            se_destroy(se);
            return NULL;
        }
        if (f != NULL && (!cJSON_IsNumber(f) || !(factor >= 0 && factor <= 1))) {
            struct cnc_param_ctx fc = {"params.mode_factors", err, err_len};
            cnc_param_fail(&fc, mode, "must be a number from 0 to 1");
            se_destroy(se);
            return NULL;
        }
        if ((se->modes[i].mode = strdup(mode)) == NULL) {
            snprintf(err, err_len, "params: out of memory");
            se_destroy(se);
            return NULL;
        }
        se->modes[i].factor = factor;
        se->n_modes++;
        f = f != NULL ? f->next : NULL;
    }
    return se;
}

/* See the formula in the file comment. */
static double component(const struct band *b, double x)
{
    if (x >= b->opt_lo && x <= b->opt_hi) {
        return 50.0;
    }
    if (x < b->crit_lo || x > b->crit_hi) {
        return 0.0;
    }
    if (x < b->opt_lo) {
        return b->opt_lo > b->crit_lo ? 50.0 * (x - b->crit_lo) / (b->opt_lo - b->crit_lo) : 0.0;
    }
    return b->crit_hi > b->opt_hi ? 50.0 * (b->crit_hi - x) / (b->crit_hi - b->opt_hi) : 0.0;
}

static int critical(struct cnc_record *rec, const char *rule, const char *variable,
                    const struct band *b, double x)
{
    if (x >= b->crit_lo && x <= b->crit_hi) {
        return 0;
    }
    struct cnc_anomaly a = {
        .rule = rule,
        .variable = variable,
        .value = x,
        .threshold = x < b->crit_lo ? b->crit_lo : b->crit_hi,
        .severity = CNC_SEVERITY_CRITICAL,
    };
    cnc_record_add_anomaly(rec, &a);
    return 1;
}

static const cJSON *number(const cJSON *p, const char *name, char *detail, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);
    if (!cJSON_IsNumber(v)) {
        snprintf(detail, len, "%s %s", name, v == NULL ? "is missing" : "must be a number");
        return NULL;
    }
    return v;
}

static int se_process(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                      char *detail, size_t detail_len)
{
    struct sensor_efficiency *se = instance;
    const cJSON *p = msg->payload;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(p, se->mode_variable);
    if (!cJSON_IsString(mode)) {
        snprintf(detail, detail_len, "%s %s", se->mode_variable,
                 mode == NULL ? "is missing" : "must be a string");
        return CNC_EREJECT;
    }
    const struct mode_factor *mf = NULL;
    for (size_t i = 0; i < se->n_modes && mf == NULL; i++) {
        if (strcmp(se->modes[i].mode, mode->valuestring) == 0) {
            mf = &se->modes[i];
        }
    }
    if (mf == NULL) {
        char known[160] = "";
        size_t o = 0;
        for (size_t i = 0; i < se->n_modes && o < sizeof known; i++) {
            int n = snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", se->modes[i].mode);
            o += n > 0 ? (size_t)n : 0;
        }
        snprintf(detail, detail_len,
                 "%s \"%.64s\" is not a configured mode (configured: %s; the keys of "
                 "params.mode_factors)",
                 se->mode_variable, mode->valuestring, known);
        return CNC_EREJECT;
    }
    const cJSON *t = number(p, se->temperature_variable, detail, detail_len);
    const cJSON *v = t != NULL ? number(p, se->vibration_variable, detail, detail_len) : NULL;
    if (t == NULL || v == NULL) {
        return CNC_EREJECT;
    }
    if (cnc_readings_from_payload(p, rec, detail, detail_len) != 0) {
        return CNC_EREJECT;
    }
    double temp = t->valuedouble, vib = v->valuedouble;
    int crossed =
        critical(rec, "temperature_critical", se->temperature_variable, &se->temperature, temp);
    crossed |= critical(rec, "vibration_critical", se->vibration_variable, &se->vibration, vib);
    double score =
        mf->factor * (component(&se->temperature, temp) + component(&se->vibration, vib));
    rec->efficiency = (struct cnc_efficiency){
        .present = 1,
        .mode = mf->mode,
        .temperature = temp,
        .vibration = vib,
        .score = score,
        .level = crossed               ? "Critical"
                 : score >= se->high   ? "High"
                 : score >= se->medium ? "Medium"
                                       : "Low",
        .is_anomaly = crossed,
    };
    return 0;
}

const struct cnc_handler_type cnc_handler_sensor_efficiency = {
    .name = "sensor_efficiency",
    .description = "efficiency score 0-100 and level from mode, temperature and vibration",
    .create = se_create,
    .process = se_process,
    .destroy = se_destroy,
};
