/*
 * config.c - load the YAML configuration into struct cnc_config (see config.h).
 *
 * Broker thread at init and reload; the offline checker. libyaml builds the
 * node tree (with line marks); the key tables in config_keys.c are the single
 * statement of which keys exist, their types, bounds and defaults.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "cnc_record.h"
#include "name_index.h"
#include "handler_scripts.h"
#include "safe_file.h"
#include "topic.h"
#include "utf8.h"

#include "config_keys.h"

/*
 * What a config may expand to. A config is read on every reload of a running broker, so a
 * hostile or broken file must be refused quickly and with little memory: a YAML alias that
 * contains itself would recurse without end, a "billion laughs" of a few hundred bytes would
 * expand to billions of nodes, and libyaml's scanner spends time per token in proportion to
 * the flow nesting depth (quadratic in a file of [[[[...).
 */
#define MAX_FILE_BYTES (4u << 20) /* ~100,000 exact routes; parsed in ~0.5 s (README) */
#define MAX_DEPTH 64              /* nesting, in the file and after aliases are expanded */
#define MAX_PARAM_NODES 100000    /* values in all params and rules, aliases expanded */
#define PATH_MAX_LEN 256
#define MAX_HANDLERS 65536
#define MAX_ROUTES 200000
#define MAX_PUBLISHERS 200000
#define MAX_PUBLISHER_CNC_IDS 64 /* patterns tried per message from one publisher: bounded */

struct loader {
    const char *name;
    yaml_document_t doc;
    struct cnc_config *cfg;
    char *err;
    size_t err_len;
    /* to_json: per node (by index), 0 never seen, 1 being converted, 2 converted before. */
    unsigned char *seen;
    size_t n_nodes;
    size_t param_nodes; /* converted so far, over the whole file */
    size_t alias_nodes; /* of them, nodes converted a second time or more: what aliases repeat */
    struct cnc_name_index handler_names;
    size_t lines_cap;
};

static int fail_line(struct loader *ld, int line, const char *key, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(ld->err, ld->err_len, "%s:%d: %s: %s", ld->name, line, key, msg);
    /* Values from the file are quoted in the message, which goes to the broker's log. */
    utf8_make_loggable(ld->err, ld->err_len);
    return -1;
}

