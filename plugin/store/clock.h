/*
 * clock.h - the two clocks of the storage side: wall-clock milliseconds (what is written down:
 * commit times, dead-letter times) and monotonic milliseconds (what is measured: intervals,
 * waits; a wall-clock step must not move them). Any thread.
 */
#ifndef CNC_CLOCK_H
#define CNC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cnc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t cnc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
