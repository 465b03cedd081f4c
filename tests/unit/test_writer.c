/*
 * test_writer.c - the writer thread (plugin/store/writer.c) against a fake sink and a real spool:
 * batching by size and by time, backoff growth and reset, the checkpoint only after a commit,
 * a refused record dead-lettered at once and the rest of its batch stored, a stop while the
 * database is down, an idle writer that does not poll, and a connect that passed over a server
 * (a cluster node not ready): counted by cause, written through the next. Threaded: also TSan.
 *
 * Every wait is for an event (a write the sink saw, a stat reaching a value), with a deadline
 * far beyond what it takes, never a sleep followed by a check that nothing happened.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backoff.h"
#include "dead_letter.h"
#include "sink.h"
#include "spool.h"
#include "stored_record.h"
#include "support.h"
#include "writer.h"

/* The fake sink: scripted outcomes, every call recorded. */
struct fake {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int open_fails;     /* opens still to fail */
    int write_fails;    /* batch writes still to answer RETRY */
    int open_skips;     /* opens still to succeed only after passing over a server not ready */
    char refuse_id[65]; /* a record of this cnc_id is REFUSED */
    bool is_open;
    size_t writes, opens;
    size_t sizes[256]; /* records per write, in order */
    unsigned attempt_at_write[256];
    size_t stored;                 /* records committed */
    uint64_t backlog_during_write; /* the spool's backlog while the first write runs */
    bool hold;                     /* the next write waits until released */
    bool holding;
    struct cnc_spool *spool;
    const struct cnc_writer_stats *stats;
};

static enum cnc_sink_outcome f_open(void *st, char *err, size_t len, enum cnc_db_cause *cause)
{
    struct fake *f = st;
    pthread_mutex_lock(&f->lock);
    f->opens++;
    bool ok = f->open_fails == 0;
    if (!ok) {
        f->open_fails--;
        snprintf(err, len, "fake: down");
        *cause = CNC_DB_UNREACHABLE;
    } else if (f->open_skips > 0) { /* STORED with err set: the servers passed over */
        f->open_skips--;
        snprintf(err, len, "fake: db1 not ready; so 1 server(s) skipped, connected to db2");
        *cause = CNC_DB_NOT_READY;
    }
    f->is_open = ok;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    return ok ? CNC_SINK_STORED : CNC_SINK_RETRY;
}

static bool f_is_open(const void *st)
{
    struct fake *f = (struct fake *)st;
    pthread_mutex_lock(&f->lock);
    bool o = f->is_open;
    pthread_mutex_unlock(&f->lock);
    return o;
}

static enum cnc_sink_outcome f_write(void *st, const struct cnc_stored *recs, size_t n, char *err,
                                     size_t len, enum cnc_db_cause *cause)
{
    struct fake *f = st;
    pthread_mutex_lock(&f->lock);
    if (f->writes < 256) {
        f->sizes[f->writes] = n;
        f->attempt_at_write[f->writes] = atomic_load(&f->stats->retry_attempt);
    }
    if (f->writes == 0) {
        f->backlog_during_write = cnc_spool_backlog_bytes(f->spool);
    }
    f->writes++;
    while (f->hold) {
        f->holding = true;
        pthread_cond_broadcast(&f->changed);
        pthread_cond_wait(&f->changed, &f->lock);
    }
    f->holding = false;
    enum cnc_sink_outcome out = CNC_SINK_STORED;
    if (f->write_fails > 0) {
        f->write_fails--;
        snprintf(err, len, "fake: read-only");
        *cause = CNC_DB_READ_ONLY;
        out = CNC_SINK_RETRY;
    }
    for (size_t i = 0; out == CNC_SINK_STORED && i < n; i++) {
        if (f->refuse_id[0] != '\0' && recs[i].cnc_id.len == strlen(f->refuse_id) &&
            memcmp(recs[i].cnc_id.p, f->refuse_id, recs[i].cnc_id.len) == 0) {
            snprintf(err, len, "fake: CONSTRAINT failed (4025)");
            *cause = CNC_DB_REFUSED;
            out = CNC_SINK_REFUSED;
        }
    }
    if (out == CNC_SINK_STORED) {
        f->stored += n;
    } else {
        f->is_open = false;
    }
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    return out;
}

