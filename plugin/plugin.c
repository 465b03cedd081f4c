/*
 * plugin.c - the broker boundary: mosquitto_plugin_* entry points and the
 * MESSAGE, TICK and RELOAD callbacks.
 *
 * Broker thread only; this is the one file that calls mosquitto_* functions
 * (other than the topic checks in config.c) and converts to MOSQ_ERR_*.
 * All plugin state lives in struct cnc_plugin, passed as userdata.
 *
 * The message callback returns only MOSQ_ERR_SUCCESS (deliver),
 * MOSQ_ERR_ACL_DENIED (drop, the publisher stays connected; an MQTT v5
 * publisher sees reason 0x87) or, for a full spool on a broker that knows it
 * (2.1), CNC_MOSQ_ERR_QUOTA_EXCEEDED (0x97: retry later). Any other code would
 * disconnect the CNC's collector, so none is ever returned. mosquitto_api.h
 * holds what differs between mosquitto 2.0 and 2.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "commit_window.h"
#include "config.h"
#include "ingest.h"
#include "layout.h"
#include "clock.h"
#include "machine_states.h"
#include "mosquitto_api.h"
#include "registry.h"
#include "report_limit.h"
#include "reload.h"
#include "safe_file.h"
#include "sink_mysql.h"
#include "spool.h"
#include "stats.h"
#include "stored_record.h"
#include "utf8.h"
#include "writer.h"

#define LOG_PREFIX "cnc_ingest: "

struct cnc_plugin {
    mosquitto_plugin_id_t *id;
    char *config_path;
    struct cnc_reload *reload; /* SIGHUP's file read, off the broker thread */
    struct cnc_registry *registry;
    struct cnc_ingest *ingest;
    struct cnc_machine_states *machine_states; /* per cnc_id, across reloads */
    int64_t next_expire_ms;                    /* when silent machines are next looked for */
    struct cnc_stats stats;
    int64_t next_report_ms;
    int64_t next_drain_ms;
    uint64_t reported_received; /* stats.received at the last log line */
    uint64_t reported_stored;   /* and the writer's stored count */
    uint64_t reported_dead_letters;
    /* Storage (only with a mysql section): the spool, its writer thread, the encode buffer. */
    struct cnc_spool *spool;
    struct cnc_writer *writer;
    struct cnc_commit_window *commit_window; /* the writer's latency over the last minute */
    struct cnc_buf encoded;
    bool mysql_lib;
    bool layout_pending;                   /* the retained layout is due (start, reload) */
    struct cnc_report_limit *report_limit; /* reject reports per client and second */
    int64_t forged_logged_ms;              /* when a refused output-topic PUBLISH was last logged */
    uint64_t forged_unlogged;              /* refused since then, said in the next line */
};

static int on_message(int event, void *event_data, void *userdata);
static int on_tick(int event, void *event_data, void *userdata);
static int on_reload(int event, void *event_data, void *userdata);
static void apply_reload(struct cnc_plugin *p, struct cnc_config *cfg, const char *load_err);

/* Register and unregister are both driven by this table so they cannot drift. */
static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {CNC_EVT_MESSAGE, on_message},
    {MOSQ_EVT_TICK, on_tick},
    {MOSQ_EVT_RELOAD, on_reload},
};
#define N_CALLBACKS (sizeof callbacks / sizeof callbacks[0])

