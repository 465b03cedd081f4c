/*
 * test_rules.c - anomaly rules (handlers/rules.c): thresholds, the rolling
 * z-score catching a slow drift a fixed threshold misses (and staying quiet
 * on plain noise), the Hampel filter catching spikes on noise, ramps and
 * quantized values where the z-score is still warming up (and letting a
 * lasting step go), stuck values while active, bounded per-machine state,
 * and rule errors with their key and line. Single-threaded.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static struct cnc_registry *reg;

static int teardown(void **state)
{
    (void)state;
    cnc_registry_destroy(reg);
    return 0;
}

static struct cnc_ingest *make(const char *rules_yaml, const char *extra)
{
    char yaml[2048], err[512];
    snprintf(yaml, sizeof yaml,
             "%shandlers:\n  h:\n    type: generic\n    rules:\n%sroutes: [{match: \"*\", handler: "
             "h}]\n",
             extra, rules_yaml);
    struct cnc_ingest *ing = support_ingest(yaml, &reg, err, sizeof err);
    if (ing == NULL) {
        fail_msg("%s", err);
    }
    return ing;
}

/* Runs a payload for cnc_id and returns how many anomalies the named rule raised (0 or 1). */
static int fires(struct cnc_ingest *ing, const char *cnc_id, const char *payload, const char *rule,
                 double *threshold)
{
    char buf[512];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, support_msg(buf, sizeof buf, cnc_id, payload), &res), 0);
    const struct cnc_anomaly *a = support_anomaly(&res.rec, rule);
    if (a != NULL && threshold != NULL) {
        *threshold = a->threshold;
    }
    int n = a != NULL;
    cnc_ingest_result_release(&res);
    return n;
}

static int fires_value(struct cnc_ingest *ing, const char *var, double v, const char *rule)
{
    char payload[128];
    snprintf(payload, sizeof payload, "{\"%s\":%.6f}", var, v);
    return fires(ing, "M1", payload, rule, NULL);
}

static void thresholds(void **state)
{
    (void)state;
    struct cnc_ingest *ing = make("      - {variable: t, above: 90, severity: critical}\n"
                                  "      - {name: cold, variable: t, below: 5}\n"
                                  "      - {name: band, variable: p, outside: [1, 2]}\n",
                                  "");
    double th = 0;
    assert_int_equal(fires(ing, "M1", "{\"t\":90}", "t_above", NULL), 0);
    assert_int_equal(fires(ing, "M1", "{\"t\":90.5}", "t_above", &th), 1);
    assert_true(th == 90);
    assert_int_equal(fires(ing, "M1", "{\"t\":4}", "cold", &th), 1);
    assert_true(th == 5);
    assert_int_equal(fires(ing, "M1", "{\"p\":1}", "band", NULL), 0);
    assert_int_equal(fires(ing, "M1", "{\"p\":2.5}", "band", &th), 1);
    assert_true(th == 2);
    assert_int_equal(fires(ing, "M1", "{\"p\":0.5}", "band", &th), 1);
    assert_true(th == 1);
    /* Missing or non-numeric variables are skipped. */
    assert_int_equal(fires(ing, "M1", "{\"q\":100}", "t_above", NULL), 0);
    assert_int_equal(fires(ing, "M1", "{\"t\":\"hot\"}", "t_above", NULL), 0);

    char buf[256];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, support_msg(buf, sizeof buf, "M1", "{\"t\":99}"), &res), 0);
    assert_int_equal(res.rec.anomalies[0].severity, CNC_SEVERITY_CRITICAL);
    assert_string_equal(res.rec.anomalies[0].variable, "t");
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
}

/* Deterministic Gaussian noise (xorshift64 + Box-Muller). */
static uint64_t rng = 88172645463325252ULL;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform());
}

static void zscore_catches_slow_drift(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: fixed, variable: temperature, above: 85}\n"
             "      - {name: drift, variable: temperature, zscore: {window: 300, smooth: 10, "
             "limit: 6}}\n",
             "");
    int fixed = 0, drift_before = 0, drift_during = 0, first = -1;
    /* 600 steady samples around 70 C (sigma 0.5), then +10 C over 500 samples. */
    for (int i = 0; i < 1100; i++) {
        double base = i < 600 ? 70.0 : 70.0 + 10.0 * (i - 600) / 500.0;
        double t = base + 0.5 * gauss();
        fixed += fires_value(ing, "temperature", t, "fixed");
        int d = fires_value(ing, "temperature", t, "drift");
        if (i < 600) {
            drift_before += d;
        } else {
            drift_during += d;
            if (d && first < 0) {
                first = i - 600;
            }
        }
    }
    assert_int_equal(fixed, 0);        /* the drift never reaches the fixed threshold */
    assert_int_equal(drift_before, 0); /* no false alarm on steady noise */
    assert_true(first >= 0 && first < 150);
    assert_true(drift_during > 300);
    cnc_ingest_destroy(ing);
}