static void f_close(void *st)
{
    struct fake *f = st;
    pthread_mutex_lock(&f->lock);
    f->is_open = false;
    pthread_mutex_unlock(&f->lock);
}

static void f_destroy(void *st)
{
    (void)st; /* owned by the test */
}

static void f_describe(const void *st, char *where, size_t len, uint64_t *failovers)
{
    struct fake *f = (struct fake *)st;
    pthread_mutex_lock(&f->lock);
    snprintf(where, len, "%s", f->opens > 1 ? "db2" : "db1");
    *failovers = f->opens > 1 ? 1 : 0;
    pthread_mutex_unlock(&f->lock);
}

static const struct cnc_sink_ops fake_ops = {
    .open = f_open,
    .is_open = f_is_open,
    .write = f_write,
    .close = f_close,
    .destroy = f_destroy,
    .describe = f_describe,
};

/* Waits until pred(f) holds (under f->lock), for 30 s at most. */
static void wait_until(struct fake *f, bool (*pred)(struct fake *, size_t), size_t arg,
                       const char *what)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&f->lock);
    while (!pred(f, arg)) {
        if (pthread_cond_timedwait(&f->changed, &f->lock, &until) != 0 && !pred(f, arg)) {
            pthread_mutex_unlock(&f->lock);
            fail_msg("timed out waiting for %s", what);
        }
    }
    pthread_mutex_unlock(&f->lock);
}

/* Waits until done(arg) for 30 s at most: what the writer does just after the sink returns. */
static void wait_for_writer(bool (*done)(const void *arg), const void *arg, const char *what)
{
    for (int i = 0; i < 30000 && !done(arg); i++) {
        usleep(1000);
    }
    if (!done(arg)) {
        fail_msg("timed out waiting for %s", what);
    }
}

struct count_at_least {
    const _Atomic uint64_t *count;
    uint64_t n;
};

static bool count_reached(const void *arg)
{
    const struct count_at_least *c = arg;
    return atomic_load(c->count) >= c->n;
}

static bool no_retry_attempt(const void *arg)
{
    return atomic_load((const _Atomic unsigned *)arg) == 0;
}

static bool spool_empty(const void *arg)
{
    return cnc_spool_backlog_bytes(arg) == 0;
}

static bool writes_at_least(struct fake *f, size_t n)
{
    return f->writes >= n;
}

static bool stored_at_least(struct fake *f, size_t n)
{
    return f->stored >= n;
}

static bool is_holding(struct fake *f, size_t n)
{
    (void)n;
    return f->holding;
}

static bool opens_at_least(struct fake *f, size_t n)
{
    return f->opens >= n;
}

struct rig {
    char dir[64];
    struct cnc_spool *spool;
    struct cnc_writer *w;
    struct fake f;
    struct cnc_ingest *ing;
    struct cnc_registry *reg;
    struct cnc_buf buf;
};

static void rig_start_down(struct rig *r, long long batch, long long flush_ms, int open_fails)
{
    char err[512];
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/cnc-writer-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    r->spool = cnc_spool_open(r->dir, 64 << 20, 1 << 20, CNC_FSYNC_NEVER, err, sizeof err);
    assert_non_null(r->spool);
    pthread_mutex_init(&r->f.lock, NULL);
    pthread_cond_init(&r->f.changed, NULL);
    r->f.spool = r->spool;
    r->f.open_fails = open_fails; /* before the thread's first connect */
    r->ing = support_ingest("handlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: "
                            "any}]\n",
                            &r->reg, err, sizeof err);
    assert_non_null(r->ing);
    struct cnc_writer_config wc = {
        .batch_size = batch, .flush_interval_ms = flush_ms, .retry_base_ms = 1, .retry_max_ms = 8};
    r->w = cnc_writer_start(r->spool, (struct cnc_sink){&fake_ops, &r->f}, &wc, CNC_FSYNC_NEVER,
                            1 << 20, err, sizeof err);
    assert_non_null(r->w);
    r->f.stats = cnc_writer_stats(r->w);
}

