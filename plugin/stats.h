/*
 * stats.h - ingest counters and their two outputs: a one-line log summary
 * and the retained JSON on the metrics topic (DESIGN.md "Published topics").
 *
 * Broker thread: the message callback increments, TICK reports. Counters the
 * writer thread will update are to be C11 atomics read from here.
 */
#ifndef CNC_STATS_H
#define CNC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cnc_error.h"
#include "commit_window.h"
#include "reject.h"
#include "db_cause.h"
#include "lua_handler.h"
#include "machine_states.h"

struct cnc_stats {
    char node[65];     /* this broker's name (config `node:`, at most 64 characters) */
    uint64_t received; /* messages on ingest topics */
    uint64_t accepted;
    uint64_t rejected; /* including those let through by on_invalid: pass */
    uint64_t by_reason[CNC_REJECT__COUNT];
    uint64_t anomalies;          /* anomaly flags raised on accepted messages */
    uint64_t retain_stripped;    /* retained PUBLISHes on ingest topics, not kept as retained */
    uint64_t forged_output;      /* clients' PUBLISHes on the plugin's output topics, refused */
    uint64_t reports_suppressed; /* reject reports held back by ingest.reports_per_client_s */
    /* Rule state (z-score, stuck) of the running handler instances, summed at each report. */
    uint64_t rule_machines;  /* machines with state */
    uint64_t rule_evicted;   /* machines whose state made room for a newer one */
    uint64_t rule_untracked; /* messages that got no state (out of memory) */
    /* Handler scripts (the lua type) of the running instances, summed at each report: counts
       since each instance was built (a changed script's start from zero). */
    struct cnc_script_stats scripts;
    /* Machine states (machine_states.h), read at each report; and what went wrong on the way. */
    struct cnc_state_counts states;
    uint64_t states_untracked;  /* messages whose state could not be kept (out of memory) */
    uint64_t offline_unspooled; /* offline intervals found on TICK the spool could not take */
};

/* The storage side, read from the writer's atomics (all zero without a mysql section). */
struct cnc_storage_snapshot {
    int enabled;
    int db_connected;
    uint64_t stored, batches, db_errors, last_batch_ms, spooled_bytes, damaged, dead_letters;
    uint64_t db_errors_by_cause[CNC_DB__COUNT];
    int waiting_for;       /* enum cnc_db_cause of the last failure; CNC_DB_OK: not waiting */
    int dead_letters_full; /* a refused record could not be kept: the writer is held up */
    long commit_p50_ms, commit_p99_ms; /* broker receive -> commit; -1 before the first */
    struct cnc_commit_recent recent;   /* the same over the last minute (commit_window.h) */
    char db_host[300];                 /* the server written through ("db2:3306") */
    uint64_t db_failovers;             /* connections made to another server than before */
};

void cnc_stats_count(struct cnc_stats *s, enum cnc_reject_code code);

/* "node=b1 received=10 accepted=8 rejected=2 (not_json=1 no_route=1)" */
void cnc_stats_summary(const struct cnc_stats *s, const struct cnc_storage_snapshot *st, char *buf,
                       size_t len);

/* The metrics object as compact JSON; free() it. NULL on allocation failure. */
char *cnc_stats_json(const struct cnc_stats *s, const struct cnc_storage_snapshot *st,
                     int64_t now_ms);

#endif