static int fail(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_line(ld, node != NULL ? (int)node->start_mark.line + 1 : 1, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_at(struct loader *ld, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct loader *ld, int line, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_line(ld, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static yaml_node_t *node_at(struct loader *ld, int index)
{
    return yaml_document_get_node(&ld->doc, index);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Integers, and for sizes the suffixes K/M/G/T with optional "iB" (powers of 1024). */
static int parse_int(const char *s, bool size, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno != 0) {
        return -1;
    }
    if (size && *end != '\0') {
        int shift = 0;
        switch (*end) {
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        case 'T':
        case 't':
            shift = 40;
            break;
        default:
            return -1;
        }
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0) {
            end += strlen(end);
        }
        if (v < 0 || v > (LLONG_MAX >> shift)) {
            return -1;
        }
        v <<= shift;
    }
    if (*end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static char **string_list_dup(const char *const *items, size_t n)
{
    char **list = calloc(n + 1, sizeof *list);
    if (list == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        list[i] = strdup(items[i]);
        if (list[i] == NULL) {
            for (size_t k = 0; k < i; k++) {
                free(list[k]);
            }
            free(list);
            return NULL;
        }
    }
    return list;
}

static void string_list_free(char **list, size_t n)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

/*
 * Sets one key from text (a default) or from a YAML node. For lists the
 * default text is a single item. Replaces and frees any earlier value.
 */
static int set_key(struct loader *ld, void *section, const struct cfg_key *k, const char *path,
                   const char *text, yaml_node_t *node)
{
    char *field = (char *)section + k->offset;

    if (node != NULL && !IS_LIST(k->type) && node->type != YAML_SCALAR_NODE) {
        return fail(ld, node, path, "must be a single value, not a %s",
                    node->type == YAML_MAPPING_NODE ? "mapping" : "list");
    }
    if (node != NULL && !IS_LIST(k->type)) {
        text = scalar(node);
    }
    switch (k->type) {
    case CFG_STR:
    case CFG_PUB_TOPIC: {
        if (k->type == CFG_PUB_TOPIC && text[0] != '\0' && !cnc_topic_name_valid(text)) {
            return fail(ld, node, path, "\"%s\" is not a valid topic to publish on", text);
        }
        char *copy = strdup(text);
        if (copy == NULL) {
            return fail(ld, node, path, "out of memory");
        }
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case CFG_INT:
    case CFG_SIZE: {
        long long v;
        if (parse_int(text, k->type == CFG_SIZE, &v) != 0 || v < k->min || v > k->max) {
            return fail(ld, node, path, "must be an integer from %lld to %lld%s, not \"%s\"",
                        k->min, k->max, k->type == CFG_SIZE ? " (suffixes K, M, G, T allowed)" : "",
                        text);
        }
        *(long long *)field = v;
        return 0;
    }
    case CFG_BOOL:
        if (parse_bool(text, (bool *)field) != 0) {
            return fail(ld, node, path, "must be true or false, not \"%s\"", text);
        }
        return 0;
    case CFG_ENUM:
        for (int i = 0; k->choices[i] != NULL; i++) {
            if (strcmp(text, k->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        {
            char list[128] = "";
            for (int i = 0; k->choices[i] != NULL; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, k->choices[i], sizeof list - strlen(list) - 1);
            }
            return fail(ld, node, path, "must be one of %s, not \"%s\"", list, text);
        }
    case CFG_TOPIC_FILTERS:
    case CFG_HOST_LIST:
    case CFG_NAME_LIST: {
        /* field is char **list followed by size_t count (struct layout in config.h). */
        bool hosts = k->type == CFG_HOST_LIST, names = k->type == CFG_NAME_LIST;
        const char *what = hosts ? "host:port" : names ? "name" : "topic filter";
        char ***list = (char ***)field;
        size_t *count = (size_t *)(field + sizeof(char **));
        const char *items[256];
        size_t n = 0;
        if (node == NULL) {
            if (text[0] != '\0') {
                items[n++] = text;
            }
        } else if (node->type == YAML_SCALAR_NODE) {
            items[n++] = scalar(node);
        } else if (node->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = node->data.sequence.items.start;
                 it < node->data.sequence.items.top; it++) {
                yaml_node_t *item = node_at(ld, *it);
                if (item->type != YAML_SCALAR_NODE) {
                    return fail(ld, item, path, "each %s must be a string", what);
                }
                if (n == sizeof items / sizeof items[0]) {
                    return fail(ld, item, path, "at most 256 of them");
                }
                items[n++] = scalar(item);
            }
        } else {
            return fail(ld, node, path, "must be a list of %ss", what);
        }
        if (n == 0 && !hosts && !names) {
            return fail(ld, node, path, "needs at least one topic filter");
        }
        if (hosts && n > CNC_MYSQL_MAX_HOSTS) {
            return fail(ld, node, path, "at most %d servers (%zu given)", CNC_MYSQL_MAX_HOSTS, n);
        }
        /* Each server or name once, found in a hash (linear in the list, however long the names).
         */
        struct cnc_name_index seen = {0};
        if ((hosts || names) && cnc_name_index_init(&seen, n) != 0) {
            return fail(ld, node, path, "out of memory");
        }
        for (size_t i = 0; (hosts || names) && i < n; i++) {
            if (cnc_name_index_add(&seen, items[i], (uint32_t)i) != 0) {
                cnc_name_index_free(&seen);
                return fail(ld, node, path, "\"%.80s\" is listed twice", items[i]);
            }
        }
        cnc_name_index_free(&seen);
        for (size_t i = 0; i < n; i++) {
            char name[CNC_MYSQL_HOST_MAX];
            if (names) {
                size_t len = strlen(items[i]);
                if (len == 0 || len > 65535) {
                    return fail(ld, node, path, "each name must be 1-65535 bytes (an MQTT string)");
                }
                continue;
            }
            if (hosts ? !cnc_config_host_port(items[i], name, sizeof name, NULL)
                      : !cnc_topic_filter_valid(items[i])) {
                return fail(ld, node, path, "\"%s\" is not a valid %s%s", items[i], what,
                            hosts ? " (a name or address of at most 255 bytes, a colon, a port "
                                    "from 1 to 65535; [v6-address]:port)"
                                  : "");
            }
        }
        char **copy = string_list_dup(items, n);
        if (copy == NULL && n > 0) {
            return fail(ld, node, path, "out of memory");
        }
        string_list_free(*list, *count);
        *list = copy;
        *count = n;
        return 0;
    }
    }
    return fail(ld, node, path, "internal error: unknown key type");
}

static void section_free(const struct cfg_section *sec, struct cnc_config *cfg)
{
    char *base = (char *)cfg + sec->offset;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        char *field = base + k->offset;
        if (k->type == CFG_STR || k->type == CFG_PUB_TOPIC) {
            free(*(char **)field);
        } else if (IS_LIST(k->type)) {
            string_list_free(*(char ***)field, *(size_t *)(field + sizeof(char **)));
        }
    }
}

static int record_line(struct loader *ld, const char *path, int line);

static int load_section(struct loader *ld, const struct cfg_section *sec, yaml_node_t *map)
{
    char path[160];
    if (map->type != YAML_MAPPING_NODE) {
        return fail(ld, map, sec->name, "must be a mapping of keys");
    }
    uint64_t seen = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node_at(ld, p->key);
        yaml_node_t *vn = node_at(ld, p->value);
        if (kn->type != YAML_SCALAR_NODE) {
            return fail(ld, kn, sec->name, "keys must be plain names");
        }
        size_t i;
        for (i = 0; i < sec->n_keys; i++) {
            if (strcmp(scalar(kn), sec->keys[i].key) == 0) {
                break;
            }
        }
        snprintf(path, sizeof path, "%s.%s", sec->name, scalar(kn));
        if (i == sec->n_keys) {
            char known[256] = "";
            for (size_t j = 0; j < sec->n_keys; j++) {
                strncat(known, j ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, sec->keys[j].key, sizeof known - strlen(known) - 1);
            }
            return fail(ld, kn, path, "unknown key (known keys: %s)", known);
        }
        if (seen & (UINT64_C(1) << i)) {
            return fail(ld, kn, path, "duplicate key");
        }
        seen |= UINT64_C(1) << i;
        if (record_line(ld, path, (int)kn->start_mark.line + 1) != 0) {
            return fail(ld, kn, path, "out of memory");
        }
        if (set_key(ld, (char *)ld->cfg + sec->offset, &sec->keys[i], path, NULL, vn) != 0) {
            return -1;
        }
    }
    return 0;
}

static int record_line(struct loader *ld, const char *path, int line)
{
    struct cnc_config *cfg = ld->cfg;
    struct cnc_config_line *n = cfg->lines;
    if (cfg->n_lines == ld->lines_cap) {
        size_t cap = ld->lines_cap ? ld->lines_cap * 2 : 64;
        if ((n = realloc(cfg->lines, cap * sizeof *n)) == NULL) {
            return -1;
        }
        cfg->lines = n;
        ld->lines_cap = cap;
    }
    n[cfg->n_lines].path = strdup(path);
    if (n[cfg->n_lines].path == NULL) {
        return -1;
    }
    n[cfg->n_lines].line = line;
    cfg->n_lines++;
    return 0;
}

/*
 * Converts a YAML subtree to cJSON for handler params and rules. Plain
 * scalars become numbers, booleans or null where they read as such; quoted
 * scalars stay strings. Records the line of every mapping key and list item.
 * Aliases are expanded: one that refers to a node containing it is refused,
 * as are more than MAX_PARAM_NODES values in all and nesting deeper than
 * MAX_DEPTH after expansion.
 */
static cJSON *to_json(struct loader *ld, yaml_node_t *n, const char *path, int depth)
{
    char sub[PATH_MAX_LEN];
    size_t index = (size_t)(n - ld->doc.nodes.start);
    if (depth > MAX_DEPTH) {
        fail(ld, n, path, "nested deeper than %d levels (aliases included)", MAX_DEPTH);
        return NULL;
    }
    if (ld->seen[index] == 1) {
        fail(ld, n, path,
             "an alias refers to the node that contains it (a cycle: the node starts at "
             "line %d)",
             (int)n->start_mark.line + 1);
        return NULL;
    }
    ld->alias_nodes += ld->seen[index] == 2;
    if (++ld->param_nodes > MAX_PARAM_NODES) {
        fail(ld, n, path, "params and rules hold more than %d values in all%s", MAX_PARAM_NODES,
             ld->alias_nodes > 0 ? " once aliases are expanded (an alias of an alias of ...?): "
                                   "write the values out, or use fewer aliases"
                                 : "");
        return NULL;
    }
    if (record_line(ld, path, (int)n->start_mark.line + 1) != 0) {
        fail(ld, n, path, "out of memory");
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        ld->seen[index] = 2;
        const char *s = scalar(n);
        if (plain(n)) {
            bool b;
            char *end;
            if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || s[0] == '\0') {
                return cJSON_CreateNull();
            }
            if (parse_bool(s, &b) == 0) {
                return cJSON_CreateBool(b);
            }
            double d = strtod(s, &end);
            /* "nan", "inf", "1e999" stay strings: a handler then refuses them as not a number
               (a NaN passed every range check written as "x < lo || x > hi"). */
            if (end != s && *end == '\0' && isfinite(d)) {
                return cJSON_CreateNumber(d);
            }
        }
        return cJSON_CreateString(s);
    }
    ld->seen[index] = 1;
    cJSON *out = NULL;
    if (n->type == YAML_SEQUENCE_NODE) {
        cJSON *arr = cJSON_CreateArray();
        size_t i = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             arr != NULL && it < n->data.sequence.items.top; it++, i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            cJSON *v = to_json(ld, node_at(ld, *it), sub, depth + 1);
            if (v == NULL) {
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, v);
        }
        out = arr;
    } else {
        cJSON *obj = cJSON_CreateObject();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             obj != NULL && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = node_at(ld, p->key);
            if (kn->type != YAML_SCALAR_NODE) {
                fail(ld, kn, path, "keys must be plain names");
                cJSON_Delete(obj);
                return NULL;
            }
            snprintf(sub, sizeof sub, "%s.%s", path, scalar(kn));
            if (cJSON_GetObjectItemCaseSensitive(obj, scalar(kn)) != NULL) {
                fail(ld, kn, sub, "duplicate key");
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON *v = to_json(ld, node_at(ld, p->value), sub, depth + 1);
            if (v == NULL) {
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON_AddItemToObject(obj, scalar(kn), v);
        }
        out = obj;
    }
    if (out == NULL) {
        fail(ld, n, path, "out of memory");
    }
    ld->seen[index] = 2;
    return out;
}

static int load_handlers(struct loader *ld, yaml_node_t *map)
{
    struct cnc_config *cfg = ld->cfg;
    char path[256];
    if (map->type != YAML_MAPPING_NODE) {
        return fail(ld, map, "handlers", "must be a mapping of instance name to {type, params}");
    }
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > MAX_HANDLERS) {
        return fail(ld, map, "handlers", "%zu handler instances, more than %d", n, MAX_HANDLERS);
    }
    cfg->handlers = calloc(n ? n : 1, sizeof *cfg->handlers);
    if (cfg->handlers == NULL || cnc_name_index_init(&ld->handler_names, n) != 0) {
        return fail(ld, map, "handlers", "out of memory");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node_at(ld, p->key);
        yaml_node_t *vn = node_at(ld, p->value);
        if (kn->type != YAML_SCALAR_NODE || scalar(kn)[0] == '\0') {
            return fail(ld, kn, "handlers", "instance names must be non-empty strings");
        }
        const char *name = scalar(kn);
        snprintf(path, sizeof path, "handlers.%s", name);
        if (strlen(name) > CNC_DB_NAME_MAX) {
            return fail(ld, kn, path,
                        "instance names are at most 64 bytes (the database's "
                        "handler column)");
        }
        if (cnc_name_index_find(&ld->handler_names, name) >= 0) {
            return fail(ld, kn, path, "duplicate handler instance");
        }
        struct cnc_handler_config *h = &cfg->handlers[cfg->n_handlers++];
        h->line = (int)kn->start_mark.line + 1;
        h->name = strdup(name);
        if (h->name == NULL) {
            return fail(ld, kn, path, "out of memory");
        }
        cnc_name_index_add(&ld->handler_names, h->name, (uint32_t)(cfg->n_handlers - 1));
        if (vn->type != YAML_MAPPING_NODE) {
            return fail(ld, vn, path,
                        "must be a mapping with type: and optional params:, rules:, states:");
        }
        for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
             q++) {
            yaml_node_t *k2 = node_at(ld, q->key);
            yaml_node_t *v2 = node_at(ld, q->value);
            char sub[300];
            const char *key = k2->type == YAML_SCALAR_NODE ? scalar(k2) : "?";
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            if (strcmp(key, "type") == 0) {
                if (h->type != NULL) {
                    return fail(ld, k2, sub, "duplicate key");
                }
                if (v2->type != YAML_SCALAR_NODE) {
                    return fail(ld, v2, sub, "must be a handler type name");
                }
                h->type = strdup(scalar(v2));
                if (h->type == NULL) {
                    return fail(ld, v2, sub, "out of memory");
                }
            } else if (strcmp(key, "params") == 0) {
                if (h->params != NULL) {
                    return fail(ld, k2, sub, "duplicate key");
                }
                if (v2->type != YAML_MAPPING_NODE) {
                    return fail(ld, v2, sub, "must be a mapping");
                }
                if ((h->params = to_json(ld, v2, sub, 3)) == NULL) {
                    return -1;
                }
            } else if (strcmp(key, "rules") == 0) {
                if (h->rules != NULL) {
                    return fail(ld, k2, sub, "duplicate key");
                }
                if (v2->type != YAML_SEQUENCE_NODE) {
                    return fail(ld, v2, sub, "must be a list of rules");
                }
                if ((h->rules = to_json(ld, v2, sub, 3)) == NULL) {
                    return -1;
                }
            } else if (strcmp(key, "states") == 0) {
                if (h->states != NULL) {
                    return fail(ld, k2, sub, "duplicate key");
                }
                if (v2->type != YAML_MAPPING_NODE) {
                    return fail(ld, v2, sub,
                                "must be a mapping (variable, categories, reason_variable, "
                                "offline_after_s)");
                }
                if ((h->states = to_json(ld, v2, sub, 3)) == NULL) {
                    return -1;
                }
            } else {
                return fail(ld, k2, sub, "unknown key (known keys: type, params, rules, states)");
            }
        }
        if (h->type == NULL) {
            return fail(ld, vn, path, "type: is required");
        }
    }
    return 0;
}

static int load_routes(struct loader *ld, yaml_node_t *seq)
{
    struct cnc_config *cfg = ld->cfg;
    if (seq->type != YAML_SEQUENCE_NODE) {
        return fail(ld, seq, "routes", "must be a list of {match: PATTERN, handler: NAME}");
    }
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > MAX_ROUTES) { /* only aliases make more fit in a file: `*r, *r, ...` */
        return fail(ld, seq, "routes", "%zu routes, more than %d", n, MAX_ROUTES);
    }
    cfg->routes = calloc(n ? n : 1, sizeof *cfg->routes);
    if (cfg->routes == NULL) {
        return fail(ld, seq, "routes", "out of memory");
    }
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node_at(ld, *it);
        char path[64];
        snprintf(path, sizeof path, "routes[%zu]", cfg->n_routes);
        struct cnc_route_config *r = &cfg->routes[cfg->n_routes++];
        r->line = (int)item->start_mark.line + 1;
        if (item->type != YAML_MAPPING_NODE) {
            return fail(ld, item, path, "must be a mapping {match: PATTERN, handler: NAME}");
        }
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = node_at(ld, p->key);
            yaml_node_t *vn = node_at(ld, p->value);
            const char *key = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?";
            char sub[96];
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            char **dst = strcmp(key, "match") == 0     ? &r->match
                         : strcmp(key, "handler") == 0 ? &r->handler
                                                       : NULL;
            if (dst == NULL) {
                return fail(ld, kn, sub, "unknown key (known keys: match, handler)");
            }
            if (*dst != NULL) {
                return fail(ld, kn, sub, "duplicate key");
            }
            if (vn->type != YAML_SCALAR_NODE || scalar(vn)[0] == '\0') {
                return fail(ld, vn, sub, "must be a non-empty string");
            }
            if ((*dst = strdup(scalar(vn))) == NULL) {
                return fail(ld, vn, sub, "out of memory");
            }
        }
        if (r->match == NULL || r->handler == NULL) {
            return fail(ld, item, path, "needs both match: and handler:");
        }
    }
    return 0;
}

