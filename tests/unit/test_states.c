/*
 * test_states.c - machine states on the broker thread: the `states:` mapping
 * (plugin/ingest/state_map.c: defaults per handler type, the config's
 * refusals with their key), the per-machine tracker
 * (plugin/ingest/machine_states.c: which message starts an interval, a late
 * message, a gap, silence found by the timer wheel, eviction, forgetting) and
 * the state block of a spool record (plugin/store/stored_record.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "cnc_error.h"
#include "machine_states.h"
#include "shift_calendar.h"
#include "stored_record.h"
#include "timestamp.h"
#include "support.h"

static struct cnc_registry *reg;

static const char *const LATHE = "handlers:\n"
                                 "  lathe:\n"
                                 "    type: machine_tool\n"
                                 "%s"
                                 "routes: [{match: \"*\", handler: lathe}]\n";

static struct cnc_ingest *ingest_with(const char *states_line)
{
    char yaml[1024], err[512];
    snprintf(yaml, sizeof yaml, LATHE, states_line);
    struct cnc_ingest *ing = support_ingest(yaml, &reg, err, sizeof err);
    if (ing == NULL) {
        fail_msg("%s", err);
    }
    return ing;
}

static void refused(const char *states_line, const char *expected)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, LATHE, states_line);
    support_expect_error(&reg, yaml, expected);
}

/* The state a message reports, through the ingest pipeline. */
static struct cnc_state_reading read_state(struct cnc_ingest *ing, const char *payload, char *text,
                                           size_t size)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"cnc_id\":\"M1\",\"part_program\":\"P\",\"timestamp\":1747379028000,"
             "\"payload\":%s}",
             payload);
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, json, &res), 0);
    struct cnc_state_reading r = res.state;
    snprintf(text, size, "%.*s", r.present ? (int)r.state_len : 0, r.present ? r.state : "");
    cnc_ingest_result_release(&res);
    return r;
}

static void shipped_defaults_and_mapping(void **state)
{
    (void)state;
    char text[300];
    struct cnc_ingest *ing = ingest_with("");
    struct cnc_state_reading r = read_state(ing, "{\"status\":\"running\"}", text, sizeof text);
    assert_true(r.present);
    assert_string_equal(text, "running");
    assert_int_equal(r.category, CNC_STATE_PRODUCTIVE);
    r = read_state(ing, "{\"status\":\"setup\"}", text, sizeof text);
    assert_int_equal(r.category, CNC_STATE_PLANNED_DOWNTIME);
    r = read_state(ing, "{\"status\":\"alarm\"}", text, sizeof text);
    assert_int_equal(r.category, CNC_STATE_UNPLANNED_DOWNTIME);
    r = read_state(ing, "{\"spin\":3}", text, sizeof text);
    assert_false(r.present);
    cnc_ingest_destroy(ing);

    /* Codes and categories of the plant's own. */
    ing = ingest_with("    params: {statuses: [\"1\", \"2\", \"7\", \"9\"]}\n"
                      "    states:\n"
                      "      variable: code\n"
                      "      reason_variable: why\n"
                      "      categories: {productive: [1], idle: [2], unplanned_downtime: [9]}\n");
    r = read_state(ing, "{\"status\":\"1\",\"code\":1,\"why\":\"E-12\"}", text, sizeof text);
    assert_string_equal(text, "1");
    assert_int_equal(r.category, CNC_STATE_PRODUCTIVE);
    assert_int_equal(r.reason_len, 4);
    assert_memory_equal(r.reason, "E-12", 4);
    r = read_state(ing, "{\"status\":\"7\",\"code\":7}", text, sizeof text);
    assert_int_equal(r.category, CNC_STATE_UNKNOWN); /* a value the map does not name */
    assert_null(r.reason);
    cnc_ingest_destroy(ing);

    /* Off. */
    ing = ingest_with("    states: {variable: \"\"}\n");
    r = read_state(ing, "{\"status\":\"running\"}", text, sizeof text);
    assert_false(r.present);
    cnc_ingest_destroy(ing);
}

