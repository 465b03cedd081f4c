/*
 * bench_ingest.c - micro-benchmark of the broker-thread work per message:
 * topic match + envelope validation + routing + handler (+ rules), and
 * optionally the analytics JSON, on sample messages spread over N machines.
 *
 *   bench_ingest [--machines N] [--iterations K] [--generic] [--analytics] [--identity]
 *                [--script cnc_type_a|cnc_type_b] [--lathe cnc_type_a|cnc_type_b]
 *                SAMPLES.jsonl...
 *   bench_ingest --rule-cost [--only SET] [--machines N] [--iterations K]
 *
 * Each sample line is replayed with its cnc_id replaced by one of N machine
 * ids (round robin), so routing looks up N exact ids and the rules keep
 * state for N machines, as in a plant. Lines whose cnc_id starts with
 * "PRESS" go to a sensor_efficiency instance, the others to machine_tool,
 * both with the shipped config's kinds of rules; --generic routes all to
 * the generic handler without rules. --identity adds an identity table of
 * one exact publisher per machine (user name = cnc_id, cnc_ids ["%u"], as a
 * plant with a collector per machine) and measures the pipeline with the
 * publisher checked beside the same pipeline without, round by round.
 * --script NAME makes the lathe instance the shipped config's NAME
 * (machine_tool) and measures, round by round beside it, the same pipeline
 * with that instance replaced by handlers/scripts/NAME.lua (type lua), the
 * rules alike: what a handler script costs over the C handler it replaces.
 * --lathe NAME makes the lathe instance the shipped config's NAME without
 * the script beside it (for instruction counts: the script's share is the
 * --script run minus twice this one).
 *
 * --rule-cost measures the rules alone (cnc_rules_apply, handlers/rules.c)
 * on a press's payload whose temperature and vibration change every message
 * (70 +- 0.5, 1.2 +- 0.04, as cnc-sim's), machines in turn: one rule of each
 * kind, and the shipped press_line rules before and after issue #17, round
 * by round in one process, beside a set without rules (what the loop itself
 * costs); --only SET runs one set (for instruction counts).
 *
 * Single-threaded. Not a test: it asserts nothing about time. Prints the
 * median of five rounds per sample.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ingest.h"
#include "registry.h"
#include "rules.h"

#define OTHER_TOPIC_ITERATIONS 2000000L

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *default_lathe =
    "    type: machine_tool\n"
    "    params: {required: [status, spin], spindle: [0, 12000], axes: {X-Axis: [0, 600], "
    "Y-Axis: [0, 400], Z-Axis: [-50, 300]}}\n";

/* The shipped config's instances (config/cnc_ingest.yaml) and the scripts that replace them. */
static const struct {
    const char *name, *machine_tool;
} seed_instances[] = {
    {"cnc_type_a",
     "    type: machine_tool\n"
     "    params: {statuses: [running, idle, stopped, setup, alarm, maintenance], required: "
     "[status, spin], spindle: [0, 12000], axes: {X-Axis: [0, 600], Y-Axis: [0, 400]}}\n"},
    {"cnc_type_b",
     "    type: machine_tool\n"
     "    params: {required: [status], spindle: [0, 8000], axes: {X-Axis: [0, 800], Y-Axis: [0, "
     "500], Z-Axis: [-50, 300]}}\n"},
};

static const char *handlers_yaml =
    "    rules:\n"
    "      - {name: spindle_overspeed, variable: spin, above: 10000}\n"
    "      - {name: spindle_drift, variable: spin, zscore: {window: 200, smooth: 5, limit: 6}}\n"
    "  press:\n"
    "    type: sensor_efficiency\n"
    "    rules:\n"
    "      - {name: temperature_high, variable: temperature, above: 90}\n"
    "      - {name: temperature_drift, variable: temperature, zscore: {window: 300, smooth: 10, "
    "limit: 6}}\n"
    "      - {name: vibration_drift, variable: vibration, zscore: {window: 300, smooth: 10, "
    "limit: 6}}\n"
    "      - {name: vibration_stuck, variable: vibration, stuck: {samples: 30}}\n"
    "  any: {type: generic}\n";

