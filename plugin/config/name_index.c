/*
 * name_index.c - a fixed-size open-addressing map of borrowed names, see name_index.h.
 *
 * Any thread (one at a time). Load factor at most 1/2, linear probing.
 */
#include "name_index.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cnc_error.h"

struct cnc_name_slot {
    const char *name; /* NULL: empty */
    uint64_t hash;
    uint32_t pos;
};

int cnc_name_index_init(struct cnc_name_index *ix, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) {
        cap <<= 1;
    }
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots != NULL ? 0 : CNC_ENOMEM;
}

static struct cnc_name_slot *slot_of(const struct cnc_name_index *ix, const char *name, uint64_t h)
{
    size_t i = (size_t)h & ix->mask;
    while (ix->slots[i].name != NULL &&
           (ix->slots[i].hash != h || strcmp(ix->slots[i].name, name) != 0)) {
        i = (i + 1) & ix->mask;
    }
    return &ix->slots[i];
}

long cnc_name_index_find(const struct cnc_name_index *ix, const char *name)
{
    const struct cnc_name_slot *s = slot_of(ix, name, XXH3_64bits(name, strlen(name)));
    return s->name != NULL ? (long)s->pos : -1;
}

int cnc_name_index_add(struct cnc_name_index *ix, const char *name, uint32_t pos)
{
    uint64_t h = XXH3_64bits(name, strlen(name));
    struct cnc_name_slot *s = slot_of(ix, name, h);
    if (s->name != NULL) {
        return 1;
    }
    *s = (struct cnc_name_slot){name, h, pos};
    return 0;
}

void cnc_name_index_free(struct cnc_name_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
}
