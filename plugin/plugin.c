/*
 * plugin.c - the broker boundary: mosquitto_plugin_* entry points and the
 * MESSAGE, TICK and RELOAD callbacks.
 *
 * Broker thread only; this is the one file that calls mosquitto_* functions
 * (other than the topic checks in config.c) and converts to MOSQ_ERR_*.
 * All plugin state lives in struct cnc_plugin, passed as userdata.
 *
 * The message callback returns only MOSQ_ERR_SUCCESS (deliver) or
 * MOSQ_ERR_ACL_DENIED (drop, the publisher stays connected; an MQTT v5
 * publisher sees reason 0x87). Any other code would disconnect the CNC's
 * collector, so none is ever returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "config.h"
#include "ingest.h"
#include "registry.h"
#include "stats.h"

#define LOG_PREFIX "cnc_ingest: "

struct cnc_plugin {
    mosquitto_plugin_id_t *id;
    char *config_path;
    struct cnc_registry *registry;
    struct cnc_ingest *ingest;
    struct cnc_stats stats;
    int64_t next_report_ms;
    uint64_t reported_received; /* stats.received at the last log line */
};

static int on_message(int event, void *event_data, void *userdata);
static int on_tick(int event, void *event_data, void *userdata);
static int on_reload(int event, void *event_data, void *userdata);

/* Register and unregister are both driven by this table so they cannot drift. */
static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {MOSQ_EVT_MESSAGE, on_message},
    {MOSQ_EVT_TICK, on_tick},
    {MOSQ_EVT_RELOAD, on_reload},
};
#define N_CALLBACKS (sizeof callbacks / sizeof callbacks[0])

/* A client id as one topic level: wildcards and separators become '_'. */
static void topic_level(const char *in, char *out, size_t out_len)
{
    size_t i = 0;
    if (in == NULL || in[0] == '\0') {
        in = "unknown";
    }
    for (; in[i] != '\0' && i + 1 < out_len; i++) {
        char c = in[i];
        out[i] = (c == '+' || c == '#' || c == '/') ? '_' : c;
    }
    out[i] = '\0';
}

static void publish_reject(struct cnc_plugin *p, const struct mosquitto_evt_message *m,
                           const struct cnc_reject *rej, int64_t now_ms)
{
    const char *base = cnc_ingest_config(p->ingest)->ingest.rejected_topic;
    if (base[0] == '\0') {
        return;
    }
    const char *client_id = mosquitto_client_id(m->client);
    char *report = cnc_reject_report(rej, m->topic, client_id, now_ms, m->payload, m->payloadlen);
    char level[256];
    char topic[512];
    topic_level(client_id, level, sizeof level);
    snprintf(topic, sizeof topic, "%s/%s", base, level);
    if (report != NULL) {
        mosquitto_broker_publish_copy(NULL, topic, (int)strlen(report), report, 1, false, NULL);
        free(report);
    }
}

/* One message on <analytics.topic>/<cnc_id>, QoS 0, built without malloc. */
static void publish_analytics(struct cnc_plugin *p, const struct cnc_ingest_result *res)
{
    const char *base = cnc_ingest_config(p->ingest)->analytics.topic;
    if (base[0] == '\0') {
        return;
    }
    size_t len;
    const char *json = cnc_ingest_analytics(p->ingest, res, &len);
    char topic[512];
    int n = snprintf(topic, sizeof topic, "%s/%s", base, res->msg.cnc_id);
    if (json != NULL && n > 0 && (size_t)n < sizeof topic) {
        mosquitto_broker_publish_copy(NULL, topic, (int)len, json, 0, false, NULL);
    }
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *m = event_data;
    struct cnc_plugin *p = userdata;
    struct cnc_topic_capture cap;
    (void)event;

    if (!cnc_ingest_wants(p->ingest, m->topic, &cap)) {
        return MOSQ_ERR_SUCCESS;
    }
    int64_t now_ms = cnc_now_ms();
    struct cnc_ingest_result res;
    int rc = cnc_ingest_process(p->ingest, &cap, m->payload, m->payloadlen, now_ms, &res);
    cnc_stats_count(&p->stats, res.rej.code);
    if (rc == 0) {
        p->stats.anomalies += res.rec.n_anomalies;
        publish_analytics(p, &res);
        cnc_ingest_result_release(&res);
        return MOSQ_ERR_SUCCESS;
    }
    cnc_ingest_result_release(&res);
    publish_reject(p, m, &res.rej, now_ms);
    if (cnc_ingest_config(p->ingest)->ingest.on_invalid == CNC_ON_INVALID_PASS) {
        return MOSQ_ERR_SUCCESS;
    }
    return MOSQ_ERR_ACL_DENIED;
}

