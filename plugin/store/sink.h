/*
 * sink.h - where the writer stores batches: an interface, so that the writer
 * knows nothing of MySQL (and its tests use a fake sink).
 *
 * Like Fluent Bit's output plugins (cb_init, cb_flush returning OK / RETRY /
 * ERROR): the sink says what became of a batch, the writer decides what that
 * means. Three outcomes:
 *   STORED   the whole batch is committed;
 *   RETRY    the database could not take it now (down, read-only, full,
 *            locked, ...: db_cause.h says why); the batch waits in the spool;
 *   REFUSED  some record of the batch can never be stored as it is; the
 *            writer writes the batch record by record at once, and a record
 *            refused alone goes to the dead letters.
 *
 * Threads: ops are called on the writer thread only, but create (before the
 * writer starts) and destroy (after it stopped), on the broker thread.
 */
#ifndef CNC_SINK_H
#define CNC_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db_cause.h"
#include "stored_record.h"

enum cnc_sink_outcome { CNC_SINK_STORED = 0, CNC_SINK_RETRY, CNC_SINK_REFUSED };

struct cnc_sink_ops {
    /* Per-thread setup of the client library, on the writer thread (may be NULL). */
    void (*thread_start)(void *state);
    void (*thread_end)(void *state);
    /*
     * Connects: STORED (open) or RETRY with err and *cause. STORED with err not empty: servers
     * were passed over on the way (a cluster node not ready, read-only); *cause says why.
     */
    enum cnc_sink_outcome (*open)(void *state, char *err, size_t err_len, enum cnc_db_cause *cause);
    bool (*is_open)(const void *state);
    /*
     * Writes n records in one transaction. After RETRY or REFUSED (err and
     * *cause set) the sink is closed: the next write opens it again first.
     */
    enum cnc_sink_outcome (*write)(void *state, const struct cnc_stored *recs, size_t n, char *err,
                                   size_t err_len, enum cnc_db_cause *cause);
    /* Where it writes ("db1:3306") and how often it moved elsewhere; any thread; may be NULL. */
    void (*describe)(const void *state, char *where, size_t len, uint64_t *moves);
    /* A warning to log once, or NULL (a part the sink keeps beside the batches could not be
       written: the shift calendar); writer thread; may be NULL. */
    const char *(*take_warning)(void *state);
    void (*close)(void *state);
    void (*destroy)(void *state);
};

struct cnc_sink {
    const struct cnc_sink_ops *ops;
    void *state;
};

#endif
