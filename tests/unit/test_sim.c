/*
 * test_sim.c - cnc-sim's machine models (tools/sim.c): deterministic for a
 * seed, every valid message accepted by the plugin's own pipeline with the
 * shipped config, every invalid class refused with exactly the reason it is
 * named for, physics within range, faults that show in the values and are
 * reported as ground truth, and the lathes on the shipped config's machine_tool
 * instance, faults and all.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "sim.h"
#include "sim_wire.h"

#define T0 INT64_C(1763800000000)

static void deterministic(void **state)
{
    (void)state;
    struct sim_options o = {.machines = 9, .seed = 42, .invalid_ratio = 0.2, .fault_rate = 0.01};
    struct sim *a = sim_create(&o), *b = sim_create(&o);
    o.seed = 43;
    struct sim *c = sim_create(&o);
    char ta[128], tb[128], ba[70000], bb[70000];
    int differs = 0;
    for (int i = 0; i < 2000; i++) {
        enum sim_invalid ca, cb;
        size_t la = sim_next(a, (size_t)i % 9, T0 + i, ta, sizeof ta, ba, sizeof ba, &ca);
        size_t lb = sim_next(b, (size_t)i % 9, T0 + i, tb, sizeof tb, bb, sizeof bb, &cb);
        assert_int_equal(la, lb);
        assert_int_equal(ca, cb);
        assert_string_equal(ta, tb);
        assert_memory_equal(ba, bb, la);
        size_t lc = sim_next(c, (size_t)i % 9, T0 + i, tb, sizeof tb, bb, sizeof bb, &cb);
        differs += lc != la || memcmp(ba, bb, la) != 0;
    }
    assert_true(differs > 1000);
    sim_destroy(a);
    sim_destroy(b);
    sim_destroy(c);
}

static void plugin_agrees_with_every_class(void **state)
{
    (void)state;
    char err[512];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_config *cfg =
        cnc_config_load(CNC_SOURCE_DIR "/config/cnc_ingest.yaml", err, sizeof err);
    assert_non_null(cfg);
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    assert_non_null(ing);
    struct sim_options o = {.machines = 12, .seed = 5, .invalid_ratio = 0.3};
    struct sim *s = sim_create(&o);
    char topic[128], buf[70000];
    int seen[SIM_INVALID__COUNT] = {0};
    for (int i = 0; i < 6000; i++) {
        enum sim_invalid cls;
        size_t len =
            sim_next(s, (size_t)i % 12, T0 + i, topic, sizeof topic, buf, sizeof buf, &cls);
        assert_true(len > 0);
        struct cnc_topic_capture cap;
        assert_true(cnc_ingest_wants(ing, topic, &cap));
        struct cnc_ingest_result res;
        int rc = cnc_ingest_process(ing, &cap, buf, len, T0 + i, NULL, &res);
        const char *got = rc == 0 ? "valid" : cnc_reject_name(res.rej.code);
        if (strcmp(got, sim_invalid_name(cls)) != 0) {
            fail_msg("%s sent as %s, plugin says %s (%s)", buf, sim_invalid_name(cls), got,
                     rc ? res.rej.detail : "");
        }
        seen[cls]++;
        cnc_ingest_result_release(&res);
    }
    for (int k = 0; k < SIM_INVALID__COUNT; k++) {
        assert_true(seen[k] > 0); /* every class came up */
    }
    sim_destroy(s);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

static double number_after(const char *json, const char *key)
{
    const char *p = strstr(json, key);
    return p ? atof(p + strlen(key)) : NAN;
}

/* A sender catching up sends many samples in one millisecond: each still has its own time. */
static void timestamps_strictly_increase(void **state)
{
    (void)state;
    struct sim_options o = {.machines = 2, .seed = 1};
    struct sim *s = sim_create(&o);
    char topic[128], buf[1024], prev[2][1024] = {"", ""};
    for (int i = 0; i < 100; i++) {
        enum sim_invalid cls;
        sim_next(s, (size_t)i % 2, T0, topic, sizeof topic, buf, sizeof buf, &cls);
        assert_true(strcmp(buf, prev[i % 2]) != 0);
        double ts = number_after(buf, "\"timestamp\":");
        assert_true(ts == (double)(T0 + i / 2));
        strcpy(prev[i % 2], buf);
    }
    sim_destroy(s);
}

