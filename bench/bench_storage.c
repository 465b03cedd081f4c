/*
 * bench_storage.c - the storage side of the plugin, measured:
 *
 *   bench_storage spool DIR
 *       broker-thread cost of encode + spool append per message, for
 *       spool.fsync never, batch and always, with a reader thread consuming
 *       and committing as the writer would (so the spool never fills).
 *   bench_storage writer SOCKET PASSWORD_FILE [MESSAGES] [rows|json] [BATCH] [INSERT]
 *                        [MACHINES] [states]
 *       writer throughput into MySQL/MariaDB: a spool prefilled with MESSAGES
 *       machine_tool messages (6 readings each, from MACHINES machines, 10,000
 *       by default, 1 ms apart) drained by the real writer thread into a real
 *       database; messages/s and rows/s. INSERT is mysql.insert: auto
 *       (default), bulk or multi_row. With "states" the handler maps machine
 *       states (the part program changes at every message of a machine, so
 *       every message starts an interval: the worst case for the intervals).
 *
 * Not a test: asserts nothing about time. bench/run_storage.sh runs both.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"
#include "machine_states.h"
#include "safe_file.h"
#include "sink_mysql.h"
#include "spool.h"
#include "stored_record.h"
#include "writer.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *yaml = "handlers:\n  lathe:\n    type: machine_tool\n"
                          "    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600]}}\n"
                          "routes: [{match: \"*\", handler: lathe}]\n";
static const char *yaml_states = "handlers:\n  lathe:\n    type: machine_tool\n"
                                 "    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600]}}\n"
                                 "    states: {offline_after_s: 86400}\n"
                                 "routes: [{match: \"*\", handler: lathe}]\n";

static long machines = 10000;
static struct cnc_machine_states *states; /* NULL: no machine states */

/* Encodes message i (a 6-reading machine_tool message) into buf through the real pipeline. */
static int encode(struct cnc_ingest *ing, long i, struct cnc_buf *buf, char *text, size_t cap)
{
    int n = snprintf(text, cap,
                     "{\"cnc_id\":\"M%05ld\",\"part_program\":\"P-%ld\",\"timestamp\":%lld,"
                     "\"payload\":{\"status\":\"running\",\"spin\":%ld,\"X-Axis\":%ld,"
                     "\"Y-Axis\":80.5,\"Z-Axis\":12.25,\"feed\":350}}",
                     i % machines, i % 13, 1747379028000LL + i, 1000 + i % 500, i % 600);
    struct cnc_ingest_result res;
    int rc = cnc_ingest_process(ing, NULL, text, (size_t)n, INT64_C(1747400000000), NULL, &res);
    struct cnc_state_event ev = {0};
    if (rc == 0 && states != NULL && res.instance->states != NULL) {
        rc = cnc_machine_states_observe(states, res.instance->states, res.instance->name, &res.msg,
                                        &res.state, i, &ev);
    }
    if (rc == 0) {
        rc =
            cnc_stored_encode_state(buf, &res.msg, &res.rec, text, (size_t)n, 1747400000000LL, &ev);
    }
    cnc_ingest_result_release(&res);
    return rc;
}

struct consumer {
    struct cnc_spool *spool;
    enum cnc_fsync fsync;
    atomic_bool stop;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct cnc_spool_record recs[1000];
    while (!atomic_load(&c->stop)) {
        cnc_spool_prepare(c->spool);
        size_t n = cnc_spool_read(c->spool, recs, 1000, NULL, NULL);
        if (n > 0) {
            if (c->fsync == CNC_FSYNC_BATCH) {
                cnc_spool_sync(c->spool);
            }
            cnc_spool_commit(c->spool, &recs[n - 1].end);
        } else {
            usleep(1000);
        }
    }
    return NULL;
}

