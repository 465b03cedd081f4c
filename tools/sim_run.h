/*
 * sim_run.h - what cnc-sim counts during a run (acknowledged, refused by
 * reason code, publish->ack latency histogram) and the acknowledgement
 * bookkeeping both of its publishers share (libmosquitto's, whose callbacks
 * run on libmosquitto's network thread, and the pipelined one on the main
 * thread): atomics, so either thread may record.
 */
#ifndef CNC_SIM_RUN_H
#define CNC_SIM_RUN_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define LAT_BUCKETS 100000 /* 10 µs buckets up to 1 s, then one overflow bucket */

struct run {
    _Atomic uint64_t acked, refused, connected;
    _Atomic uint64_t connack_refused; /* the CONNACK's reason when the broker said no */
    _Atomic uint64_t by_reason[256];
    _Atomic uint64_t lat[LAT_BUCKETS + 1];
    _Atomic int64_t sent_at[65536]; /* monotonic ns by message id */
    _Atomic uint64_t inflight;
};

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The broker acknowledged message mid with this reason code. */
static inline void run_acked(struct run *r, int mid, int reason)
{
    int64_t sent = atomic_load(&r->sent_at[mid & 0xFFFF]);
    if (sent > 0) {
        int64_t us10 = (mono_ns() - sent) / 10000;
        atomic_fetch_add(&r->lat[us10 < LAT_BUCKETS ? us10 : LAT_BUCKETS], 1);
    }
    atomic_fetch_add(&r->acked, 1);
    atomic_fetch_sub(&r->inflight, 1);
    if (reason >= 0x80) {
        atomic_fetch_add(&r->refused, 1);
        atomic_fetch_add(&r->by_reason[reason & 0xFF], 1);
    }
}

#endif