/*
 * A signal with inertia (temperature: each sample moves 2% toward its set point plus 0.3 C of
 * noise) wanders about 1.5 C around its mean, far more than independent samples with the same
 * step noise would. The z-score alone calls that wander a drift; min_deviation (6 C) keeps it
 * quiet, and with a baseline slow enough not to follow the drift (window 1000) it still catches
 * +15 C over 400 samples.
 */
static void zscore_min_deviation_on_a_signal_with_inertia(void **state)
{
    (void)state;
    /* Two broker pipelines, each with one rule, fed the same samples once each. */
    struct cnc_ingest *plain_ing = make(
        "      - {name: z, variable: temperature, zscore: {window: 300, smooth: 10, limit: 6}}\n",
        "");
    struct cnc_ingest *floor_ing = make(
        "      - {name: z, variable: temperature, zscore: {window: 1000, smooth: 10, limit: 6, "
        "min_deviation: 6}}\n",
        "");
    int plain = 0, floor_before = 0, first = -1;
    double t = 72.0;
    for (int i = 0; i < 6400; i++) {
        double drift = i < 6000 ? 0.0 : 15.0 * (i - 6000) / 400.0;
        t += (72.0 - t) * 0.02 + 0.3 * gauss();
        double x = t + drift;
        int p = fires_value(plain_ing, "temperature", x, "z");
        int f = fires_value(floor_ing, "temperature", x, "z");
        if (i < 6000) {
            plain += p;
            floor_before += f;
        } else if (f && first < 0) {
            first = i - 6000;
        }
    }
    assert_true(plain > 0);            /* the wander alone trips the plain z-score */
    assert_int_equal(floor_before, 0); /* not with the floor */
    assert_true(first >= 0 && first < 250);
    cnc_ingest_destroy(plain_ing);
    cnc_ingest_destroy(floor_ing);
}

static void zscore_quiet_on_noise_and_spike(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: z, variable: v, zscore: {window: 100, limit: 6}}\n", "");
    int alarms = 0;
    for (int i = 0; i < 5000; i++) {
        alarms += fires_value(ing, "v", 2.0 + 0.1 * gauss(), "z");
    }
    assert_int_equal(alarms, 0);
    /* A sudden spike is caught at once, and the baseline does not learn it. */
    assert_int_equal(fires_value(ing, "v", 4.0, "z"), 1);
    assert_int_equal(fires_value(ing, "v", 4.0, "z"), 1);
    assert_int_equal(fires_value(ing, "v", 2.0, "z"), 0);
    /* Machines have separate state: a new machine is still warming up. */
    assert_int_equal(fires(ing, "M2", "{\"v\":40}", "z", NULL), 0);
    cnc_ingest_destroy(ing);
}

static void zscore_readapts_after_window(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: z, variable: v, zscore: {window: 50, limit: 6}}\n", "");
    for (int i = 0; i < 500; i++) {
        fires_value(ing, "v", 10.0 + 0.1 * gauss(), "z");
    }
    /* A permanent level shift is flagged for about a window, then becomes the new normal. */
    int flagged = 0;
    for (int i = 0; i < 400; i++) {
        flagged += fires_value(ing, "v", 20.0 + 0.1 * gauss(), "z");
    }
    assert_true(flagged >= 50 && flagged < 400);
    assert_int_equal(fires_value(ing, "v", 20.0, "z"), 0);
    cnc_ingest_destroy(ing);
}