static int bench_spool(const char *dir, struct cnc_ingest *ing)
{
    static const char *const names[] = {"never", "batch", "always"};
    char text[512], err[512], path[4096];
    struct cnc_buf buf = {0};
    const long n_encode = 200000;
    double t0 = now_s();
    for (long i = 0; i < n_encode; i++) {
        if (encode(ing, i, &buf, text, sizeof text) != 0) {
            return 1;
        }
    }
    double pipeline = (now_s() - t0) * 1e9 / (double)n_encode;
    printf("record: %zu bytes encoded for a %zu-byte message\n", buf.len, strlen(text));
    printf("%-7s %10s %12s\n", "fsync", "messages", "append ns");
    for (int mode = 0; mode < 3; mode++) {
        long n = mode == 2 ? 5000 : 300000;
        snprintf(path, sizeof path, "%s/%s", dir, names[mode]);
        struct cnc_spool *s =
            cnc_spool_open(path, 1ULL << 30, 64ULL << 20, (enum cnc_fsync)mode, err, sizeof err);
        if (s == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        struct consumer c = {s, (enum cnc_fsync)mode, false};
        pthread_t th;
        pthread_create(&th, NULL, consume, &c);
        double total = 0;
        for (long i = 0; i < n; i++) {
            /* Encoding is timed separately above; here only the append. */
            encode(ing, i, &buf, text, sizeof text);
            double a = now_s();
            while (cnc_spool_append(s, buf.p, buf.len) != 0) {
                usleep(100);
            }
            total += now_s() - a;
        }
        atomic_store(&c.stop, true);
        pthread_join(th, NULL);
        printf("%-7s %10ld %12.0f\n", names[mode], n, total * 1e9 / (double)n);
        cnc_spool_close(s);
    }
    double e0 = now_s();
    for (long i = 0; i < n_encode; i++) {
        encode(ing, i, &buf, text, sizeof text);
    }
    double with_encode = (now_s() - e0) * 1e9 / (double)n_encode;
    printf("pipeline (validate+route+handler) alone: %.0f ns; with encode: %.0f ns -> encode %.0f "
           "ns\n",
           pipeline, with_encode, with_encode - pipeline);
    cnc_buf_free(&buf);
    return 0;
}

static int bench_writer(const char *sock, const char *pwfile, long n, const char *layout,
                        long batch, const char *insert, struct cnc_ingest *ing)
{
    char err[512], text[512], dir[] = "/tmp/cnc_bench_spool_XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    struct cnc_mysql_config mc = {
        .host = "",
        .port = 3306,
        .socket = (char *)sock,
        .user = "cnc",
        .password_file = (char *)pwfile,
        .database = "cnc",
        .create_schema = true,
        .mes_tables = true,
        .readings = strcmp(layout, "json") == 0 ? CNC_READINGS_JSON : CNC_READINGS_ROWS,
        .insert = strcmp(insert, "bulk") == 0        ? CNC_INSERT_BULK
                  : strcmp(insert, "multi_row") == 0 ? CNC_INSERT_MULTI_ROW
                                                     : CNC_INSERT_AUTO};
    char *password = NULL;
    if (cnc_password_read(pwfile, CNC_FILE_NO_OWNER, &password, err, sizeof err) != 0 ||
        cnc_mysql_library_init() != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct cnc_spool *s =
        cnc_spool_open(dir, 1ULL << 34, 256ULL << 20, CNC_FSYNC_NEVER, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct cnc_buf buf = {0};
    for (long i = 0; i < n; i++) {
        if (encode(ing, i, &buf, text, sizeof text) != 0 ||
            cnc_spool_append(s, buf.p, buf.len) != 0) {
            fprintf(stderr, "prefill failed at %ld\n", i);
            return 1;
        }
    }
    struct cnc_writer_config wc = {
        .batch_size = batch, .flush_interval_ms = 100, .retry_base_ms = 100, .retry_max_ms = 10000};
    double t0 = now_s();
    struct cnc_writer *w =
        cnc_writer_start(s, cnc_mysql_sink(cnc_mysql_create(&mc, password, "bench")), &wc,
                         CNC_FSYNC_NEVER, UINT64_C(1) << 26, err, sizeof err);
    if (w == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct cnc_writer_stats *st = cnc_writer_stats(w);
    while (atomic_load(&st->stored) < (uint64_t)n) {
        usleep(2000);
        if (now_s() - t0 > 600) {
            fprintf(stderr, "timeout: %llu stored\n", (unsigned long long)atomic_load(&st->stored));
            break;
        }
    }
    double dt = now_s() - t0;
    uint64_t batches = atomic_load(&st->batches), errors = atomic_load(&st->db_errors);
    cnc_writer_stop(w, NULL, NULL);
    long rows = n * (strcmp(layout, "json") == 0 ? 1 : 7);
    printf("%-5s batch %5ld %-9s: %ld messages in %.2f s = %.0f msg/s, %ld rows = %.0f rows/s "
           "(%llu batches, %llu db errors)\n",
           layout, batch, insert, n, dt, (double)n / dt, rows, (double)rows / dt,
           (unsigned long long)batches, (unsigned long long)errors);
    cnc_spool_close(s);
    cnc_buf_free(&buf);
    free(password);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    char err[512];
    bool with_states = argc > 9 && strcmp(argv[9], "states") == 0;
    if (argc > 8) {
        machines = atol(argv[8]) > 0 ? atol(argv[8]) : 1;
    }
    if (with_states && (states = cnc_machine_states_create((size_t)machines)) == NULL) {
        return 1;
    }
    const char *text = with_states ? yaml_states : yaml;
    struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
    struct cnc_config *cfg = cnc_config_load_buffer("bench", text, strlen(text), err, sizeof err);
    struct cnc_ingest *ing = cfg ? cnc_ingest_create(cfg, reg, NULL, err, sizeof err) : NULL;
    if (ing == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = 2;
    if (argc >= 3 && strcmp(argv[1], "spool") == 0) {
        rc = bench_spool(argv[2], ing);
    } else if (argc >= 4 && strcmp(argv[1], "writer") == 0) {
        rc = bench_writer(argv[2], argv[3], argc > 4 ? atol(argv[4]) : 50000,
                          argc > 5 ? argv[5] : "rows", argc > 6 ? atol(argv[6]) : 1000,
                          argc > 7 ? argv[7] : "auto", ing);
    } else {
        fprintf(stderr, "usage: bench_storage spool DIR | writer SOCKET PASSWORD_FILE [MESSAGES] "
                        "[rows|json] [BATCH] [auto|bulk|multi_row] [MACHINES] [states]\n");
    }
    cnc_ingest_destroy(ing);
    cnc_machine_states_destroy(states);
    cnc_registry_destroy(reg);
    return rc;
}