static void config_refusals_name_the_key(void **state)
{
    (void)state;
    refused("    states: {offline_after_s: 0}\n",
            ":4: handlers.lathe.states.offline_after_s: must be an integer from 1 to 604800");
    refused("    states: {offline_after_s: 1.5}\n", "states.offline_after_s: must be an integer");
    refused("    states: {categories: {busy: [running]}}\n",
            "states.categories.busy: unknown category");
    refused("    states: {categories: {idle: [idle], productive: [run, idle]}}\n",
            "states.categories.productive[1]: \"idle\" is already in idle");
    refused("    states: {categories: {idle: [[1]]}}\n",
            "states.categories.idle[0]: must be a string or an integer state code");
    refused("    states: {colour: red}\n", "states.colour: unknown key");
    refused("    states: {reason_variable: \"\"}\n", "states.reason_variable: must not be empty");
    refused("    states: [status]\n", "handlers.lathe.states: must be a mapping");
    support_expect_error(&reg,
                         "handlers: {any: {type: generic, states: {offline_after_s: 5}}}\n"
                         "routes: [{match: \"*\", handler: any}]\n",
                         "handlers.any.states.variable: required for a handler of type generic");
}

/* ---- the tracker ---- */

static struct cnc_state_map *lathe_map(int offline_after_s)
{
    cJSON *states = cJSON_CreateObject();
    cJSON_AddNumberToObject(states, "offline_after_s", offline_after_s);
    struct cnc_state_map *m = NULL;
    char err[256];
    assert_int_equal(cnc_state_map_create("machine_tool", NULL, states, &m, err, sizeof err), 0);
    cJSON_Delete(states);
    assert_non_null(m);
    return m;
}

static uint8_t observe(struct cnc_machine_states *ms, const struct cnc_state_map *m,
                       const char *cnc_id, int64_t ts_ms, const char *status, int64_t mono_ms,
                       struct cnc_state_event *ev)
{
    char json[256];
    snprintf(json, sizeof json, "{\"status\":\"%s\"}", status);
    cJSON *payload = cJSON_Parse(json);
    struct cnc_message msg = {cnc_id, "P-1", ts_ms, payload};
    struct cnc_state_reading r;
    cnc_state_map_read(m, &msg, &r);
    assert_int_equal(cnc_machine_states_observe(ms, m, "lathe", &msg, &r, mono_ms, ev), 0);
    cJSON_Delete(payload);
    return ev->flags;
}

static size_t offline_seen;
static char offline_ids[8][70];
static int64_t offline_from[8];

static void note_offline(void *arg, const struct cnc_offline_machine *m)
{
    (void)arg;
    assert_int_equal(m->event.flags, CNC_STATE_EVENT_ONLY);
    assert_string_equal(m->event.state, "offline");
    if (offline_seen < 8) {
        snprintf(offline_ids[offline_seen], sizeof offline_ids[0], "%s", m->cnc_id);
        offline_from[offline_seen] = m->event.started_ms;
    }
    offline_seen++;
}