/* One identity.publishers entry: {match: IDENTITY, cnc_ids: [PATTERN, ...]}. */
static int load_publisher(struct loader *ld, yaml_node_t *item, struct cnc_publisher_config *pc,
                          const char *path)
{
    pc->line = (int)item->start_mark.line + 1;
    if (item->type != YAML_MAPPING_NODE) {
        return fail(ld, item, path, "must be a mapping {match: IDENTITY, cnc_ids: [PATTERN, ...]}");
    }
    bool have_ids = false;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node_at(ld, p->key);
        yaml_node_t *vn = node_at(ld, p->value);
        const char *key = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?";
        char sub[128];
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        if (strcmp(key, "match") == 0) {
            if (pc->match != NULL) {
                return fail(ld, kn, sub, "duplicate key");
            }
            if (vn->type != YAML_SCALAR_NODE || scalar(vn)[0] == '\0') {
                return fail(ld, vn, sub, "must be a user name or client id, or a glob of them");
            }
            if ((pc->match = strdup(scalar(vn))) == NULL) {
                return fail(ld, vn, sub, "out of memory");
            }
        } else if (strcmp(key, "cnc_ids") == 0) {
            if (have_ids) {
                return fail(ld, kn, sub, "duplicate key");
            }
            have_ids = true;
            if (vn->type != YAML_SEQUENCE_NODE) {
                return fail(ld, vn, sub,
                            "must be a list of cnc_id patterns (\"%%u\", \"LINE3-*\")");
            }
            size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
            if (n == 0 || n > MAX_PUBLISHER_CNC_IDS) {
                return fail(ld, vn, sub,
                            "%zu patterns: give 1 to %d (each message may try them all; a "
                            "publisher of many machines is a glob, or several entries)",
                            n, MAX_PUBLISHER_CNC_IDS);
            }
            if ((pc->cnc_ids = calloc(n, sizeof *pc->cnc_ids)) == NULL ||
                (pc->cnc_id_lines = calloc(n, sizeof *pc->cnc_id_lines)) == NULL) {
                return fail(ld, vn, sub, "out of memory");
            }
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                yaml_node_t *pn = node_at(ld, *it);
                if (pn->type != YAML_SCALAR_NODE || scalar(pn)[0] == '\0') {
                    return fail(ld, pn, sub, "each pattern must be a non-empty string");
                }
                if ((pc->cnc_ids[pc->n_cnc_ids] = strdup(scalar(pn))) == NULL) {
                    return fail(ld, pn, sub, "out of memory");
                }
                pc->cnc_id_lines[pc->n_cnc_ids] = (int)pn->start_mark.line + 1;
                pc->n_cnc_ids++;
            }
        } else {
            return fail(ld, kn, sub, "unknown key (known keys: match, cnc_ids)");
        }
    }
    if (pc->match == NULL || !have_ids) {
        return fail(ld, item, path, "needs both match: and cnc_ids:");
    }
    return 0;
}