static void publish_reject(struct cnc_plugin *p, const struct mosquitto_evt_message *m,
                           const struct cnc_reject *rej, int64_t now_ms)
{
    const char *base = cnc_ingest_config(p->ingest)->ingest.rejected_topic;
    if (base[0] == '\0') {
        return;
    }
    const char *client_id = mosquitto_client_id(m->client);
    uint64_t held_back = 0;
    if (!cnc_report_limit_take(p->report_limit, client_id, now_ms, &held_back)) {
        p->stats.reports_suppressed++; /* counted, not amplified onto the rejected topic */
        return;
    }
    char *report = cnc_reject_report(rej, p->stats.node, m->topic, client_id, now_ms, m->payload,
                                     m->payloadlen, held_back);
    char topic[CNC_REJECT_TOPIC_LEVEL_MAX + 65536];
    if (report != NULL && cnc_reject_topic(base, client_id, topic, sizeof topic) > 0) {
        mosquitto_broker_publish_copy(NULL, topic, (int)strlen(report), report, 1, false, NULL);
    }
    free(report);
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

/* A machine's offline interval on its analytics topic (found on TICK, or from a gap). */
static void publish_offline_analytics(struct cnc_plugin *p, const struct cnc_offline_machine *om)
{
    const char *base = cnc_ingest_config(p->ingest)->analytics.topic;
    size_t len;
    const char *json;
    char topic[512];
    int n = snprintf(topic, sizeof topic, "%s/%s", base, om->cnc_id);
    if (base[0] != '\0' && n > 0 && (size_t)n < sizeof topic &&
        (json = cnc_ingest_offline_analytics(p->ingest, om, &len)) != NULL) {
        mosquitto_broker_publish_copy(NULL, topic, (int)len, json, 0, false, NULL);
    }
}

/*
 * Appends the accepted message to the spool before the broker acknowledges
 * it: from here on a broker crash or a database outage loses nothing.
 * Returns 0, or CNC_EREJECT with spool_full in res->rej and in *passes whether room may
 * come (a full spool or disk) or never will (a record larger than a segment).
 */
static int spool(struct cnc_plugin *p, const struct mosquitto_evt_message *m,
                 struct cnc_ingest_result *res, const struct cnc_state_event *state, int64_t now_ms,
                 bool *passes)
{
    int rc = cnc_stored_encode_state(&p->encoded, &res->msg, &res->rec, m->payload, m->payloadlen,
                                     now_ms, state);
    if (rc == 0) {
        rc = cnc_spool_append(p->spool, p->encoded.p, p->encoded.len);
    }
    if (rc == 0) {
        cnc_writer_notify(p->writer); /* an atomic load, unless the writer is parked */
        return 0;
    }
    /* Room may come (the writer drains, a disk is freed); a record larger than a segment never
       fits: that one is refused as any message the plugin cannot take (0x87). */
    *passes = rc != CNC_EINVAL;
    const struct cnc_config *cfg = cnc_ingest_config(p->ingest);
    unsigned long long waiting = (unsigned long long)cnc_spool_backlog_bytes(p->spool);
    bool held_up =
        p->writer != NULL && atomic_load(&cnc_writer_stats(p->writer)->dead_letters_full) != 0;
    const char *why_waiting = held_up ? "; the writer is held up: a record the database refuses "
                                        "cannot be kept, dead-letter.jsonl is full "
                                        "(spool.dead_letter_max_bytes)"
                                      : "";
    if (rc == CNC_EFULL) {
        return cnc_reject_set(&res->rej, CNC_REJECT_SPOOL_FULL, NULL,
                              "the spool holds %llu bytes not yet stored (limit spool.max_bytes "
                              "%lld)%s",
                              waiting, cfg->spool.max_bytes, why_waiting);
    }
    if (rc == CNC_ENOSPACE) {
        return cnc_reject_set(&res->rej, CNC_REJECT_SPOOL_FULL, NULL,
                              "the spool's disk is full: no room for a new segment in %s; %llu "
                              "bytes waiting to be stored",
                              cnc_spool_dir(p->spool), waiting);
    }
    const char *why = rc == CNC_EIO      ? "a new segment could not be created, or the record "
                                           "not synced (spool.fsync: always)"
                      : rc == CNC_EINVAL ? "its record is larger than a segment "
                                           "(spool.segment_bytes)"
                                         : "out of memory";
    return cnc_reject_set(&res->rej, CNC_REJECT_SPOOL_FULL, NULL,
                          "the spool could not take the message: %s; %llu bytes waiting", why,
                          waiting);
}

/* At most one log line per FORGED_LOG_MS about refused output-topic PUBLISHes. */
#define FORGED_LOG_MS 10000

/* A bounded copy of a client-given text, fit for the log (no forged log lines). */
static void log_text(const char *in, char *out, size_t size)
{
    snprintf(out, size, "%s", in != NULL ? in : "-");
    utf8_make_loggable(out, size);
}

/* A client's PUBLISH on an output topic: counted, logged now and then, refused (0x87). */
static int refuse_forged(struct cnc_plugin *p, const struct mosquitto_evt_message *m)
{
    p->stats.forged_output++;
    int64_t now = cnc_now_ms();
    if (p->forged_logged_ms != 0 && now - p->forged_logged_ms < FORGED_LOG_MS) {
        p->forged_unlogged++;
        return MOSQ_ERR_ACL_DENIED;
    }
    char id[130], user[130], topic[130], more[64] = "";
    log_text(mosquitto_client_id(m->client), id, sizeof id);
    log_text(mosquitto_client_username(m->client), user, sizeof user);
    log_text(m->topic, topic, sizeof topic);
    if (p->forged_unlogged > 0) {
        snprintf(more, sizeof more, " (and %llu more since the last such line)",
                 (unsigned long long)p->forged_unlogged);
    }
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         LOG_PREFIX "refused a PUBLISH on %s from client %s (user %s): only the "
                                    "plugin publishes on its output topics; a bridge that "
                                    "forwards them is named in ingest.bridge_client_ids or "
                                    "bridge_usernames%s",
                         topic, id, user, more);
    p->forged_logged_ms = now;
    p->forged_unlogged = 0;
    return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *m = event_data;
    struct cnc_plugin *p = userdata;
    struct cnc_topic_capture cap;
    (void)event;

    if (!cnc_ingest_wants(p->ingest, m->topic, &cap)) {
        /* The plugin's own publishes never reach this callback: a PUBLISH on an output topic
           here is a client's (or a bridge's, forwarding another broker's output). */
        if (cnc_ingest_is_output(p->ingest, m->topic) &&
            !cnc_ingest_may_publish_output(p->ingest, mosquitto_client_id(m->client),
                                           mosquitto_client_username(m->client))) {
            return refuse_forged(p, m);
        }
        return MOSQ_ERR_SUCCESS;
    }
    /* Machine data is a stream, not a state: a retained PUBLISH on an ingest topic is stored
       and delivered as usual, but the broker does not keep it (200,000 retained messages took
       it from 22 to 265 MB, and every new subscriber got the whole backlog). */
    if (m->retain) {
        m->retain = false;
        p->stats.retain_stripped++;
    }
    int64_t now_ms = cnc_now_ms();
    struct cnc_ingest_result res;
    const struct cnc_publisher who = {mosquitto_client_id(m->client),
                                      mosquitto_client_username(m->client)};
    int rc = cnc_ingest_process(p->ingest, &cap, m->payload, m->payloadlen, now_ms, &who, &res);
    bool full_passes = false; /* a spool_full that room can cure: 0x97 where the broker has it */
    struct cnc_state_event state = {0};
    if (rc == 0 && res.instance->states != NULL &&
        cnc_machine_states_observe(p->machine_states, res.instance->states, res.instance->name,
                                   &res.msg, &res.state, cnc_mono_ms(), &state) != 0) {
        p->stats.states_untracked++;
    }
    if (rc == 0 && p->spool != NULL) {
        rc = spool(p, m, &res, &state, now_ms, &full_passes);
        if (rc != 0 && state.flags != 0) {
            /* The change was not stored: the machine's next message says it again. */
            cnc_machine_states_forget(p->machine_states, res.msg.cnc_id);
        }
    }
    cnc_stats_count(&p->stats, res.rej.code);
    if (rc == 0) {
        p->stats.anomalies += res.rec.n_anomalies;
        if ((state.flags & CNC_STATE_GAP) != 0) {
            /* A silence seen between two timestamps: said as one found on TICK is, before the
               message that ends it. */
            const struct cnc_offline_machine om = {
                .cnc_id = res.msg.cnc_id,
                .handler = res.instance->name,
                .part_program = state.gap_program,
                .last_ts_ms = state.offline_from_ms - 1,
                .event = {.flags = CNC_STATE_EVENT_ONLY,
                          .category = CNC_STATE_UNPLANNED_DOWNTIME,
                          .started_ms = state.offline_from_ms}};
            publish_offline_analytics(p, &om);
        }
        publish_analytics(p, &res);
        cnc_ingest_result_release(&res);
        return MOSQ_ERR_SUCCESS;
    }
    cnc_ingest_result_release(&res);
    publish_reject(p, m, &res.rej, now_ms);
    if (cnc_ingest_delivers_refused(p->ingest, &res.rej)) {
        return MOSQ_ERR_SUCCESS;
    }
    /* "Full, retry later" is not "invalid": 0x97 where the broker can say it. */
    if (res.rej.code == CNC_REJECT_SPOOL_FULL && full_passes && cnc_broker_has_quota()) {
        return CNC_MOSQ_ERR_QUOTA_EXCEEDED;
    }
    return MOSQ_ERR_ACL_DENIED;
}

