/*
 * sim.h - the machines cnc-sim pretends to be: believable, deterministic
 * message generators (no MQTT here, so they are unit-tested directly).
 *
 * Single-threaded (cnc-sim's main thread). Two kinds of machine, in the
 * seeds' formats (../shared/samples):
 *   - lathes (machine_tool handler): status, spin, X/Y/Z-Axis following a
 *     part program; ids CNC0000...
 *   - presses (sensor_efficiency handler): mode, temperature following load
 *     with inertia, vibration growing with tool wear and reset by
 *     maintenance; ids PRESS-0000...
 * Modes change as a state machine (active, idle, maintenance, offline).
 * With faults on, machines occasionally suffer a labelled fault - a sudden
 * spike, a slow drift, a stuck sensor, an impossible value - and the ground
 * truth is reported through a callback. With an invalid ratio, messages of
 * every reject class the plugin owns are mixed in.
 */
#ifndef CNC_SIM_H
#define CNC_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sim_fault_kind {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_SPIKE,
    SIM_FAULT_DRIFT,
    SIM_FAULT_STUCK,
    SIM_FAULT_IMPOSSIBLE,
    SIM_FAULT__COUNT
};

/* The invalid message classes, named by the reject reason the plugin must give. */
enum sim_invalid {
    SIM_VALID = 0,
    SIM_NOT_JSON,
    SIM_NOT_OBJECT,
    SIM_MISSING_FIELD,
    SIM_WRONG_TYPE,
    SIM_UNKNOWN_FIELD,
    SIM_DUPLICATE_KEY,
    SIM_BAD_CNC_ID,
    SIM_TOPIC_MISMATCH,
    SIM_BAD_PART_PROGRAM,
    SIM_BAD_TIMESTAMP,
    SIM_TIMESTAMP_OUT_OF_RANGE,
    SIM_BAD_PAYLOAD_VALUE,
    SIM_TOO_MANY_FIELDS,
    SIM_INVALID__COUNT
};

const char *sim_fault_name(enum sim_fault_kind k);
const char *sim_invalid_name(enum sim_invalid c); /* the expected reject reason */

/* A finished (or, at the end of a run, cut-off) fault: the ground truth. */
struct sim_truth {
    const char *cnc_id;
    const char *variable;
    enum sim_fault_kind kind;
    int64_t start_ms, end_ms;
};

/*
 * A machine-state interval as simulated (issue #17, with `states` on): what the plugin must
 * store in cnc_state_interval. An interval starts at the first message of a new state value,
 * reason or part program and ends where the next starts; a silence longer than
 * offline_after_ms is an `offline` interval from 1 ms after the last message to the next
 * message. Reported when it ends, or open (end_ms -1) at sim_destroy. parts/good/rejects: the
 * parts the machine made in the interval (lathes: the `parts` and `rejects` counters moved).
 */
struct sim_state_truth {
    const char *cnc_id, *state, *category;
    const char *reason; /* NULL: none */
    const char *part_program;
    int64_t start_ms, end_ms;
    uint64_t parts, good, rejects;
};

/* The ideal cycle time of part program program_NN (lathes), in seconds: 20 + 2 * NN. */
double sim_ideal_cycle_s(int program);

struct sim_options {
    size_t machines;
    size_t first_machine; /* ids from this number on: two simulators, two sets of machines */
    uint64_t seed;
    double invalid_ratio;     /* 0..1 */
    double fault_rate;        /* chance per sample that a healthy machine starts a fault; 0: none */
    const char *topic_prefix; /* "cnc": topics are <prefix>/<cnc_id>/data */
    void (*truth)(void *arg, const struct sim_truth *t);
    void *truth_arg;
    /*
     * Machine states (issue #17): lathes also raise alarms (status "alarm" with an
     * "alarm_code"), count parts ("parts", "rejects": 16-bit counters that wrap and now and then
     * reset to 0), and any machine now and then goes silent for 2-4 times offline_after_ms
     * (sim_next returns 0: nothing to send). Off: the messages of earlier versions, unchanged.
     */
    bool states;
    int64_t offline_after_ms; /* the plugin's states.offline_after_s; 60000 when 0 */
    void (*state_truth)(void *arg, const struct sim_state_truth *t);
    void *state_truth_arg;
};

struct sim;

struct sim *sim_create(const struct sim_options *opt);
void sim_destroy(struct sim *s); /* reports faults still running as truth, cut at the last sample */

/*
 * The next message of machine i (round robin is the caller's choice), time
 * stamped now_ms. Writes the topic and the message; returns the message
 * length (0 if buf is too small, or the machine is silent: nothing to send)
 * and its class in *cls.
 */
size_t sim_next(struct sim *s, size_t i, int64_t now_ms, char *topic, size_t topic_len, char *buf,
                size_t buf_len, enum sim_invalid *cls);

size_t sim_machines(const struct sim *s);

#endif
