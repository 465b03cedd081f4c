/*
 * backoff.h - how long the writer waits before it tries the database again:
 * capped exponential backoff with full jitter (the AWS architecture blog's
 * "Exponential Backoff And Jitter", as Fluent Bit's scheduler does): attempt
 * k waits a uniform time in [0, min(cap, base * 2^k)].
 *
 * Any thread; pure but for the caller's random state.
 */
#ifndef CNC_BACKOFF_H
#define CNC_BACKOFF_H

#include <stdint.h>

/* min(cap, base * 2^attempt), without overflow. */
int64_t cnc_backoff_ceiling_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt);

/* A wait in [0, ceiling]; *rng (xorshift64, never 0) advances. */
int64_t cnc_backoff_ms(uint64_t *rng, int64_t base_ms, int64_t cap_ms, unsigned attempt);

#endif
