/*
 * route.c - the routing table, see route.h.
 *
 * Broker thread. Exact ids live in an open-addressing table (linear probing,
 * load factor <= 0.5) keyed by XXH3; the table owns copies of the ids.
 */
#include "route.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "envelope.h"
#include "name_index.h"

#define CNC_MAX_GLOB_ROUTES 256
#define CNC_MAX_GLOB_ROUTES_TEXT "256"

struct exact_slot {
    char *id; /* NULL: empty slot */
    uint64_t hash;
    uint32_t len;
    uint32_t instance;
};

struct glob_route {
    char *pattern;
    uint32_t instance;
};

struct cnc_route_table {
    struct cnc_handler_instance *instances;
    size_t n_instances;
    struct exact_slot *slots;
    size_t mask; /* capacity - 1 */
    size_t n_exact;
    struct glob_route *globs;
    size_t n_globs;
    size_t n_kept;
};

static int fail(char *err, size_t err_len, const struct cnc_config *cfg, int line, const char *key,
                const char *fmt, const char *a, const char *b)
{
    char msg[300];
    snprintf(msg, sizeof msg, fmt, a, b);
    snprintf(err, err_len, "%s:%d: %s: %s", cfg->path, line, key, msg);
    return -1;
}

static bool is_glob(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

static struct exact_slot *find_slot(const struct cnc_route_table *t, const char *id, size_t len,
                                    uint64_t h)
{
    size_t i = (size_t)h & t->mask;
    for (;;) {
        struct exact_slot *s = &t->slots[i];
        if (s->id == NULL || (s->hash == h && s->len == len && memcmp(s->id, id, len) == 0)) {
            return s;
        }
        i = (i + 1) & t->mask;
    }
}

static bool same_json(const cJSON *a, const cJSON *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && cJSON_Compare(a, b, 1));
}

/*
 * Lends inst the matching instance of old (same name, type, params, rules).
 * The loan becomes a move only when the whole build succeeds (commit_loans),
 * so a failed reload leaves the old table whole.
 */
static bool borrow(struct cnc_handler_instance *inst, const struct cnc_handler_config *hc,
                   struct cnc_route_table *old, const struct cnc_name_index *old_names)
{
    long i = old != NULL ? cnc_name_index_find(old_names, hc->name) : -1;
    if (i < 0) {
        return false;
    }
    struct cnc_handler_instance *o = &old->instances[i];
    if (o->state != NULL && o->type == inst->type && same_json(o->config->params, hc->params) &&
        same_json(o->config->rules, hc->rules)) {
        inst->state = o->state;
        inst->rules = o->rules;
        inst->borrowed = o;
        return true;
    }
    return false;
}

static void commit_loans(struct cnc_route_table *t)
{
    for (size_t i = 0; i < t->n_instances; i++) {
        struct cnc_handler_instance *inst = &t->instances[i];
        if (inst->borrowed != NULL) {
            inst->borrowed->state = NULL;
            inst->borrowed->rules = NULL;
            inst->borrowed = NULL;
        }
    }
}

static int create_instances(struct cnc_route_table *t, const struct cnc_config *cfg,
                            const struct cnc_registry *reg, struct cnc_route_table *old,
                            const struct cnc_name_index *old_names, char *err, size_t err_len);

static int build_instances(struct cnc_route_table *t, const struct cnc_config *cfg,
                           const struct cnc_registry *reg, struct cnc_route_table *old, char *err,
                           size_t err_len)
{
    t->instances = calloc(cfg->n_handlers ? cfg->n_handlers : 1, sizeof *t->instances);
    struct cnc_name_index old_names = {0};
    if (t->instances == NULL ||
        (old != NULL && cnc_name_index_init(&old_names, old->n_instances) != 0)) {
        free(old_names.slots);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; old != NULL && i < old->n_instances; i++) {
        cnc_name_index_add(&old_names, old->instances[i].name, (uint32_t)i);
    }
    int rc = create_instances(t, cfg, reg, old, &old_names, err, err_len);
    cnc_name_index_free(&old_names);
    return rc;
}

static int create_instances(struct cnc_route_table *t, const struct cnc_config *cfg,
                            const struct cnc_registry *reg, struct cnc_route_table *old,
                            const struct cnc_name_index *old_names, char *err, size_t err_len)
{
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        const struct cnc_handler_config *hc = &cfg->handlers[i];
        struct cnc_handler_instance *inst = &t->instances[i];
        char key[300];
        snprintf(key, sizeof key, "handlers.%s.type", hc->name);
        inst->type = cnc_registry_find(reg, hc->type);
        if (inst->type == NULL) {
            return fail(err, err_len, cfg, cnc_config_line_of(cfg, key, hc->line), key,
                        "unknown handler type \"%s\"%s", hc->type,
                        " (cnc-ingest-check --types lists them)");
        }
        if ((inst->name = strdup(hc->name)) == NULL) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        inst->config = hc;
        t->n_instances++;
        char serr[512] = "";
        if (cnc_state_map_create(hc->type, hc->params, hc->states, &inst->states, serr,
                                 sizeof serr) != 0) {
            char path[300];
            size_t klen = strcspn(serr, ":");
            snprintf(path, sizeof path, "handlers.%s.%.*s", hc->name, (int)klen, serr);
            int line = cnc_config_line_of(cfg, path, hc->line);
            snprintf(err, err_len, "%s:%d: handlers.%s.%s", cfg->path, line, hc->name, serr);
            return -1;
        }
        if (borrow(inst, hc, old, old_names)) {
            t->n_kept++;
            continue;
        }
        char herr[512] = "";
        inst->state = inst->type->create(hc->params, herr, sizeof herr);
        if (inst->state != NULL) {
            inst->rules = cnc_rules_create(hc->rules, (size_t)cfg->ingest.max_tracked_machines,
                                           herr, sizeof herr);
        }
        if (inst->state == NULL || inst->rules == NULL) {
            /* herr starts with "params.KEY": find that key's line. */
            char path[300];
            size_t klen = strcspn(herr, ":");
            snprintf(path, sizeof path, "handlers.%s.%.*s", hc->name, (int)klen, herr);
            int line = cnc_config_line_of(cfg, path, hc->line);
            snprintf(err, err_len, "%s:%d: handlers.%s.%s", cfg->path, line, hc->name,
                     herr[0] ? herr : "params: refused by the handler");
            return -1;
        }
    }
    return 0;
}

