/*
 * writer.c - the writer thread, see writer.h.
 *
 * Threads: cnc_writer_start/_stop/_drain_log/_notify run on the broker thread;
 * writer_main on the writer thread. Shared: w->stop and w->parked (atomics),
 * w->stats (atomics), w->outbox (holds w->lock; never held during I/O).
 *
 * Waking. An idle writer does not poll: it parks on w->wake until the broker
 * thread appends (cnc_writer_notify) or a second passes (spare segments,
 * housekeeping). The hand-off is Dekker's: the writer stores parked = 1 and
 * then loads the spool's published append position, the broker thread stores
 * the position (the append) and then loads parked, all sequentially consistent, so one of them
 * sees the other: either the writer finds the new record and does not park,
 * or the broker thread finds it parked and signals under w->lock, which the
 * writer holds from its check until the wait. The broker thread takes the lock
 * only when the writer is parked, never while it does I/O. While a batch is
 * filling, the writer looks again every few ms until the batch is full or
 * flush_interval_ms has passed since its first record.
 */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "cnc_error.h"
#include "dead_letter.h"
#include "stored_record.h"

#define OUTBOX_MAX 64
#define FILLING_MS 5 /* a batch being filled is looked at again after this long */
#define PARK_MS 1000 /* an idle writer wakes this often at most, with nothing to do */

struct log_line {
    int level;
    char text[480];
};

struct cnc_writer {
    pthread_t thread;
    struct cnc_spool *spool;
    struct cnc_sink sink;
    size_t batch_size;
    int64_t flush_ms;
    int64_t retry_base_ms, retry_max_ms;
    enum cnc_fsync fsync;
    atomic_bool stop;
    atomic_int parked; /* the writer waits on wake for the next append */
    struct cnc_writer_stats stats;

    pthread_mutex_t lock; /* guards the outbox; held by a parking writer from check to wait */
    pthread_cond_t wake;  /* signalled by stop and, when parked, by an append */
    struct log_line outbox[OUTBOX_MAX];
    size_t out_head, out_len;
    uint64_t out_dropped;

    /* Writer thread only. */
    struct cnc_spool_record *recs;
    struct cnc_stored *decoded;
    size_t *rec_of;      /* decoded[i] is recs[rec_of[i]] (damaged records are skipped) */
    struct cnc_buf line; /* a dead-letter line */
    uint64_t dead_letter_max;
    uint64_t rng;
};

long cnc_writer_latency_quantile(const struct cnc_writer_stats *st, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        total += atomic_load_explicit(&st->latency_ms[i], memory_order_relaxed);
    }
    if (total == 0) {
        return -1;
    }
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    for (size_t i = 0; i < CNC_LATENCY_BUCKETS; i++) {
        seen += atomic_load_explicit(&st->latency_ms[i], memory_order_relaxed);
        if (seen > want) {
            return (long)i;
        }
    }
    return CNC_LATENCY_BUCKETS - 1;
}

static void say(struct cnc_writer *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct cnc_writer *w, int level, const char *fmt, ...)
{
    struct log_line l = {.level = level};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l.text, sizeof l.text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&w->lock);
    if (w->out_len == OUTBOX_MAX) {
        w->out_head = (w->out_head + 1) % OUTBOX_MAX;
        w->out_len--;
        w->out_dropped++;
    }
    w->outbox[(w->out_head + w->out_len) % OUTBOX_MAX] = l;
    w->out_len++;
    pthread_mutex_unlock(&w->lock);
}

void cnc_writer_drain_log(struct cnc_writer *w, void (*fn)(void *arg, int level, const char *line),
                          void *arg)
{
    struct log_line lines[OUTBOX_MAX];
    size_t n = 0;
    uint64_t dropped;
    pthread_mutex_lock(&w->lock);
    while (w->out_len > 0) {
        lines[n++] = w->outbox[w->out_head];
        w->out_head = (w->out_head + 1) % OUTBOX_MAX;
        w->out_len--;
    }
    dropped = w->out_dropped;
    w->out_dropped = 0;
    pthread_mutex_unlock(&w->lock);
    if (dropped > 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "writer: %llu older log lines dropped",
                 (unsigned long long)dropped);
        fn(arg, CNC_WRITER_LOG_WARNING, msg);
    }
    for (size_t i = 0; i < n; i++) {
        fn(arg, lines[i].level, lines[i].text);
    }
}

