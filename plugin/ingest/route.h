/*
 * route.h - the routing table: cnc_id -> handler instance (DESIGN.md "Routing").
 *
 * Built on the broker thread from a config (at init, on reload, in the
 * checker); looked up on the broker thread for every valid message. Exact
 * ids are found by hash in O(1) whatever their number; then glob patterns
 * (fnmatch) are tried in file order; no match means no_route. A table is
 * immutable once built; reload builds a new one and swaps the pointer.
 */
#ifndef CNC_ROUTE_H
#define CNC_ROUTE_H

#include <stddef.h>

#include "cnc_handler.h"
#include "config.h"
#include "registry.h"
#include "rules.h"
#include "state_map.h"

struct cnc_handler_instance {
    char *name;
    const struct cnc_handler_type *type;
    void *state; /* from type->create */
    struct cnc_rule_set *rules;
    struct cnc_state_map *states;            /* NULL: the instance tracks no machine state */
    const struct cnc_handler_config *config; /* in the config that built the table */
    struct cnc_handler_instance *borrowed;   /* during a build: the old instance lent to us */
};

struct cnc_route_table;

/*
 * Creates every handler instance of cfg and indexes cfg's routes. An
 * instance of `old` (may be NULL) with the same name, type, params and rules
 * is moved into the new table instead, keeping its rule state (reload). A route
 * naming a missing instance, an instance of an unknown type, params its type
 * refuses, or an exact id given twice fail with "FILE:LINE: KEY: reason" in
 * err; on error nothing is allocated.
 */
struct cnc_route_table *cnc_route_table_build(const struct cnc_config *cfg,
                                              const struct cnc_registry *reg,
                                              struct cnc_route_table *old, char *err,
                                              size_t err_len);

/* How many instances were carried over from `old` by the last build. */
size_t cnc_route_table_kept_count(const struct cnc_route_table *t);

/* The instances, for listing and counters. */
size_t cnc_route_table_instance_count(const struct cnc_route_table *t);
const struct cnc_handler_instance *cnc_route_table_instance(const struct cnc_route_table *t,
                                                            size_t i);

/* The instance for cnc_id, or NULL (no_route). */
const struct cnc_handler_instance *cnc_route_lookup(const struct cnc_route_table *t,
                                                    const char *cnc_id, size_t len);

size_t cnc_route_table_exact_count(const struct cnc_route_table *t);
size_t cnc_route_table_glob_count(const struct cnc_route_table *t);

void cnc_route_table_destroy(struct cnc_route_table *t);

#endif