static void storage_snapshot(const struct cnc_plugin *p, struct cnc_storage_snapshot *st)
{
    memset(st, 0, sizeof *st);
    if (p->writer == NULL) {
        return;
    }
    const struct cnc_writer_stats *w = cnc_writer_stats(p->writer);
    st->enabled = 1;
    st->db_connected = atomic_load(&w->db_connected);
    st->stored = atomic_load(&w->stored);
    st->batches = atomic_load(&w->batches);
    st->db_errors = atomic_load(&w->db_errors);
    st->last_batch_ms = atomic_load(&w->last_batch_ms);
    st->damaged = atomic_load(&w->damaged);
    st->dead_letters = atomic_load(&w->dead_letters);
    for (int c = 0; c < CNC_DB__COUNT; c++) {
        st->db_errors_by_cause[c] = atomic_load(&w->db_errors_by_cause[c]);
    }
    st->waiting_for = atomic_load(&w->last_cause);
    st->dead_letters_full = atomic_load(&w->dead_letters_full);
    st->spooled_bytes = cnc_spool_backlog_bytes(p->spool);
    st->commit_p50_ms = cnc_writer_latency_quantile(w, 0.50);
    st->commit_p99_ms = cnc_writer_latency_quantile(w, 0.99);
    st->recent = cnc_commit_window_read(p->commit_window, w->latency_ms, cnc_mono_ms());
    cnc_writer_sink_where(p->writer, st->db_host, sizeof st->db_host, &st->db_failovers);
}