static void rig_start(struct rig *r, long long batch, long long flush_ms)
{
    rig_start_down(r, batch, flush_ms, 0);
}

/* Appends n messages of machine cnc_id (timestamps from ts0) as the broker thread does. */
static void append(struct rig *r, const char *cnc_id, int ts0, int n)
{
    char msg[256];
    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof msg,
                 "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%d,\"payload\":"
                 "{\"v\":%d}}",
                 cnc_id, 1747379028 + ts0 + i, i);
        struct cnc_ingest_result res;
        assert_int_equal(support_run(r->ing, msg, &res), 0);
        assert_int_equal(
            cnc_stored_encode(&r->buf, &res.msg, &res.rec, msg, strlen(msg), 1747400000000), 0);
        cnc_ingest_result_release(&res);
        assert_int_equal(cnc_spool_append(r->spool, r->buf.p, r->buf.len), 0);
        cnc_writer_notify(r->w);
    }
}

static void drain_log(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    (void)line;
}

static void rig_stop(struct rig *r)
{
    cnc_writer_stop(r->w, drain_log, NULL);
    cnc_spool_close(r->spool);
    cnc_ingest_destroy(r->ing);
    cnc_registry_destroy(r->reg);
    cnc_buf_free(&r->buf);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    assert_int_equal(system(cmd), 0);
}

/* A batch is written when it is full, without waiting for flush_interval_ms (an hour here). */
static void batches_by_size(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 10, 3600000);
    append(&r, "M1", 0, 20);
    wait_until(&r.f, stored_at_least, 20, "two full batches");
    assert_int_equal(r.f.sizes[0], 10);
    assert_int_equal(r.f.sizes[1], 10);
    assert_int_equal(r.f.writes, 2);
    /* The writer counts a batch once it has checkpointed it, just after the sink's commit. */
    struct count_at_least twenty = {&cnc_writer_stats(r.w)->stored, 20};
    wait_for_writer(count_reached, &twenty, "stored == 20");
    assert_int_equal(atomic_load(twenty.count), 20);
    rig_stop(&r);
}

/* A partial batch is written once flush_interval_ms has passed since its first record. */
static void batches_by_time(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 1000, 50);
    append(&r, "M1", 0, 5);
    wait_until(&r.f, stored_at_least, 5, "the partial batch");
    assert_int_equal(r.f.sizes[0], 5);
    append(&r, "M1", 100, 3);
    wait_until(&r.f, stored_at_least, 8, "the next one");
    assert_int_equal(r.f.sizes[1], 3);
    rig_stop(&r);
}