static void zscore_only_while_active(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: z, variable: temperature, zscore: {window: 50, limit: 6}}\n", "");
    char payload[128];
    for (int i = 0; i < 200; i++) {
        snprintf(payload, sizeof payload, "{\"mode\":\"active\",\"temperature\":%.3f}",
                 70 + 0.2 * gauss());
        assert_int_equal(fires(ing, "M1", payload, "z", NULL), 0);
    }
    /* Idle at another level: not evaluated, no flag. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fires(ing, "M1", "{\"mode\":\"idle\",\"temperature\":40}", "z", NULL), 0);
    }
    /* Active again at a new level: the baseline was reset, it warms up instead of alarming. */
    for (int i = 0; i < 40; i++) {
        snprintf(payload, sizeof payload, "{\"mode\":\"active\",\"temperature\":%.3f}",
                 55 + 0.2 * gauss());
        assert_int_equal(fires(ing, "M1", payload, "z", NULL), 0);
    }
    cnc_ingest_destroy(ing);
}

/* One sample through the pipeline; bit k of the result: rules[k] fired (its threshold in th[k]). */
static unsigned sample(struct cnc_ingest *ing, const char *cnc_id, const char *payload,
                       const char *const *rules, double *th)
{
    char buf[512];
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, support_msg(buf, sizeof buf, cnc_id, payload), &res), 0);
    unsigned bits = 0;
    for (unsigned k = 0; rules[k] != NULL; k++) {
        const struct cnc_anomaly *a = support_anomaly(&res.rec, rules[k]);
        if (a != NULL) {
            bits |= 1u << k;
            if (th != NULL) {
                th[k] = a->threshold;
            }
        }
    }
    cnc_ingest_result_release(&res);
    return bits;
}

static unsigned sample_value(struct cnc_ingest *ing, const char *var, double v,
                             const char *const *rules)
{
    char payload[128];
    snprintf(payload, sizeof payload, "{\"%s\":%.6f}", var, v);
    return sample(ing, "M1", payload, rules, NULL);
}

/*
 * Spikes of 10 sigma on noisy data: the Hampel filter (limit 5) flags every one, from the fifth
 * sample on, and nothing else; the z-score beside it is still warming up for the first ones (as
 * after every mode change of a machine), and its smoothing takes a one-sample spike down to 3.3
 * sigma of the smoothed value, under its limit of 6.
 */
static void hampel_flags_spikes_on_noise(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: h, variable: t, hampel: {window: 15, limit: 5, warmup: 5}}\n"
             "      - {name: z, variable: t, zscore: {window: 300, smooth: 10, limit: 6}}\n",
             "");
    static const char *const rules[] = {"h", "z", NULL};
    int spikes = 0, h_spikes = 0, z_spikes = 0, h_other = 0;
    for (int i = 0; i < 6000; i++) {
        bool spike = i % 150 == 20;
        double x = 70.0 + 0.5 * gauss() + (spike ? 5.0 : 0.0);
        unsigned f = sample_value(ing, "t", x, rules);
        if (spike) {
            spikes++;
            h_spikes += (f & 1) != 0;
            z_spikes += (f & 2) != 0;
        } else {
            h_other += (f & 1) != 0;
        }
    }
    assert_int_equal(h_spikes, spikes);
    assert_int_equal(h_other, 0);
    assert_true(z_spikes < spikes / 2);
    cnc_ingest_destroy(ing);
}

/* A lasting step is flagged until it is most of the window (at most window/2 + 1 samples). */
static void hampel_step_is_not_flagged_forever(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: h, variable: v, hampel: {window: 21, limit: 4}}\n", "");
    static const char *const rules[] = {"h", NULL};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(sample_value(ing, "v", 10.0 + 0.1 * gauss(), rules), 0);
    }
    int flagged = 0, last = -1;
    for (int i = 0; i < 300; i++) {
        if (sample_value(ing, "v", 20.0 + 0.1 * gauss(), rules)) {
            flagged++;
            last = i;
        }
    }
    assert_true(flagged >= 5);
    assert_true(last >= 0 && last <= 11);
    assert_int_equal(flagged, last + 1); /* one run from the step on, then quiet */
    cnc_ingest_destroy(ing);
}

/*
 * Ramps are not spikes: a linear rise of 0.4 per sample with 0.3 of noise, and an exponential
 * approach to a set point (a spindle running up, 20% of the way per sample), flag nothing; a
 * spike of 3000 on the settled spindle and +8 on the ramp are flagged. min_deviation keeps a
 * 20 rpm wobble of a spindle with 3 rpm of noise quiet, which 4 robust sigmas flag (on a spindle
 * settled from the start: a run-up raises the long-run sigma for some ten windows).
 */