/*
 * identity: {by: username|client_id, publishers: [...]}: which client may publish which
 * machines' data. The patterns are checked where the table is built (identity.c), like routes.
 */
static int load_identity(struct loader *ld, yaml_node_t *map)
{
    struct cnc_identity_config *ic = &ld->cfg->identity;
    ic->line = (int)map->start_mark.line + 1;
    if (map->type != YAML_MAPPING_NODE) {
        return fail(ld, map, "identity", "must be a mapping with by: and publishers:");
    }
    yaml_node_t *pubs = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node_at(ld, p->key);
        yaml_node_t *vn = node_at(ld, p->value);
        const char *key = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?";
        char sub[64];
        snprintf(sub, sizeof sub, "identity.%.40s", key);
        if (strcmp(key, "by") == 0) {
            if (ic->by != CNC_IDENTITY_OFF) {
                return fail(ld, kn, sub, "duplicate key");
            }
            const char *v = vn->type == YAML_SCALAR_NODE ? scalar(vn) : "";
            ic->by = strcmp(v, "username") == 0    ? CNC_IDENTITY_USERNAME
                     : strcmp(v, "client_id") == 0 ? CNC_IDENTITY_CLIENT_ID
                                                   : CNC_IDENTITY_OFF;
            if (ic->by == CNC_IDENTITY_OFF) {
                return fail(ld, vn, sub,
                            "must be username (the authenticated user; with "
                            "use_identity_as_username, the certificate's CN) or client_id");
            }
        } else if (strcmp(key, "publishers") == 0) {
            if (pubs != NULL) {
                return fail(ld, kn, sub, "duplicate key");
            }
            pubs = vn;
        } else {
            return fail(ld, kn, sub, "unknown key (known keys: by, publishers)");
        }
    }
    if (ic->by == CNC_IDENTITY_OFF) {
        return fail(ld, map, "identity.by", "is required: username or client_id");
    }
    if (pubs == NULL || pubs->type != YAML_SEQUENCE_NODE) {
        return fail(ld, pubs != NULL ? pubs : map, "identity.publishers",
                    "must be a list of {match: IDENTITY, cnc_ids: [PATTERN, ...]}");
    }
    size_t n = (size_t)(pubs->data.sequence.items.top - pubs->data.sequence.items.start);
    if (n > MAX_PUBLISHERS) {
        return fail(ld, pubs, "identity.publishers", "%zu entries, more than %d", n,
                    MAX_PUBLISHERS);
    }
    if ((ic->publishers = calloc(n ? n : 1, sizeof *ic->publishers)) == NULL) {
        return fail(ld, pubs, "identity.publishers", "out of memory");
    }
    for (yaml_node_item_t *it = pubs->data.sequence.items.start; it < pubs->data.sequence.items.top;
         it++) {
        char path[64];
        snprintf(path, sizeof path, "identity.publishers[%zu]", ic->n_publishers);
        if (load_publisher(ld, node_at(ld, *it), &ic->publishers[ic->n_publishers++], path) != 0) {
            return -1;
        }
    }
    return 0;
}