/* Failures are waited out with a growing attempt count, which a commit resets. */
static void backoff_grows_and_resets(void **state)
{
    (void)state;
    assert_int_equal(cnc_backoff_ceiling_ms(100, 10000, 0), 100);
    assert_int_equal(cnc_backoff_ceiling_ms(100, 10000, 3), 800);
    assert_int_equal(cnc_backoff_ceiling_ms(100, 10000, 7), 10000);
    assert_int_equal(cnc_backoff_ceiling_ms(100, 10000, 4000000000u), 10000);
    uint64_t rng = 42;
    for (unsigned k = 0; k < 40; k++) {
        int64_t ms = cnc_backoff_ms(&rng, 100, 10000, k);
        assert_true(ms >= 0 && ms <= cnc_backoff_ceiling_ms(100, 10000, k));
    }
    struct rig r;
    rig_start(&r, 100, 1);
    r.f.write_fails = 4;
    append(&r, "M1", 0, 1);
    wait_until(&r.f, stored_at_least, 1, "the write after four failures");
    /* Write k saw k failures before it. */
    for (unsigned k = 0; k <= 4; k++) {
        assert_int_equal(r.f.attempt_at_write[k], k);
    }
    assert_int_equal(atomic_load(&cnc_writer_stats(r.w)->db_errors_by_cause[CNC_DB_READ_ONLY]), 4);
    /* Reset: the next failure is the first again. */
    pthread_mutex_lock(&r.f.lock);
    r.f.write_fails = 1;
    pthread_mutex_unlock(&r.f.lock);
    append(&r, "M1", 10, 1);
    wait_until(&r.f, stored_at_least, 2, "the next record");
    assert_int_equal(r.f.attempt_at_write[5], 0);
    assert_int_equal(r.f.attempt_at_write[6], 1);
    /* The count goes back to 0 once the writer has seen the commit (just after the sink). */
    wait_for_writer(no_retry_attempt, &cnc_writer_stats(r.w)->retry_attempt, "the reset");
    rig_stop(&r);
}

/* The spool is checkpointed after the sink committed, never before. */
static void checkpoint_after_commit(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 100, 1);
    r.f.hold = true;
    append(&r, "M1", 0, 7);
    wait_until(&r.f, is_holding, 0, "the write to start");
    uint64_t during = cnc_spool_backlog_bytes(r.spool);
    assert_true(during > 0);
    assert_int_equal(r.f.backlog_during_write, during); /* nothing committed while writing */
    pthread_mutex_lock(&r.f.lock);
    r.f.hold = false;
    pthread_cond_broadcast(&r.f.changed);
    pthread_mutex_unlock(&r.f.lock);
    wait_until(&r.f, stored_at_least, 7, "the commit");
    /* The checkpoint follows the commit on the writer thread: wait for it by its effect. */
    wait_for_writer(spool_empty, r.spool, "the checkpoint");
    /* A batch the sink never took stays: a failing write leaves the backlog as it was. */
    pthread_mutex_lock(&r.f.lock);
    r.f.write_fails = 1000000;
    pthread_mutex_unlock(&r.f.lock);
    append(&r, "M1", 100, 3);
    size_t before = r.f.writes;
    wait_until(&r.f, writes_at_least, before + 3, "three failed tries");
    assert_true(cnc_spool_backlog_bytes(r.spool) > 0);
    assert_int_equal(atomic_load(&cnc_writer_stats(r.w)->stored), 7);
    rig_stop(&r);
}

/* A refused record goes to the dead letters at once; its batch's other records are stored. */
static void refused_record_dead_lettered_at_once(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 7, 3600000); /* the seven records are one batch, full */
    snprintf(r.f.refuse_id, sizeof r.f.refuse_id, "POISON");
    append(&r, "M1", 0, 3);
    append(&r, "POISON", 10, 1);
    append(&r, "M1", 20, 3);
    wait_until(&r.f, stored_at_least, 6, "the six others");
    /* One batch write (refused), then each record alone: no backoff rounds in between. */
    assert_int_equal(r.f.sizes[0], 7);
    for (size_t k = 1; k <= 7; k++) {
        assert_int_equal(r.f.sizes[k], 1);
        assert_int_equal(r.f.attempt_at_write[k], 0);
    }
    const struct cnc_writer_stats *st = cnc_writer_stats(r.w);
    struct count_at_least six = {&st->stored, 6};
    wait_for_writer(count_reached, &six, "stored == 6");
    assert_int_equal(atomic_load(&st->dead_letters), 1);
    assert_int_equal(atomic_load(&st->stored), 6); /* the dead letter is not counted as stored */
    char path[128], line[8192];
    snprintf(path, sizeof path, "%s/" CNC_DEAD_LETTER_FILE, r.dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    assert_non_null(strstr(line, "\"cnc_id\":\"POISON\""));
    assert_null(fgets(line, sizeof line, fp)); /* one line */
    fclose(fp);
    rig_stop(&r);
}

