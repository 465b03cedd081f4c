/*
 * test_commit_window.c - the receive -> commit latency over the last minute
 * (plugin/commit_window.c): after a burst of slow commits, a steady minute of
 * fast ones shows the fast ones alone; the span; an empty window; the first
 * minute; a wrapped uint32 bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "commit_window.h"

static _Atomic uint32_t hist[CNC_LATENCY_BUCKETS];

static void add(size_t ms, uint32_t n)
{
    atomic_fetch_add(&hist[ms], n);
}

static void clear(void)
{
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        atomic_store(&hist[i], 0);
    }
}

/* The issue: a burst at start held the cumulative p50 at ~1.6 s during a steady run. */
static void a_burst_leaves_the_window(void **state)
{
    (void)state;
    clear();
    struct cnc_commit_window *w = cnc_commit_window_create();
    assert_non_null(w);
    int64_t t = 1000000;
    cnc_commit_window_sample(w, hist, t);
    add(1600, 100000); /* the burst, in the first seconds */
    add(3000, 2000);
    for (int s = 1; s <= 300; s++) { /* then five minutes at 1,000 commits/s, 60-110 ms */
        add(60, 980);
        add(110, 20);
        cnc_commit_window_sample(w, hist, t + s * 1000);
    }
    struct cnc_commit_recent r = cnc_commit_window_read(w, hist, t + 300 * 1000 + 400);
    assert_true(r.span_s >= CNC_COMMIT_WINDOW_S && r.span_s <= CNC_COMMIT_WINDOW_S + 5);
    assert_int_equal(r.commits, (uint64_t)r.span_s * 1000);
    assert_int_equal(r.p50_ms, 60);
    assert_int_equal(r.p99_ms, 110);
    /* In the first minute the window is since the first copy, burst included. */
    struct cnc_commit_window *young = cnc_commit_window_create();
    clear();
    cnc_commit_window_sample(young, hist, t);
    add(1600, 600);
    add(60, 400);
    cnc_commit_window_sample(young, hist, t + 10000);
    r = cnc_commit_window_read(young, hist, t + 20000);
    assert_int_equal(r.span_s, 20);
    assert_int_equal(r.commits, 1000);
    assert_int_equal(r.p50_ms, 1600);
    cnc_commit_window_destroy(young);
    cnc_commit_window_destroy(w);
}

static void an_idle_minute_has_no_percentiles(void **state)
{
    (void)state;
    clear();
    struct cnc_commit_window *w = cnc_commit_window_create();
    struct cnc_commit_recent r = cnc_commit_window_read(w, hist, 5000); /* no copy yet */
    assert_int_equal(r.span_s, 0);
    assert_int_equal(r.commits, 0);
    assert_int_equal(r.p50_ms, -1);
    assert_int_equal(r.p99_ms, -1);
    add(40, 10);
    cnc_commit_window_sample(w, hist, 5000);
    for (int s = 1; s <= 120; s++) {
        cnc_commit_window_sample(w, hist, 5000 + s * 1000);
    }
    r = cnc_commit_window_read(w, hist, 5000 + 120 * 1000);
    assert_int_equal(r.commits, 0);
    assert_int_equal(r.p50_ms, -1);
    assert_true(r.span_s >= 60 && r.span_s <= 65);
    cnc_commit_window_destroy(w);
    cnc_commit_window_destroy(NULL);
}

/* The writer's buckets are uint32: a bucket that wrapped inside the window still counts. */
static void a_wrapped_bucket_counts(void **state)
{
    (void)state;
    clear();
    struct cnc_commit_window *w = cnc_commit_window_create();
    atomic_store(&hist[70], UINT32_MAX - 9);
    cnc_commit_window_sample(w, hist, 0);
    add(70, 30); /* wraps to 20 */
    add(900, 1);
    struct cnc_commit_recent r = cnc_commit_window_read(w, hist, 30000);
    assert_int_equal(r.commits, 31);
    assert_int_equal(r.p50_ms, 70);
    assert_int_equal(r.p99_ms, 900);
    cnc_commit_window_destroy(w);
}

/* Copies are kept every STEP seconds however often the tick asks. */
static void copies_every_step(void **state)
{
    (void)state;
    clear();
    struct cnc_commit_window *w = cnc_commit_window_create();
    cnc_commit_window_sample(w, hist, 0);
    add(10, 1);
    for (int ms = 100; ms < CNC_COMMIT_WINDOW_STEP_S * 1000; ms += 100) {
        cnc_commit_window_sample(w, hist, ms); /* too soon: not kept */
    }
    struct cnc_commit_recent r = cnc_commit_window_read(w, hist, 4999);
    assert_int_equal(r.commits, 1); /* still measured from the copy at 0 */
    cnc_commit_window_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_burst_leaves_the_window),
        cmocka_unit_test(an_idle_minute_has_no_percentiles),
        cmocka_unit_test(a_wrapped_bucket_counts),
        cmocka_unit_test(copies_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
