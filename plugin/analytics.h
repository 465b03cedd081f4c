/*
 * analytics.h - a record as the JSON object of DESIGN.md "Published topics":
 * {"cnc_id","ts","part_program","handler","mode","efficiency_score",
 *  "efficiency_level","readings": N,"anomalies":[...]}.
 *
 * Broker thread (per accepted message when analytics.topic is set) and the
 * offline checker, which asks for the readings themselves as well.
 */
#ifndef CNC_ANALYTICS_H
#define CNC_ANALYTICS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "cnc_record.h"

/* Returns a new cJSON object (cJSON_Delete it) or NULL on allocation failure. */
cJSON *cnc_analytics_object(const struct cnc_message *msg, const struct cnc_record *rec,
                            bool with_readings);

#endif
