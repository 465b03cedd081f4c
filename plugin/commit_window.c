/*
 * commit_window.c - receive -> commit latency over the last minute from copies of the writer's
 * cumulative histogram, see commit_window.h.
 *
 * Broker thread only.
 */
#include "commit_window.h"

#include <stdlib.h>

struct cnc_commit_window {
    size_t head, len; /* copies[head] is the oldest; len copies kept */
    int64_t at_ms[CNC_COMMIT_WINDOW_SLOTS];
    uint32_t copies[CNC_COMMIT_WINDOW_SLOTS][CNC_LATENCY_BUCKETS];
    uint32_t now[CNC_LATENCY_BUCKETS]; /* the histogram read once, so both passes agree */
};

struct cnc_commit_window *cnc_commit_window_create(void)
{
    return calloc(1, sizeof(struct cnc_commit_window));
}

void cnc_commit_window_destroy(struct cnc_commit_window *w)
{
    free(w);
}

static void copy_hist(uint32_t *to, const _Atomic uint32_t *hist)
{
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        to[i] = atomic_load_explicit(&hist[i], memory_order_relaxed);
    }
}

void cnc_commit_window_sample(struct cnc_commit_window *w,
                              const _Atomic uint32_t hist[CNC_LATENCY_BUCKETS], int64_t now_ms)
{
    if (w->len > 0) {
        size_t newest = (w->head + w->len - 1) % CNC_COMMIT_WINDOW_SLOTS;
        if (now_ms - w->at_ms[newest] < CNC_COMMIT_WINDOW_STEP_S * 1000) {
            return;
        }
    }
    size_t slot;
    if (w->len < CNC_COMMIT_WINDOW_SLOTS) {
        slot = (w->head + w->len++) % CNC_COMMIT_WINDOW_SLOTS;
    } else {
        slot = w->head;
        w->head = (w->head + 1) % CNC_COMMIT_WINDOW_SLOTS;
    }
    copy_hist(w->copies[slot], hist);
    w->at_ms[slot] = now_ms;
}

/* The first bucket at which more than q of the total have been seen. */
static long quantile(const uint32_t *now, const uint32_t *base, uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        seen += (uint32_t)(now[i] - (base != NULL ? base[i] : 0));
        if (seen > want) {
            return (long)i;
        }
    }
    return CNC_LATENCY_BUCKETS - 1;
}

struct cnc_commit_recent cnc_commit_window_read(struct cnc_commit_window *w,
                                                const _Atomic uint32_t hist[CNC_LATENCY_BUCKETS],
                                                int64_t now_ms)
{
    struct cnc_commit_recent r = {.span_s = 0, .commits = 0, .p50_ms = -1, .p99_ms = -1};
    const uint32_t *base = NULL;
    if (w->len > 0) {
        /* Copies are in time order from head: the newest old enough, else the oldest. */
        size_t pick = w->head;
        for (size_t k = 0; k < w->len; k++) {
            size_t i = (w->head + k) % CNC_COMMIT_WINDOW_SLOTS;
            if (now_ms - w->at_ms[i] >= CNC_COMMIT_WINDOW_S * 1000) {
                pick = i;
            }
        }
        base = w->copies[pick];
        r.span_s = (long)((now_ms - w->at_ms[pick] + 500) / 1000);
    }
    copy_hist(w->now, hist);
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        r.commits += (uint32_t)(w->now[i] - (base != NULL ? base[i] : 0));
    }
    if (r.commits > 0) {
        r.p50_ms = quantile(w->now, base, r.commits, 0.50);
        r.p99_ms = quantile(w->now, base, r.commits, 0.99);
    }
    return r;
}