struct cnc_route_table *cnc_route_table_build(const struct cnc_config *cfg,
                                              const struct cnc_registry *reg,
                                              struct cnc_route_table *old, char *err,
                                              size_t err_len)
{
    struct cnc_name_index names = {0};
    struct cnc_route_table *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    size_t cap = 16;
    while (cap < cfg->n_routes * 2) {
        cap <<= 1;
    }
    t->slots = calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    t->globs = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *t->globs);
    if (t->slots == NULL || t->globs == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (build_instances(t, cfg, reg, old, err, err_len) != 0) {
        goto fail;
    }
    if (cnc_name_index_init(&names, cfg->n_handlers) != 0) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        cnc_name_index_add(&names, cfg->handlers[i].name, (uint32_t)i);
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct cnc_route_config *r = &cfg->routes[i];
        char key[64];
        snprintf(key, sizeof key, "routes[%zu]", i);
        long inst = cnc_name_index_find(&names, r->handler);
        if (inst < 0) {
            fail(err, err_len, cfg, r->line, key, "handler \"%s\" is not defined under handlers:%s",
                 r->handler, "");
            goto fail;
        }
        if (is_glob(r->match)) {
            /* Every message that no exact id matches tries the globs in order: bounded. */
            if (t->n_globs == CNC_MAX_GLOB_ROUTES) {
                fail(err, err_len, cfg, r->line, key,
                     "more than %s glob routes (each message may try them all): route machines "
                     "by exact cnc_id, which costs the same for any number%s",
                     CNC_MAX_GLOB_ROUTES_TEXT, "");
                goto fail;
            }
            char *copy = strdup(r->match);
            if (copy == NULL) {
                snprintf(err, err_len, "out of memory");
                goto fail;
            }
            t->globs[t->n_globs].pattern = copy;
            t->globs[t->n_globs].instance = (uint32_t)inst;
            t->n_globs++;
            continue;
        }
        size_t len = strlen(r->match);
        if (!cnc_envelope_valid_cnc_id(r->match, len)) {
            fail(err, err_len, cfg, r->line, key,
                 "match \"%s\" is not a valid cnc_id nor a glob: it can never match%s", r->match,
                 "");
            goto fail;
        }
        uint64_t h = XXH3_64bits(r->match, len);
        struct exact_slot *s = find_slot(t, r->match, len, h);
        if (s->id != NULL) {
            fail(err, err_len, cfg, r->line, key, "cnc_id \"%s\" is already routed above%s",
                 r->match, "");
            goto fail;
        }
        if ((s->id = strdup(r->match)) == NULL) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        s->hash = h;
        s->len = (uint32_t)len;
        s->instance = (uint32_t)inst;
        t->n_exact++;
    }
    cnc_name_index_free(&names);
    commit_loans(t);
    return t;
fail:
    cnc_name_index_free(&names);
    cnc_route_table_destroy(t);
    return NULL;
}

const struct cnc_handler_instance *cnc_route_lookup(const struct cnc_route_table *t,
                                                    const char *cnc_id, size_t len)
{
    if (t->n_exact > 0) {
        const struct exact_slot *s = find_slot(t, cnc_id, len, XXH3_64bits(cnc_id, len));
        if (s->id != NULL) {
            return &t->instances[s->instance];
        }
    }
    for (size_t i = 0; i < t->n_globs; i++) {
        if (fnmatch(t->globs[i].pattern, cnc_id, 0) == 0) {
            return &t->instances[t->globs[i].instance];
        }
    }
    return NULL;
}

size_t cnc_route_table_kept_count(const struct cnc_route_table *t)
{
    return t->n_kept;
}

size_t cnc_route_table_instance_count(const struct cnc_route_table *t)
{
    return t->n_instances;
}

const struct cnc_handler_instance *cnc_route_table_instance(const struct cnc_route_table *t,
                                                            size_t i)
{
    return &t->instances[i];
}

size_t cnc_route_table_exact_count(const struct cnc_route_table *t)
{
    return t->n_exact;
}

size_t cnc_route_table_glob_count(const struct cnc_route_table *t)
{
    return t->n_globs;
}

void cnc_route_table_destroy(struct cnc_route_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_instances; i++) {
        if (t->instances[i].type != NULL && t->instances[i].borrowed == NULL) {
            t->instances[i].type->destroy(t->instances[i].state);
        }
        if (t->instances[i].borrowed == NULL) {
            cnc_rules_destroy(t->instances[i].rules);
        }
        cnc_state_map_destroy(t->instances[i].states);
        free(t->instances[i].name);
    }
    free(t->instances);
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            free(t->slots[i].id);
        }
    }
    free(t->slots);
    if (t->globs != NULL) {
        for (size_t i = 0; i < t->n_globs; i++) {
            free(t->globs[i].pattern);
        }
    }
    free(t->globs);
    free(t);
}
