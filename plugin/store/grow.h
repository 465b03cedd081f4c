/*
 * grow.h - an array's capacity grown by doubling (from 64, so always a power of two: the
 * writer's hash slots rely on it), for the writer's per-batch arrays; and a batch's copied
 * strings, by offset (struct cnc_text).
 *
 * Writer thread (any thread that owns the array).
 */
#ifndef CNC_GROW_H
#define CNC_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Strings copied into one growing buffer for a batch, each known by its offset (the buffer may
 * move as it grows; an offset stays good until cnc_text_clear).
 */
struct cnc_text {
    char *p;
    size_t n, cap;
};

/* A copy of len bytes at q; its offset, or SIZE_MAX when out of memory. */
static inline size_t cnc_text_keep(struct cnc_text *t, const char *q, size_t len)
{
    if (cnc_grow((void **)&t->p, &t->cap, t->n + len + 1, 1) != 0) {
        return SIZE_MAX;
    }
    size_t at = t->n;
    if (len > 0) {
        memcpy(t->p + at, q, len);
    }
    t->n += len;
    return at;
}

#endif
