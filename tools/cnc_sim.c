/*
 * cnc_sim.c - cnc-sim, a CNC machine simulator and MQTT load generator.
 *
 *   cnc-sim --host H --port P --machines N --rate R (--count C | --duration S)
 *           --qos Q --protocol 5|311 --seed X [--invalid-ratio F] [--burst]
 *           [--faults [RATE]] [--truth FILE] [--json] [--window W]
 *           [--username U]   (password from CNC_SIM_PASSWORD, never argv)
 *           [--states [--offline-after S] [--state-truth FILE]]
 *           [--backfill DAYS [--period-ms P]]
 *
 * --states: alarms with reasons, part counters and silent machines (sim.h); --state-truth
 * writes each simulated state interval as a JSON line. --backfill: the timestamps run from
 * DAYS ago to now, one round of the machines every P ms of simulated time (1000), sent as fast
 * as the broker acknowledges (implies --burst; ends when the simulated time reaches now).
 *
 * Machines come from tools/sim.c; this file is the MQTT side (libmosquitto,
 * its network loop on a second thread). Publishes round robin over the
 * machines at R msg/s (or, with --burst, as fast as the broker acknowledges,
 * at most W in flight) and reports sent, acknowledged, refused by the broker
 * (MQTT v5 reason codes), achieved rate and publish->ack latency p50/p99: a
 * live line on stderr when it is a terminal, a summary on stdout (--json:
 * one JSON object).
 *
 * Threads: main (generation, pacing, publish) and libmosquitto's loop thread
 * (callbacks); they share atomics and the send-time table (written before
 * the publish, read in the ack callback).
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "sim.h"
#include "sim_pipeline.h"
#include "sim_run.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)m;
    (void)flags;
    (void)p;
    struct run *r = arg;
    if (rc == 0) {
        atomic_store(&r->connected, 1);
    } else {
        atomic_store(&r->connack_refused, (uint64_t)rc);
    }
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)m;
    (void)p;
    run_acked(arg, mid, reason);
}

static double quantile_ms(struct run *r, double q)
{
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i <= LAT_BUCKETS; i++) {
        total += atomic_load(&r->lat[i]);
    }
    if (total == 0) {
        return -1;
    }
    for (size_t i = 0; i <= LAT_BUCKETS; i++) {
        seen += atomic_load(&r->lat[i]);
        if ((double)seen > q * (double)total) {
            return (double)i / 100.0;
        }
    }
    return 1000.0;
}

static FILE *truth_file;
static FILE *state_truth_file;

/* A JSON string of s (the simulator's own names and codes: no character needs escaping). */
static void write_state_truth(void *arg, const struct sim_state_truth *t)
{
    (void)arg;
    if (state_truth_file == NULL) {
        return;
    }
    fprintf(state_truth_file,
            "{\"cnc_id\":\"%s\",\"state\":\"%s\",\"category\":\"%s\",\"reason\":%s%s%s,"
            "\"part_program\":\"%s\",\"start\":%lld,\"end\":%lld,\"parts\":%llu,\"good\":%llu,"
            "\"rejects\":%llu}\n",
            t->cnc_id, t->state, t->category, t->reason ? "\"" : "", t->reason ? t->reason : "null",
            t->reason ? "\"" : "", t->part_program, (long long)t->start_ms, (long long)t->end_ms,
            (unsigned long long)t->parts, (unsigned long long)t->good,
            (unsigned long long)t->rejects);
}

static void write_truth(void *arg, const struct sim_truth *t)
{
    (void)arg;
    if (truth_file != NULL) {
        fprintf(
            truth_file,
            "{\"cnc_id\":\"%s\",\"variable\":\"%s\",\"kind\":\"%s\",\"start\":%lld,\"end\":%lld}\n",
            t->cnc_id, t->variable, sim_fault_name(t->kind), (long long)t->start_ms,
            (long long)t->end_ms);
    }
}