static void physics_in_range(void **state)
{
    (void)state;
    struct sim_options o = {.machines = 6, .seed = 9};
    struct sim *s = sim_create(&o);
    char topic[128], buf[1024];
    for (int i = 0; i < 60000; i++) {
        enum sim_invalid cls;
        sim_next(s, (size_t)i % 6, T0 + i, topic, sizeof topic, buf, sizeof buf, &cls);
        if (strstr(buf, "\"temperature\"") != NULL) {
            double t = number_after(buf, "\"temperature\":"),
                   v = number_after(buf, "\"vibration\":");
            assert_true(t > 10 && t < 95); /* inside the shipped critical range */
            assert_true(v >= 0 && v < 6);
        } else {
            double spin = number_after(buf, "\"spin\":"), x = number_after(buf, "\"X-Axis\":");
            assert_true(spin >= 0 && spin < 8000);
            assert_true(x >= 0 && x <= 600);
        }
    }
    sim_destroy(s);
}

static int truths[SIM_FAULT__COUNT];
static void count_truth(void *arg, const struct sim_truth *t)
{
    (void)arg;
    assert_true(t->end_ms >= t->start_ms);
    assert_non_null(t->variable);
    truths[t->kind]++;
}

static void faults_show_and_are_reported(void **state)
{
    (void)state;
    memset(truths, 0, sizeof truths);
    struct sim_options o = {.machines = 3, .seed = 11, .fault_rate = 0.02, .truth = count_truth};
    struct sim *s = sim_create(&o);
    char topic[128], buf[1024];
    int impossible = 0;
    for (int i = 0; i < 90000; i++) {
        enum sim_invalid cls;
        sim_next(s, (size_t)i % 3, T0 + i, topic, sizeof topic, buf, sizeof buf, &cls);
        double t = number_after(buf, "\"temperature\":");
        impossible += !isnan(t) && t > 300;
    }
    sim_destroy(s);
    for (int k = 1; k < SIM_FAULT__COUNT; k++) {
        if (truths[k] == 0) {
            fail_msg("no %s fault in 90000 samples", sim_fault_name((enum sim_fault_kind)k));
        }
    }
    assert_true(impossible > 0);
}

/*
 * The shipped config routes the lathes (CNC0000, ...) to cnc_type_a, a machine_tool instance,
 * and the presses to press_line: every valid message is accepted whatever fault runs, and an
 * impossible spindle speed (60000 rpm) is an anomaly of the stored message, not a refusal.
 */
