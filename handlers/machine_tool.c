/*
 * machine_tool.c - the `machine_tool` handler type: the MES collector's CNC
 * prototypes (payload like {"status":"running","spin":200,"X-Axis":30,
 * "Y-Axis":80}). The seed's CNCTypeA and CNCTypeB are two instances of it.
 *
 * Every scalar member becomes a reading. On top:
 *   - the status variable (params.status_variable, default "status") must be
 *     one of params.statuses when present; another value is refused
 *     (handler_rejected), since the MES cannot interpret it;
 *   - variables named in params.required must be present (else refused);
 *   - the spindle speed (params.spindle_variable, default "spin") outside
 *     params.spindle [min, max] raises anomaly "spindle_range" (critical);
 *   - each axis in params.axes {NAME: [min, max]} outside its travel raises
 *     anomaly "travel_limit" (critical) on that axis.
 * Out-of-range values are stored and flagged, not refused: an impossible
 * reading is exactly what maintenance wants to see.
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

struct axis_limit {
    char *name;
    double min, max;
};

struct machine_tool {
    char *status_variable;
    char *spindle_variable;
    struct cnc_string_set statuses;
    struct cnc_string_set required;
    double spindle_min, spindle_max;
    struct axis_limit *axes;
    size_t n_axes;
};

static const char *const default_statuses[] = {"running", "idle",        "stopped", "setup",
                                               "alarm",   "maintenance", NULL};

static void mt_destroy(void *instance)
{
    struct machine_tool *mt = instance;
    if (mt == NULL) {
        return;
    }
    free(mt->status_variable);
    free(mt->spindle_variable);
    cnc_string_set_free(&mt->statuses);
    cnc_string_set_free(&mt->required);
    for (size_t i = 0; i < mt->n_axes; i++) {
        free(mt->axes[i].name);
    }
    free(mt->axes);
    free(mt);
}

static void *mt_create(const cJSON *params, char *err, size_t err_len)
{
    static const char *const known[] = {
        "status_variable", "statuses", "spindle_variable", "spindle", "axes", "required", NULL};
    struct cnc_param_ctx c = {"params", err, err_len};
    struct machine_tool *mt = calloc(1, sizeof *mt);
    const char *status_var = "status", *spindle_var = "spin";
    const cJSON *statuses = NULL, *required = NULL;
    if (mt == NULL) {
        snprintf(err, err_len, "params: out of memory");
        return NULL;
    }
    mt->spindle_min = -INFINITY;
    mt->spindle_max = INFINITY;
    if (cnc_param_known_keys(&c, params, known) != 0 ||
        cnc_param_string(&c, params, "status_variable", &status_var) != 0 ||
        cnc_param_string(&c, params, "spindle_variable", &spindle_var) != 0 ||
        cnc_param_strings(&c, params, "statuses", &statuses) != 0 ||
        cnc_param_strings(&c, params, "required", &required) != 0 ||
        cnc_param_range(&c, params, "spindle", &mt->spindle_min, &mt->spindle_max) != 0) {
        mt_destroy(mt);
        return NULL;
    }
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(params, "axes");
    if (axes != NULL && !cJSON_IsObject(axes)) {
        cnc_param_fail(&c, "axes", "must be a mapping of axis name to [min, max]");
        mt_destroy(mt);
        return NULL;
    }
    if (cJSON_GetArraySize(axes) > 256) { /* each message is checked against every axis */
        cnc_param_fail(&c, "axes", "at most 256 axes");
        mt_destroy(mt);
        return NULL;
    }
    mt->axes = calloc((size_t)cJSON_GetArraySize(axes) + 1, sizeof *mt->axes);
    mt->status_variable = strdup(status_var);
    mt->spindle_variable = strdup(spindle_var);
    if (mt->axes == NULL || mt->status_variable == NULL || mt->spindle_variable == NULL ||
        (statuses != NULL ? cnc_string_set_from_json(&mt->statuses, statuses)
                          : cnc_string_set_from_list(&mt->statuses, default_statuses)) != 0 ||
        cnc_string_set_from_json(&mt->required, required) != 0) {
        snprintf(err, err_len, "params: out of memory");
        mt_destroy(mt);
        return NULL;
    }
    struct cnc_param_ctx ac = {"params.axes", err, err_len};
    for (const cJSON *a = axes != NULL ? axes->child : NULL; a != NULL; a = a->next) {
        struct axis_limit *l = &mt->axes[mt->n_axes];
        if (cnc_param_range(&ac, axes, a->string, &l->min, &l->max) != 0) {
            mt_destroy(mt);
            return NULL;
        }
        if ((l->name = strdup(a->string)) == NULL) {
            snprintf(err, err_len, "params: out of memory");
            mt_destroy(mt);
            return NULL;
        }
        mt->n_axes++;
    }
    return mt;
}