/* Sleeps up to ms, waking early on stop. */
static void nap(struct cnc_writer *w, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->lock);
    if (!atomic_load(&w->stop)) {
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
}

/*
 * Waits for the next append (see the top of this file), for PARK_MS at most, unless something
 * was appended since `seen` (the append position before the read that found nothing).
 */
static void park(struct cnc_writer *w, uint64_t seen)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += PARK_MS / 1000;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->parked, 1);
    if (!atomic_load(&w->stop) && cnc_spool_append_pos(w->spool) == seen) {
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    atomic_store(&w->parked, 0);
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_add_explicit(&w->stats.wakeups, 1, memory_order_relaxed);
}

void cnc_writer_notify(struct cnc_writer *w)
{
    if (w != NULL && atomic_load(&w->parked)) {
        pthread_mutex_lock(&w->lock);
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
    }
}

static int64_t backoff(struct cnc_writer *w, unsigned attempt)
{
    atomic_store(&w->stats.retry_attempt, attempt + 1);
    return cnc_backoff_ms(&w->rng, w->retry_base_ms, w->retry_max_ms, attempt);
}

static void spool_warning(void *arg, const char *message)
{
    struct cnc_writer *w = arg;
    atomic_fetch_add(&w->stats.damaged, 1);
    say(w, CNC_WRITER_LOG_WARNING, "%s", message);
}

/* Reads until the batch is full or flush_ms has passed since its first record. */
static size_t collect(struct cnc_writer *w)
{
    size_t n = 0;
    int64_t deadline = 0;
    while (!atomic_load(&w->stop)) {
        uint64_t seen = cnc_spool_append_pos(w->spool);
        n += cnc_spool_read(w->spool, w->recs + n, w->batch_size - n, spool_warning, w);
        if (n == w->batch_size) {
            break;
        }
        int64_t now = cnc_mono_ms();
        if (n > 0 && deadline == 0) {
            deadline = now + w->flush_ms;
        }
        if (n > 0 && now >= deadline) {
            break;
        }
        if (n == 0) {
            cnc_spool_prepare(w->spool);
            park(w, seen);
        } else {
            nap(w, deadline - now < FILLING_MS ? deadline - now : FILLING_MS);
        }
    }
    return n;
}

/*
 * A record the database refuses for what it is: kept beside the spool, loudly, and synced
 * before the spool may be checkpointed past it. false when it could not be kept (a full disk,
 * or dead-letter.jsonl at spool.dead_letter_max_bytes): the record then stays in the spool and
 * is tried again later, and the spool fills up behind it rather than anything being dropped.
 */
static bool dead_letter(struct cnc_writer *w, const struct cnc_spool_record *r,
                        const struct cnc_stored *s, const char *why)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" CNC_DEAD_LETTER_FILE, cnc_spool_dir(w->spool));
    int rc = cnc_dead_letter_format(&w->line, s, r->data, r->len, why, cnc_wall_ms());
    if (rc == 0) {
        rc = cnc_dead_letter_append(path, w->line.p, w->line.len, w->dead_letter_max);
    }
    if (rc != 0) {
        int e = errno;
        /* Full: logged once until it clears; an I/O error every time (it says which). */
        bool was_full = rc == CNC_EFULL && atomic_exchange(&w->stats.dead_letters_full, 1);
        if (!was_full) {
            say(w, CNC_WRITER_LOG_ERROR,
                "writer: the database refuses a message from %.*s (%s), and %s cannot take it "
                "(%s); it stays in the spool, and new messages are refused with spool_full once "
                "the spool is full: fix the cause and re-submit the dead letters "
                "(cnc-ingest-resubmit), or move the file away",
                (int)s->cnc_id.len, s->cnc_id.p, why, path,
                rc == CNC_EFULL ? "it has reached spool.dead_letter_max_bytes"
                : rc == CNC_EIO ? strerror(e)
                                : "out of memory");
        }
        return false;
    }
    atomic_store(&w->stats.dead_letters_full, 0);
    atomic_fetch_add(&w->stats.dead_letters, 1);
    say(w, CNC_WRITER_LOG_ERROR,
        "writer: the database refuses a message from %.*s (%s); kept in %s "
        "(re-submit with cnc-ingest-resubmit once the cause is fixed)",
        (int)s->cnc_id.len, s->cnc_id.p, why, path);
    return true;
}

