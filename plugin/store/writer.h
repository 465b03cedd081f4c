/*
 * writer.h - the writer thread: spool -> batches -> MySQL.
 *
 * Started and stopped on the broker thread; everything else runs on its own
 * thread, the only one that talks to the database (through a sink, sink.h).
 * It reads up to
 * batch_size records from the spool, or what arrived within
 * flush_interval_ms, writes them in one transaction, then advances the spool
 * checkpoint. With the database down, or up but not taking writes (read-only,
 * full, locked: db_cause.h), it retries with capped exponential backoff and
 * full jitter while records wait on disk. Only a record the database refuses
 * for what it is leaves the spool without a row: it goes to dead-letter.jsonl
 * (dead_letter.h) at once, the rest of its batch is stored.
 *
 * What it wants logged goes through a mutex-protected outbox that the broker
 * thread drains in TICK (cnc_writer_drain_log); its counters are C11 atomics.
 */
#ifndef CNC_WRITER_H
#define CNC_WRITER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db_cause.h"
#include "sink.h"
#include "spool.h"

#define CNC_LATENCY_BUCKETS 4096

struct cnc_writer_stats {
    _Atomic uint64_t stored;    /* messages committed to the database (dead letters are not) */
    _Atomic uint64_t batches;   /* transactions committed */
    _Atomic uint64_t db_errors; /* failed connects and batches, all causes */
    _Atomic uint64_t db_errors_by_cause[CNC_DB__COUNT];
    _Atomic int last_cause;         /* of the last failure; CNC_DB_OK after a commit */
    _Atomic int dead_letters_full;  /* a refused record could not be kept: the writer waits */
    _Atomic unsigned retry_attempt; /* consecutive failures being waited out; 0 after a commit */
    _Atomic uint64_t wakeups;       /* times the writer parked and woke (its idle cost) */
    _Atomic uint64_t last_batch_ms; /* duration of the last committed transaction */
    _Atomic int db_connected;
    _Atomic uint64_t damaged;      /* damaged spool records skipped */
    _Atomic uint64_t dead_letters; /* records the database refused: in dead-letter.jsonl */
    /* Broker receive -> database commit, per message, in 1 ms buckets (last: >= 4095 ms). */
    _Atomic uint32_t latency_ms[CNC_LATENCY_BUCKETS];
};

/* The q-quantile (0..1) of the commit latency histogram in ms; -1 when empty. */
long cnc_writer_latency_quantile(const struct cnc_writer_stats *st, double q);

struct cnc_writer;

/*
 * Starts the thread. The writer takes ownership of sink (destroyed at stop,
 * or at once on failure); spool must outlive it. dead-letter.jsonl in the
 * spool folder grows to dead_letter_max_bytes at most. Returns NULL with a
 * reason in err.
 */
struct cnc_writer *cnc_writer_start(struct cnc_spool *spool, struct cnc_sink sink,
                                    const struct cnc_writer_config *cfg, enum cnc_fsync fsync,
                                    uint64_t dead_letter_max_bytes, char *err, size_t err_len);

/*
 * Broker thread: stop, join, hand the last log lines to fn, free. Records
 * not yet stored stay in the spool. NULL is allowed.
 */
void cnc_writer_stop(struct cnc_writer *w, void (*fn)(void *arg, int level, const char *line),
                     void *arg);

const struct cnc_writer_stats *cnc_writer_stats(const struct cnc_writer *w);

/* Any thread: the server written through ("db2:3306", "" unknown) and the failovers so far. */
void cnc_writer_sink_where(const struct cnc_writer *w, char *where, size_t len,
                           uint64_t *failovers);

/*
 * Broker thread, after each spool append: wakes the writer if it is parked. A load of one
 * atomic when it is not (the append path stays cheap); NULL is allowed.
 */
void cnc_writer_notify(struct cnc_writer *w);

/* Broker thread (TICK): hands each queued log line to fn, oldest first. */
void cnc_writer_drain_log(struct cnc_writer *w, void (*fn)(void *arg, int level, const char *line),
                          void *arg);

enum { CNC_WRITER_LOG_INFO = 0, CNC_WRITER_LOG_WARNING = 1, CNC_WRITER_LOG_ERROR = 2 };

#endif
