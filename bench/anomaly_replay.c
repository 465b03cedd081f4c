/*
 * anomaly_replay.c - cnc-sim's machines and faults through the plugin's own
 * message pipeline, without a broker or a database: the anomaly benchmark's
 * sweep over seeds and fault rates (bench/run_anomaly.sh).
 *
 *   anomaly_replay --config CONFIG --seed X --faults RATE --machines N --rate R
 *                  --duration S --truth TRUTH.jsonl --anomalies ANOMALIES.jsonl
 *                  [--messages MESSAGES.jsonl]
 *
 * The messages are cnc-sim's (tools/sim.c, the same generator, seed and
 * fault rate), round robin over the machines, message k time stamped
 * T0 + k * 1000 / R ms: what `cnc-sim --rate R` sends when it keeps its pace.
 * Each goes through cnc_ingest_process (envelope, route, handler, rules: what
 * the broker thread runs); every anomaly of an accepted message is written as
 * one line {"cnc_id","variable","rule","ts"}, the row cnc_anomaly would hold.
 * The ground truth goes to TRUTH in cnc-sim's --truth format, a fault the
 * end of the run cut short marked "cut": true (its detection window is
 * incomplete). --messages writes every message sent, one a line (for looking
 * at a miss with cnc-ingest-check). Deterministic: a seed and a rate give
 * the same files on every run.
 *
 * Single-threaded command-line tool. Asserts nothing; exit 1 on a bad
 * argument, a config error or a refused message (cnc-sim sends valid ones).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ingest.h"
#include "registry.h"
#include "sim.h"

/* 2025-12-01T00:00:00Z: any clock works, the timestamps only order a machine's samples. */
#define T0_MS INT64_C(1764547200000)

struct truth_out {
    FILE *f;
    int cut; /* set before sim_destroy, which reports the faults still running */
};

static void write_truth(void *arg, const struct sim_truth *t)
{
    struct truth_out *o = arg;
    fprintf(o->f,
            "{\"cnc_id\":\"%s\",\"variable\":\"%s\",\"kind\":\"%s\",\"start\":%" PRId64
            ",\"end\":%" PRId64 "%s}\n",
            t->cnc_id, t->variable, sim_fault_name(t->kind), t->start_ms, t->end_ms,
            o->cut ? ",\"cut\":true" : "");
}

static void usage(void)
{
    fprintf(stderr, "usage: anomaly_replay --config CONFIG [--seed X] [--faults RATE] "
                    "[--machines N] [--rate R] [--duration S] --truth FILE --anomalies FILE\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL, *truth_path = NULL, *anomalies_path = NULL, *messages_path = NULL;
    uint64_t seed = 1;
    double faults = 0.002, rate = 2000, duration = 60;
    long machines = 60;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},   {"seed", required_argument, 0, 's'},
        {"faults", required_argument, 0, 'f'},   {"machines", required_argument, 0, 'm'},
        {"rate", required_argument, 0, 'r'},     {"duration", required_argument, 0, 'd'},
        {"truth", required_argument, 0, 't'},    {"anomalies", required_argument, 0, 'a'},
        {"messages", required_argument, 0, 'M'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            faults = atof(optarg);
            break;
        case 'm':
            machines = atol(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 't':
            truth_path = optarg;
            break;
        case 'a':
            anomalies_path = optarg;
            break;
        case 'M':
            messages_path = optarg;
            break;
        default:
            usage();
            return 1;
        }
    }
    if (config == NULL || truth_path == NULL || anomalies_path == NULL || machines < 1 ||
        rate <= 0 || duration <= 0) {
        usage();
        return 1;
    }
    char err[1024];
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_config *cfg = reg != NULL ? cnc_config_load(config, err, sizeof err) : NULL;
    struct cnc_ingest *ing =
        cfg != NULL ? cnc_ingest_create(cfg, reg, NULL, err, sizeof err) : NULL;
    struct truth_out truth = {fopen(truth_path, "w"), 0};
    FILE *out = fopen(anomalies_path, "w");
    FILE *messages = messages_path != NULL ? fopen(messages_path, "w") : NULL;
    if (ing == NULL || truth.f == NULL || out == NULL ||
        (messages_path != NULL && messages == NULL)) {
        fprintf(stderr, "anomaly_replay: %s\n", ing == NULL ? err : "cannot write the output");
        return 1;
    }
    struct sim_options so = {.machines = (size_t)machines,
                             .seed = seed,
                             .fault_rate = faults,
                             .topic_prefix = "cnc",
                             .truth = write_truth,
                             .truth_arg = &truth};
    struct sim *sim = sim_create(&so);
    if (sim == NULL) {
        fprintf(stderr, "anomaly_replay: out of memory\n");
        return 1;
    }
    long count = (long)(rate * duration);
    long refused = 0, anomalies = 0;
    char topic[128], buf[16384];
    for (long k = 0; k < count; k++) {
        int64_t now = T0_MS + (int64_t)((double)k * 1000.0 / rate);
        enum sim_invalid cls;
        size_t n = sim_next(sim, (size_t)k, now, topic, sizeof topic, buf, sizeof buf, &cls);
        if (messages != NULL) {
            fprintf(messages, "%.*s\n", (int)n, buf);
        }
        struct cnc_topic_capture cap;
        if (n == 0 || !cnc_ingest_wants(ing, topic, &cap)) {
            refused++;
            continue;
        }
        struct cnc_ingest_result res;
        if (cnc_ingest_process(ing, &cap, buf, n, now, NULL, &res) != 0) {
            refused++;
        } else {
            for (size_t i = 0; i < res.rec.n_anomalies; i++) {
                const struct cnc_anomaly *a = &res.rec.anomalies[i];
                fprintf(out,
                        "{\"cnc_id\":\"%s\",\"variable\":\"%s\",\"rule\":\"%s\",\"ts\":%" PRId64
                        "}\n",
                        res.msg.cnc_id, a->variable, a->rule, res.msg.ts_ms);
                anomalies++;
            }
        }
        cnc_ingest_result_release(&res);
    }
    truth.cut = 1;
    sim_destroy(sim); /* reports the faults still running */
    fclose(truth.f);
    if (messages != NULL) {
        fclose(messages);
    }
    fclose(out);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
    fprintf(stderr, "anomaly_replay: seed %" PRIu64 ", faults %g: %ld messages, %ld anomalies%s\n",
            seed, faults, count, anomalies, refused ? ", some refused" : "");
    return refused != 0;
}
