/*
 * readings.h - helpers shared by the compiled-in handler types.
 *
 * Broker thread (process) and config load (the string set).
 */
#ifndef CNC_READINGS_H
#define CNC_READINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cnc_record.h"

/*
 * Appends every scalar payload member as a reading (numbers, booleans as 0/1,
 * strings, null); nested values are skipped. Returns 0, or -1 with a reason
 * in detail when the record is full.
 */
int cnc_readings_from_payload(const cJSON *payload, struct cnc_record *rec, char *detail,
                              size_t detail_len);

/* A small owned set of strings (statuses, modes), searched linearly. */
struct cnc_string_set {
    char **items;
    size_t n;
};

/* Copies the strings of a cJSON array; returns 0 or -1 (out of memory). */
int cnc_string_set_from_json(struct cnc_string_set *set, const cJSON *array);
/* Copies a NULL-terminated list of C strings. */
int cnc_string_set_from_list(struct cnc_string_set *set, const char *const *items);
/* The stored copy equal to s, or NULL. */
const char *cnc_string_set_find(const struct cnc_string_set *set, const char *s);
/* "a, b, c" into buf. */
void cnc_string_set_join(const struct cnc_string_set *set, char *buf, size_t len);
void cnc_string_set_free(struct cnc_string_set *set);

#endif