/* --rule-cost: rule sets measured side by side (JSON, as the config loader hands them over). */
static const struct {
    const char *name, *rules;
} rule_sets[] = {
    {"none", "[]"},
    {"above", "[{\"variable\":\"temperature\",\"above\":90}]"},
    {"zscore", "[{\"variable\":\"temperature\",\"zscore\":{\"window\":1000,\"smooth\":10,"
               "\"limit\":6,\"warmup\":200,\"min_deviation\":6}}]"},
    {"stuck", "[{\"variable\":\"temperature\",\"stuck\":{\"samples\":30}}]"},
    {"hampel15", "[{\"variable\":\"temperature\",\"hampel\":{\"window\":15,\"limit\":4,"
                 "\"warmup\":5,\"min_deviation\":8}}]"},
    {"hampel63", "[{\"variable\":\"temperature\",\"hampel\":{\"window\":63,\"limit\":4,"
                 "\"warmup\":5,\"min_deviation\":8}}]"},
    /* config/cnc_ingest.yaml's press_line before issue #17, and with its two Hampel rules. */
    {"press_before",
     "[{\"name\":\"temperature_high\",\"variable\":\"temperature\",\"above\":90},"
     "{\"name\":\"temperature_drift\",\"variable\":\"temperature\",\"zscore\":{\"window\":"
     "1000,\"smooth\":10,\"limit\":6,\"warmup\":200,\"min_deviation\":6}},"
     "{\"name\":\"vibration_drift\",\"variable\":\"vibration\",\"zscore\":{\"window\":300,"
     "\"smooth\":10,\"limit\":10,\"warmup\":30}},"
     "{\"name\":\"temperature_stuck\",\"variable\":\"temperature\",\"stuck\":{\"samples\":30}},"
     "{\"name\":\"vibration_stuck\",\"variable\":\"vibration\",\"stuck\":{\"samples\":30}}]"},
    {"press_now",
     "[{\"name\":\"temperature_high\",\"variable\":\"temperature\",\"above\":90},"
     "{\"name\":\"temperature_drift\",\"variable\":\"temperature\",\"zscore\":{\"window\":"
     "1000,\"smooth\":10,\"limit\":6,\"warmup\":200,\"min_deviation\":6}},"
     "{\"name\":\"vibration_drift\",\"variable\":\"vibration\",\"zscore\":{\"window\":300,"
     "\"smooth\":10,\"limit\":10,\"warmup\":30}},"
     "{\"name\":\"temperature_spike\",\"variable\":\"temperature\",\"hampel\":{\"window\":15,"
     "\"limit\":3,\"warmup\":5,\"min_deviation\":8}},"
     "{\"name\":\"vibration_spike\",\"variable\":\"vibration\",\"hampel\":{\"window\":15,"
     "\"limit\":3,\"warmup\":5,\"min_deviation\":1}},"
     "{\"name\":\"temperature_stuck\",\"variable\":\"temperature\",\"stuck\":{\"samples\":30}},"
     "{\"name\":\"vibration_stuck\",\"variable\":\"vibration\",\"stuck\":{\"samples\":30}}]"},
};
#define N_RULE_SETS (sizeof rule_sets / sizeof rule_sets[0])

static double noise(uint64_t *rng)
{
    /* Sum of four uniforms: close enough to normal for a benchmark's values, and cheap. */
    double sum = 0;
    for (int k = 0; k < 4; k++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        sum += (double)(*rng >> 11) / 9007199254740992.0;
    }
    return (sum - 2.0) * 1.7320508;
}