/* A failed write or connect: counted by cause; the writer waits and tries again. */
static void count_failure(struct cnc_writer *w, enum cnc_db_cause cause)
{
    atomic_fetch_add(&w->stats.db_errors, 1);
    atomic_fetch_add(&w->stats.db_errors_by_cause[cause < CNC_DB__COUNT ? cause : CNC_DB_OTHER], 1);
    atomic_store(&w->stats.last_cause, (int)cause);
    atomic_store(&w->stats.db_connected, w->sink.ops->is_open(w->sink.state));
}

/* What the sink had to say beside the batches (it stored them all the same). */
static void sink_warnings(struct cnc_writer *w)
{
    const char *text;
    if (w->sink.ops->take_warning != NULL &&
        (text = w->sink.ops->take_warning(w->sink.state)) != NULL) {
        say(w, CNC_WRITER_LOG_WARNING, "writer: %s", text);
    }
}

/* Opens the sink; servers passed over on the way (a cluster node not ready) are counted and
   said. false with err and *cause when none would do. */
static bool open_sink(struct cnc_writer *w, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    err[0] = '\0';
    *cause = CNC_DB_OTHER;
    if (w->sink.ops->open(w->sink.state, err, err_len, cause) != CNC_SINK_STORED) {
        return false;
    }
    if (err[0] != '\0') {
        count_failure(w, *cause);
        say(w, CNC_WRITER_LOG_WARNING, "writer: %s", err);
    }
    atomic_store(&w->stats.db_connected, 1);
    return true;
}

/* The receive -> commit latency of the messages among recs; returns how many there were (an
   offline interval found on TICK is a record, not a message: neither stored nor timed). */
static uint64_t count_latency(struct cnc_writer *w, const struct cnc_stored *recs, size_t n)
{
    int64_t committed_ms = cnc_wall_ms();
    uint64_t messages = 0;
    for (size_t i = 0; i < n; i++) {
        if ((recs[i].state_flags & CNC_STATE_EVENT_ONLY) != 0) {
            continue;
        }
        messages++;
        int64_t l = committed_ms - recs[i].received_ms;
        size_t b = l < 0 ? 0 : l >= CNC_LATENCY_BUCKETS ? CNC_LATENCY_BUCKETS - 1 : (size_t)l;
        atomic_fetch_add_explicit(&w->stats.latency_ms[b], 1, memory_order_relaxed);
    }
    return messages;
}

/*
 * The database refused some record of the batch: each record alone, in order, each
 * checkpointed once handled, so that a retry resumes after the last one handled. A record
 * refused alone goes to the dead letters; a failure of any other cause stops here, and the
 * rest of the batch waits (true: all handled).
 */
static bool store_one_by_one(struct cnc_writer *w, size_t good)
{
    char err[512];
    enum cnc_db_cause cause = CNC_DB_OK;
    for (size_t i = 0; i < good; i++) {
        const struct cnc_spool_record *r = &w->recs[w->rec_of[i]];
        err[0] = '\0';
        if (!w->sink.ops->is_open(w->sink.state)) {
            if (!open_sink(w, err, sizeof err, &cause)) {
                count_failure(w, cause);
                say(w, CNC_WRITER_LOG_ERROR, "writer: %s; records wait in the spool, retrying",
                    err);
                return false;
            }
        }
        bool stored = false;
        enum cnc_sink_outcome out =
            w->sink.ops->write(w->sink.state, &w->decoded[i], 1, err, sizeof err, &cause);
        if (out == CNC_SINK_STORED) {
            stored = true;
        } else if (out == CNC_SINK_RETRY) {
            count_failure(w, cause);
            say(w, CNC_WRITER_LOG_ERROR,
                "writer: a message from %.*s not stored, will retry (%s: %s)",
                (int)w->decoded[i].cnc_id.len, w->decoded[i].cnc_id.p, cnc_db_cause_name(cause),
                err);
            return false;
        } else if (!dead_letter(w, r, &w->decoded[i], err)) {
            count_failure(w, CNC_DB_REFUSED);
            return false;
        }
        if (cnc_spool_commit(w->spool, &r->end) != 0) {
            say(w, CNC_WRITER_LOG_ERROR,
                "writer: cannot write the spool checkpoint (%s); will retry", strerror(errno));
            return false;
        }
        if (stored) {
            atomic_fetch_add(&w->stats.stored, count_latency(w, &w->decoded[i], 1));
        }
    }
    return true;
}