static void hampel_ramps_and_min_deviation(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: h, variable: t, hampel: {window: 15, limit: 4, warmup: 5}}\n"
             "      - {name: s, variable: spin, hampel: {window: 15, limit: 4, warmup: 5, "
             "min_deviation: 1000}}\n"
             "      - {name: bare, variable: spin, hampel: {window: 15, limit: 4, warmup: 5}}\n",
             "");
    static const char *const t_rules[] = {"h", NULL}, *const s_rules[] = {"s", "bare", NULL};
    for (int i = 0; i < 60; i++) {
        assert_int_equal(sample_value(ing, "t", 40.0 + 0.4 * i + 0.3 * gauss(), t_rules), 0);
    }
    assert_int_equal(sample_value(ing, "t", 40.0 + 0.4 * 60 + 8.0, t_rules), 1);
    double spin = 0;
    for (int i = 0; i < 100; i++) {
        spin += (6500.0 - spin) * 0.2;
        double x = round(spin + 3.0 * gauss());
        assert_int_equal(sample_value(ing, "spin", x, s_rules), 0);
    }
    assert_int_equal(sample_value(ing, "spin", 9500, s_rules), 3);
    assert_int_equal(sample_value(ing, "spin", 6500, s_rules), 0);
    char payload[64];
    for (int i = 0; i < 300; i++) {
        snprintf(payload, sizeof payload, "{\"spin\":%.0f}", round(6500.0 + 3.0 * gauss()));
        assert_int_equal(sample(ing, "M2", payload, s_rules, NULL), 0);
    }
    assert_int_equal(sample(ing, "M2", "{\"spin\":6520}", s_rules, NULL), 2); /* only bare */
    cnc_ingest_destroy(ing);
}

/*
 * A value mostly the same (quantized: more than half the window alike, MAD 0) is judged by
 * its mean absolute deviation instead: one step of the quantum is noise, ten are not. A
 * window of one value alone flags any change.
 */
static void hampel_quantized_values(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: h, variable: v, hampel: {window: 15, limit: 4}}\n", "");
    static const char *const rules[] = {"h", NULL};
    static const double pattern[] = {100, 100, 101, 100, 100, 99, 100, 100, 100, 100};
    for (int i = 0; i < 40; i++) {
        assert_int_equal(sample_value(ing, "v", pattern[i % 10], rules), 0);
    }
    assert_int_equal(sample_value(ing, "v", 110, rules), 1);
    cnc_ingest_destroy(ing);
    ing = make("      - {name: h, variable: v, hampel: {window: 5}}\n", "");
    for (int i = 0; i < 10; i++) {
        assert_int_equal(sample_value(ing, "v", 7, rules), 0);
    }
    assert_int_equal(sample_value(ing, "v", 7.5, rules), 1);
    cnc_ingest_destroy(ing);
}

/*
 * The window kept in order as values come and go (duplicates among them), for machines
 * interleaved, beside stateful rules of other kinds in the same row: every threshold reported
 * is the brute-force median +- limit * 1.4826 * MAD of the machine's last `window` values.
 */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : v[n / 2 - 1] / 2 + v[n / 2] / 2;
}