static int load_modules(struct loader *ld, yaml_node_t *seq)
{
    struct cnc_config *cfg = ld->cfg;
    cfg->handler_modules_line = (int)seq->start_mark.line + 1;
    if (seq->type != YAML_SEQUENCE_NODE) {
        return fail(ld, seq, "handler_modules", "must be a list of shared library paths");
    }
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    cfg->handler_modules = calloc(n + 1, sizeof(char *));
    if (cfg->handler_modules == NULL) {
        return fail(ld, seq, "handler_modules", "out of memory");
    }
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node_at(ld, *it);
        if (item->type != YAML_SCALAR_NODE || scalar(item)[0] == '\0') {
            return fail(ld, item, "handler_modules", "each entry must be a path");
        }
        if ((cfg->handler_modules[cfg->n_handler_modules] = strdup(scalar(item))) == NULL) {
            return fail(ld, item, "handler_modules", "out of memory");
        }
        cfg->n_handler_modules++;
    }
    return 0;
}

static bool node_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

void cnc_config_default_node(char out[CNC_NODE_MAX + 1])
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) {
        host[0] = '\0';
    }
    size_t n = 0;
    for (; host[n] != '\0' && n < CNC_NODE_MAX; n++) {
        out[n] = node_char(host[n]) ? host[n] : '-';
    }
    out[n] = '\0';
    if (n == 0) {
        snprintf(out, CNC_NODE_MAX + 1, "broker");
    }
}

