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
#include "readings.h"
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
    return cnc_readings_from_payload(msg->payload, rec, detail, detail_len) == 0 ? 0 : CNC_EREJECT;
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