/* --rule-cost: ns per message of each rule set (only: one set), medians of five rounds. */
static int rule_cost(long machines, long iterations, const char *only)
{
    char err[256];
    struct cnc_rule_set *sets[N_RULE_SETS] = {0};
    int n_run = 0;
    for (size_t k = 0; k < N_RULE_SETS; k++) {
        if (only != NULL && strcmp(only, rule_sets[k].name) != 0) {
            continue;
        }
        cJSON *rules = cJSON_Parse(rule_sets[k].rules);
        sets[k] = cnc_rules_create(rules, (size_t)machines, err, sizeof err);
        cJSON_Delete(rules);
        if (sets[k] == NULL) {
            fprintf(stderr, "%s: %s\n", rule_sets[k].name, err);
            return 1;
        }
        n_run++;
    }
    if (n_run == 0) {
        fprintf(stderr, "--only: no rule set of that name\n");
        return 2;
    }
    char(*ids)[24] = calloc((size_t)machines, sizeof *ids);
    cJSON *payload = cJSON_Parse("{\"mode\":\"active\",\"temperature\":70,\"vibration\":1.2}");
    cJSON *temperature = cJSON_GetObjectItemCaseSensitive(payload, "temperature");
    cJSON *vibration = cJSON_GetObjectItemCaseSensitive(payload, "vibration");
    if (ids == NULL || payload == NULL) {
        return 1;
    }
    for (long i = 0; i < machines; i++) {
        snprintf(ids[i], sizeof ids[i], "P%05ld", i);
    }
    struct cnc_anomaly anomalies[32];
    struct cnc_record rec = {.anomalies = anomalies, .max_anomalies = 32};
    struct cnc_message msg = {.part_program = "P-1", .payload = payload};
    double rounds[N_RULE_SETS][5];
    uint64_t flagged[N_RULE_SETS] = {0};
    printf("machines=%ld, iterations=%ld, rules alone (cnc_rules_apply), temperature 70 +- 0.5, "
           "vibration 1.2 +- 0.04\n",
           machines, iterations);
    for (int r = 0; r < 5; r++) {
        for (size_t k = 0; k < N_RULE_SETS; k++) {
            if (sets[k] == NULL) {
                continue;
            }
            uint64_t rng = 42; /* every set sees the same values */
            double t0 = now_s();
            for (long i = 0; i < iterations / 5; i++) {
                msg.cnc_id = ids[i % machines];
                msg.ts_ms = i;
                temperature->valuedouble = 70.0 + 0.5 * noise(&rng);
                vibration->valuedouble = 1.2 + 0.04 * noise(&rng);
                rec.n_anomalies = 0;
                cnc_rules_apply(sets[k], &msg, &rec);
                flagged[k] += rec.n_anomalies;
            }
            rounds[k][r] = (now_s() - t0) * 1e9 / (double)(iterations / 5);
        }
    }
    double base = 0;
    for (size_t k = 0; k < N_RULE_SETS; k++) {
        if (sets[k] == NULL) {
            continue;
        }
        qsort(rounds[k], 5, sizeof rounds[k][0], cmp_double);
        if (k == 0) {
            base = rounds[k][2];
        }
        printf("%8.1f ns/msg median (min %6.1f)  %-12s %s  %8.1f ns over none%s\n", rounds[k][2],
               rounds[k][0], rule_sets[k].name, k == 0 ? "(the loop: ids, values, record)" : "",
               rounds[k][2] - base, flagged[k] ? "  (some flagged)" : "");
        cnc_rules_destroy(sets[k]);
    }
    cJSON_Delete(payload);
    free(ids);
    return 0;
}

/*
 * N exact routes per kind: L00000.. to the lathe instance (type and params from `lathe`),
 * P00000.. to the press instance.
 */