static void shipped_routes_take_every_lathe_with_faults(void **state)
{
    (void)state;
    char err[512];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_config *cfg =
        cnc_config_load(CNC_SOURCE_DIR "/config/cnc_ingest.yaml", err, sizeof err);
    assert_non_null(cfg);
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    assert_non_null(ing);
    struct sim_options o = {.machines = 6, .seed = 11, .fault_rate = 0.02};
    struct sim *s = sim_create(&o);
    char topic[128], buf[1024];
    int lathes = 0, out_of_range = 0, spin_anomalies = 0;
    for (int i = 0; i < 90000; i++) {
        enum sim_invalid cls;
        size_t len = sim_next(s, (size_t)i % 6, T0 + i, topic, sizeof topic, buf, sizeof buf, &cls);
        struct cnc_topic_capture cap;
        assert_true(cnc_ingest_wants(ing, topic, &cap));
        struct cnc_ingest_result res;
        if (cnc_ingest_process(ing, &cap, buf, len, T0 + i, NULL, &res) != 0) {
            fail_msg("%s refused: %s %s", buf, cnc_reject_name(res.rej.code), res.rej.detail);
        }
        const char *want = strncmp(topic, "cnc/CNC", 7) == 0 ? "cnc_type_a" : "press_line";
        if (strcmp(res.instance->name, want) != 0) {
            fail_msg("%s went to %s, not %s", topic, res.instance->name, want);
        }
        if (want[0] == 'c') {
            lathes++;
            double spin = number_after(buf, "\"spin\":");
            out_of_range += spin > 12000;
            for (size_t k = 0; k < res.rec.n_anomalies; k++) {
                spin_anomalies += strcmp(res.rec.anomalies[k].rule, "spindle_range") == 0;
            }
        }
        cnc_ingest_result_release(&res);
    }
    assert_int_equal(lathes, 60000);
    assert_true(out_of_range > 0);                  /* impossible values were sent ... */
    assert_int_equal(spin_anomalies, out_of_range); /* ... and each flagged */
    sim_destroy(s);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

/* The pipelined publisher's packets, byte for byte (MQTT 5 and 3.1.1). */
static void wire_packets_encode(void **state)
{
    (void)state;
    uint8_t b[64];
    static const uint8_t connect5[] = {0x10, 0x0F, 0,  4, 'M', 'Q', 'T', 'T', 5,
                                       0x02, 0,    60, 0, 0,   2,   'i', 'd'};
    assert_int_equal(wire_connect(b, sizeof b, 5, "id", 60), sizeof connect5);
    assert_memory_equal(b, connect5, sizeof connect5);
    static const uint8_t pub311[] = {0x32, 0x09, 0, 3, 'a', '/', 'b', 0x01, 0x02, '{', '}'};
    assert_int_equal(wire_publish(b, sizeof b, 311, 1, 0x0102, "a/b", "{}", 2), sizeof pub311);
    assert_memory_equal(b, pub311, sizeof pub311);
    static const uint8_t pub5q0[] = {0x30, 0x06, 0, 1, 't', 0, 'x', 'y'};
    assert_int_equal(wire_publish(b, sizeof b, 5, 0, 7, "t", "xy", 2), sizeof pub5q0);
    assert_memory_equal(b, pub5q0, sizeof pub5q0);
    /* A 200-byte payload needs a two-byte remaining length. */
    char big[200];
    memset(big, 'x', sizeof big);
    uint8_t out[300];
    size_t n = wire_publish(out, sizeof out, 5, 1, 1, "t", big, sizeof big);
    assert_int_equal(n, 3 + 3 + 2 + 1 + 200);
    assert_int_equal(out[1], (206 % 128) | 0x80);
    assert_int_equal(out[2], 206 / 128);
    assert_int_equal(wire_publish(out, 100, 5, 1, 1, "t", big, sizeof big), 0); /* no room */
}

static void wire_packets_parse(void **state)
{
    (void)state;
    struct wire_packet p;
    static const uint8_t puback5[] = {0x40, 0x03, 0x12, 0x34, 0x87};
    assert_int_equal(wire_parse(puback5, sizeof puback5, 5, &p), 5);
    assert_int_equal(p.type, WIRE_PUBACK);
    assert_int_equal(p.mid, 0x1234);
    assert_int_equal(p.reason, 0x87);
    static const uint8_t puback311[] = {0x40, 0x02, 0x00, 0x09};
    assert_int_equal(wire_parse(puback311, sizeof puback311, 311, &p), 4);
    assert_int_equal(p.mid, 9);
    assert_int_equal(p.reason, 0);
    assert_int_equal(wire_parse(puback5, 3, 5, &p), 0); /* not complete yet */
    assert_int_equal(wire_parse(puback5, 1, 5, &p), 0);
    static const uint8_t connack5[] = {0x20, 0x0B, 0x00, 0x00, 0x08, 0x22, 0x00,
                                       0x0A, 0x21, 0x00, 0x14, 0x24, 0x01};
    assert_int_equal(wire_parse(connack5, sizeof connack5, 5, &p), sizeof connack5);
    assert_int_equal(p.type, WIRE_CONNACK);
    assert_int_equal(p.reason, 0);
    assert_int_equal(p.receive_maximum, 20);
    static const uint8_t refused[] = {0x20, 0x02, 0x00, 0x05};
    assert_int_equal(wire_parse(refused, sizeof refused, 311, &p), 4);
    assert_int_equal(p.reason, 5);
    static const uint8_t bad_length[] = {0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    assert_int_equal(wire_parse(bad_length, sizeof bad_length, 5, &p), -1);
    static const uint8_t short_puback[] = {0x40, 0x01, 0x00};
    assert_int_equal(wire_parse(short_puback, sizeof short_puback, 5, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic),
        cmocka_unit_test(plugin_agrees_with_every_class),
        cmocka_unit_test(timestamps_strictly_increase),
        cmocka_unit_test(physics_in_range),
        cmocka_unit_test(faults_show_and_are_reported),
        cmocka_unit_test(shipped_routes_take_every_lathe_with_faults),
        cmocka_unit_test(wire_packets_encode),
        cmocka_unit_test(wire_packets_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