static int range_anomaly(struct cnc_record *rec, const char *rule, const char *variable, double v,
                         double min, double max)
{
    if (v >= min && v <= max) {
        return 0;
    }
    struct cnc_anomaly a = {
        .rule = rule,
        .variable = variable,
        .value = v,
        .threshold = v < min ? min : max,
        .severity = CNC_SEVERITY_CRITICAL,
    };
    return cnc_record_add_anomaly(rec, &a);
}

static int mt_process(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                      char *detail, size_t detail_len)
{
    struct machine_tool *mt = instance;
    const cJSON *p = msg->payload;

    for (size_t i = 0; i < mt->required.n; i++) {
        if (cJSON_GetObjectItemCaseSensitive(p, mt->required.items[i]) == NULL) {
            snprintf(detail, detail_len, "required variable \"%s\" is missing",
                     mt->required.items[i]);
            return CNC_EREJECT;
        }
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(p, mt->status_variable);
    if (status != NULL) {
        if (!cJSON_IsString(status)) {
            snprintf(detail, detail_len, "%s must be a string", mt->status_variable);
            return CNC_EREJECT;
        }
        if (cnc_string_set_find(&mt->statuses, status->valuestring) == NULL) {
            char known[256];
            cnc_string_set_join(&mt->statuses, known, sizeof known);
            snprintf(detail, detail_len, "%s \"%.64s\" is not one of %s", mt->status_variable,
                     status->valuestring, known);
            return CNC_EREJECT;
        }
    }
    const cJSON *spin = cJSON_GetObjectItemCaseSensitive(p, mt->spindle_variable);
    if (spin != NULL && !cJSON_IsNumber(spin)) {
        snprintf(detail, detail_len, "%s must be a number", mt->spindle_variable);
        return CNC_EREJECT;
    }
    if (cnc_readings_from_payload(p, rec, detail, detail_len) != 0) {
        return CNC_EREJECT;
    }
    /* A full anomaly array drops further flags rather than refusing the message. */
    if (spin != NULL) {
        range_anomaly(rec, "spindle_range", mt->spindle_variable, spin->valuedouble,
                      mt->spindle_min, mt->spindle_max);
    }
    for (size_t i = 0; i < mt->n_axes; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, mt->axes[i].name);
        if (v == NULL) {
            continue;
        }
        if (!cJSON_IsNumber(v)) {
            snprintf(detail, detail_len, "%s must be a number", mt->axes[i].name);
            return CNC_EREJECT;
        }
        range_anomaly(rec, "travel_limit", mt->axes[i].name, v->valuedouble, mt->axes[i].min,
                      mt->axes[i].max);
    }
    return 0;
}

const struct cnc_handler_type cnc_handler_machine_tool = {
    .name = "machine_tool",
    .description = "CNC status, spindle speed and axis travel: known statuses, ranges, limits",
    .create = mt_create,
    .process = mt_process,
    .destroy = mt_destroy,
};
