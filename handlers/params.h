/*
 * params.h - reading a handler instance's `params:` (a cJSON object made from
 * the YAML) with errors in the form the config loader turns into a line:
 * "params.spindle.max: must be a number".
 *
 * Broker thread at config load and reload, and the checker. Compiled-in
 * handlers use these; out-of-tree modules read cJSON themselves.
 */
#ifndef CNC_PARAMS_H
#define CNC_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct cnc_param_ctx {
    const char *prefix; /* "params" or "params.spindle" */
    char *err;
    size_t err_len;
};

/* Fails on any member of obj not in the NULL-terminated allowed list. */
int cnc_param_known_keys(const struct cnc_param_ctx *c, const cJSON *obj,
                         const char *const *allowed);

/* Each getter leaves *out untouched when key is absent and returns 0; -1 on a bad value. */
int cnc_param_number(const struct cnc_param_ctx *c, const cJSON *obj, const char *key, double *out);
int cnc_param_string(const struct cnc_param_ctx *c, const cJSON *obj, const char *key,
                     const char **out);
/* [lo, hi] with lo <= hi. */
int cnc_param_range(const struct cnc_param_ctx *c, const cJSON *obj, const char *key, double *lo,
                    double *hi);
/* A list of strings; *out points into obj (copy what you keep). */
int cnc_param_strings(const struct cnc_param_ctx *c, const cJSON *obj, const char *key,
                      const cJSON **out);

/* Writes "PREFIX.key: message" into c->err and returns -1. */
int cnc_param_fail(const struct cnc_param_ctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The longest list of strings a param may hold (statuses, required). */
#define CNC_PARAM_LIST_MAX 1024

#endif