/* The running instances' rule state and script counters, summed (a few instances: cheap, once
   per report). */
static void handler_state_snapshot(struct cnc_plugin *p)
{
    const struct cnc_route_table *t = cnc_ingest_routes(p->ingest);
    p->stats.rule_machines = p->stats.rule_evicted = p->stats.rule_untracked = 0;
    p->stats.scripts = (struct cnc_script_stats){0};
    cnc_machine_states_counts(p->machine_states, &p->stats.states);
    for (size_t i = 0; i < cnc_route_table_instance_count(t); i++) {
        const struct cnc_handler_instance *inst = cnc_route_table_instance(t, i);
        cnc_lua_handler_stats(inst->type, inst->state, &p->stats.scripts);
        const struct cnc_rule_set *rs = inst->rules;
        if (rs != NULL) {
            p->stats.rule_machines += cnc_rules_tracked_machines(rs);
            p->stats.rule_evicted += cnc_rules_evicted(rs);
            p->stats.rule_untracked += cnc_rules_untracked(rs);
        }
    }
}

/* metrics.topic, or <metrics.topic>/<node> with metrics.per_node; "" when off. free() it. */
static char *metrics_topic(const struct cnc_plugin *p, const struct cnc_config *cfg)
{
    bool per_node = cfg->metrics.topic[0] != '\0' && cfg->metrics.per_node;
    size_t len = strlen(cfg->metrics.topic) + strlen(p->stats.node) + 2;
    char *topic = malloc(len);
    if (topic != NULL) {
        snprintf(topic, len, "%s%s%s", cfg->metrics.topic, per_node ? "/" : "",
                 per_node ? p->stats.node : "");
    }
    return topic;
}

