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
#include "machine_states.h"
#include "state_map.h"

enum cnc_analytics_form {
    CNC_ANALYTICS_COUNT,    /* "readings": N */
    CNC_ANALYTICS_VALUES,   /* "readings": N, "values": {name: number} */
    CNC_ANALYTICS_READINGS, /* "readings": {name: value} (every kind; the checker) */
};

/* Returns a new cJSON object (cJSON_Delete it) or NULL on allocation failure. */
cJSON *cnc_analytics_object(const struct cnc_message *msg, const struct cnc_record *rec,
                            enum cnc_analytics_form form);

/*
 * Adds the machine's state to an analytics object: "state" (the value of the instance's state
 * member) and "category" (productive, idle, planned_downtime, unplanned_downtime, unknown),
 * both null when the instance tracks no state or the message lacks it, and "reason" when the
 * instance has a reason_variable and the message holds it.
 */
void cnc_analytics_add_state(cJSON *o, const struct cnc_state_reading *st);

/*
 * The analytics object for a machine found silent on TICK, in the same shape as a message's:
 * ts is the offline interval's start, state "offline", category unplanned_downtime, reason
 * "no_data", no readings or anomalies.
 */
cJSON *cnc_analytics_offline(const struct cnc_offline_machine *m);

#endif
