/*
 * analytics.h - a record as the JSON object of DESIGN.md "Published topics":
 * {"cnc_id","ts","part_program","handler","mode","efficiency_score",
 *  "efficiency_level","readings": N,"anomalies":[...]}, and with
 * CNC_ANALYTICS_VALUES (analytics.values, the default) also "values": the
 * numeric readings by name, which the dashboard plots.
 *
 * Broker thread (per accepted message when analytics.topic is set) and the
 * offline checker, which asks for every reading in place of the count.
 */
#ifndef CNC_ANALYTICS_H
#define CNC_ANALYTICS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "cnc_record.h"

enum cnc_analytics_form {
    CNC_ANALYTICS_COUNT,    /* "readings": N */
    CNC_ANALYTICS_VALUES,   /* "readings": N, "values": {name: number} */
    CNC_ANALYTICS_READINGS, /* "readings": {name: value} (every kind; the checker) */
};

/* Returns a new cJSON object (cJSON_Delete it) or NULL on allocation failure. */
cJSON *cnc_analytics_object(const struct cnc_message *msg, const struct cnc_record *rec,
                            enum cnc_analytics_form form);

#endif