static void report(struct cnc_plugin *p, int64_t now_ms)
{
    const struct cnc_config *cfg = cnc_ingest_config(p->ingest);
    struct cnc_storage_snapshot st;
    storage_snapshot(p, &st);
    handler_state_snapshot(p);
    if (p->stats.received != p->reported_received || st.stored != p->reported_stored ||
        st.dead_letters != p->reported_dead_letters) {
        char line[1024];
        cnc_stats_summary(&p->stats, &st, line, sizeof line);
        p->reported_stored = st.stored;
        p->reported_dead_letters = st.dead_letters;
        mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "%s", line);
        p->reported_received = p->stats.received;
    }
    char *topic = metrics_topic(p, cfg);
    if (topic != NULL && topic[0] != '\0') {
        char *json = cnc_stats_json(&p->stats, &st, now_ms);
        if (json != NULL) {
            mosquitto_broker_publish_copy(NULL, topic, (int)strlen(json), json, 1, true, NULL);
            free(json);
        }
    }
    free(topic);
}

static void log_writer_line(void *arg, int level, const char *line)
{
    (void)arg;
    int mosq_level = level == CNC_WRITER_LOG_ERROR     ? MOSQ_LOG_ERR
                     : level == CNC_WRITER_LOG_WARNING ? MOSQ_LOG_WARNING
                                                       : MOSQ_LOG_NOTICE;
    mosquitto_log_printf(mosq_level, LOG_PREFIX "%s", line);
}

/* The retained layout on <analytics.topic> itself, for dashboards (layout.h). */
static void publish_layout(struct cnc_plugin *p)
{
    const struct cnc_config *cfg = cnc_ingest_config(p->ingest);
    if (cfg->analytics.topic[0] == '\0') {
        return;
    }
    char *json = cnc_layout_json(cfg, cnc_ingest_routes(p->ingest), p->stats.node);
    if (json != NULL) {
        mosquitto_broker_publish_copy(NULL, cfg->analytics.topic, (int)strlen(json), json, 1, true,
                                      NULL);
    }
    cJSON_free(json);
}

/* The longest wait between ticks the plugin asks of a broker that asks (2.1): the writer's
   log lines, a reload, the metrics and the layout are looked at this often, as 2.0.11's loop
   does by itself. After a tick that published, 1 ms: mosquitto 2.1.2 wakes 1 ms after a
   plugin's publish, and its loop re-arms a tick's wake-up only when the tick runs, so a wake
   before the tick is due would leave the next one to the broker's other timers (seconds) on a
   2.1 built without websockets; the tick run 1 ms later asks for TICK_MS again. */
#define TICK_MS 100

/* Offline intervals emitted per tick at most (a whole line's switch failing at once): the
   rest on the next ticks, so a tick stays short. */
#define OFFLINE_PER_TICK 1000

/*
 * A machine found silent on TICK: its offline interval goes to the spool as a record without a
 * message, and its analytics topic says so. A full spool drops the interval (counted): the
 * machine's next message starts its next interval all the same.
 */
static void emit_offline(void *arg, const struct cnc_offline_machine *om)
{
    struct cnc_plugin *p = arg;
    if (p->spool != NULL && (cnc_stored_encode_offline(&p->encoded, om, cnc_now_ms()) != 0 ||
                             cnc_spool_append(p->spool, p->encoded.p, p->encoded.len) != 0)) {
        p->stats.offline_unspooled++;
    } else if (p->spool != NULL) {
        cnc_writer_notify(p->writer);
    }
    publish_offline_analytics(p, om);
}

