/*
 * registry.h - the handler types the plugin knows: the compiled-in table plus
 * types loaded from `handler_modules:` shared libraries.
 *
 * Broker thread, at init only (modules are not reloaded on SIGHUP: a changed
 * list is reported and needs a restart). Lookups are by name.
 */
#ifndef CNC_REGISTRY_H
#define CNC_REGISTRY_H

#include <stddef.h>

#include "cnc_handler.h"

struct cnc_registry;

/*
 * Builds the registry: compiled-in types, then each module's types in order.
 * A module that cannot be opened, lacks the entry point, was built for
 * another CNC_HANDLER_ABI_VERSION or repeats a type name is refused. Returns
 * NULL with a message in err; on error nothing is left loaded.
 */
struct cnc_registry *cnc_registry_create(char *const *modules, size_t n_modules, char *err,
                                         size_t err_len);

/* The type called name, or NULL. */
const struct cnc_handler_type *cnc_registry_find(const struct cnc_registry *reg, const char *name);

/* Calls fn for every type, built-in first (for the checker's listing). */
void cnc_registry_each(const struct cnc_registry *reg,
                       void (*fn)(const struct cnc_handler_type *t, const char *origin, void *arg),
                       void *arg);

void cnc_registry_destroy(struct cnc_registry *reg);

/* The compiled-in types, one per file in handlers/. */
extern const struct cnc_handler_type cnc_handler_generic;
extern const struct cnc_handler_type cnc_handler_machine_tool;
extern const struct cnc_handler_type cnc_handler_sensor_efficiency;
/* cnc_handler_lua: lua_handler.h */

#endif