static void hampel_matches_brute_force(void **state)
{
    (void)state;
    enum { W = 8, MACHINES = 3 };
    struct cnc_ingest *ing =
        make("      - {name: z, variable: v, zscore: {window: 20}}\n"
             "      - {name: h, variable: v, hampel: {window: 8, limit: 0.5, warmup: 3}}\n"
             "      - {name: s, variable: v, stuck: {samples: 3}}\n",
             "");
    static const char *const rules[] = {"h", "s", NULL};
    double hist[MACHINES][W], scale[MACHINES] = {0};
    int n[MACHINES] = {0}, judged[MACHINES] = {0}, flags = 0;
    for (int i = 0; i < 3000; i++) {
        int m = (int)(uniform() * MACHINES);
        char id[8], payload[64];
        snprintf(id, sizeof id, "M%d", m);
        /* Few distinct values: many duplicates in a window; stuck on a run of three alike. */
        double x = i % 97 < 40 ? 5.0 : floor(uniform() * 6.0) + (uniform() < 0.05 ? 40.0 : 0.0);
        snprintf(payload, sizeof payload, "{\"v\":%.1f}", x);
        double th[2] = {0, 0};
        unsigned f = sample(ing, id, payload, rules, th);
        int k = n[m] < W ? n[m] : W;
        if (k >= 3) {
            double v[W], d[W];
            memcpy(v, hist[m], sizeof v);
            double med = median_of(v, k);
            for (int j = 0; j < k; j++) {
                d[j] = fabs(hist[m][j] - med);
            }
            double sigma = 1.4826 * median_of(d, k);
            if (sigma == 0) {
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    sum += d[j];
                }
                sigma = 1.2533 * sum / k;
            }
            /* At least the long-run mean of the window's sigma (over the last ~10 windows). */
            judged[m]++;
            double a = 1.0 / judged[m], a_min = 0.1 / W;
            scale[m] += (a > a_min ? a : a_min) * (sigma - scale[m]);
            sigma = sigma > scale[m] ? sigma : scale[m];
            double band = 0.5 * sigma;
            bool out = band > 0 ? fabs(x - med) > band : x != med;
            assert_int_equal((f & 1) != 0, out);
            if (out) {
                flags++;
                assert_true(fabs(th[0] - (x > med ? med + band : med - band)) < 1e-9);
            }
        } else {
            assert_int_equal(f & 1, 0); /* warming up */
        }
        hist[m][n[m] % W] = x;
        n[m]++;
    }
    assert_true(flags > 300);
    cnc_ingest_destroy(ing);
}

/* Judged while the machine works only: another mode starts the window afresh. */
static void hampel_only_while_active(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: h, variable: vibration, hampel: {window: 9, warmup: 5}}\n", "");
    static const char *const rules[] = {"h", NULL};
    char payload[128];
    for (int i = 0; i < 50; i++) {
        snprintf(payload, sizeof payload, "{\"mode\":\"active\",\"vibration\":%.3f}",
                 1.5 + 0.04 * gauss());
        assert_int_equal(sample(ing, "M1", payload, rules, NULL), 0);
    }
    /* Idle at another level: not judged, and the active window is gone. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sample(ing, "M1", "{\"mode\":\"idle\",\"vibration\":0.3}", rules, NULL),
                         0);
    }
    /* Active again at yet another level: four samples are under the warmup of five. */
    for (int i = 0; i < 4; i++) {
        snprintf(payload, sizeof payload, "{\"mode\":\"active\",\"vibration\":%.3f}",
                 2.5 + 0.04 * gauss());
        assert_int_equal(sample(ing, "M1", payload, rules, NULL), 0);
    }
    assert_int_equal(sample(ing, "M1", "{\"mode\":\"active\",\"vibration\":2.5}", rules, NULL), 0);
    assert_int_equal(sample(ing, "M1", "{\"mode\":\"active\",\"vibration\":5.5}", rules, NULL), 1);
    cnc_ingest_destroy(ing);
}

