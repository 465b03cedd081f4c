/*
 * json_number.c - shortest round-trip number printing, see json_number.h.
 *
 * Any thread. snprintf and strtod use the C locale: neither the broker nor the
 * tools call setlocale().
 */
#include "json_number.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t cnc_json_number(double v, char out[CNC_JSON_NUMBER_MAX])
{
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    int n = 0;
    /* For a normal double, %.15g is already the shortest text when one of at most 15 digits
       reads back (its 15-digit grid is finer than half an ulp); a subnormal's ulp is coarse,
       so it starts from one digit ("5e-324", not "4.94065645841247e-324"). */
    int first = v != 0 && fabs(v) < DBL_MIN ? 1 : 15;
    for (int precision = first; precision <= 17; precision++) {
        n = snprintf(out, CNC_JSON_NUMBER_MAX, "%.*g", precision, v);
        if (strtod(out, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}

cJSON *cnc_json_number_item(double v)
{
    char text[CNC_JSON_NUMBER_MAX];
    cnc_json_number(v, text);
    return cJSON_CreateRaw(text);
}

cJSON *cnc_json_add_number(cJSON *object, const char *name, double v)
{
    cJSON *item = cnc_json_number_item(v);
    if (item != NULL && !cJSON_AddItemToObject(object, name, item)) {
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

static void exact(cJSON *parent, int depth)
{
    if (depth > 100) {
        return;
    }
    for (cJSON *c = parent->child, *next; c != NULL; c = next) {
        next = c->next;
        if (cJSON_IsNumber(c)) {
            cJSON *raw = cnc_json_number_item(c->valuedouble);
            if (raw != NULL) {
                /* The member name moves to the replacement (cJSON leaves it behind). */
                raw->string = c->string;
                raw->type |= c->type & cJSON_StringIsConst;
                c->string = NULL;
                cJSON_ReplaceItemViaPointer(parent, c, raw);
            }
        } else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            exact(c, depth + 1);
        }
    }
}

void cnc_json_exact_numbers(cJSON *tree)
{
    if (tree != NULL) {
        exact(tree, 0);
    }
}