/* A libmosquitto client, connected, its network loop on its own thread; NULL on failure. */
static struct mosquitto *connect_mosquitto(const char *host, int port, int protocol, long window,
                                           const char *client_id, const char *username,
                                           struct run *r)
{
    struct mosquitto *mq = mosquitto_new(client_id, true, r);
    if (mq == NULL) {
        fprintf(stderr, "cnc-sim: out of memory\n");
        return NULL;
    }
    mosquitto_int_option(mq, MOSQ_OPT_PROTOCOL_VERSION,
                         protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(mq, (unsigned)window);
    if (username != NULL &&
        mosquitto_username_pw_set(mq, username, getenv("CNC_SIM_PASSWORD")) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cnc-sim: the user name is not valid UTF-8 or too long\n");
        mosquitto_destroy(mq);
        return NULL;
    }
    mosquitto_connect_v5_callback_set(mq, on_connect);
    mosquitto_publish_v5_callback_set(mq, on_publish);
    if (mosquitto_connect(mq, host, port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(mq) != 0) {
        fprintf(stderr, "cnc-sim: cannot connect to %s:%d\n", host, port);
        mosquitto_destroy(mq);
        return NULL;
    }
    for (int i = 0; i < 500 && !atomic_load(&r->connected) && !atomic_load(&r->connack_refused);
         i++) {
        usleep(10000);
    }
    if (!atomic_load(&r->connected)) {
        uint64_t refused = atomic_load(&r->connack_refused);
        if (refused != 0) {
            fprintf(stderr, "cnc-sim: %s:%d refused the connection: %s\n", host, port,
                    protocol == 5 ? mosquitto_reason_string((int)refused)
                                  : mosquitto_connack_string((int)refused));
        } else {
            fprintf(stderr, "cnc-sim: no CONNACK from %s:%d\n", host, port);
        }
        mosquitto_loop_stop(mq, true);
        mosquitto_destroy(mq);
        return NULL;
    }
    return mq;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: cnc-sim [--host H] [--port P] [--machines N] [--rate R] [--count C | "
        "--duration S]\n"
        "               [--qos 0|1|2] [--protocol 5|311] [--seed X] [--invalid-ratio F] "
        "[--burst]\n"
        "               [--window W] [--faults [RATE]] [--truth FILE] [--json] "
        "[--topic-prefix P]\n"
        "               [--first-machine N]   (machine ids from N on)\n"
        "               [--pipeline]   (many publishes per write; QoS 0 and 1)\n"
        "               [--username U] (the password from the environment: CNC_SIM_PASSWORD;\n"
        "                               not with --pipeline)\n"
        "               [--states [--offline-after S] [--state-truth FILE]]   (alarms, part\n"
        "                               counters, silent machines; their intervals to FILE)\n"
        "               [--backfill DAYS [--period-ms P]]   (timestamps from DAYS ago to "
        "now,\n"
        "                               a round of the machines every P ms, as fast as acked)\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *truth_path = NULL, *prefix = "cnc", *username = NULL;
    const char *state_truth_path = NULL;
    int port = 1883, qos = 1, protocol = 5, json = 0, burst = 0, pipelined = 0, states = 0;
    long machines = 10, count = 0, window = 1000, first_machine = 0, period_ms = 1000;
    double rate = 100, duration = 0, invalid = 0, faults = 0, offline_after = 60, backfill = 0;
    uint64_t seed = 1;
    static const struct option opts[] = {{"host", required_argument, 0, 'h'},
                                         {"port", required_argument, 0, 'p'},
                                         {"machines", required_argument, 0, 'm'},
                                         {"rate", required_argument, 0, 'r'},
                                         {"count", required_argument, 0, 'c'},
                                         {"duration", required_argument, 0, 'd'},
                                         {"qos", required_argument, 0, 'q'},
                                         {"protocol", required_argument, 0, 'P'},
                                         {"seed", required_argument, 0, 's'},
                                         {"invalid-ratio", required_argument, 0, 'i'},
                                         {"burst", no_argument, 0, 'b'},
                                         {"window", required_argument, 0, 'w'},
                                         {"faults", optional_argument, 0, 'f'},
                                         {"truth", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"topic-prefix", required_argument, 0, 'T'},
                                         {"pipeline", no_argument, 0, 'L'},
                                         {"first-machine", required_argument, 0, 'F'},
                                         {"username", required_argument, 0, 'u'},
                                         {"states", no_argument, 0, 'S'},
                                         {"offline-after", required_argument, 0, 'O'},
                                         {"state-truth", required_argument, 0, 'X'},
                                         {"backfill", required_argument, 0, 'B'},
                                         {"period-ms", required_argument, 0, 'R'},
                                         {"help", no_argument, 0, '?'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'm':
            machines = atol(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'c':
            count = atol(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'q':
            qos = atoi(optarg);
            break;
        case 'P':
            protocol = atoi(optarg);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            invalid = atof(optarg);
            break;
        case 'b':
            burst = 1;
            break;
        case 'w':
            window = atol(optarg);
            break;
        case 'f':
            faults = optarg ? atof(optarg) : 0.002;
            break;
        case 't':
            truth_path = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'T':
            prefix = optarg;
            break;
        case 'L':
            pipelined = 1;
            break;
        case 'F':
            first_machine = atol(optarg);
            break;
        case 'u':
            username = optarg;
            break;
        case 'S':
            states = 1;
            break;
        case 'O':
            offline_after = atof(optarg);
            break;
        case 'X':
            state_truth_path = optarg;
            break;
        case 'B':
            backfill = atof(optarg);
            burst = 1;
            break;
        case 'R':
            period_ms = atol(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if ((count <= 0 && duration <= 0 && backfill <= 0) || machines < 1 || offline_after < 1 ||
        backfill < 0 || period_ms < 1 || qos < 0 || qos > 2 || (protocol != 5 && protocol != 311) ||
        invalid < 0 || invalid > 1 || rate <= 0 || window < 1 || window > 65535 ||
        (pipelined && qos == 2) || first_machine < 0 || first_machine > 1000000000 ||
        (pipelined && username != NULL)) {
        usage();
        return 2;
    }
    if (truth_path != NULL && (truth_file = fopen(truth_path, "w")) == NULL) {
        perror(truth_path);
        return 1;
    }
    if (state_truth_path != NULL && (state_truth_file = fopen(state_truth_path, "w")) == NULL) {
        perror(state_truth_path);
        return 1;
    }
    struct sim_options so = {.machines = (size_t)machines,
                             .first_machine = (size_t)first_machine,
                             .seed = seed,
                             .invalid_ratio = invalid,
                             .fault_rate = faults,
                             .topic_prefix = prefix,
                             .truth = write_truth,
                             .states = states != 0,
                             .offline_after_ms = (int64_t)(offline_after * 1000),
                             .state_truth = write_state_truth};
    /* Backfill: simulated time from DAYS ago, a round of the machines every period_ms. */
    int64_t backfill_from = backfill > 0 ? wall_ms() - (int64_t)(backfill * 86400000.0) : 0;
    uint64_t slot = 0; /* machine slots visited: a silent machine's slot sends nothing */
    struct sim *sim = sim_create(&so);
    struct run *r = calloc(1, sizeof *r);
    mosquitto_lib_init();
    char client_id[64];
    snprintf(client_id, sizeof client_id, "cnc-sim-%d", (int)getpid());
    struct mosquitto *mq = NULL;
    struct pipeline *pl = NULL;
    if (sim == NULL || r == NULL) {
        fprintf(stderr, "cnc-sim: out of memory\n");
        return 1;
    }
    if (pipelined) {
        pl = pipeline_connect(host, port, protocol, qos, client_id, &window, r);
        if (pl == NULL) {
            return 1;
        }
    } else if ((mq = connect_mosquitto(host, port, protocol, window, client_id, username, r)) ==
               NULL) {
        return 1;
    }
    uint64_t sent = 0, invalid_sent[SIM_INVALID__COUNT] = {0};
    char topic[256], *buf = malloc(65536);
    bool tty = isatty(2);
    int64_t t0 = mono_ns(), next_progress = t0;
    while ((count > 0 && (long)sent < count) ||
           (count <= 0 && backfill <= 0 && (double)(mono_ns() - t0) / 1e9 < duration) ||
           (count <= 0 && backfill > 0 &&
            backfill_from + (int64_t)(slot / (uint64_t)machines) * period_ms < wall_ms())) {
        if (!burst) {
            int64_t due = t0 + (int64_t)((double)sent * 1e9 / rate);
            int64_t wait = due - mono_ns();
            if (wait > 0 && pl != NULL && pipeline_service(pl, 0) != 0) {
                break;
            }
            wait = due - mono_ns();
            if (wait > 0) {
                struct timespec ts = {wait / 1000000000, wait % 1000000000};
                nanosleep(&ts, NULL);
            }
        }
        bool lost = false;
        while (qos > 0 && atomic_load(&r->inflight) >= (uint64_t)window && !lost) {
            if (pl != NULL) {
                /* With a wide window, sleep rather than wake for every acknowledgement:
                   woken per PUBACK, the generator preempted the broker ~18,000 times a
                   second on 2 cores. A narrow window (the broker's Receive Maximum, 20 by
                   default) would run dry during the nap. */
                if (window >= 200) {
                    struct timespec nap = {0, 200000};
                    nanosleep(&nap, NULL);
                }
                lost = pipeline_service(pl, window >= 200 ? 0 : 10) != 0;
            } else {
                usleep(50);
            }
        }
        if (lost) {
            break;
        }
        enum sim_invalid cls;
        int64_t ts = backfill > 0
                         ? backfill_from + (int64_t)(slot / (uint64_t)machines) * period_ms +
                               (int64_t)(slot % (uint64_t)machines) * period_ms / machines
                         : wall_ms();
        size_t len =
            sim_next(sim, slot++ % (uint64_t)machines, ts, topic, sizeof topic, buf, 65536, &cls);
        if (len == 0) {
            continue; /* a silent machine */
        }
        int mid = 0;
        if (qos > 0) {
            atomic_fetch_add(&r->inflight, 1);
        }
        int64_t now = mono_ns();
        int rc = pl != NULL
                     ? pipeline_publish(pl, topic, buf, len, &mid)
                     : mosquitto_publish_v5(mq, &mid, topic, (int)len, buf, qos, false, NULL);
        if (rc != 0) {
            if (qos > 0) {
                atomic_fetch_sub(&r->inflight, 1);
            }
            if (pl != NULL) {
                break; /* connection lost: said on stderr */
            }
            usleep(1000);
            continue;
        }
        if (pl == NULL) {
            atomic_store(&r->sent_at[mid & 0xFFFF], now); /* pipeline_publish records its own */
        }
        sent++;
        invalid_sent[cls]++;
        if (tty && now >= next_progress) {
            double el = (double)(now - t0) / 1e9;
            fprintf(stderr, "\rcnc-sim: %llu sent, %llu acked, %llu refused, %.0f msg/s   ",
                    (unsigned long long)sent, (unsigned long long)atomic_load(&r->acked),
                    (unsigned long long)atomic_load(&r->refused), el > 0 ? (double)sent / el : 0);
            next_progress = now + 250000000;
        }
    }
    /* Wait for the last acknowledgements (at most 10 s). */
    for (int i = 0; qos > 0 && i < 1000 && atomic_load(&r->acked) < sent; i++) {
        if (pl == NULL) {
            usleep(10000);
        } else if (pipeline_service(pl, 10) != 0) {
            break;
        }
    }
    double elapsed = (double)(mono_ns() - t0) / 1e9;
    if (pl != NULL) {
        pipeline_close(pl);
    } else {
        mosquitto_disconnect(mq);
        mosquitto_loop_stop(mq, false);
        mosquitto_destroy(mq);
    }
    sim_destroy(sim);
    if (truth_file != NULL) {
        fclose(truth_file);
    }
    if (state_truth_file != NULL) {
        fclose(state_truth_file);
    }
    if (tty) {
        fprintf(stderr, "\n");
    }
    uint64_t acked = atomic_load(&r->acked), refused = atomic_load(&r->refused), bad = 0;
    for (int k = 1; k < SIM_INVALID__COUNT; k++) {
        bad += invalid_sent[k];
    }
    double p50 = quantile_ms(r, 0.5), p99 = quantile_ms(r, 0.99);
    if (json) {
        printf("{\"sent\":%llu,\"acknowledged\":%llu,\"refused\":%llu,\"invalid_sent\":%llu,"
               "\"elapsed_s\":%.3f,\"rate\":%.1f,\"ack_latency_p50_ms\":%.2f,"
               "\"ack_latency_p99_ms\":%.2f,\"qos\":%d,\"protocol\":%d,\"window\":%ld,"
               "\"refused_by_reason\":{",
               (unsigned long long)sent, (unsigned long long)acked, (unsigned long long)refused,
               (unsigned long long)bad, elapsed, (double)sent / elapsed, p50, p99, qos, protocol,
               window);
        const char *sep = "";
        for (int k = 0x80; k < 256; k++) {
            uint64_t v = atomic_load(&r->by_reason[k]);
            if (v) {
                printf("%s\"0x%02x\":%llu", sep, k, (unsigned long long)v);
                sep = ",";
            }
        }
        printf("},\"invalid_by_class\":{");
        sep = "";
        for (int k = 1; k < SIM_INVALID__COUNT; k++) {
            if (invalid_sent[k]) {
                printf("%s\"%s\":%llu", sep, sim_invalid_name((enum sim_invalid)k),
                       (unsigned long long)invalid_sent[k]);
                sep = ",";
            }
        }
        printf("}}\n");
    } else {
        printf("sent %llu (%llu invalid), acknowledged %llu, refused by the broker %llu, "
               "%.1f s, %.0f msg/s, ack latency p50 %.2f ms p99 %.2f ms\n",
               (unsigned long long)sent, (unsigned long long)bad, (unsigned long long)acked,
               (unsigned long long)refused, elapsed, (double)sent / elapsed, p50, p99);
    }
    mosquitto_lib_cleanup();
    free(buf);
    free(r);
    return qos > 0 && acked < sent ? 1 : 0;
}
