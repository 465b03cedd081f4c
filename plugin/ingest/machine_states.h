/*
 * machine_states.h - the current state of every machine, kept per cnc_id on
 * the broker thread: which message starts a new state interval, and which
 * machine has gone silent (offline).
 *
 * Broker thread only. Constant time per message (a hash lookup, a hash of the
 * state, a timer-wheel link); bounded memory: at most max_machines rows
 * (ingest.max_tracked_machines) of about 300 bytes; past that, the machine
 * heard least recently gives up its row, as rule state does. The tracker
 * outlives config generations (reloads): a machine's state goes on.
 *
 * Intervals are keyed by (cnc_id, started_at): an interval starts at the
 * timestamp of the first message in a new state (a new value of the state
 * member, a new category, reason or part program) and ends where the next one
 * starts. A message older than the newest one heard from its machine changes
 * no interval (it is counted as late). A machine silent for offline_after_s
 * gets an `offline` interval starting 1 ms after its last message: found on
 * TICK (cnc_machine_states_expire) for a machine that stays silent, or from
 * the gap between two timestamps (a collector that buffered, a backfill), so
 * the intervals do not depend on when the broker noticed.
 */
#ifndef CNC_MACHINE_STATES_H
#define CNC_MACHINE_STATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cnc_record.h"
#include "envelope.h"
#include "state_map.h"

/* What a record says of its machine's state (stored with it; see stored_record.h). */
#define CNC_STATE_CHANGED 0x01    /* this message starts an interval at started_ms */
#define CNC_STATE_GAP 0x02        /* the machine was silent: offline from offline_from_ms */
#define CNC_STATE_EVENT_ONLY 0x04 /* no message: the offline interval found on TICK */
#define CNC_STATE_COUNTS 0x08     /* the message's part counters moved: parts, good, rejects */

struct cnc_state_event {
    uint8_t flags; /* 0: the message changes no interval */
    enum cnc_state_category category;
    int64_t started_ms;
    int64_t offline_from_ms; /* with CNC_STATE_GAP */
    const char *state;       /* state text; with EVENT_ONLY "offline" */
    size_t state_len;
    const char *reason; /* NULL: none */
    size_t reason_len;
    uint32_t parts, good, rejects; /* with CNC_STATE_COUNTS: what this message adds */
    double ideal_cycle_s;          /* of the message's part program; NaN: none configured */
    char gap_program[CNC_PART_PROGRAM_MAX + 1]; /* with GAP: the program when it went silent */
};

/* An offline machine found on TICK: what its event record and analytics message need. */
struct cnc_offline_machine {
    const char *cnc_id, *handler, *part_program;
    int64_t last_ts_ms;           /* its last message */
    struct cnc_state_event event; /* EVENT_ONLY, offline from last_ts_ms + 1 */
};

struct cnc_state_counts {
    uint64_t changes;     /* messages that started an interval */
    uint64_t late;        /* messages older than the newest of their machine: no interval */
    uint64_t offline;     /* offline intervals (on TICK or from a gap) */
    uint64_t evicted;     /* machines whose row made room for another */
    uint64_t count_jumps; /* a counter moved by more than max_count_step: counted as 0 */
    size_t tracked;       /* machines with a row */
};

struct cnc_machine_states;

struct cnc_machine_states *cnc_machine_states_create(size_t max_machines);
void cnc_machine_states_destroy(struct cnc_machine_states *ms);

/*
 * The state msg reports through map (its handler instance's), heard at
 * mono_ms (a monotonic clock), into ev. ev points into msg and r; handler is
 * the instance's name. 0, or -1 when out of memory (ev.flags 0).
 */
int cnc_machine_states_observe(struct cnc_machine_states *ms, const struct cnc_state_map *map,
                               const char *handler, const struct cnc_message *msg,
                               const struct cnc_state_reading *r, int64_t mono_ms,
                               struct cnc_state_event *ev);

/*
 * Machines whose silence passed their offline_after_s by mono_ms (to within a
 * second): each is marked offline and given to emit, at most max per call (the
 * rest on the next). Returns how many were emitted.
 */
size_t cnc_machine_states_expire(struct cnc_machine_states *ms, int64_t mono_ms, size_t max,
                                 void (*emit)(void *arg, const struct cnc_offline_machine *m),
                                 void *arg);

/*
 * Forgets what was last heard from cnc_id (its record could not be spooled, so the change it
 * carried was never stored): its next message starts an interval again. The writer merges an
 * interval into the one before it when nothing changed.
 */
void cnc_machine_states_forget(struct cnc_machine_states *ms, const char *cnc_id);

void cnc_machine_states_counts(const struct cnc_machine_states *ms, struct cnc_state_counts *c);

#endif