static char *make_config(long machines, int generic, int identity, const char *lathe)
{
    size_t cap = (size_t)machines * (identity ? 192 : 96) + 8192;
    char *y = malloc(cap);
    if (y == NULL) {
        return NULL;
    }
    size_t n = (size_t)snprintf(y, cap,
                                "ingest: {topics: [\"cnc/+/data\"]}\nhandlers:\n  lathe:\n%s%s"
                                "routes:\n",
                                lathe, handlers_yaml);
    for (long i = 0; i < machines; i++) {
        n += (size_t)snprintf(
            y + n, cap - n, "  - {match: L%05ld, handler: %s}\n  - {match: P%05ld, handler: %s}\n",
            i, generic ? "any" : "lathe", i, generic ? "any" : "press");
    }
    n += (size_t)snprintf(y + n, cap - n, "  - {match: \"*\", handler: any}\n");
    if (identity) {
        n += (size_t)snprintf(y + n, cap - n, "identity:\n  by: username\n  publishers:\n");
        for (long i = 0; i < machines; i++) {
            n += (size_t)snprintf(y + n, cap - n,
                                  "    - {match: L%05ld, cnc_ids: [\"%%u\"]}\n"
                                  "    - {match: P%05ld, cnc_ids: [\"%%u\"]}\n",
                                  i, i);
        }
    }
    return y;
}

static struct cnc_ingest *build(long machines, int generic, int identity, const char *lathe,
                                const struct cnc_registry *reg)
{
    char err[1024];
    char *yaml = make_config(machines, generic, identity, lathe);
    struct cnc_config *cfg =
        yaml ? cnc_config_load_buffer("bench", yaml, strlen(yaml), err, sizeof err) : NULL;
    free(yaml);
    struct cnc_ingest *ing =
        cfg != NULL && reg != NULL ? cnc_ingest_create(cfg, reg, NULL, err, sizeof err) : NULL;
    if (ing == NULL) {
        fprintf(stderr, "%s\n", err);
    }
    return ing;
}

struct variant {
    char *text;
    size_t len;
    char topic[64];
    char id[24]; /* also the publisher's user name and client id */
};

/* The line with its cnc_id replaced by PREFIX%05d for i in 0..machines-1. */
static struct variant *make_variants(const char *line, long machines)
{
    cJSON *j = cJSON_Parse(line);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "cnc_id");
    if (!cJSON_IsString(id)) {
        cJSON_Delete(j);
        return NULL;
    }
    char prefix = strncmp(id->valuestring, "PRESS", 5) == 0 ? 'P' : 'L';
    char needle[80];
    snprintf(needle, sizeof needle, "\"%s\"", id->valuestring);
    cJSON_Delete(j);
    const char *at = strstr(line, needle);
    struct variant *v = calloc((size_t)machines, sizeof *v);
    for (long i = 0; v != NULL && at != NULL && i < machines; i++) {
        char newid[24];
        snprintf(newid, sizeof newid, "%c%05ld", prefix, i);
        size_t len = strlen(line) - strlen(needle) + strlen(newid) + 2;
        v[i].text = malloc(len + 1);
        snprintf(v[i].text, len + 1, "%.*s\"%s\"%s", (int)(at - line), line, newid,
                 at + strlen(needle));
        v[i].len = strlen(v[i].text);
        snprintf(v[i].topic, sizeof v[i].topic, "cnc/%s/data", newid);
        memcpy(v[i].id, newid, sizeof newid);
    }
    return v;
}

