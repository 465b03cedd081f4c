/*
 * json_number.h - numbers the plugin prints parse back to exactly the double
 * they came from.
 *
 * Any thread; pure but for cJSON allocations. cJSON prints with "%1.15g" and
 * keeps that when it reads back within a relative epsilon, so
 * 1.7976931348623157e308 (the largest double) came out as
 * 1.79769313486232e+308, which is beyond it: Infinity in JavaScript, an
 * overflow in a strict parser. Here the shortest of %.15g, %.16g and %.17g that
 * reads back bit for bit is used: as short as the text a sender wrote when it
 * wrote at most 17 significant digits (0.1 stays 0.1), never off by one ulp.
 */
#ifndef CNC_JSON_NUMBER_H
#define CNC_JSON_NUMBER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define CNC_JSON_NUMBER_MAX 32

/* The JSON text of v ("null" when v is not finite) in out; returns its length. */
size_t cnc_json_number(double v, char out[CNC_JSON_NUMBER_MAX]);

/* A cJSON item that prints as cnc_json_number(v) (a raw item); NULL on allocation failure. */
cJSON *cnc_json_number_item(double v);

/* cJSON_AddNumberToObject, exact: the item added, or NULL. */
cJSON *cnc_json_add_number(cJSON *object, const char *name, double v);

/* Replaces every number in tree (depth at most 100) by its exact raw form, in place. */
void cnc_json_exact_numbers(cJSON *tree);

#endif