static int on_tick(int event, void *event_data, void *userdata)
{
    struct cnc_plugin *p = userdata;
    (void)event;
    bool published = false;
    /* TICK fires after nearly every packet under load: one clock read, then out. */
    int64_t now_ms = cnc_now_ms();
    if (p->writer != NULL && now_ms >= p->next_drain_ms) {
        p->next_drain_ms = now_ms + 100;
        cnc_writer_drain_log(p->writer, log_writer_line, NULL);
        cnc_commit_window_sample(p->commit_window, cnc_writer_stats(p->writer)->latency_ms,
                                 cnc_mono_ms());
    }
    if (now_ms >= p->next_expire_ms) {
        p->next_expire_ms = now_ms + 250;
        if (cnc_machine_states_expire(p->machine_states, cnc_mono_ms(), OFFLINE_PER_TICK,
                                      emit_offline, p) != 0) {
            published = true;
        }
    }
    struct cnc_config *reloaded;
    char reload_err[1024];
    if (cnc_reload_take(p->reload, &reloaded, reload_err, sizeof reload_err)) {
        apply_reload(p, reloaded, reload_err);
        published = true;
    }
    if (p->layout_pending) { /* at start and after a reload, on the first tick */
        p->layout_pending = false;
        publish_layout(p);
        published = true;
    }
    if (now_ms >= p->next_report_ms) {
        p->next_report_ms = now_ms + cnc_ingest_config(p->ingest)->metrics.interval_s * 1000;
        report(p, now_ms);
        published = true;
    }
    CNC_TICK_ASK_MS((struct mosquitto_evt_tick *)event_data, published ? 1 : TICK_MS);
    return MOSQ_ERR_SUCCESS;
}

/* SIGHUP: the file is read on the reload thread; apply_reload runs on a later tick. */
static int on_reload(int event, void *event_data, void *userdata)
{
    struct cnc_plugin *p = userdata;
    (void)event;
    (void)event_data;
    cnc_reload_request(p->reload);
    return MOSQ_ERR_SUCCESS;
}

/* Broker thread: who may publish what, after a load or reload. */
static void log_identity(const struct cnc_ingest *ing)
{
    const struct cnc_identity_table *t = cnc_ingest_identity(ing);
    if (t == NULL) {
        mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "identity: off (any client that may "
                                                       "publish on the ingest topics may send any "
                                                       "cnc_id)");
        return;
    }
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE, LOG_PREFIX "identity by %s: %zu exact publishers, %zu glob publishers",
        cnc_identity_kind(t), cnc_identity_exact_count(t), cnc_identity_glob_count(t));
}

/* Broker thread (TICK): a config the reload thread has read replaces the running one. */
static void apply_reload(struct cnc_plugin *p, struct cnc_config *cfg, const char *load_err)
{
    char err[1024];
    if (cfg == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "reload refused, keeping the old config: %s",
                             load_err);
        return;
    }
    char changed[160];
    if (!cnc_config_same_start_only(cfg, cnc_ingest_config(p->ingest), changed, sizeof changed)) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             LOG_PREFIX "%s changed (and perhaps more): node, mysql, writer, spool "
                                        "and handler_modules take effect at the next broker "
                                        "start; they go on as configured at start",
                             changed);
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, p->registry, p->ingest, err, sizeof err);
    if (ing == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "reload refused, keeping the old config: %s",
                             err);
        return;
    }
    const char *old_topic = cnc_ingest_config(p->ingest)->analytics.topic;
    if (old_topic[0] != '\0' && strcmp(old_topic, cnc_ingest_config(ing)->analytics.topic) != 0) {
        /* The analytics moved or were turned off: no stale layout stays retained. */
        mosquitto_broker_publish_copy(NULL, old_topic, 0, NULL, 1, true, NULL);
    }
    char *old_metrics = metrics_topic(p, cnc_ingest_config(p->ingest));
    char *new_metrics = metrics_topic(p, cnc_ingest_config(ing));
    if (old_metrics != NULL && new_metrics != NULL && old_metrics[0] != '\0' &&
        strcmp(old_metrics, new_metrics) != 0) {
        /* Metrics moved (metrics.per_node turned on, say): no stale counters stay retained. */
        mosquitto_broker_publish_copy(NULL, old_metrics, 0, NULL, 1, true, NULL);
    }
    free(old_metrics);
    free(new_metrics);
    cnc_ingest_destroy(p->ingest);
    p->ingest = ing;
    cnc_report_limit_set(p->report_limit,
                         (unsigned)cnc_ingest_config(ing)->ingest.reports_per_client_s);
    p->layout_pending = true;
    p->next_report_ms = 0; /* metrics and layout on the next tick */
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "reloaded %s: %zu handler instances (%zu unchanged, rule "
                                    "state kept), %zu exact routes, %zu glob routes",
                         p->config_path, cnc_ingest_config(ing)->n_handlers,
                         cnc_route_table_kept_count(cnc_ingest_routes(ing)),
                         cnc_route_table_exact_count(cnc_ingest_routes(ing)),
                         cnc_route_table_glob_count(cnc_ingest_routes(ing)));
    log_identity(ing);
}