int main(int argc, char **argv)
{
    long machines = 10000, iterations = 500000;
    int generic = 0, analytics = 0, identity = 0;
    const char *script = NULL, *lathe_name = NULL, *only = NULL;
    int rule_cost_mode = 0;
    const char *files[8];
    int n_files = 0;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--machines") == 0 && i + 1 < argc) {
            machines = atol(argv[++i]);
        } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = atol(argv[++i]);
        } else if (strcmp(argv[i], "--generic") == 0) {
            generic = 1;
        } else if (strcmp(argv[i], "--analytics") == 0) {
            analytics = 1;
        } else if (strcmp(argv[i], "--identity") == 0) {
            identity = 1;
        } else if (strcmp(argv[i], "--script") == 0 && i + 1 < argc) {
            script = lathe_name = argv[++i];
        } else if (strcmp(argv[i], "--lathe") == 0 && i + 1 < argc) {
            lathe_name = argv[++i];
        } else if (strcmp(argv[i], "--rule-cost") == 0) {
            rule_cost_mode = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (argv[i][0] == '-' || n_files == 8) {
            n_files = 0;
            break;
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (rule_cost_mode && machines >= 1 && iterations >= 5) {
        return rule_cost(machines, iterations, only);
    }
    if (n_files == 0 || machines < 1 || iterations < 5) {
        fprintf(stderr, "usage: bench_ingest [--machines N] [--iterations K] [--generic] "
                        "[--analytics] [--identity] [--script|--lathe cnc_type_a|cnc_type_b] "
                        "SAMPLES.jsonl...\n"
                        "       bench_ingest --rule-cost [--only SET] [--machines N] "
                        "[--iterations K]\n");
        return 2;
    }
    const char *lathe = default_lathe;
    char script_lathe[512] = "";
    for (size_t k = 0; lathe_name != NULL && k < 2; k++) {
        if (strcmp(lathe_name, seed_instances[k].name) == 0) {
            lathe = seed_instances[k].machine_tool;
            snprintf(script_lathe, sizeof script_lathe,
                     "    type: lua\n    params: {script: %s/handlers/scripts/%s.lua}\n",
                     CNC_SOURCE_DIR, lathe_name);
        }
    }
    if (lathe_name != NULL && script_lathe[0] == '\0') {
        fprintf(stderr, "--script, --lathe: cnc_type_a or cnc_type_b\n");
        return 2;
    }
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_ingest *ing = build(machines, generic, identity, lathe, reg);
    struct cnc_ingest *ing_script =
        script != NULL ? build(machines, generic, identity, script_lathe, reg) : NULL;
    if (ing == NULL || (script != NULL && ing_script == NULL)) {
        return 1;
    }
    printf("machines=%ld per kind, iterations=%ld, handlers=%s%s%s%s%s\n", machines, iterations,
           generic ? "generic" : "machine_tool/sensor_efficiency with rules",
           analytics ? ", analytics JSON" : "",
           identity ? ", identity table of one publisher per machine" : "",
           script != NULL ? ", beside the lathes on handlers/scripts/" : "",
           script != NULL ? script : "");
    /*
     * Mode 0: the pipeline; 1: with the analytics JSON; 2: with the publisher checked; 3: the
     * lathe instance a handler script.
     */
    const int modes[4] = {1, analytics, identity, script != NULL};
    double total_ns = 0, identity_ns = 0, script_ns = 0;
    int count = 0;
    for (int f = 0; f < n_files; f++) {
        FILE *in = fopen(files[f], "r");
        if (in == NULL) {
            perror(files[f]);
            return 1;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
                line[--n] = '\0';
            }
            struct variant *v = make_variants(line, machines);
            if (v == NULL) {
                continue;
            }
            struct cnc_topic_capture tc;
            struct cnc_ingest_result res;
            int64_t now = cnc_now_ms();
            long accepted = 0, checked = 0;
            /*
             * Rounds alternate between the pipeline alone and the pipeline plus the
             * analytics JSON (with --analytics), so both are measured side by side under
             * the same load of a shared machine.
             */
            double rounds[4][5];
            long scripted = 0;
            for (int r = 0; r < 5; r++) {
                for (int mode = 0; mode < 4; mode++) {
                    if (!modes[mode]) {
                        continue;
                    }
                    struct cnc_ingest *in = mode == 3 ? ing_script : ing;
                    double t0 = now_s();
                    for (long i = 0; i < iterations / 5; i++) {
                        const struct variant *m = &v[i % machines];
                        const struct cnc_publisher who = {m->id, m->id};
                        if (!cnc_ingest_wants(in, m->topic, &tc)) {
                            continue;
                        }
                        if (cnc_ingest_process(in, &tc, m->text, m->len, now,
                                               mode == 2 ? &who : NULL, &res) == 0) {
                            accepted += mode == 0;
                            checked += mode == 2;
                            scripted += mode == 3;
                            size_t len = 0;
                            if (mode == 1 && cnc_ingest_analytics(ing, &res, &len) == NULL) {
                                fprintf(stderr, "analytics failed\n");
                            }
                        }
                        cnc_ingest_result_release(&res);
                    }
                    rounds[mode][r] = (now_s() - t0) * 1e9 / (double)(iterations / 5);
                }
            }
            qsort(rounds[0], 5, sizeof rounds[0][0], cmp_double);
            printf("%8.0f ns/msg median (min %5.0f)", rounds[0][2], rounds[0][0]);
            if (analytics) {
                qsort(rounds[1], 5, sizeof rounds[1][0], cmp_double);
                printf("  +analytics %5.0f (min %5.0f)", rounds[1][2], rounds[1][0]);
            }
            if (identity) {
                qsort(rounds[2], 5, sizeof rounds[2][0], cmp_double);
                printf("  checked %5.0f (min %5.0f)", rounds[2][2], rounds[2][0]);
                identity_ns += rounds[2][2] - rounds[0][2];
                if (checked != accepted) {
                    printf("  (identity REFUSED %ld)", accepted - checked);
                }
            }
            if (script != NULL) {
                qsort(rounds[3], 5, sizeof rounds[3][0], cmp_double);
                printf("  script %5.0f (min %5.0f)", rounds[3][2], rounds[3][0]);
                script_ns += rounds[3][2] - rounds[0][2];
                if (scripted != accepted) {
                    printf("  (script verdicts DIFFER: %ld vs %ld accepted)", scripted, accepted);
                }
            }
            printf("  %4zd bytes  %s  %.40s\n", n,
                   accepted == iterations / 5 * 5 ? "accepted"
                   : accepted == 0                ? "REJECTED"
                                                  : "partly rejected",
                   line);
            double *rounds_main = rounds[0];
            total_ns += rounds_main[2];
            count++;
            for (long i = 0; i < machines; i++) {
                free(v[i].text);
            }
            free(v);
        }
        free(line);
        fclose(in);
    }
    if (identity) {
        /* The table alone: one lookup and one permit per message, machines in turn. */
        char(*ids)[24] = calloc((size_t)machines * 2, sizeof *ids);
        for (long i = 0; ids != NULL && i < machines * 2; i++) {
            snprintf(ids[i], sizeof ids[i], "%c%05ld", i % 2 ? 'P' : 'L', i / 2);
        }
        const struct cnc_identity_table *t = cnc_ingest_identity(ing);
        long permitted = 0;
        double t1 = now_s();
        for (long i = 0; ids != NULL && i < OTHER_TOPIC_ITERATIONS; i++) {
            const char *id = ids[(i * 7919) % (machines * 2)];
            const struct cnc_publisher who = {id, id};
            const struct cnc_identity_entry *e = cnc_identity_find(t, &who);
            permitted += e != NULL && cnc_identity_permits(e, &who, id, strlen(id));
        }
        printf("%8.1f ns/msg  identity table alone (lookup + permit, %ld publishers%s)\n",
               (now_s() - t1) * 1e9 / (double)OTHER_TOPIC_ITERATIONS, 2 * machines,
               permitted == OTHER_TOPIC_ITERATIONS ? "" : ", SOME REFUSED");
        free(ids);
    }
    /* A topic that is not an ingest topic: what every other message pays. */
    struct cnc_topic_capture tc;
    volatile int wants = 0;
    double t0 = now_s();
    for (long i = 0; i < OTHER_TOPIC_ITERATIONS; i++) {
        wants += cnc_ingest_wants(ing, "factory/line1/temperature", &tc);
    }
    printf("%8.1f ns/msg  other topic (not inspected%s)\n",
           (now_s() - t0) * 1e9 / (double)OTHER_TOPIC_ITERATIONS, wants ? "!" : "");
    if (count > 0) {
        printf("%8.0f ns/msg  mean of medians over %d samples\n", total_ns / count, count);
        if (identity) {
            printf("%8.0f ns/msg  identity check, checked minus unchecked medians, mean over %d "
                   "samples\n",
                   identity_ns / count, count);
        }
        if (script != NULL) {
            printf("%8.0f ns/msg  handler script, script minus machine_tool medians, mean over %d "
                   "samples\n",
                   script_ns / count, count);
        }
    }
    cnc_ingest_destroy(ing_script);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
    return 0;
}
