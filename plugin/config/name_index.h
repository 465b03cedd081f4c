/*
 * name_index.h - names to positions, in constant time: handler instances by
 * name for the routes and the reload's carry-over, duplicate names in a config.
 *
 * Any thread; single-threaded use. A config may hold tens of thousands of
 * handler instances and routes: a linear search per name made a reload
 * quadratic (a 2.5 MB file stalled the broker thread for half a minute).
 * Open addressing over XXH3, sized once for a known number of names; the
 * names are borrowed and must outlive the index.
 */
#ifndef CNC_NAME_INDEX_H
#define CNC_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct cnc_name_index {
    struct cnc_name_slot *slots;
    size_t mask;
};

/* Room for up to n names. 0 or CNC_ENOMEM. */
int cnc_name_index_init(struct cnc_name_index *ix, size_t n);

/* The position stored for name, or -1. */
long cnc_name_index_find(const struct cnc_name_index *ix, const char *name);

/* Stores name -> pos. 0; 1 when name is already there (nothing changes). */
int cnc_name_index_add(struct cnc_name_index *ix, const char *name, uint32_t pos);

void cnc_name_index_free(struct cnc_name_index *ix);

#endif