static void changes_late_and_gaps(void **state)
{
    (void)state;
    struct cnc_state_map *m = lathe_map(60);
    struct cnc_machine_states *ms = cnc_machine_states_create(100);
    struct cnc_state_event ev;
    int64_t t = 1747379028000, mono = 1000000;
    assert_int_equal(observe(ms, m, "A", t, "running", mono, &ev), CNC_STATE_CHANGED);
    assert_int_equal(ev.started_ms, t);
    assert_int_equal(observe(ms, m, "A", t + 1000, "running", mono, &ev), 0);
    assert_int_equal(observe(ms, m, "A", t + 2000, "idle", mono, &ev), CNC_STATE_CHANGED);
    assert_int_equal(ev.category, CNC_STATE_IDLE);
    /* Older than the newest: no interval, whatever it says. */
    assert_int_equal(observe(ms, m, "A", t + 1500, "alarm", mono, &ev), 0);
    /* The same timestamp again (a tie): taken in arrival order. */
    assert_int_equal(observe(ms, m, "A", t + 2000, "alarm", mono, &ev), CNC_STATE_CHANGED);
    /* Silence longer than offline_after_s in the timestamps: offline first, then the state,
       even the same one. */
    assert_int_equal(observe(ms, m, "A", t + 2000 + 60001, "alarm", mono, &ev),
                     CNC_STATE_GAP | CNC_STATE_CHANGED);
    assert_int_equal(ev.offline_from_ms, t + 2001);
    assert_int_equal(ev.started_ms, t + 62001);
    /* Exactly offline_after_s is not yet silence. */
    assert_int_equal(observe(ms, m, "A", t + 62001 + 60000, "alarm", mono, &ev), 0);
    struct cnc_state_counts c;
    cnc_machine_states_counts(ms, &c);
    assert_int_equal(c.changes, 4);
    assert_int_equal(c.late, 1);
    assert_int_equal(c.offline, 1);
    assert_int_equal(c.tracked, 1);
    /* Forgotten (its record could not be spooled): the next message says its state again. */
    cnc_machine_states_forget(ms, "A");
    assert_int_equal(observe(ms, m, "A", t + 200000, "alarm", mono, &ev), CNC_STATE_CHANGED);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m);
}

static void silence_found_by_the_wheel(void **state)
{
    (void)state;
    struct cnc_state_map *m60 = lathe_map(60), *m5 = lathe_map(5), *m9000 = lathe_map(9000);
    struct cnc_machine_states *ms = cnc_machine_states_create(100);
    struct cnc_state_event ev;
    int64_t t = 1747379028000, mono = 5000000;
    offline_seen = 0;
    assert_int_equal(cnc_machine_states_expire(ms, mono, 100, note_offline, NULL), 0);
    observe(ms, m60, "SLOW", t, "running", mono, &ev);
    observe(ms, m5, "FAST", t + 10, "running", mono, &ev);
    observe(ms, m9000, "LONG", t + 20, "running", mono, &ev); /* more than a wheel's turn */
    observe(ms, m5, "TALKS", t, "running", mono, &ev);
    /* TALKS keeps speaking; FAST does not. */
    for (int s = 1; s <= 8; s++) {
        observe(ms, m5, "TALKS", t + s * 1000, "running", mono + s * 1000, &ev);
        cnc_machine_states_expire(ms, mono + s * 1000, 100, note_offline, NULL);
    }
    assert_int_equal(offline_seen, 1);
    assert_string_equal(offline_ids[0], "FAST");
    assert_int_equal(offline_from[0], t + 11);
    /* Found once: it stays offline without being found again. */
    cnc_machine_states_expire(ms, mono + 30000, 100, note_offline, NULL);
    assert_int_equal(offline_seen, 2); /* TALKS went quiet at +8 s: offline by +14 s */
    assert_string_equal(offline_ids[1], "TALKS");
    cnc_machine_states_expire(ms, mono + 61500, 100, note_offline, NULL);
    assert_int_equal(offline_seen, 3);
    assert_string_equal(offline_ids[2], "SLOW");
    /* 9000 s is more than the wheel's 4096 slots: not before its time, found after it. */
    cnc_machine_states_expire(ms, mono + 4200 * 1000, 100, note_offline, NULL);
    assert_int_equal(offline_seen, 3);
    cnc_machine_states_expire(ms, mono + 9002 * 1000, 100, note_offline, NULL);
    assert_int_equal(offline_seen, 4);
    assert_string_equal(offline_ids[3], "LONG");
    /* Speaking again starts an interval; the offline one ends there (the writer). */
    assert_int_equal(observe(ms, m5, "FAST", t + 50000, "running", mono + 9003000, &ev),
                     CNC_STATE_CHANGED);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m60);
    cnc_state_map_destroy(m5);
    cnc_state_map_destroy(m9000);
}

