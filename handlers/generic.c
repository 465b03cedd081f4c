/*
 * generic.c - the `generic` handler type: every scalar payload member becomes
 * a reading (numbers, booleans as 0/1, strings, null). Nested objects and
 * arrays (only present with ingest.allow_nested) are carried in the stored
 * payload but make no reading. No params.
 *
 * Broker thread (process); see cnc_handler.h for the contract.
 */
#include <stdio.h>

#include "cnc_error.h"
#include "cnc_handler.h"
#include "registry.h"

static int generic_instance; /* generic keeps no state: every instance shares this */

static void *generic_create(const cJSON *params, char *err, size_t err_len)
{
    if (params != NULL && params->child != NULL) {
        snprintf(err, err_len, "params.%s: the generic handler takes no parameters",
                 params->child->string);
        return NULL;
    }
    return &generic_instance;
}

static int generic_process(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                           char *detail, size_t detail_len)
{
    (void)instance;
    for (const cJSON *v = msg->payload->child; v != NULL; v = v->next) {
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
            return CNC_EREJECT;
        }
    }
    return 0;
}

static void generic_destroy(void *instance)
{
    (void)instance;
}

const struct cnc_handler_type cnc_handler_generic = {
    .name = "generic",
    .description = "every scalar payload member becomes a reading",
    .create = generic_create,
    .process = generic_process,
    .destroy = generic_destroy,
};
