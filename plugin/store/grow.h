/*
 * grow.h - an array's capacity grown by doubling (from 64, so always a power of two: the
 * writer's hash slots rely on it), for the writer's per-batch arrays.
 *
 * Writer thread (any thread that owns the array).
 */
#ifndef CNC_GROW_H
#define CNC_GROW_H

#include <stdlib.h>

#include "cnc_error.h"

/* *p holds at least need elements of size bytes after it; 0, or CNC_ENOMEM (*p unchanged). */
static inline int cnc_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        c *= 2;
    }
    void *n = realloc(*p, c * size);
    if (n == NULL) {
        return CNC_ENOMEM;
    }
    *p = n;
    *cap = c;
    return 0;
}

#endif