/* The database down: the writer retries with backoff, and a stop ends it promptly. */
static void stop_while_the_database_is_down(void **state)
{
    (void)state;
    struct rig r;
    rig_start_down(&r, 100, 1, 1000000);
    append(&r, "M1", 0, 5);
    wait_until(&r.f, opens_at_least, 6, "six connection attempts");
    /* Five of them counted for sure: the sixth began after the fifth was counted. */
    assert_true(atomic_load(&cnc_writer_stats(r.w)->db_errors_by_cause[CNC_DB_UNREACHABLE]) >= 5);
    assert_int_equal(r.f.stored, 0);
    uint64_t backlog = cnc_spool_backlog_bytes(r.spool);
    assert_true(backlog > 0);
    rig_stop(&r); /* returns (a hang here is ctest's timeout) */
}

/* Idle, the writer parks: no polling (it used to wake every 2 ms). */
static void idle_writer_parks(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 100, 1);
    append(&r, "M1", 0, 1);
    wait_until(&r.f, stored_at_least, 1, "the record");
    const struct cnc_writer_stats *st = cnc_writer_stats(r.w);
    uint64_t w0 = atomic_load(&st->wakeups);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* 300 ms of nothing: with 2 ms polling that was 150 wakeups; parked it is at most one. */
    do {
        usleep(10000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    assert_true(atomic_load(&st->wakeups) - w0 <= 1);
    /* And an append wakes it at once. */
    append(&r, "M1", 10, 1);
    wait_until(&r.f, stored_at_least, 2, "the record after the idle time");
    rig_stop(&r);
}

/* A connect that passed over a server (a cluster node not ready) is counted by its cause and
   said, and the writer goes on writing through the server it reached. */
static void servers_passed_over_are_counted(void **state)
{
    (void)state;
    struct rig r;
    rig_start(&r, 5, 3600000);
    append(&r, "M1", 0, 5);
    wait_until(&r.f, stored_at_least, 5, "the first batch");
    pthread_mutex_lock(&r.f.lock);
    r.f.write_fails = 1; /* the node in use fails a batch: the writer reconnects */
    r.f.open_skips = 1;  /* and the reconnect passes over one server */
    pthread_mutex_unlock(&r.f.lock);
    append(&r, "M1", 100, 5);
    wait_until(&r.f, stored_at_least, 10, "the batch, after the reconnect");
    const struct cnc_writer_stats *st = cnc_writer_stats(r.w);
    struct count_at_least ten = {&st->stored, 10};
    wait_for_writer(count_reached, &ten, "stored == 10");
    assert_int_equal(atomic_load(&st->db_errors_by_cause[CNC_DB_READ_ONLY]), 1);
    assert_int_equal(atomic_load(&st->db_errors_by_cause[CNC_DB_NOT_READY]), 1);
    assert_int_equal(atomic_load(&st->db_errors), 2);
    assert_int_equal(r.f.opens, 2);
    char where[64];
    uint64_t failovers = 0;
    cnc_writer_sink_where(r.w, where, sizeof where, &failovers);
    assert_string_equal(where, "db2");
    assert_int_equal(failovers, 1);
    rig_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_by_size),
        cmocka_unit_test(batches_by_time),
        cmocka_unit_test(backoff_grows_and_resets),
        cmocka_unit_test(checkpoint_after_commit),
        cmocka_unit_test(refused_record_dead_lettered_at_once),
        cmocka_unit_test(stop_while_the_database_is_down),
        cmocka_unit_test(idle_writer_parks),
        cmocka_unit_test(servers_passed_over_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
