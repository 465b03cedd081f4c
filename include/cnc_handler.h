/*
 * cnc_handler.h - the versioned handler interface.
 *
 * A handler type turns a validated message into a record (readings,
 * efficiency, anomalies). Types compiled into the plugin are listed in
 * handlers/registry.c; more can be loaded at start from shared libraries
 * named in `handler_modules:` (see cnc_handler_module below). This header and
 * cnc_record.h are the whole contract for such a module: plain data and
 * function pointers, no symbols of the plugin to link against.
 *
 * Threads: create/destroy run on the broker thread at start, reload and
 * stop (or in the offline checker). process runs on the broker thread for
 * every message routed to the instance: it must not block, sleep, do I/O or
 * take a lock another thread may hold.
 */
#ifndef CNC_HANDLER_H
#define CNC_HANDLER_H

#include <stddef.h>

#include "cnc_record.h"

/* Bump when any struct in this header or cnc_record.h changes layout. */
#define CNC_HANDLER_ABI_VERSION 1

struct cnc_handler_type {
    const char *name;        /* what `type:` names in the YAML */
    const char *description; /* one line, for the checker's listing */

    /*
     * Builds an instance. params is the instance's `params:` mapping as a
     * cJSON object (NULL when absent); the handler does not keep it. On error
     * return NULL and write "params.KEY: what is wrong" into err, so the
     * loader can name the key and its line.
     */
    void *(*create)(const cJSON *params, char *err, size_t err_len);

    /*
     * Fills rec from msg. Returns 0, or a negative value to refuse the
     * message (reject reason handler_rejected) with a reason in detail.
     */
    int (*process)(void *instance, const struct cnc_message *msg, struct cnc_record *rec,
                   char *detail, size_t detail_len);

    /* Frees an instance made by create; NULL is allowed. */
    void (*destroy)(void *instance);
};

/*
 * What a handler module exports: a function named CNC_HANDLER_MODULE_SYMBOL
 * of type cnc_handler_module_fn returning a pointer to static data. The
 * loader refuses a module whose abi_version differs from its own.
 */
struct cnc_handler_module {
    unsigned abi_version; /* CNC_HANDLER_ABI_VERSION the module was built with */
    size_t n_types;
    const struct cnc_handler_type *types;
};

typedef const struct cnc_handler_module *(*cnc_handler_module_fn)(void);

#define CNC_HANDLER_MODULE_SYMBOL "cnc_handler_module"

#endif
