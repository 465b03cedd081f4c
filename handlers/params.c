/*
 * params.c - typed access to handler params with keyed errors, see params.h.
 *
 * Broker thread (config load/reload) and the checker.
 */
#include "params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cnc_param_fail(const struct cnc_param_ctx *c, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->err_len, "%s%s%s: %s", c->prefix, key ? "." : "", key ? key : "", msg);
    return -1;
}

int cnc_param_known_keys(const struct cnc_param_ctx *c, const cJSON *obj,
                         const char *const *allowed)
{
    if (obj == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(obj)) {
        return cnc_param_fail(c, NULL, "must be a mapping");
    }
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], m->string) != 0) {
            i++;
        }
        if (allowed[i] == NULL) {
            char list[256] = "";
            for (size_t k = 0; allowed[k] != NULL; k++) {
                strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[k], sizeof list - strlen(list) - 1);
            }
            return cnc_param_fail(c, m->string, "unknown parameter (known: %s)", list);
        }
    }
    return 0;
}

int cnc_param_number(const struct cnc_param_ctx *c, const cJSON *obj, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        return cnc_param_fail(c, key, "must be a number");
    }
    *out = v->valuedouble;
    return 0;
}

int cnc_param_string(const struct cnc_param_ctx *c, const cJSON *obj, const char *key,
                     const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return cnc_param_fail(c, key, "must be a non-empty string");
    }
    *out = v->valuestring;
    return 0;
}

int cnc_param_range(const struct cnc_param_ctx *c, const cJSON *obj, const char *key, double *lo,
                    double *hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL) {
        return 0;
    }
    const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) ||
        !cJSON_IsNumber(b) || !isfinite(a->valuedouble) || !isfinite(b->valuedouble) ||
        a->valuedouble > b->valuedouble) {
        return cnc_param_fail(c, key, "must be [low, high] with low <= high");
    }
    *lo = a->valuedouble;
    *hi = b->valuedouble;
    return 0;
}

int cnc_param_strings(const struct cnc_param_ctx *c, const cJSON *obj, const char *key,
                      const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        return cnc_param_fail(c, key, "must be a non-empty list of strings");
    }
    /* A message is checked against the list: its length is work per message. */
    if (cJSON_GetArraySize(v) > CNC_PARAM_LIST_MAX) {
        return cnc_param_fail(c, key, "at most 1024 strings");
    }
    for (const cJSON *s = v->child; s != NULL; s = s->next) {
        if (!cJSON_IsString(s) || s->valuestring[0] == '\0') {
            return cnc_param_fail(c, key, "must be a non-empty list of strings");
        }
    }
    *out = v;
    return 0;
}
