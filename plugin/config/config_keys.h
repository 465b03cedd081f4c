/*
 * config_keys.h - the key tables (config_keys.c): which keys the fixed-key sections have, their
 * types, bounds, defaults and help; shared by the loader (config.c), the reload's start-only
 * comparison and the key listings (cnc-ingest-check --keys, cnc_ingest.yaml(5)). Internal to
 * plugin/config. Read-only data: any thread.
 */
#ifndef CNC_CONFIG_KEYS_H
#define CNC_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type {
    CFG_STR,
    CFG_INT,
    CFG_SIZE,
    CFG_BOOL,
    CFG_ENUM,
    CFG_TOPIC_FILTERS,
    CFG_PUB_TOPIC,
    CFG_HOST_LIST,
    CFG_NAME_LIST /* client ids, user names: non-empty, each once */
};

/* The list types: a char ** list followed by a size_t count in the section struct. */
#define IS_LIST(t) ((t) == CFG_TOPIC_FILTERS || (t) == CFG_HOST_LIST || (t) == CFG_NAME_LIST)

struct cfg_key {
    const char *key;
    enum cfg_type type;
    size_t offset; /* within the section struct */
    const char *dflt;
    long long min, max;         /* CFG_INT, CFG_SIZE */
    const char *const *choices; /* CFG_ENUM: NULL-terminated, value = index */
    const char *help;
};

struct cfg_section {
    const char *name;
    const struct cfg_key *keys;
    size_t n_keys;
    size_t offset;   /* of the section struct within struct cnc_config */
    bool start_only; /* read at start only: a reload keeps the running values */
};

/* The fixed-key sections, in file-bit order; then the top-level keys that are not such sections
   (handlers, routes, ...), whose presence bits follow the sections'. */
extern const struct cfg_section cnc_cfg_sections[];
extern const size_t cnc_cfg_n_sections;
extern const char *const cnc_cfg_special_keys[];
extern const size_t cnc_cfg_n_special;

#endif