static void many_silent_at_once_are_spread_over_ticks(void **state)
{
    (void)state;
    struct cnc_state_map *m = lathe_map(1);
    struct cnc_machine_states *ms = cnc_machine_states_create(5000);
    struct cnc_state_event ev;
    int64_t mono = 7000000;
    for (int i = 0; i < 2500; i++) {
        char id[16];
        snprintf(id, sizeof id, "M%d", i);
        observe(ms, m, id, 1747379028000, "running", mono, &ev);
    }
    offline_seen = 0;
    cnc_machine_states_expire(ms, mono, 1000, note_offline, NULL);
    assert_int_equal(cnc_machine_states_expire(ms, mono + 3000, 1000, note_offline, NULL), 1000);
    assert_int_equal(cnc_machine_states_expire(ms, mono + 3000, 1000, note_offline, NULL), 1000);
    assert_int_equal(cnc_machine_states_expire(ms, mono + 3000, 1000, note_offline, NULL), 500);
    assert_int_equal(cnc_machine_states_expire(ms, mono + 3000, 1000, note_offline, NULL), 0);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m);
}

static void rows_are_bounded(void **state)
{
    (void)state;
    struct cnc_state_map *m = lathe_map(1);
    struct cnc_machine_states *ms = cnc_machine_states_create(3);
    struct cnc_state_event ev;
    int64_t mono = 9000000;
    const char *ids[] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 5; i++) {
        observe(ms, m, ids[i], 1747379028000, "running", mono, &ev);
    }
    struct cnc_state_counts c;
    cnc_machine_states_counts(ms, &c);
    assert_int_equal(c.tracked, 3);
    assert_int_equal(c.evicted, 2);
    /* An evicted machine left the wheel with its row: only the three kept go offline. */
    offline_seen = 0;
    cnc_machine_states_expire(ms, mono, 100, note_offline, NULL);
    cnc_machine_states_expire(ms, mono + 3000, 100, note_offline, NULL);
    assert_int_equal(offline_seen, 3);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m);
}

/* ---- the spool record ---- */

