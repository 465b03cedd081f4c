/*
 * readings.c - payload-to-readings and a small string set, see readings.h.
 *
 * Broker thread.
 */
#include "readings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cnc_readings_from_payload(const cJSON *payload, struct cnc_record *rec, char *detail,
                              size_t detail_len)
{
    for (const cJSON *v = payload->child; v != NULL; v = v->next) {
        struct cnc_reading r = {.name = v->string};
        if (cJSON_IsNumber(v)) {
            r.kind = CNC_VALUE_NUMBER;
            r.num = v->valuedouble;
        } else if (cJSON_IsBool(v)) {
            r.kind = CNC_VALUE_BOOL;
            r.num = cJSON_IsTrue(v) ? 1.0 : 0.0;
        } else if (cJSON_IsString(v)) {
            r.kind = CNC_VALUE_STRING;
            r.str = v->valuestring;
        } else if (cJSON_IsNull(v)) {
            r.kind = CNC_VALUE_NULL;
        } else {
            continue;
        }
        if (cnc_record_add_reading(rec, &r) != 0) {
            snprintf(detail, detail_len, "more readings than the record can hold");
            return -1;
        }
    }
    return 0;
}

static int set_add(struct cnc_string_set *set, const char *s)
{
    char **n = realloc(set->items, (set->n + 1) * sizeof *n);
    if (n == NULL) {
        return -1;
    }
    set->items = n;
    if ((n[set->n] = strdup(s)) == NULL) {
        return -1;
    }
    set->n++;
    return 0;
}

int cnc_string_set_from_json(struct cnc_string_set *set, const cJSON *array)
{
    for (const cJSON *s = array != NULL ? array->child : NULL; s != NULL; s = s->next) {
        if (cJSON_IsString(s) && cnc_string_set_find(set, s->valuestring) == NULL &&
            set_add(set, s->valuestring) != 0) {
            return -1;
        }
    }
    return 0;
}

int cnc_string_set_from_list(struct cnc_string_set *set, const char *const *items)
{
    for (size_t i = 0; items[i] != NULL; i++) {
        if (set_add(set, items[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

const char *cnc_string_set_find(const struct cnc_string_set *set, const char *s)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->items[i], s) == 0) {
            return set->items[i];
        }
    }
    return NULL;
}

void cnc_string_set_join(const struct cnc_string_set *set, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < set->n; i++) {
        strncat(buf, i ? ", " : "", len - strlen(buf) - 1);
        strncat(buf, set->items[i], len - strlen(buf) - 1);
    }
}

void cnc_string_set_free(struct cnc_string_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i]);
    }
    free(set->items);
    set->items = NULL;
    set->n = 0;
}
