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
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "cnc_error.h"
#include "machine_states.h"
#include "stored_record.h"
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
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