static void state_block_round_trips(void **state)
{
    (void)state;
    struct cnc_ingest *ing = ingest_with("    states: {reason_variable: code}\n");
    const char *json = "{\"cnc_id\":\"M1\",\"part_program\":\"P\",\"timestamp\":1747379028000,"
                       "\"payload\":{\"status\":\"alarm\",\"code\":\"E\\u00e9\"}}";
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, json, &res), 0);
    struct cnc_state_event ev = {
        .flags = CNC_STATE_CHANGED | CNC_STATE_GAP,
        .category = res.state.category,
        .started_ms = res.msg.ts_ms,
        .offline_from_ms = res.msg.ts_ms - 90000,
        .state = res.state.state,
        .state_len = res.state.state_len,
        .reason = res.state.reason,
        .reason_len = res.state.reason_len,
        .parts = 3,
        .good = 2,
        .rejects = 1,
        .ideal_cycle_s = 42.5,
        .gap_program = "P-0",
    };
    struct cnc_buf buf = {0};
    assert_int_equal(cnc_stored_encode_state(&buf, &res.msg, &res.rec, json, strlen(json), 5, &ev),
                     0);
    struct cnc_stored s;
    assert_int_equal(cnc_stored_decode(buf.p, buf.len, &s), 0);
    assert_int_equal(s.state_flags, CNC_STATE_CHANGED | CNC_STATE_GAP);
    assert_int_equal(s.state_category, CNC_STATE_UNPLANNED_DOWNTIME);
    assert_int_equal(s.offline_from_ms, 1747379028000 - 90000);
    assert_int_equal(s.state.len, 5);
    assert_memory_equal(s.state.p, "alarm", 5);
    assert_int_equal(s.reason.len, 3);
    assert_int_equal(s.parts, 3);
    assert_int_equal(s.good, 2);
    assert_int_equal(s.rejects, 1);
    assert_true(s.ideal_cycle_s == 42.5);
    assert_int_equal(s.gap_program.len, 3);
    /* Cut anywhere, it is refused, never read past its end. */
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_not_equal(cnc_stored_decode(buf.p, n, &s), 0);
    }
    /* Without a change, the record is as before states (no block). */
    struct cnc_state_event none = {0};
    struct cnc_buf plain = {0};
    assert_int_equal(
        cnc_stored_encode_state(&plain, &res.msg, &res.rec, json, strlen(json), 5, &none), 0);
    struct cnc_buf old = {0};
    assert_int_equal(cnc_stored_encode(&old, &res.msg, &res.rec, json, strlen(json), 5), 0);
    assert_int_equal(plain.len, old.len);
    assert_memory_equal(plain.p, old.p, old.len);

    /* The offline interval found on TICK: a record without a message. */
    struct cnc_offline_machine om = {
        .cnc_id = "M1",
        .handler = "lathe",
        .part_program = "P",
        .last_ts_ms = 1000,
        .event = {.flags = CNC_STATE_EVENT_ONLY,
                  .category = CNC_STATE_UNPLANNED_DOWNTIME,
                  .started_ms = 1001,
                  .state = "offline",
                  .state_len = 7,
                  .reason = "no_data",
                  .reason_len = 7},
    };
    assert_int_equal(cnc_stored_encode_offline(&buf, &om, 5), 0);
    assert_int_equal(cnc_stored_decode(buf.p, buf.len, &s), 0);
    assert_int_equal(s.message_len, 0);
    assert_int_equal(s.ts_ms, 1001);
    assert_int_equal(s.state_flags, CNC_STATE_EVENT_ONLY);
    /* A record with a message may not claim to be an offline event, nor one without a message
       to be a message. */
    assert_int_equal(
        cnc_stored_encode_state(&old, &res.msg, &res.rec, json, strlen(json), 5, &om.event), 0);
    assert_int_not_equal(cnc_stored_decode(old.p, old.len, &s), 0);
    cnc_buf_free(&buf);
    cnc_buf_free(&plain);
    cnc_buf_free(&old);
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
}

/* ---- part counters ---- */