/* One batch: decode, write, commit. false when it must be retried. */
static bool store(struct cnc_writer *w, size_t n)
{
    char err[512] = "";
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        if (cnc_stored_decode(w->recs[i].data, w->recs[i].len, &w->decoded[good]) == 0) {
            w->rec_of[good++] = i;
        } else {
            atomic_fetch_add(&w->stats.damaged, 1);
            say(w, CNC_WRITER_LOG_WARNING,
                "writer: a spool record of %zu bytes is not a stored message; skipped",
                w->recs[i].len);
        }
    }
    if (w->fsync == CNC_FSYNC_BATCH && cnc_spool_sync(w->spool) != 0) {
        say(w, CNC_WRITER_LOG_WARNING, "writer: fsync of the spool failed: %s", strerror(errno));
    }
    int64_t t0 = cnc_mono_ms();
    enum cnc_db_cause cause = CNC_DB_OK;
    enum cnc_sink_outcome out =
        good > 0 ? w->sink.ops->write(w->sink.state, w->decoded, good, err, sizeof err, &cause)
                 : CNC_SINK_STORED;
    sink_warnings(w);
    if (out != CNC_SINK_STORED) {
        if (out == CNC_SINK_RETRY) {
            count_failure(w, cause);
            say(w, CNC_WRITER_LOG_ERROR, "writer: batch of %zu not stored, will retry (%s: %s)",
                good, cnc_db_cause_name(cause), err);
            return false;
        }
        /* Which record? Each alone: the refused one to the dead letters, the rest stored. */
        if (!store_one_by_one(w, good)) {
            return false;
        }
        good = 0; /* counted one by one */
    }
    if (cnc_spool_commit(w->spool, &w->recs[n - 1].end) != 0) {
        /* Stored but not checkpointed: retrying the batch is a no-op for the database. */
        say(w, CNC_WRITER_LOG_ERROR, "writer: cannot write the spool checkpoint (%s); will retry",
            strerror(errno));
        return false;
    }
    /* Once checkpointed: a retry is not counted twice. */
    atomic_fetch_add(&w->stats.stored, count_latency(w, w->decoded, good));
    atomic_store(&w->stats.last_batch_ms, (uint64_t)(cnc_mono_ms() - t0));
    atomic_store(&w->stats.last_cause, CNC_DB_OK);
    atomic_store(&w->stats.dead_letters_full, 0); /* whatever held it up is gone */
    /* Under sustained load collect() never idles: keep a spare segment ready from here too. */
    cnc_spool_prepare(w->spool);
    atomic_fetch_add(&w->stats.batches, 1);
    return true;
}

