/*
 * registry.c - the one table of compiled-in handler types, and the loader of
 * handler modules (dlopen) that extends it. See registry.h.
 *
 * Broker thread, at init; lookups at config load and reload.
 */
#include "registry.h"

#include "lua_handler.h"
#include "safe_file.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cnc_handler_type *const builtin[] = {
    &cnc_handler_generic,
    &cnc_handler_machine_tool,
    &cnc_handler_sensor_efficiency,
    &cnc_handler_lua,
};
#define N_BUILTIN (sizeof builtin / sizeof builtin[0])

struct registry_entry {
    const struct cnc_handler_type *type;
    const char *origin; /* "built-in" or the module path */
};

struct cnc_registry {
    struct registry_entry *entries;
    size_t n_entries;
    void **dl_handles;
    char **module_paths;
    size_t n_modules;
};

const struct cnc_handler_type *cnc_registry_find(const struct cnc_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n_entries; i++) {
        if (strcmp(reg->entries[i].type->name, name) == 0) {
            return reg->entries[i].type;
        }
    }
    return NULL;
}

static int add_entry(struct cnc_registry *reg, const struct cnc_handler_type *t, const char *origin,
                     char *err, size_t err_len)
{
    if (t->name == NULL || t->create == NULL || t->process == NULL || t->destroy == NULL) {
        snprintf(err, err_len, "handler_modules: %s: a handler type lacks a name or function",
                 origin);
        return -1;
    }
    if (cnc_registry_find(reg, t->name) != NULL) {
        snprintf(err, err_len, "handler_modules: %s: handler type \"%s\" is already defined",
                 origin, t->name);
        return -1;
    }
    struct registry_entry *e = realloc(reg->entries, (reg->n_entries + 1) * sizeof *e);
    if (e == NULL) {
        snprintf(err, err_len, "handler_modules: out of memory");
        return -1;
    }
    reg->entries = e;
    e[reg->n_entries].type = t;
    e[reg->n_entries].origin = origin;
    reg->n_entries++;
    return 0;
}

static int load_module(struct cnc_registry *reg, const char *path, char *err, size_t err_len)
{
    char why[600];
    if (strchr(path, '/') == NULL) {
        snprintf(err, err_len,
                 "handler_modules: \"%s\" is not a path: name the module's file (such as "
                 "/usr/local/lib/%s); a bare name would be searched for in the library path",
                 path, path);
        return -1;
    }
    /* A FIFO or device here would block dlopen() and with it the broker's start. */
    if (cnc_file_check(path, 0, CNC_FILE_NO_OWNER, why, sizeof why) != 0) {
        snprintf(err, err_len, "handler_modules: %s", why);
        return -1;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(err, err_len, "handler_modules: cannot load %s: %s", path, dlerror());
        return -1;
    }
    size_t k = reg->n_modules;
    reg->dl_handles[k] = dl;
    reg->module_paths[k] = strdup(path);
    reg->n_modules++;
    if (reg->module_paths[k] == NULL) {
        snprintf(err, err_len, "handler_modules: out of memory");
        return -1;
    }
    cnc_handler_module_fn fn;
    *(void **)&fn = dlsym(dl, CNC_HANDLER_MODULE_SYMBOL);
    if (fn == NULL) {
        snprintf(err, err_len, "handler_modules: %s does not export %s()", path,
                 CNC_HANDLER_MODULE_SYMBOL);
        return -1;
    }
    const struct cnc_handler_module *m = fn();
    if (m == NULL || m->abi_version != CNC_HANDLER_ABI_VERSION) {
        snprintf(err, err_len,
                 "handler_modules: %s was built for handler interface version %u, this plugin "
                 "has version %u: rebuild it against this plugin's include/cnc_handler.h",
                 path, m != NULL ? m->abi_version : 0u, (unsigned)CNC_HANDLER_ABI_VERSION);
        return -1;
    }
    for (size_t i = 0; i < m->n_types; i++) {
        if (add_entry(reg, &m->types[i], reg->module_paths[k], err, err_len) != 0) {
            return -1;
        }
    }
    return 0;
}

struct cnc_registry *cnc_registry_create(char *const *modules, size_t n_modules, char *err,
                                         size_t err_len)
{
    struct cnc_registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    reg->dl_handles = calloc(n_modules + 1, sizeof *reg->dl_handles);
    reg->module_paths = calloc(n_modules + 1, sizeof *reg->module_paths);
    if (reg->dl_handles == NULL || reg->module_paths == NULL) {
        snprintf(err, err_len, "out of memory");
        cnc_registry_destroy(reg);
        return NULL;
    }
    for (size_t i = 0; i < N_BUILTIN; i++) {
        if (add_entry(reg, builtin[i], "built-in", err, err_len) != 0) {
            cnc_registry_destroy(reg);
            return NULL;
        }
    }
    for (size_t i = 0; i < n_modules; i++) {
        if (load_module(reg, modules[i], err, err_len) != 0) {
            cnc_registry_destroy(reg);
            return NULL;
        }
    }
    return reg;
}

void cnc_registry_each(const struct cnc_registry *reg,
                       void (*fn)(const struct cnc_handler_type *t, const char *origin, void *arg),
                       void *arg)
{
    for (size_t i = 0; i < reg->n_entries; i++) {
        fn(reg->entries[i].type, reg->entries[i].origin, arg);
    }
}

void cnc_registry_destroy(struct cnc_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    free(reg->entries);
    for (size_t i = 0; i < reg->n_modules; i++) {
        if (reg->dl_handles[i] != NULL) {
            dlclose(reg->dl_handles[i]);
        }
        free(reg->module_paths[i]);
    }
    free(reg->dl_handles);
    free(reg->module_paths);
    free(reg);
}