/* Main thread, at init: the spool, the database client and the writer thread. */
static int start_storage(struct cnc_plugin *p, const struct cnc_config *cfg, char *err,
                         size_t err_len)
{
    char *password = NULL;
    const char *tls_files[] = {cfg->mysql.tls_ca, cfg->mysql.tls_cert, cfg->mysql.tls_key};
    static const char *const tls_keys[] = {"mysql.tls_ca", "mysql.tls_cert", "mysql.tls_key"};
    /* Files the writer thread would open: a FIFO there would hang it for good. */
    if (cnc_file_check_each(tls_files, tls_keys, 3, err, err_len) != 0 ||
        cnc_password_read(cfg->mysql.password_file, CNC_FILE_NO_OWNER, &password, err, err_len) !=
            0) {
        return -1;
    }
    if (cnc_mysql_library_init() != 0) {
        snprintf(err, err_len, "mysql: cannot initialise the client library");
        free(password);
        return -1;
    }
    p->mysql_lib = true;
    p->commit_window = cnc_commit_window_create();
    if (p->commit_window == NULL) {
        snprintf(err, err_len, "mysql: out of memory");
        free(password);
        return -1;
    }
    p->spool = cnc_spool_open(cfg->spool.dir, (uint64_t)cfg->spool.max_bytes,
                              (uint64_t)cfg->spool.segment_bytes, cfg->spool.fsync, err, err_len);
    if (p->spool == NULL) {
        free(password);
        return -1;
    }
    struct cnc_mysql *db = cnc_mysql_create(&cfg->mysql, password, p->stats.node);
    if (db != NULL && cnc_mysql_set_shifts(db, cfg->shifts) != 0) {
        cnc_mysql_destroy(db);
        db = NULL;
    }
    if (password != NULL) {
        memset(password, 0, strlen(password));
        free(password);
    }
    if (db == NULL) {
        snprintf(err, err_len, "mysql: out of memory");
        return -1;
    }
    p->writer = cnc_writer_start(p->spool, cnc_mysql_sink(db), &cfg->writer, cfg->spool.fsync,
                                 (uint64_t)cfg->spool.dead_letter_max_bytes, err, err_len);
    if (p->writer == NULL) {
        return -1;
    }
    cnc_commit_window_sample(p->commit_window, cnc_writer_stats(p->writer)->latency_ms,
                             cnc_mono_ms());
    uint64_t backlog = cnc_spool_backlog_bytes(p->spool);
    const char *where = cfg->mysql.n_hosts > 0 ? cfg->mysql.hosts[0]
                        : cfg->mysql.socket[0] ? cfg->mysql.socket
                                               : cfg->mysql.host;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "storing into %s%s%s%s as %s; spool %s (%llu bytes to replay)",
                         cfg->mysql.database, cfg->mysql.socket[0] ? " via " : " at ", where,
                         cfg->mysql.n_hosts > 1 ? " and the other servers of mysql.hosts" : "",
                         cfg->mysql.user, cfg->spool.dir, (unsigned long long)backlog);
    return 0;
}

