/*
 * ingest.c - the per-message pipeline, see ingest.h.
 *
 * Broker thread. The accept path allocates only inside cJSON's parse: the
 * record arrays are sized once per config generation.
 */
#include "ingest.h"

#include "analytics.h"
#include "cnc_error.h"
#include "json_arena.h"
#include "name_index.h"
#include "utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXTRA_READINGS 32 /* room for readings a handler derives beyond the payload */
#define MAX_ANOMALIES 64
#define ARENA_BYTES (64 * 1024) /* a 64 KB message of tiny values overflows into malloc */

struct cnc_ingest {
    struct cnc_config *cfg;
    struct cnc_route_table *routes;
    struct cnc_identity_table *identity; /* NULL: no identity section */
    struct cnc_envelope_limits limits;
    struct cnc_reading *readings;
    size_t max_readings;
    struct cnc_anomaly *anomalies;
    struct cnc_json_arena arena; /* the parsed message lives here */
    bool hooks_installed;        /* this generation counts as a user of the cJSON hooks */
    char analytics_buf[8192];    /* the analytics text of the current message */
    char *spill;                 /* one that did not fit in analytics_buf (malloc'd, grows) */
    size_t spill_cap;
    /* Output topic prefixes ("cnc/rejected/") that are never inspected. */
    char *own_prefix[3];
    size_t own_prefix_len[3];
    /* ingest.bridge_client_ids / bridge_usernames, looked up for each bridged message. */
    struct cnc_name_index bridge_ids, bridge_users;
};

int64_t cnc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An index of the names (borrowed from the config), or none when there are none. */
static int index_names(struct cnc_name_index *ix, char *const *names, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (cnc_name_index_init(ix, n) != 0) {
        return CNC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        cnc_name_index_add(ix, names[i], (uint32_t)i);
    }
    return 0;
}