static struct cnc_state_map *counting_map(const char *extra)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"part_count_variable\": \"parts\", \"reject_count_variable\": \"rejects\", "
             "\"ideal_cycle_s\": {\"default\": 30, \"P-7\": 12.5}%s}",
             extra);
    cJSON *states = cJSON_Parse(json);
    assert_non_null(states);
    struct cnc_state_map *m = NULL;
    char err[256] = "";
    if (cnc_state_map_create("machine_tool", NULL, states, &m, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    cJSON_Delete(states);
    return m;
}

/* parts, rejects as the message's counters (negative: absent); what the message adds. */
static struct cnc_state_event count(struct cnc_machine_states *ms, const struct cnc_state_map *m,
                                    int64_t ts, long long parts, long long rejects)
{
    char json[256];
    int n = snprintf(json, sizeof json, "{\"status\":\"running\"");
    if (parts >= 0) {
        n += snprintf(json + n, sizeof json - (size_t)n, ",\"parts\":%lld", parts);
    }
    if (rejects >= 0) {
        n += snprintf(json + n, sizeof json - (size_t)n, ",\"rejects\":%lld", rejects);
    }
    snprintf(json + n, sizeof json - (size_t)n, "}");
    cJSON *payload = cJSON_Parse(json);
    struct cnc_message msg = {"M1", "P-7", ts, payload};
    struct cnc_state_reading r;
    cnc_state_map_read(m, &msg, &r);
    struct cnc_state_event ev;
    assert_int_equal(cnc_machine_states_observe(ms, m, "lathe", &msg, &r, 1000, &ev), 0);
    cJSON_Delete(payload);
    if ((ev.flags & CNC_STATE_COUNTS) == 0) {
        ev.parts = ev.good = ev.rejects = 0;
    }
    return ev;
}

#define EXPECT_PARTS(ev, p, g, r)                                                                  \
    do {                                                                                           \
        struct cnc_state_event e_ = (ev);                                                          \
        assert_int_equal(e_.parts, (p));                                                           \
        assert_int_equal(e_.good, (g));                                                            \
        assert_int_equal(e_.rejects, (r));                                                         \
    } while (0)

static void counters_step_reset_and_wrap(void **state)
{
    (void)state;
    struct cnc_state_map *m = counting_map(", \"count_wrap\": 65536, \"max_count_step\": 100");
    struct cnc_machine_states *ms = cnc_machine_states_create(10);
    int64_t t = 1747379028000;
    EXPECT_PARTS(count(ms, m, t, 65530, 100), 0, 0, 0); /* the first: nothing to step from */
    struct cnc_state_event ev = count(ms, m, t + 1000, 65533, 101);
    EXPECT_PARTS(ev, 3, 2, 1);
    assert_true(ev.ideal_cycle_s == 12.5);
    EXPECT_PARTS(count(ms, m, t + 2000, 2, 101), 5, 5, 0);  /* wrapped: 65533 -> 2 is 5 */
    EXPECT_PARTS(count(ms, m, t + 3000, -1, -1), 0, 0, 0);  /* no counters: nothing */
    EXPECT_PARTS(count(ms, m, t + 4000, 4, 101), 2, 2, 0);  /* from the last ones seen */
    EXPECT_PARTS(count(ms, m, t + 3500, 90, 101), 0, 0, 0); /* late: not counted */
    EXPECT_PARTS(count(ms, m, t + 5000, 1, 0), 1, 1, 0);    /* reset to 0, one made since */
    EXPECT_PARTS(count(ms, m, t + 6000, 5000, 0), 0, 0, 0); /* set anew: a jump, 0 */
    EXPECT_PARTS(count(ms, m, t + 7000, 5001, 1), 1, 0, 1); /* from the new value on */
    struct cnc_state_counts c;
    cnc_machine_states_counts(ms, &c);
    assert_int_equal(c.count_jumps, 1);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m);

    /* Without a wrap, any decrease is a reset. */
    m = counting_map("");
    ms = cnc_machine_states_create(10);
    count(ms, m, t, 65530, 0);
    EXPECT_PARTS(count(ms, m, t + 1000, 2, 0), 2, 2, 0);
    assert_true(isnan(cnc_state_map_ideal_cycle_s(m, "P-9")) == 0);
    assert_true(cnc_state_map_ideal_cycle_s(m, "P-9") == 30);
    cnc_machine_states_destroy(ms);
    cnc_state_map_destroy(m);
}

static void counter_config_refusals(void **state)
{
    (void)state;
    refused("    states: {part_count_variable: \"\"}\n",
            "states.part_count_variable: must not be empty");
    refused("    states: {count_wrap: 1}\n", "states.count_wrap: must be an integer from 2");
    refused("    states: {max_count_step: 0}\n",
            "states.max_count_step: must be an integer from 1");
    refused("    states: {ideal_cycle_s: {P-1: 0}}\n",
            "states.ideal_cycle_s.P-1: must be a number of seconds above 0");
    refused("    states: {ideal_cycle_s: [1]}\n", "states.ideal_cycle_s: must be a mapping");
}

/* ---- the shift calendar ---- */

