/*
 * bench_ingest.c - micro-benchmark of the broker-thread work per message:
 * topic match + envelope validation + routing + handler, on the sample
 * messages, with N configured exact routes. Prints ns/message per sample.
 *
 *   bench_ingest [--machines N] [--iterations K] SAMPLES.jsonl
 *
 * Single-threaded. Not a test: it asserts nothing about time. Results go to
 * bench/RESULTS.md through bench/run_ingest.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ingest.h"
#include "registry.h"

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

/* A config with `machines` exact routes (M00000..) plus the samples' ids and a glob fallback. */
static char *make_config(long machines)
{
    size_t cap = (size_t)machines * 48 + 4096;
    char *y = malloc(cap);
    if (y == NULL) {
        return NULL;
    }
    size_t n = (size_t)snprintf(y, cap,
                                "ingest: {topics: [\"cnc/+/data\"], max_future_skew_s: 315360000}\n"
                                "handlers:\n  any: {type: generic}\n  exact: {type: generic}\n"
                                "routes:\n  - {match: CNC001, handler: exact}\n"
                                "  - {match: CNC000, handler: exact}\n"
                                "  - {match: PRESS-04, handler: exact}\n");
    for (long i = 0; i < machines; i++) {
        n += (size_t)snprintf(y + n, cap - n, "  - {match: M%06ld, handler: exact}\n", i);
    }
    snprintf(y + n, cap - n, "  - {match: \"*\", handler: any}\n");
    return y;
}

int main(int argc, char **argv)
{
    long machines = 10000, iterations = 200000;
    const char *samples = NULL;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--machines") == 0 && i + 1 < argc) {
            machines = atol(argv[++i]);
        } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = atol(argv[++i]);
        } else {
            samples = argv[i];
        }
    }
    if (samples == NULL) {
        fprintf(stderr, "usage: bench_ingest [--machines N] [--iterations K] SAMPLES.jsonl\n");
        return 2;
    }
    char *yaml = make_config(machines);
    struct cnc_config *cfg =
        yaml ? cnc_config_load_buffer("bench", yaml, strlen(yaml), err, sizeof err) : NULL;
    free(yaml);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_ingest *ing = reg ? cnc_ingest_create(cfg, reg, NULL, err, sizeof err) : NULL;
    if (ing == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    FILE *f = fopen(samples, "r");
    if (f == NULL) {
        perror(samples);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    double total_ns = 0;
    int count = 0;
    printf("machines=%ld iterations=%ld\n", machines, iterations);
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        /* The topic a collector would use: cnc/<cnc_id>/data. */
        char topic[128];
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "cnc_id");
        snprintf(topic, sizeof topic, "cnc/%s/data",
                 cJSON_IsString(id) ? id->valuestring : "unknown");
        cJSON_Delete(j);
        struct cnc_topic_capture tc;
        struct cnc_ingest_result res;
        int64_t now = cnc_now_ms();
        int accepted = 0;
        /* Five rounds; the median resists the other tenants of a shared machine. */
        double rounds[5];
        for (int r = 0; r < 5; r++) {
            double t0 = now_s();
            for (long i = 0; i < iterations / 5; i++) {
                if (!cnc_ingest_wants(ing, topic, &tc)) {
                    continue;
                }
                accepted = cnc_ingest_process(ing, &tc, line, (size_t)n, now, &res) == 0;
                cnc_ingest_result_release(&res);
            }
            rounds[r] = (now_s() - t0) * 1e9 / (double)(iterations / 5);
        }
        qsort(rounds, 5, sizeof rounds[0], cmp_double);
        double ns = rounds[2];
        printf("%8.0f ns/msg median (min %5.0f)  %4zd bytes  %-8s  %.50s\n", ns, rounds[0], n,
               accepted ? "accepted" : "rejected", line);
        total_ns += ns;
        count++;
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
    }
    free(line);
    fclose(f);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
    return 0;
}