/* node: a name for this broker in its metrics, reports and stored rows. */
static int load_node(struct loader *ld, yaml_node_t *vn)
{
    if (vn->type != YAML_SCALAR_NODE) {
        return fail(ld, vn, "node", "must be a name (1-64 characters of A-Z a-z 0-9 _ . : -)");
    }
    const char *v = scalar(vn);
    size_t n = strlen(v);
    if (n == 0 || n > CNC_NODE_MAX ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.:-") != n) {
        return fail(ld, vn, "node",
                    "\"%.80s\" is not a node name (1-64 characters of A-Z a-z 0-9 _ . : -: it "
                    "is a topic level and a column)",
                    v);
    }
    memcpy(ld->cfg->node, v, n + 1);
    return 0;
}

/* shifts: the calendar (shift_calendar.c), its errors at the line of their key. */
static int load_shifts(struct loader *ld, yaml_node_t *vn)
{
    cJSON *j = to_json(ld, vn, "shifts", 1);
    if (j == NULL) {
        return -1;
    }
    char err[512];
    struct cnc_shift_calendar *c = calloc(1, sizeof *c);
    if (c == NULL) {
        cJSON_Delete(j);
        return fail(ld, vn, "shifts", "out of memory");
    }
    int rc = cnc_shift_calendar_parse(j, c, err, sizeof err);
    cJSON_Delete(j);
    if (rc != 0) {
        free(c);
        char key[300];
        size_t klen = strcspn(err, ":");
        snprintf(key, sizeof key, "%.*s", (int)klen, err);
        const char *why = err[klen] == ':' ? err + klen + 2 : err;
        return fail_at(ld, cnc_config_line_of(ld->cfg, key, (int)vn->start_mark.line + 1), key,
                       "%s", why);
    }
    ld->cfg->shifts = c;
    return 0;
}

