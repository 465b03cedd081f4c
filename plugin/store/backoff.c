/*
 * backoff.c - capped exponential backoff with full jitter, see backoff.h.
 *
 * Any thread.
 */
#include "backoff.h"

int64_t cnc_backoff_ceiling_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt)
{
    int64_t ceiling = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++) {
        ceiling *= 2;
    }
    return ceiling < cap_ms ? ceiling : cap_ms;
}

int64_t cnc_backoff_ms(uint64_t *rng, int64_t base_ms, int64_t cap_ms, unsigned attempt)
{
    int64_t ceiling = cnc_backoff_ceiling_ms(base_ms, cap_ms, attempt);
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (int64_t)(*rng % (uint64_t)(ceiling + 1));
}