struct cnc_ingest *cnc_ingest_create(struct cnc_config *cfg, const struct cnc_registry *reg,
                                     struct cnc_ingest *old, char *err, size_t err_len)
{
    struct cnc_ingest *ing = calloc(1, sizeof *ing);
    if (ing == NULL) {
        cnc_config_destroy(cfg);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    ing->cfg = cfg;
    ing->limits = (struct cnc_envelope_limits){
        .max_message_bytes = (size_t)cfg->ingest.max_message_bytes,
        .max_payload_fields = (size_t)cfg->ingest.max_payload_fields,
        .reject_unknown_fields = cfg->ingest.unknown_fields == CNC_UNKNOWN_FIELDS_REJECT,
        .allow_nested = cfg->ingest.allow_nested,
        .max_future_skew_ms = cfg->ingest.max_future_skew_s * 1000,
    };
    ing->max_readings = (size_t)cfg->ingest.max_payload_fields + EXTRA_READINGS;
    ing->readings = calloc(ing->max_readings, sizeof *ing->readings);
    ing->anomalies = calloc(MAX_ANOMALIES, sizeof *ing->anomalies);
    cnc_json_arena_install();
    ing->hooks_installed = true;
    if (ing->readings == NULL || ing->anomalies == NULL ||
        cnc_json_arena_init(&ing->arena, ARENA_BYTES) != 0) {
        snprintf(err, err_len, "out of memory");
        cnc_ingest_destroy(ing);
        return NULL;
    }
    const char *own[3] = {cfg->ingest.rejected_topic, cfg->analytics.topic, cfg->metrics.topic};
    for (int i = 0; i < 3; i++) {
        if (own[i][0] == '\0') {
            continue;
        }
        size_t n = strlen(own[i]);
        ing->own_prefix[i] = malloc(n + 2);
        if (ing->own_prefix[i] == NULL) {
            snprintf(err, err_len, "out of memory");
            cnc_ingest_destroy(ing);
            return NULL;
        }
        memcpy(ing->own_prefix[i], own[i], n);
        memcpy(ing->own_prefix[i] + n, "/", 2);
        ing->own_prefix_len[i] = n + 1;
    }
    if (index_names(&ing->bridge_ids, cfg->ingest.bridge_client_ids,
                    cfg->ingest.n_bridge_client_ids) != 0 ||
        index_names(&ing->bridge_users, cfg->ingest.bridge_usernames,
                    cfg->ingest.n_bridge_usernames) != 0) {
        snprintf(err, err_len, "out of memory");
        cnc_ingest_destroy(ing);
        return NULL;
    }
    if (cfg->identity.by != CNC_IDENTITY_OFF &&
        (ing->identity = cnc_identity_table_build(cfg, err, err_len)) == NULL) {
        cnc_ingest_destroy(ing);
        return NULL;
    }
    ing->routes = cnc_route_table_build(cfg, reg, old != NULL ? old->routes : NULL, err, err_len);
    if (ing->routes == NULL) {
        cnc_ingest_destroy(ing);
        return NULL;
    }
    return ing;
}

void cnc_ingest_destroy(struct cnc_ingest *ing)
{
    if (ing == NULL) {
        return;
    }
    cnc_route_table_destroy(ing->routes);
    cnc_identity_table_destroy(ing->identity);
    cnc_config_destroy(ing->cfg);
    free(ing->readings);
    free(ing->anomalies);
    cnc_json_arena_destroy(&ing->arena);
    if (ing->hooks_installed) {
        cnc_json_arena_uninstall(); /* the last generation gone: cJSON's own allocator again */
    }
    free(ing->spill);
    for (int i = 0; i < 3; i++) {
        free(ing->own_prefix[i]);
    }
    cnc_name_index_free(&ing->bridge_ids);
    cnc_name_index_free(&ing->bridge_users);
    free(ing);
}

const struct cnc_config *cnc_ingest_config(const struct cnc_ingest *ing)
{
    return ing->cfg;
}

const struct cnc_route_table *cnc_ingest_routes(const struct cnc_ingest *ing)
{
    return ing->routes;
}

bool cnc_ingest_delivers_refused(const struct cnc_ingest *ing, const struct cnc_reject *rej)
{
    return ing->cfg->ingest.on_invalid == CNC_ON_INVALID_PASS &&
           rej->code != CNC_REJECT_UNAUTHORIZED_CNC_ID;
}

const struct cnc_identity_table *cnc_ingest_identity(const struct cnc_ingest *ing)
{
    return ing->identity;
}

bool cnc_ingest_is_output(const struct cnc_ingest *ing, const char *topic)
{
    for (int k = 0; k < 3; k++) {
        if (ing->own_prefix[k] != NULL) {
            size_t n = ing->own_prefix_len[k];
            /* The topic itself ("cnc/rejected") or anything below it. */
            if (topic[0] == ing->own_prefix[k][0] &&
                strncmp(topic, ing->own_prefix[k], n - 1) == 0 &&
                (topic[n - 1] == '\0' || topic[n - 1] == '/')) {
                return true;
            }
        }
    }
    return false;
}

static bool listed(const struct cnc_name_index *ix, const char *name)
{
    return ix->slots != NULL && name != NULL && cnc_name_index_find(ix, name) >= 0;
}

bool cnc_ingest_may_publish_output(const struct cnc_ingest *ing, const char *client_id,
                                   const char *username)
{
    const struct cnc_ingest_config *ic = &ing->cfg->ingest;
    return ic->forged_output == CNC_FORGED_ALLOW || listed(&ing->bridge_ids, client_id) ||
           listed(&ing->bridge_users, username);
}

bool cnc_ingest_wants(const struct cnc_ingest *ing, const char *topic,
                      struct cnc_topic_capture *cap)
{
    const struct cnc_ingest_config *ic = &ing->cfg->ingest;
    size_t i;
    for (i = 0; i < ic->n_topics; i++) {
        if (cnc_topic_match(ic->topics[i], topic, cap)) {
            break;
        }
    }
    if (i == ic->n_topics) {
        return false;
    }
    cap->filter_index = (int)i;
    return !cnc_ingest_is_output(ing, topic);
}

/*
 * The refusal of a publisher (entry NULL) or of one cnc_id it sent. The detail names the
 * publisher, bounded and made valid UTF-8, never the table's patterns.
 */
static int unauthorized(const struct cnc_ingest *ing, const struct cnc_publisher *who,
                        const char *cnc_id, struct cnc_reject *rej)
{
    const char *kind = cnc_identity_kind(ing->identity);
    const char *name = cnc_identity_name(ing->identity, who);
    if (name == NULL) {
        return cnc_reject_set(rej, CNC_REJECT_UNAUTHORIZED_CNC_ID, "cnc_id",
                              "anonymous client: identity is on, and only an authenticated "
                              "client may publish machine data%s",
                              "");
    }
    char shown[72];
    utf8_copy_valid(name, strlen(name), shown, 64, false, NULL);
    utf8_make_loggable(shown, sizeof shown);
    if (cnc_id == NULL) {
        return cnc_reject_set(rej, CNC_REJECT_UNAUTHORIZED_CNC_ID, "cnc_id",
                              "%s \"%s\" may publish no cnc_id", kind, shown);
    }
    return cnc_reject_set(rej, CNC_REJECT_UNAUTHORIZED_CNC_ID, "cnc_id",
                          "%s \"%s\" may not publish cnc_id \"%s\"", kind, shown, cnc_id);
}

int cnc_ingest_process(struct cnc_ingest *ing, const struct cnc_topic_capture *cap,
                       const void *payload, size_t len, int64_t now_ms,
                       const struct cnc_publisher *who, struct cnc_ingest_result *res)
{
    res->root = NULL;
    res->instance = NULL;
    res->state.present = false;
    res->rej.code = CNC_REJECT_NONE;
    res->rej.cnc_id[0] = '\0'; /* a publisher refused before parsing has sent no cnc_id yet */
    res->rec = (struct cnc_record){
        .readings = ing->readings,
        .max_readings = ing->max_readings,
        .anomalies = ing->anomalies,
        .max_anomalies = MAX_ANOMALIES,
    };
    const struct cnc_identity_entry *entry = NULL;
    if (ing->identity != NULL && who != NULL &&
        (entry = cnc_identity_find(ing->identity, who)) == NULL) {
        return unauthorized(ing, who, NULL, &res->rej);
    }
    cnc_json_arena_begin(&ing->arena);
    int rc = cnc_envelope_parse(&ing->limits, payload, len, cap != NULL ? cap->plus : NULL,
                                cap != NULL ? cap->plus_len : 0, now_ms, &res->root, &res->msg,
                                &res->rej);
    cnc_json_arena_end();
    if (rc != 0) {
        return rc;
    }
    if (entry != NULL &&
        !cnc_identity_permits(entry, who, res->msg.cnc_id, strlen(res->msg.cnc_id))) {
        return unauthorized(ing, who, res->msg.cnc_id, &res->rej);
    }
    res->instance = cnc_route_lookup(ing->routes, res->msg.cnc_id, strlen(res->msg.cnc_id));
    if (res->instance == NULL) {
        return cnc_reject_set(&res->rej, CNC_REJECT_NO_ROUTE, "cnc_id",
                              "no route matches cnc_id \"%s\"", res->msg.cnc_id);
    }
    res->rec.handler = res->instance->name;
    char detail[sizeof res->rej.detail] = "";
    if (res->instance->type->process(res->instance->state, &res->msg, &res->rec, detail,
                                     sizeof detail) != 0) {
        return cnc_reject_set(&res->rej, CNC_REJECT_HANDLER_REJECTED, NULL, "%s: %s",
                              res->instance->name, detail[0] ? detail : "refused by the handler");
    }
    cnc_rules_apply(res->instance->rules, &res->msg, &res->rec);
    if (res->instance->states != NULL) {
        cnc_state_map_read(res->instance->states, &res->msg, &res->state);
    }
    if (res->rec.efficiency.present && res->rec.n_anomalies > 0) {
        res->rec.efficiency.is_anomaly = 1;
    }
    return 0;
}

/*
 * Prints o into a buffer kept for it. An oversized text goes to a second kept buffer that grows
 * by doubling: never through cJSON's own print allocation, which would come from the message's
 * arena while it is active (and be gone, or wrongly freed, later). Deletes o.
 */
static const char *print_kept(struct cnc_ingest *ing, cJSON *o, size_t *len)
{
    const char *text = NULL;
    if (o != NULL &&
        cJSON_PrintPreallocated(o, ing->analytics_buf, (int)sizeof ing->analytics_buf, 0)) {
        text = ing->analytics_buf;
    }
    /* Starts at the size the last oversized text needed: one print, not one per doubling. */
    size_t cap = ing->spill_cap > 2 * sizeof ing->analytics_buf ? ing->spill_cap
                                                                : 2 * sizeof ing->analytics_buf;
    for (; o != NULL && text == NULL && cap <= INT_MAX; cap *= 2) {
        if (cap > ing->spill_cap) {
            char *p = realloc(ing->spill, cap);
            if (p == NULL) {
                break;
            }
            ing->spill = p;
            ing->spill_cap = cap;
        }
        if (cJSON_PrintPreallocated(o, ing->spill, (int)cap, 0)) {
            text = ing->spill;
        }
    }
    cJSON_Delete(o);
    if (text != NULL) {
        *len = strlen(text);
    }
    return text;
}

const char *cnc_ingest_analytics(struct cnc_ingest *ing, const struct cnc_ingest_result *res,
                                 size_t *len)
{
    cnc_json_arena_resume(&ing->arena);
    cJSON *o = cnc_analytics_object(&res->msg, &res->rec,
                                    ing->cfg->analytics.values ? CNC_ANALYTICS_VALUES
                                                               : CNC_ANALYTICS_COUNT);
    if (o != NULL) {
        cnc_analytics_add_state(o, &res->state);
    }
    const char *text = print_kept(ing, o, len);
    cnc_json_arena_end();
    return text;
}

const char *cnc_ingest_offline_analytics(struct cnc_ingest *ing,
                                         const struct cnc_offline_machine *m, size_t *len)
{
    return print_kept(ing, cnc_analytics_offline(m), len); /* cJSON's own malloc: no message */
}

void cnc_ingest_result_release(struct cnc_ingest_result *res)
{
    cJSON_Delete(res->root);
    res->root = NULL;
}
