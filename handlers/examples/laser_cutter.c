/*
 * laser_cutter.c - an out-of-tree handler module: the `laser_cutter` type.
 *
 * Shows what a factory writes to add a machine type without rebuilding the
 * plugin (the MES collector's "plug-ins loaded dynamically"). It uses only
 * include/cnc_handler.h, include/cnc_record.h and cJSON:
 *
 *   cc -shared -fPIC -I include laser_cutter.c -lcjson -o cnc_handler_laser.so
 *
 * or, against the installed package's headers (/usr/include/cnc-ingest):
 *
 *   cc $(pkg-config --cflags cnc-ingest-handler) -shared -fPIC laser_cutter.c \
 *      $(pkg-config --libs cnc-ingest-handler) -o cnc_handler_laser.so
 *
 * and is named in the YAML:
 *
 *   handler_modules: [/usr/local/lib/cnc_handler_laser.so]
 *   handlers:
 *     lasers: {type: laser_cutter, params: {min_gas_bar: 8, max_power_w: 6000}}
 *
 * Payload: {"state": "cutting", "power_w": 4200, "speed_mm_s": 35, "gas_bar": 12}.
 * power_w and speed_mm_s are required numbers (else the message is refused);
 * every numeric member becomes a reading, plus the derived energy_j_per_mm;
 * gas_bar below min_gas_bar raises "assist_gas_low", power_w above
 * max_power_w raises "power_limit"; a message with anomalies gets the reading
 * "worst_severity" (a string: "warning", "critical").
 *
 * It calls every helper the public headers define (cnc_record_add_reading,
 * cnc_record_add_anomaly, cnc_severity_name): they are inline in the headers,
 * since the plugin exports nothing but mosquitto_plugin_*.
 *
 * Broker thread (process). Build with -DLASER_ABI_VERSION=N to produce a
 * module for another interface version (the tests check it is refused).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnc_handler.h"

#ifndef LASER_ABI_VERSION
#define LASER_ABI_VERSION CNC_HANDLER_ABI_VERSION
#endif

struct laser {
    double min_gas_bar;
    double max_power_w;
};

static void *laser_create(const cJSON *params, char *err, size_t err_len)
{
    struct laser *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, err_len, "params: out of memory");
        return NULL;
    }
    l->min_gas_bar = 8.0;
    l->max_power_w = 6000.0;
    for (const cJSON *p = params != NULL ? params->child : NULL; p != NULL; p = p->next) {
        double *dst = strcmp(p->string, "min_gas_bar") == 0   ? &l->min_gas_bar
                      : strcmp(p->string, "max_power_w") == 0 ? &l->max_power_w
                                                              : NULL;
        if (dst == NULL) {
            snprintf(err, err_len, "params.%s: unknown parameter (known: min_gas_bar, max_power_w)",
                     p->string);
            free(l);
            return NULL;
        }
        if (!cJSON_IsNumber(p)) {
            snprintf(err, err_len, "params.%s: must be a number", p->string);
            free(l);
            return NULL;
        }
        *dst = p->valuedouble;
    }
    return l;
}

static int laser_process(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                         char *detail, size_t detail_len)
{
    const struct laser *l = instance;
    const cJSON *power = cJSON_GetObjectItemCaseSensitive(msg->payload, "power_w");
    const cJSON *speed = cJSON_GetObjectItemCaseSensitive(msg->payload, "speed_mm_s");
    if (!cJSON_IsNumber(power) || !cJSON_IsNumber(speed)) {
        snprintf(detail, detail_len, "power_w and speed_mm_s must be numbers");
        return -1;
    }
    for (const cJSON *v = msg->payload->child; v != NULL; v = v->next) {
        if (cJSON_IsNumber(v)) {
            struct cnc_reading r = {
                .name = v->string, .kind = CNC_VALUE_NUMBER, .num = v->valuedouble};
            cnc_record_add_reading(rec, &r);
        }
    }
    if (speed->valuedouble > 0) {
        struct cnc_reading r = {.name = "energy_j_per_mm",
                                .kind = CNC_VALUE_NUMBER,
                                .num = power->valuedouble / speed->valuedouble};
        cnc_record_add_reading(rec, &r);
    }
    const cJSON *gas = cJSON_GetObjectItemCaseSensitive(msg->payload, "gas_bar");
    if (cJSON_IsNumber(gas) && gas->valuedouble < l->min_gas_bar) {
        struct cnc_anomaly a = {"assist_gas_low", "gas_bar", gas->valuedouble, l->min_gas_bar,
                                CNC_SEVERITY_WARNING};
        cnc_record_add_anomaly(rec, &a);
    }
    if (power->valuedouble > l->max_power_w) {
        struct cnc_anomaly a = {"power_limit", "power_w", power->valuedouble, l->max_power_w,
                                CNC_SEVERITY_CRITICAL};
        cnc_record_add_anomaly(rec, &a);
    }
    if (rec->n_anomalies > 0) {
        enum cnc_severity worst = CNC_SEVERITY_INFO;
        for (size_t i = 0; i < rec->n_anomalies; i++) {
            worst = rec->anomalies[i].severity > worst ? rec->anomalies[i].severity : worst;
        }
        struct cnc_reading r = {
            .name = "worst_severity", .kind = CNC_VALUE_STRING, .str = cnc_severity_name(worst)};
        cnc_record_add_reading(rec, &r);
    }
    return 0;
}

static void laser_destroy(void *instance)
{
    free(instance);
}

static const struct cnc_handler_type types[] = {{
    .name = "laser_cutter",
    .description = "laser power, feed and assist gas (example module)",
    .create = laser_create,
    .process = laser_process,
    .destroy = laser_destroy,
}};

static const struct cnc_handler_module module = {
    .abi_version = LASER_ABI_VERSION,
    .n_types = 1,
    .types = types,
};

__attribute__((visibility("default"))) const struct cnc_handler_module *cnc_handler_module(void)
{
    return &module;
}