static int apply_defaults(struct loader *ld)
{
    cnc_config_default_node(ld->cfg->node);
    for (size_t s = 0; s < cnc_cfg_n_sections; s++) {
        const struct cfg_section *sec = &cnc_cfg_sections[s];
        for (size_t i = 0; i < sec->n_keys; i++) {
            if (set_key(ld, (char *)ld->cfg + sec->offset, &sec->keys[i], sec->keys[i].key,
                        sec->keys[i].dflt, NULL) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* True when every topic filter matches is topic itself or below it (the filter's levels up to
   topic's depth are literal and equal): "cnc" covers "cnc/+/data", "cnc/ANY1" does not. */
static bool covers(const char *topic, const char *filter)
{
    for (;;) {
        size_t t = strcspn(topic, "/"), f = strcspn(filter, "/");
        if ((f == 1 && (filter[0] == '+' || filter[0] == '#')) || t != f ||
            memcmp(topic, filter, t) != 0) {
            return false;
        }
        if (topic[t] == '\0') {
            return true;
        }
        if (filter[f] == '\0') {
            return false;
        }
        topic += t + 1;
        filter += f + 1;
    }
}

/*
 * The plugin never inspects its own output topics (nor anything below them), so that reports
 * and analytics bridged in from another broker are not taken for machine data. An output topic
 * that covers a whole ingest filter would therefore switch validation off for it without a
 * word (analytics.topic: cnc with ingest.topics [cnc/+/data]): refused.
 */
static int check_mysql_hosts(struct loader *ld);

static int check_output_topics(struct loader *ld)
{
    const struct cnc_config *cfg = ld->cfg;
    const struct {
        const char *key, *topic;
    } out[] = {{"ingest.rejected_topic", cfg->ingest.rejected_topic},
               {"analytics.topic", cfg->analytics.topic},
               {"metrics.topic", cfg->metrics.topic}}; /* covers what <topic>/<node> would */
    for (size_t o = 0; o < sizeof out / sizeof out[0]; o++) {
        for (size_t i = 0; out[o].topic[0] != '\0' && i < cfg->ingest.n_topics; i++) {
            if (covers(out[o].topic, cfg->ingest.topics[i])) {
                return fail_at(ld, cnc_config_line_of(cfg, out[o].key, 1), out[o].key,
                               "\"%s\" covers the ingest filter \"%s\": the plugin never "
                               "inspects its own output topics, so no message on it would be "
                               "validated; choose a topic outside the ingest filters",
                               out[o].topic, cfg->ingest.topics[i]);
            }
        }
    }
    return 0;
}

static int load_root(struct loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (root == NULL) {
        return fail(ld, NULL, "(file)", "the file is empty");
    }
    if (root->type != YAML_MAPPING_NODE) {
        return fail(ld, root, "(file)", "the top level must be a mapping of sections");
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node_at(ld, p->key);
        yaml_node_t *vn = node_at(ld, p->value);
        const char *key = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "?";
        unsigned bit = 0;
        int rc = -2;
        for (size_t s = 0; s < cnc_cfg_n_sections && rc == -2; s++) {
            if (strcmp(key, cnc_cfg_sections[s].name) == 0) {
                bit = 1u << s;
                if (ld->cfg->sections_present & bit) {
                    return fail(ld, kn, key, "duplicate section");
                }
                rc = load_section(ld, &cnc_cfg_sections[s], vn);
            }
        }
        for (size_t s = 0; s < cnc_cfg_n_special && rc == -2; s++) {
            if (strcmp(key, cnc_cfg_special_keys[s]) == 0) {
                bit = 1u << (cnc_cfg_n_sections + s);
                if (ld->cfg->sections_present & bit) {
                    return fail(ld, kn, key, "duplicate section");
                }
                rc = s == 0   ? load_handlers(ld, vn)
                     : s == 1 ? load_routes(ld, vn)
                     : s == 2 ? load_modules(ld, vn)
                     : s == 3 ? load_node(ld, vn)
                     : s == 4 ? load_identity(ld, vn)
                              : load_shifts(ld, vn);
            }
        }
        if (rc == -2) {
            return fail(ld, kn, key,
                        "unknown section (known: node, ingest, identity, handlers, routes, "
                        "handler_modules, mysql, writer, spool, analytics, metrics, shifts)");
        }
        if (rc != 0) {
            return -1;
        }
        ld->cfg->sections_present |= bit;
    }
    if (ld->cfg->n_routes == 0) {
        return fail(ld, root, "routes",
                    "at least one route is required (e.g. {match: \"*\", handler: any})");
    }
    return check_output_topics(ld) != 0 ? -1 : check_mysql_hosts(ld);
}

/* Where the pre-pass is, for its error messages: "handlers.press.params.limits[2]". */
struct event_level {
    bool mapping;
    bool at_key; /* mapping: the next scalar is a key */
    size_t index;
    char key[48];
};

/* The path of the current value: each open level's key (mappings) or position (lists). */
static void event_path(const struct event_level *lv, int depth, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int d = 0; d < depth && o < len; d++) {
        int n = lv[d].mapping ? snprintf(out + o, len - o, "%s%s", o ? "." : "", lv[d].key)
                              : snprintf(out + o, len - o, "[%zu]", lv[d].index);
        o += n > 0 ? (size_t)n : 0;
    }
    if (out[0] == '\0') {
        snprintf(out, len, "(file)");
    }
}

/*
 * First pass over the parser's events, before libyaml builds the node tree: nesting
 * deeper than MAX_DEPTH, a NUL character in a scalar (a C string would silently end there)
 * and a second document (libyaml would silently ignore it) are refused here, early and at
 * the line where they are. Syntax errors are left to the load that follows (same parser,
 * same message).
 */
static int check_events(struct loader *ld, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct event_level lv[MAX_DEPTH + 1];
    int depth = 0, documents = 0, rc = 0;
    char path[PATH_MAX_LEN];
    if (!yaml_parser_initialize(&parser)) {
        snprintf(ld->err, ld->err_len, "%s: out of memory", ld->name);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (rc == 0 && yaml_parser_parse(&parser, &ev)) {
        int line = (int)ev.start_mark.line + 1;
        yaml_event_type_t type = ev.type;
        /* A value in the level above: its key (or list position) names it in the path. */
        bool is_node = type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT ||
                       type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT;
        if (is_node && depth > 0) {
            struct event_level *up = &lv[depth - 1];
            if (up->mapping && up->at_key) {
                if (type == YAML_SCALAR_EVENT) {
                    snprintf(up->key, sizeof up->key, "%.*s",
                             (int)(ev.data.scalar.length < 47 ? ev.data.scalar.length : 47),
                             (const char *)ev.data.scalar.value);
                } else {
                    snprintf(up->key, sizeof up->key, "?");
                }
            }
        }
        if (type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
            rc = fail_at(ld, line, "(file)",
                         "a second YAML document (after ---): the config is one document");
        } else if (type == YAML_SCALAR_EVENT &&
                   memchr(ev.data.scalar.value, '\0', ev.data.scalar.length) != NULL) {
            event_path(lv, depth, path, sizeof path);
            rc = fail_at(ld, line, path,
                         "a value contains a NUL character (\\0), which is not "
                         "allowed in a config");
        } else if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (depth == MAX_DEPTH) {
                event_path(lv, depth, path, sizeof path);
                rc = fail_at(ld, line, path, "nested deeper than %d levels", MAX_DEPTH);
            } else {
                lv[depth] = (struct event_level){.mapping = type == YAML_MAPPING_START_EVENT,
                                                 .at_key = true};
                depth++;
                is_node = false; /* counted in the level above once it ends */
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
            is_node = true;
        }
        if (is_node && depth > 0 && type != YAML_SEQUENCE_START_EVENT &&
            type != YAML_MAPPING_START_EVENT) {
            struct event_level *up = &lv[depth - 1];
            if (up->mapping) {
                up->at_key = !up->at_key;
            } else {
                up->index++;
            }
        }
        bool end = type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

struct cnc_config *cnc_config_load_buffer(const char *name, const char *text, size_t len, char *err,
                                          size_t err_len)
{
    struct loader ld = {.name = name, .err = err, .err_len = err_len};
    yaml_parser_t parser;

    err[0] = '\0';
    if (len > MAX_FILE_BYTES) {
        snprintf(err, err_len, "%s: %zu bytes, more than a config may hold (%u MiB)", name, len,
                 MAX_FILE_BYTES >> 20);
        return NULL;
    }
    ld.cfg = calloc(1, sizeof *ld.cfg);
    if (ld.cfg == NULL || (ld.cfg->path = strdup(name)) == NULL) {
        snprintf(err, err_len, "%s: out of memory", name);
        free(ld.cfg);
        return NULL;
    }
    if (check_events(&ld, text, len) != 0) {
        cnc_config_destroy(ld.cfg);
        return NULL;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, err_len, "%s: out of memory", name);
        cnc_config_destroy(ld.cfg);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        size_t line = parser.problem_mark.line + 1;
        if (parser.error == YAML_READER_ERROR) {
            /* The reader (encoding, control characters) gives a byte offset, not a mark. */
            line = 1;
            for (size_t i = 0; i < parser.problem_offset && i < len; i++) {
                line += text[i] == '\n';
            }
        }
        snprintf(err, err_len, "%s:%zu: (yaml): %s%s%s", name, line,
                 parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        cnc_config_destroy(ld.cfg);
        return NULL;
    }
    ld.n_nodes = (size_t)(ld.doc.nodes.top - ld.doc.nodes.start);
    ld.seen = calloc(ld.n_nodes + 1, 1);
    int rc = ld.seen != NULL ? apply_defaults(&ld) : -1;
    if (ld.seen == NULL) {
        snprintf(err, err_len, "%s: out of memory", name);
    }
    if (rc == 0) {
        rc = load_root(&ld);
    }
    if (rc == 0) {
        rc = cnc_config_read_scripts(ld.cfg, err, err_len);
    }
    free(ld.seen);
    cnc_name_index_free(&ld.handler_names);
    yaml_document_delete(&ld.doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        cnc_config_destroy(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

struct cnc_config *cnc_config_load(const char *path, char *err, size_t err_len)
{
    size_t len = 0;
    char why[600];
    /* A FIFO or device named as the config would block the broker in open() or read(). */
    char *buf = cnc_file_read(path, 0, CNC_FILE_NO_OWNER, MAX_FILE_BYTES, &len, why, sizeof why);
    if (buf == NULL) {
        snprintf(err, err_len, "config file %s", why);
        return NULL;
    }
    struct cnc_config *cfg = cnc_config_load_buffer(path, buf, len, err, err_len);
    free(buf);
    return cfg;
}

void cnc_config_destroy(struct cnc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t s = 0; s < cnc_cfg_n_sections; s++) {
        section_free(&cnc_cfg_sections[s], cfg);
    }
    free(cfg->shifts);
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        free(cfg->handlers[i].name);
        free(cfg->handlers[i].type);
        cJSON_Delete(cfg->handlers[i].params);
        cJSON_Delete(cfg->handlers[i].rules);
        cJSON_Delete(cfg->handlers[i].states);
    }
    free(cfg->handlers);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].match);
        free(cfg->routes[i].handler);
    }
    free(cfg->routes);
    for (size_t i = 0; i < cfg->identity.n_publishers; i++) {
        free(cfg->identity.publishers[i].match);
        string_list_free(cfg->identity.publishers[i].cnc_ids,
                         cfg->identity.publishers[i].n_cnc_ids);
        free(cfg->identity.publishers[i].cnc_id_lines);
    }
    free(cfg->identity.publishers);
    string_list_free(cfg->handler_modules, cfg->n_handler_modules);
    for (size_t i = 0; i < cfg->n_lines; i++) {
        free(cfg->lines[i].path);
    }
    free(cfg->lines);
    free(cfg->path);
    free(cfg);
}

bool cnc_config_has(const struct cnc_config *cfg, const char *section)
{
    for (size_t s = 0; s < cnc_cfg_n_sections; s++) {
        if (strcmp(section, cnc_cfg_sections[s].name) == 0) {
            return (cfg->sections_present >> s) & 1u;
        }
    }
    for (size_t s = 0; s < cnc_cfg_n_special; s++) {
        if (strcmp(section, cnc_cfg_special_keys[s]) == 0) {
            return (cfg->sections_present >> (cnc_cfg_n_sections + s)) & 1u;
        }
    }
    return false;
}

int cnc_config_line_of(const struct cnc_config *cfg, const char *path, int fallback)
{
    for (size_t i = 0; i < cfg->n_lines; i++) {
        if (strcmp(cfg->lines[i].path, path) == 0) {
            return cfg->lines[i].line;
        }
    }
    return fallback;
}

bool cnc_config_host_port(const char *item, char *host, size_t host_len, unsigned *port)
{
    const char *colon = strrchr(item, ':');
    const char *h = item, *h_end = colon;
    if (item[0] == '[') { /* [v6]:port */
        const char *close = strchr(item, ']');
        if (close == NULL || close[1] != ':') {
            return false;
        }
        h = item + 1;
        h_end = close;
        colon = close + 1;
    }
    if (colon == NULL || h_end == h || colon[1] == '\0' || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        return false;
    }
    long p = strtol(colon + 1, NULL, 10);
    size_t n = (size_t)(h_end - h);
    if (p < 1 || p > 65535 || (item[0] != '[' && memchr(h, ':', n) != NULL)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)h[i] <= ' ' || h[i] == '/') {
            return false;
        }
    }
    if (host != NULL) {
        if (n >= host_len) {
            return false;
        }
        memcpy(host, h, n);
        host[n] = '\0';
    }
    if (port != NULL) {
        *port = (unsigned)p;
    }
    return true;
}

/* mysql.hosts names the servers of a cluster; host, port and socket name one server. */
static int check_mysql_hosts(struct loader *ld)
{
    const struct cnc_config *cfg = ld->cfg;
    if (cfg->mysql.n_hosts == 0) {
        return 0;
    }
    static const char *const single[] = {"mysql.host", "mysql.port", "mysql.socket"};
    for (size_t i = 0; i < 3; i++) {
        if (cnc_config_line_of(cfg, single[i], 0) > 0) {
            return fail_at(ld, cnc_config_line_of(cfg, "mysql.hosts", 1), "mysql.hosts",
                           "with %s as well: give the servers either as hosts: [host:port, ...] "
                           "or as host/port/socket, not both",
                           single[i]);
        }
    }
    return 0;
}