static void shift_calendar_is_checked(void **state)
{
    (void)state;
    static const char *const good =
        "handlers: {any: {type: generic}}\n"
        "routes: [{match: \"*\", handler: any}]\n"
        "shifts:\n"
        "  time_zone: Europe/Berlin\n"
        "  calendar:\n"
        "    - {name: early, days: [mon, tue, wed, thu, fri], start: \"06:00\", end: \"14:00\"}\n"
        "    - {name: late, days: [mon, tue, wed, thu, fri], start: \"14:00\", end: \"22:00\"}\n"
        "    - {name: night, days: [sun, mon, tue, wed, thu], start: \"22:00\", end: \"06:00\"}\n";
    char err[512];
    struct cnc_config *cfg = cnc_config_load_buffer("s.yaml", good, strlen(good), err, sizeof err);
    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    assert_non_null(cfg->shifts);
    assert_int_equal(cfg->shifts->n, 3);
    assert_string_equal(cfg->shifts->time_zone, "Europe/Berlin");
    assert_int_equal(cfg->shifts->defs[2].start_min, 22 * 60);
    assert_int_equal(cfg->shifts->defs[2].end_min, 6 * 60);
    assert_int_equal(cfg->shifts->defs[2].days, (1u << 6) | 0x0f);
    cnc_config_destroy(cfg);
    struct {
        const char *calendar, *expected;
    } bad[] = {
        {"    - {name: a, days: [mon], start: \"06:00\", end: \"14:00\"}\n"
         "    - {name: b, days: [mon], start: \"13:00\", end: \"15:00\"}\n",
         "s.yaml:7: shifts.calendar[1]: b overlaps a on mon at 13:00"},
        {"    - {name: n, days: [sun], start: \"22:00\", end: \"06:00\"}\n"
         "    - {name: m, days: [mon], start: \"05:00\", end: \"07:00\"}\n",
         "shifts.calendar[1]: m overlaps n on mon at 05:00"},
        {"    - {name: a, days: [monday], start: \"06:00\", end: \"14:00\"}\n",
         "shifts.calendar[0].days[0]: not a day"},
        {"    - {name: a, days: [mon], start: \"6:00\", end: \"14:00\"}\n",
         "shifts.calendar[0].start: must be a local time \"HH:MM\""},
        {"    - {name: a, days: [mon], start: \"06:00\", end: \"06:00\"}\n",
         "shifts.calendar[0]: starts and ends at the same time"},
        {"    - {name: \"a;b\", days: [mon], start: \"06:00\", end: \"07:00\"}\n",
         "shifts.calendar[0].name: 1 to 32 characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "handlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: any}]\n"
                 "shifts:\n  time_zone: UTC\n  calendar:\n%s",
                 bad[i].calendar);
        cfg = cnc_config_load_buffer("s.yaml", yaml, strlen(yaml), err, sizeof err);
        if (cfg != NULL) {
            cnc_config_destroy(cfg);
            fail_msg("accepted: %s", bad[i].calendar);
        }
        if (strstr(err, bad[i].expected) == NULL) {
            fail_msg("error \"%s\" does not contain \"%s\"", err, bad[i].expected);
        }
    }
    const char *zone = "handlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: any}]\n"
                       "shifts: {time_zone: Mars/Olympus, calendar: [{name: a, days: [mon], "
                       "start: \"06:00\", end: \"07:00\"}]}\n";
    cfg = cnc_config_load_buffer("s.yaml", zone, strlen(zone), err, sizeof err);
    assert_null(cfg);
    assert_non_null(strstr(err, "s.yaml:3: shifts.time_zone: not a time zone of this machine"));
    /* Weekdays: 2026-12-07 is a Monday, 1970-01-01 a Thursday. */
    assert_int_equal(cnc_weekday(cnc_days_from_civil(2026, 12, 7)), 0);
    assert_int_equal(cnc_weekday(0), 3);
    assert_int_equal(cnc_weekday(-1), 2);
}

static int teardown(void **state)
{
    (void)state;
    cnc_registry_destroy(reg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_defaults_and_mapping),
        cmocka_unit_test(config_refusals_name_the_key),
        cmocka_unit_test(changes_late_and_gaps),
        cmocka_unit_test(silence_found_by_the_wheel),
        cmocka_unit_test(many_silent_at_once_are_spread_over_ticks),
        cmocka_unit_test(rows_are_bounded),
        cmocka_unit_test(state_block_round_trips),
        cmocka_unit_test(counters_step_reset_and_wrap),
        cmocka_unit_test(counter_config_refusals),
        cmocka_unit_test(shift_calendar_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