static void report(struct cnc_plugin *p, int64_t now_ms)
{
    const struct cnc_config *cfg = cnc_ingest_config(p->ingest);
    if (p->stats.received != p->reported_received) {
        char line[1024];
        cnc_stats_summary(&p->stats, line, sizeof line);
        mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "%s", line);
        p->reported_received = p->stats.received;
    }
    if (cfg->metrics.topic[0] != '\0') {
        char *json = cnc_stats_json(&p->stats, now_ms);
        if (json != NULL) {
            mosquitto_broker_publish_copy(NULL, cfg->metrics.topic, (int)strlen(json), json, 1,
                                          true, NULL);
            free(json);
        }
    }
}

static int on_tick(int event, void *event_data, void *userdata)
{
    struct cnc_plugin *p = userdata;
    (void)event;
    (void)event_data;
    /* TICK fires after nearly every packet under load: one clock read, then out. */
    int64_t now_ms = cnc_now_ms();
    if (now_ms < p->next_report_ms) {
        return MOSQ_ERR_SUCCESS;
    }
    p->next_report_ms = now_ms + cnc_ingest_config(p->ingest)->metrics.interval_s * 1000;
    report(p, now_ms);
    return MOSQ_ERR_SUCCESS;
}

static bool same_modules(const struct cnc_config *a, const struct cnc_config *b)
{
    if (a->n_handler_modules != b->n_handler_modules) {
        return false;
    }
    for (size_t i = 0; i < a->n_handler_modules; i++) {
        if (strcmp(a->handler_modules[i], b->handler_modules[i]) != 0) {
            return false;
        }
    }
    return true;
}

static int on_reload(int event, void *event_data, void *userdata)
{
    struct cnc_plugin *p = userdata;
    char err[1024];
    (void)event;
    (void)event_data;

    struct cnc_config *cfg = cnc_config_load(p->config_path, err, sizeof err);
    if (cfg == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "reload refused, keeping the old config: %s",
                             err);
        return MOSQ_ERR_SUCCESS;
    }
    if (!same_modules(cfg, cnc_ingest_config(p->ingest))) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             LOG_PREFIX "handler_modules changed: modules load only at start; "
                                        "restart the broker to load the new list");
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, p->registry, p->ingest, err, sizeof err);
    if (ing == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "reload refused, keeping the old config: %s",
                             err);
        return MOSQ_ERR_SUCCESS;
    }
    cnc_ingest_destroy(p->ingest);
    p->ingest = ing;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "reloaded %s: %zu handler instances (%zu unchanged, rule "
                                    "state kept), %zu exact routes, %zu glob routes",
                         p->config_path, cnc_ingest_config(ing)->n_handlers,
                         cnc_route_table_kept_count(cnc_ingest_routes(ing)),
                         cnc_route_table_exact_count(cnc_ingest_routes(ing)),
                         cnc_route_table_glob_count(cnc_ingest_routes(ing)));
    return MOSQ_ERR_SUCCESS;
}

static void plugin_destroy(struct cnc_plugin *p)
{
    if (p == NULL) {
        return;
    }
    cnc_ingest_destroy(p->ingest);
    cnc_registry_destroy(p->registry);
    free(p->config_path);
    free(p);
}