static void stuck_while_active(void **state)
{
    (void)state;
    struct cnc_ingest *ing =
        make("      - {name: stuck, variable: vibration, stuck: {samples: 5}}\n"
             "      - {name: spin_stuck, variable: spin, stuck: {samples: 3}, "
             "active_when: {variable: state, in: [cutting, drilling]}}\n",
             "");
    const char *active = "{\"mode\":\"active\",\"vibration\":1.5}";
    const char *idle = "{\"mode\":\"idle\",\"vibration\":1.5}";
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(fires(ing, "M1", active, "stuck", NULL), 0);
    }
    double th;
    assert_int_equal(fires(ing, "M1", active, "stuck", &th), 1);
    assert_true(th == 5);
    assert_int_equal(fires(ing, "M1", active, "stuck", NULL), 1);
    /* Idle resets the count: a parked machine's sensor may rightly not move. */
    assert_int_equal(fires(ing, "M1", idle, "stuck", NULL), 0);
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(fires(ing, "M1", active, "stuck", NULL), 0);
    }
    /* A changing value never sticks. */
    assert_int_equal(fires(ing, "M1", "{\"mode\":\"active\",\"vibration\":1.6}", "stuck", NULL), 0);
    /* active_when with a custom variable. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            fires(ing, "M2", "{\"state\":\"cutting\",\"spin\":800}", "spin_stuck", NULL), 0);
    }
    assert_int_equal(fires(ing, "M2", "{\"state\":\"drilling\",\"spin\":800}", "spin_stuck", NULL),
                     1);
    assert_int_equal(fires(ing, "M2", "{\"state\":\"parked\",\"spin\":800}", "spin_stuck", NULL),
                     0);
    cnc_ingest_destroy(ing);
}

static void state_is_bounded(void **state)
{
    (void)state;
    struct cnc_ingest *ing = make("      - {name: stuck, variable: v, stuck: {samples: 2}}\n"
                                  "      - {name: high, variable: v, above: 10}\n",
                                  "ingest: {max_tracked_machines: 3}\n");
    const struct cnc_rule_set *rs = cnc_route_table_instance(cnc_ingest_routes(ing), 0)->rules;
    /* A, B, C fill the three rows; the stateless rule applies to every machine throughout. */
    assert_int_equal(fires(ing, "A", "{\"v\":20}", "high", NULL), 1);
    assert_int_equal(fires(ing, "B", "{\"v\":20}", "stuck", NULL), 0);
    assert_int_equal(fires(ing, "C", "{\"v\":20}", "stuck", NULL), 0);
    /* D is new: A, seen least recently, gives up its row (it used to be D left without state
       for good, as every machine after the bound: a flood of forged ids silenced the rest). */
    assert_int_equal(fires(ing, "D", "{\"v\":20}", "stuck", NULL), 0);
    assert_int_equal(cnc_rules_evicted(rs), 1);
    assert_int_equal(fires(ing, "D", "{\"v\":20}", "stuck", NULL), 1); /* D is tracked */
    /* B is touched, so C is now the oldest: A's return evicts C, and A starts afresh. */
    assert_int_equal(fires(ing, "B", "{\"v\":20}", "stuck", NULL), 1);
    assert_int_equal(fires(ing, "A", "{\"v\":20}", "stuck", NULL), 0);
    assert_int_equal(cnc_rules_evicted(rs), 2);
    assert_int_equal(fires(ing, "B", "{\"v\":20}", "stuck", NULL), 1); /* B kept its count */
    assert_int_equal(fires(ing, "C", "{\"v\":20}", "stuck", NULL), 0); /* C was evicted */
    assert_int_equal(cnc_rules_tracked_machines(rs), 3);
    assert_int_equal(cnc_rules_evicted(rs), 3);
    assert_int_equal(cnc_rules_untracked(rs), 0);
    cnc_ingest_destroy(ing);

    /* A flood of new ids past the bound: the table stays at the bound, every id is found. */
    ing = make("      - {name: stuck, variable: v, stuck: {samples: 2}}\n",
               "ingest: {max_tracked_machines: 100}\n");
    rs = cnc_route_table_instance(cnc_ingest_routes(ing), 0)->rules;
    char flood[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(flood, sizeof flood, "F%d", i);
        assert_int_equal(fires(ing, flood, "{\"v\":1}", "stuck", NULL), 0);
        /* The 100 most recent are all still tracked (deletions kept the probe chains whole). */
        if (i % 997 == 0 && i >= 100) {
            for (int k = i - 99; k <= i; k += 33) {
                snprintf(flood, sizeof flood, "F%d", k);
                assert_int_equal(fires(ing, flood, "{\"v\":1}", "stuck", NULL), 1);
            }
        }
    }
    assert_int_equal(cnc_rules_tracked_machines(rs), 100);
    assert_true(cnc_rules_evicted(rs) >= 19900);
    cnc_ingest_destroy(ing);

    /* Many machines: the table grows and keeps each one apart. */
    ing = make("      - {name: stuck, variable: v, stuck: {samples: 2}}\n", "");
    char id[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(id, sizeof id, "M%d", i);
            char payload[32];
            snprintf(payload, sizeof payload, "{\"v\":%d}", i);
            assert_int_equal(fires(ing, id, payload, "stuck", NULL), round);
        }
    }
    cnc_ingest_destroy(ing);
}

static void expect_rule_error(const char *rules_yaml, const char *expected)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "handlers:\n  h:\n    type: generic\n    rules:\n%sroutes: [{match: X, handler: h}]\n",
             rules_yaml);
    support_expect_error(&reg, yaml, expected);
}