static void *writer_main(void *arg)
{
    struct cnc_writer *w = arg;
    pthread_setname_np(pthread_self(), "cnc-writer"); /* as top -H and ps -L show it */
    unsigned attempt = 0; /* consecutive failures, connecting or writing; 0 after a commit */
    char err[512];
    /* A database that dies under a write raises SIGPIPE in this thread; its default action
       would end the whole broker. Blocked here, the write just fails with EPIPE. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    if (w->sink.ops->thread_start != NULL) {
        w->sink.ops->thread_start(w->sink.state);
    }
    while (!atomic_load(&w->stop)) {
        if (!w->sink.ops->is_open(w->sink.state)) {
            err[0] = '\0';
            enum cnc_db_cause cause = CNC_DB_OTHER;
            if (!open_sink(w, err, sizeof err, &cause)) {
                if (attempt <= 1 || attempt % 10 == 0) {
                    say(w, CNC_WRITER_LOG_ERROR,
                        "writer: %s; records wait in the spool (%llu bytes), retrying", err,
                        (unsigned long long)cnc_spool_backlog_bytes(w->spool));
                }
                count_failure(w, cause);
                cnc_spool_prepare(w->spool);
                nap(w, backoff(w, attempt++));
                continue;
            }
            char where[300] = "", again[64] = "";
            uint64_t moves = 0;
            if (w->sink.ops->describe != NULL) {
                w->sink.ops->describe(w->sink.state, where, sizeof where, &moves);
            }
            if (attempt > 0) {
                snprintf(again, sizeof again, " again after %u attempts", attempt);
            }
            char failovers[48] = "";
            if (moves > 0) {
                snprintf(failovers, sizeof failovers, " (%llu failovers so far)",
                         (unsigned long long)moves);
            }
            say(w, CNC_WRITER_LOG_INFO, "writer: connected to the database%s%s%s%s", again,
                where[0] != '\0' ? " through " : "", where, failovers);
        }
        size_t n = collect(w);
        if (n == 0) {
            continue;
        }
        if (!store(w, n)) {
            cnc_spool_rewind(w->spool);
            nap(w, backoff(w, attempt++));
        } else {
            attempt = 0;
            atomic_store(&w->stats.retry_attempt, 0);
        }
        cnc_spool_prepare(w->spool);
    }
    if (w->sink.ops->thread_end != NULL) {
        w->sink.ops->thread_end(w->sink.state);
    }
    return NULL;
}

struct cnc_writer *cnc_writer_start(struct cnc_spool *spool, struct cnc_sink sink,
                                    const struct cnc_writer_config *cfg, enum cnc_fsync fsync,
                                    uint64_t dead_letter_max_bytes, char *err, size_t err_len)
{
    struct cnc_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, err_len, "writer: out of memory");
        sink.ops->destroy(sink.state);
        return NULL;
    }
    w->spool = spool;
    w->sink = sink;
    w->retry_base_ms = cfg->retry_base_ms;
    w->retry_max_ms = cfg->retry_max_ms;
    w->batch_size = (size_t)cfg->batch_size;
    w->flush_ms = cfg->flush_interval_ms;
    w->fsync = fsync;
    w->dead_letter_max = dead_letter_max_bytes;
    w->rng = (uint64_t)time(NULL) * 2654435761u + 1;
    w->recs = calloc(w->batch_size, sizeof *w->recs);
    w->decoded = calloc(w->batch_size, sizeof *w->decoded);
    w->rec_of = calloc(w->batch_size, sizeof *w->rec_of);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* a wall-clock step must not stall it */
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = w->recs && w->decoded && w->rec_of ? pthread_create(&w->thread, NULL, writer_main, w)
                                                : ENOMEM;
    if (rc != 0) {
        snprintf(err, err_len, "writer: cannot start the thread: %s", strerror(rc));
        free(w->recs);
        free(w->decoded);
        free(w->rec_of);
        sink.ops->destroy(sink.state);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        free(w);
        return NULL;
    }
    return w;
}

void cnc_writer_stop(struct cnc_writer *w, void (*fn)(void *arg, int level, const char *line),
                     void *arg)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, true);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    if (fn != NULL) {
        cnc_writer_drain_log(w, fn, arg);
    }
    w->sink.ops->destroy(w->sink.state);
    free(w->recs);
    free(w->decoded);
    free(w->rec_of);
    cnc_buf_free(&w->line);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

const struct cnc_writer_stats *cnc_writer_stats(const struct cnc_writer *w)
{
    return &w->stats;
}

void cnc_writer_sink_where(const struct cnc_writer *w, char *where, size_t len, uint64_t *failovers)
{
    *failovers = 0;
    snprintf(where, len, "%s", "");
    if (w != NULL && w->sink.ops->describe != NULL) {
        w->sink.ops->describe(w->sink.state, where, len, failovers);
    }
}