__attribute__((visibility("default"))) int mosquitto_plugin_version(int supported_version_count,
                                                                    const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

__attribute__((visibility("default"))) int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier,
                                                                 void **userdata,
                                                                 struct mosquitto_opt *options,
                                                                 int option_count)
{
    char err[1024];
    const char *path = NULL;

    for (int i = 0; i < option_count; i++) {
        if (strcmp(options[i].key, "config_file") == 0) {
            path = options[i].value;
        } else {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 LOG_PREFIX "unknown option plugin_opt_%s (the only option is "
                                            "plugin_opt_config_file)",
                                 options[i].key);
            return MOSQ_ERR_INVAL;
        }
    }
    if (path == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "plugin_opt_config_file is required");
        return MOSQ_ERR_INVAL;
    }
    struct cnc_plugin *p = calloc(1, sizeof *p);
    if (p == NULL || (p->config_path = strdup(path)) == NULL) {
        free(p);
        return MOSQ_ERR_NOMEM;
    }
    p->id = identifier;
    struct cnc_config *cfg = cnc_config_load(path, err, sizeof err);
    if (cfg == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
        plugin_destroy(p);
        return MOSQ_ERR_INVAL;
    }
    p->registry =
        cnc_registry_create(cfg->handler_modules, cfg->n_handler_modules, err, sizeof err);
    if (p->registry == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s:%d: %s", path, cfg->handler_modules_line,
                             err);
        cnc_config_destroy(cfg);
        plugin_destroy(p);
        return MOSQ_ERR_INVAL;
    }
    bool has_mysql = cnc_config_has(cfg, "mysql");
    p->ingest = cnc_ingest_create(cfg, p->registry, NULL, err, sizeof err);
    if (p->ingest == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
        plugin_destroy(p);
        return MOSQ_ERR_INVAL;
    }
    for (size_t i = 0; i < N_CALLBACKS; i++) {
        int rc =
            mosquitto_callback_register(identifier, callbacks[i].event, callbacks[i].cb, NULL, p);
        if (rc != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "cannot register callback %d: %d",
                                 callbacks[i].event, rc);
            for (size_t k = 0; k < i; k++) {
                mosquitto_callback_unregister(identifier, callbacks[k].event, callbacks[k].cb,
                                              NULL);
            }
            plugin_destroy(p);
            return MOSQ_ERR_INVAL;
        }
    }
    if (!has_mysql) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             LOG_PREFIX "no mysql section: messages are validated and routed, "
                                        "nothing is stored");
    }
    const struct cnc_config *c = cnc_ingest_config(p->ingest);
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "loaded %s: %zu topic filters, %zu handler instances, "
                                    "%zu exact routes, %zu glob routes, on_invalid=%s",
                         path, c->ingest.n_topics, c->n_handlers,
                         cnc_route_table_exact_count(cnc_ingest_routes(p->ingest)),
                         cnc_route_table_glob_count(cnc_ingest_routes(p->ingest)),
                         c->ingest.on_invalid == CNC_ON_INVALID_PASS ? "pass" : "reject");
    p->next_report_ms = cnc_now_ms() + c->metrics.interval_s * 1000;
    *userdata = p;
    return MOSQ_ERR_SUCCESS;
}

__attribute__((visibility("default"))) int
mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    struct cnc_plugin *p = userdata;
    (void)options;
    (void)option_count;
    if (p == NULL) {
        return MOSQ_ERR_SUCCESS;
    }
    for (size_t i = 0; i < N_CALLBACKS; i++) {
        mosquitto_callback_unregister(p->id, callbacks[i].event, callbacks[i].cb, NULL);
    }
    char line[1024];
    cnc_stats_summary(&p->stats, line, sizeof line);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "stopping: %s", line);
    plugin_destroy(p);
    return MOSQ_ERR_SUCCESS;
}
