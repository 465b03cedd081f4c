/*
 * commit_window.h - receive -> commit latency over the last minute, for the metrics topic's
 * "commit_latency_recent". The writer keeps one cumulative histogram since the broker started
 * (writer.h: latency_ms, 1 ms buckets), whose percentiles a burst an hour ago still holds up;
 * this module keeps copies of it and takes the difference.
 *
 * Broker thread only (TICK and the metrics report); it reads the writer's atomics and writes
 * nothing the writer sees. Design: a copy of the histogram every CNC_COMMIT_WINDOW_STEP_S, the
 * last CNC_COMMIT_WINDOW_SLOTS of them (13 x 16 KiB); the window is the current histogram minus
 * the newest copy at least CNC_COMMIT_WINDOW_S old, so it covers 60 to 65 s (in the first minute:
 * since the first copy, taken at start). Times are monotonic: a wall-clock step moves nothing.
 * The writer's buckets are uint32 and wrap; differences are taken modulo 2^32, exact as long as
 * one bucket gains fewer than 2^32 commits in a window.
 */
#ifndef CNC_COMMIT_WINDOW_H
#define CNC_COMMIT_WINDOW_H

#include <stdatomic.h>
#include <stdint.h>

#include "writer.h"

#define CNC_COMMIT_WINDOW_S 60
#define CNC_COMMIT_WINDOW_STEP_S 5
#define CNC_COMMIT_WINDOW_SLOTS (CNC_COMMIT_WINDOW_S / CNC_COMMIT_WINDOW_STEP_S + 1)

struct cnc_commit_window;

/* What the window holds: p50/p99 are -1 when no commit fell in it. */
struct cnc_commit_recent {
    long span_s;      /* seconds covered (rounded), CNC_COMMIT_WINDOW_S to +STEP once running */
    uint64_t commits; /* messages committed in the window */
    long p50_ms, p99_ms;
};

/* An empty window; NULL when out of memory. Free with cnc_commit_window_destroy (NULL is fine). */
struct cnc_commit_window *cnc_commit_window_create(void);
void cnc_commit_window_destroy(struct cnc_commit_window *w);

/* Keeps a copy of hist (the writer's latency_ms) when none was kept in the last STEP seconds
   (and at the first call). now_ms is monotonic. Cheap when no copy is due: one comparison. */
void cnc_commit_window_sample(struct cnc_commit_window *w,
                              const _Atomic uint32_t hist[CNC_LATENCY_BUCKETS], int64_t now_ms);

/* The window ending now: hist minus the newest copy at least CNC_COMMIT_WINDOW_S old (else the
   oldest; with no copy yet, hist itself, span 0). */
struct cnc_commit_recent cnc_commit_window_read(struct cnc_commit_window *w,
                                                const _Atomic uint32_t hist[CNC_LATENCY_BUCKETS],
                                                int64_t now_ms);

#endif