static void plugin_destroy(struct cnc_plugin *p)
{
    if (p == NULL) {
        return;
    }
    cnc_reload_destroy(p->reload);
    cnc_writer_stop(p->writer, log_writer_line, NULL);
    cnc_spool_close(p->spool);
    cnc_commit_window_destroy(p->commit_window);
    cnc_buf_free(&p->encoded);
    if (p->mysql_lib) {
        cnc_mysql_library_end();
    }
    cnc_ingest_destroy(p->ingest);
    cnc_machine_states_destroy(p->machine_states);
    cnc_registry_destroy(p->registry);
    cnc_report_limit_destroy(p->report_limit);
    free(p->config_path);
    free(p);
}

__attribute__((visibility("default"))) int mosquitto_plugin_version(int supported_version_count,
                                                                    const int *supported_versions)
{
    /* 5 is the newest both 2.0 (5) and 2.1 (5, 4, 3, 2) offer, and all the plugin uses. */
    char offered[64] = "";
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
        size_t n = strlen(offered);
        snprintf(offered + n, sizeof offered - n, "%s%d", n ? ", " : "", supported_versions[i]);
    }
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         LOG_PREFIX "this broker offers plugin interface versions %s, not 5: "
                                    "cnc_ingest needs mosquitto 2.0 or later",
                         offered[0] ? offered : "(none)");
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
    if (p == NULL || (p->config_path = strdup(path)) == NULL ||
        (p->reload = cnc_reload_create(path)) == NULL) {
        if (p != NULL) {
            free(p->config_path);
        }
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
    snprintf(p->stats.node, sizeof p->stats.node, "%s", cfg->node); /* fixed until a restart */
    p->report_limit = cnc_report_limit_create((unsigned)cfg->ingest.reports_per_client_s);
    /* Sized by the config at start; a reload keeps it (and every machine's state). */
    p->machine_states = cnc_machine_states_create((size_t)cfg->ingest.max_tracked_machines);
    if (p->report_limit == NULL || p->machine_states == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "out of memory");
        cnc_config_destroy(cfg);
        plugin_destroy(p);
        return MOSQ_ERR_NOMEM;
    }
    p->ingest = cnc_ingest_create(cfg, p->registry, NULL, err, sizeof err);
    if (p->ingest == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
        plugin_destroy(p);
        return MOSQ_ERR_INVAL;
    }
    p->layout_pending = true;
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
    } else if (start_storage(p, cnc_ingest_config(p->ingest), err, sizeof err) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
        for (size_t i = 0; i < N_CALLBACKS; i++) {
            mosquitto_callback_unregister(identifier, callbacks[i].event, callbacks[i].cb, NULL);
        }
        plugin_destroy(p);
        return MOSQ_ERR_INVAL;
    }
    const struct cnc_config *c = cnc_ingest_config(p->ingest);
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX
                         "loaded %s as node %s: %zu topic filters, %zu handler instances, "
                         "%zu exact routes, %zu glob routes, on_invalid=%s",
                         path, p->stats.node, c->ingest.n_topics, c->n_handlers,
                         cnc_route_table_exact_count(cnc_ingest_routes(p->ingest)),
                         cnc_route_table_glob_count(cnc_ingest_routes(p->ingest)),
                         c->ingest.on_invalid == CNC_ON_INVALID_PASS ? "pass" : "reject");
    log_identity(p->ingest);
    if (cnc_broker_has_quota()) {
        mosquitto_plugin_set_info(identifier, "cnc_ingest", CNC_VERSION);
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "a full spool is answered with %s",
                         cnc_broker_has_quota()
                             ? "0x97 (quota exceeded: retry later)"
                             : "0x87 (this broker has no quota code: mosquitto 2.0)");
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
    cnc_writer_stop(p->writer, log_writer_line, NULL);
    p->writer = NULL;
    char line[1024];
    cnc_stats_summary(&p->stats, NULL, line, sizeof line);
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "stopping: %s; %llu spool bytes not stored yet", line,
                         p->spool ? (unsigned long long)cnc_spool_backlog_bytes(p->spool) : 0ULL);
    plugin_destroy(p);
    return MOSQ_ERR_SUCCESS;
}