static void rule_errors(void **state)
{
    (void)state;
    expect_rule_error("      - {variable: t}\n",
                      "t.yaml:5: handlers.h.rules[0]: needs exactly one");
    expect_rule_error("      - {variable: t, above: 1, below: 0}\n", "needs exactly one");
    expect_rule_error("      - {variable: t, above: 1}\n      - {variable: t, above: hot}\n",
                      "t.yaml:6: handlers.h.rules[1].above: must be a number");
    expect_rule_error("      - {variable: t, abvoe: 1}\n",
                      "handlers.h.rules[0].abvoe: unknown key");
    expect_rule_error("      - {above: 1}\n", "handlers.h.rules[0].variable: must name");
    expect_rule_error("      - {variable: t, above: 1, severity: dire}\n",
                      "rules[0].severity: must be info, warning or critical");
    expect_rule_error("      - {variable: t, outside: [3, 1]}\n",
                      "rules[0].outside: must be [low, high]");
    expect_rule_error("      - {variable: t, zscore: {window: 1}}\n",
                      "rules[0].zscore.window: must be from 2");
    expect_rule_error("      - {variable: t, zscore: {windows: 10}}\n",
                      "rules[0].zscore.windows: unknown key");
    expect_rule_error("      - {variable: t, hampel: {window: 2}}\n",
                      "t.yaml:5: handlers.h.rules[0].hampel.window: must be a whole number from 3 "
                      "to 63 samples");
    expect_rule_error("      - {variable: t, hampel: {window: 64}}\n",
                      "rules[0].hampel.window: must be a whole number from 3 to 63");
    expect_rule_error("      - {variable: t, hampel: {window: 7.5}}\n",
                      "rules[0].hampel.window: must be a whole number");
    expect_rule_error("      - {variable: t, hampel: {window: 7, warmup: 8}}\n",
                      "rules[0].hampel.warmup: must be a whole number from 3 to window");
    expect_rule_error("      - {variable: t, hampel: {warmup: 2}}\n",
                      "rules[0].hampel.warmup: must be a whole number from 3 to window");
    expect_rule_error("      - {variable: t, hampel: {limit: -1}}\n",
                      "rules[0].hampel.limit: must be a positive number");
    expect_rule_error("      - {variable: t, hampel: {min_deviation: x}}\n",
                      "rules[0].hampel.min_deviation: must be a positive number");
    expect_rule_error("      - {variable: t, hampel: {median: 3}}\n",
                      "rules[0].hampel.median: unknown key (known: window, limit, min_deviation, "
                      "warmup)");
    expect_rule_error("      - {variable: t, hampel: 15}\n", "rules[0].hampel: must be a mapping");
    expect_rule_error("      - {variable: t, hampel: {}, zscore: {}}\n", "needs exactly one");
    expect_rule_error("      - {variable: t, stuck: {samples: 1.5}}\n",
                      "rules[0].stuck.samples: must be a whole number");
    expect_rule_error("      - {variable: t, above: 1, active_when: {variable: m, in: [a]}}\n",
                      "rules[0].active_when: only applies to zscore, hampel and stuck rules");
    expect_rule_error("      - {variable: t, stuck: {}, active_when: {variable: m}}\n",
                      "rules[0].active_when: must be {variable: NAME, in: [VALUE, ...]}");
    /* Names must fit the database's columns and key a stored anomaly once per message. */
    expect_rule_error("      - {variable: "
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, zscore: {}}\n",
                      "rules[0].name: the default <variable>_<kind> is over 64 bytes");
    expect_rule_error(
        "      - {variable: t, name: "
        "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn, above: 1}\n",
        "rules[0].name: at most 64 bytes");
    expect_rule_error("      - {variable: t, name: hot, above: 1}\n"
                      "      - {variable: t, name: hot, above: 2}\n",
                      "rules[1].name: \"hot\" on t is already rules[0]'s name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thresholds),
        cmocka_unit_test(zscore_catches_slow_drift),
        cmocka_unit_test(zscore_quiet_on_noise_and_spike),
        cmocka_unit_test(zscore_min_deviation_on_a_signal_with_inertia),
        cmocka_unit_test(zscore_readapts_after_window),
        cmocka_unit_test(zscore_only_while_active),
        cmocka_unit_test(hampel_flags_spikes_on_noise),
        cmocka_unit_test(hampel_step_is_not_flagged_forever),
        cmocka_unit_test(hampel_ramps_and_min_deviation),
        cmocka_unit_test(hampel_quantized_values),
        cmocka_unit_test(hampel_matches_brute_force),
        cmocka_unit_test(hampel_only_while_active),
        cmocka_unit_test(stuck_while_active),
        cmocka_unit_test(state_is_bounded),
        cmocka_unit_test(rule_errors),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
