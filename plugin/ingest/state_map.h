/*
 * state_map.h - a handler instance's machine-state mapping (`states:` in the
 * YAML): which payload member holds the machine's state, which category each
 * of its values falls in (productive, idle, planned_downtime,
 * unplanned_downtime), which member gives the reason, and after how long a
 * silent machine counts as offline.
 *
 * Built with the route table (broker thread at start and reload, or the
 * offline checker); read on the broker thread for every message of the
 * instance: a lookup is a member search in the payload and a binary search
 * in the sorted values, no allocation.
 */
#ifndef CNC_STATE_MAP_H
#define CNC_STATE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cnc_record.h"

/* The ISO 22400 / OEE categories of time; unknown: a value the map does not name. */
enum cnc_state_category {
    CNC_STATE_PRODUCTIVE = 0,
    CNC_STATE_IDLE,
    CNC_STATE_PLANNED_DOWNTIME,
    CNC_STATE_UNPLANNED_DOWNTIME,
    CNC_STATE_UNKNOWN,
    CNC_STATE__COUNT
};

const char *cnc_state_category_name(enum cnc_state_category c);

/* A state value's text: the payload's string, or an integer state code printed. */
#define CNC_STATE_TEXT_MAX 256 /* the payload's longest string (CNC_PAYLOAD_STRING_MAX) */

/* The state the machine reports, and the silence that makes it offline. */
#define CNC_OFFLINE_STATE "offline"
#define CNC_OFFLINE_REASON "no_data"
#define CNC_OFFLINE_AFTER_S_DEFAULT 60
#define CNC_OFFLINE_AFTER_S_MAX 604800 /* a week */
#define CNC_STATE_VALUES_MAX 1024
#define CNC_MAX_COUNT_STEP_DEFAULT 1000 /* parts one message may add; more: a counter set anew */

struct cnc_state_map;

/* The part counters a state mapping may read: cumulative counters in the payload. */
enum { CNC_COUNT_TOTAL = 0, CNC_COUNT_GOOD, CNC_COUNT_REJECT, CNC_COUNT__N };

/* What one message says of its machine's state. */
struct cnc_state_reading {
    bool present; /* the message holds the state member (a string, integer or boolean) */
    const char *state;
    size_t state_len;
    enum cnc_state_category category;
    const char *reason; /* NULL: no reason_variable, or the message has none */
    size_t reason_len;
    char scratch[2][32]; /* where a number's text is printed */
    /* The part counters the message holds (non-negative integers; others are not counters). */
    bool has_count[CNC_COUNT__N];
    uint64_t count[CNC_COUNT__N];
};

/*
 * The mapping of an instance of handler type type_name from its `states:`
 * (NULL when absent). machine_tool tracks `status` (params.status_variable)
 * and sensor_efficiency `mode` (params.mode_variable) unless told otherwise,
 * with their shipped categories; other types track nothing unless `states:`
 * names a variable. `variable: ""` turns tracking off.
 * Returns 0 with *out set (NULL: this instance tracks no state), or -1 with
 * "states.KEY: what is wrong" in err.
 */
int cnc_state_map_create(const char *type_name, const cJSON *params, const cJSON *states,
                         struct cnc_state_map **out, char *err, size_t err_len);

void cnc_state_map_destroy(struct cnc_state_map *m);

/* Reads msg's state through m (no allocation; r's pointers point into msg or r). */
void cnc_state_map_read(const struct cnc_state_map *m, const struct cnc_message *msg,
                        struct cnc_state_reading *r);

int64_t cnc_state_map_offline_after_ms(const struct cnc_state_map *m);

/* The counters' modulus (0: they do not wrap) and the most parts one message may add. */
uint64_t cnc_state_map_count_wrap(const struct cnc_state_map *m);
uint64_t cnc_state_map_max_count_step(const struct cnc_state_map *m);

/* Which counters the mapping reads (bit 1 << CNC_COUNT_*). */
unsigned cnc_state_map_counters(const struct cnc_state_map *m);

/* The ideal cycle time of a part program in seconds (states.ideal_cycle_s, its `default` for
   a program it does not name); NaN when there is none. A binary search. */
double cnc_state_map_ideal_cycle_s(const struct cnc_state_map *m, const char *part_program);
const char *cnc_state_map_variable(const struct cnc_state_map *m);

/* The mapping as JSON for the retained layout message (caller frees); NULL on failure. */
cJSON *cnc_state_map_describe(const struct cnc_state_map *m);

#endif
