/*
 * test_spool.c - the spool (plugin/store/spool.c): append/read/commit across
 * segments, replay from the checkpoint after a restart, max_bytes,
 * a torn tail and damage in the middle, and one appender thread against one
 * reader thread (run under TSan in CI).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cnc_error.h"
#include "spool.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cnc_spool_test_XXXXXX");
    return mkdtemp(dir) == NULL;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static struct cnc_spool *open_spool(const char *sub, uint64_t max, uint64_t seg)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    struct cnc_spool *s = cnc_spool_open(path, max, seg, CNC_FSYNC_NEVER, err, sizeof err);
    if (s == NULL) {
        fail_msg("%s", err);
    }
    return s;
}

static void append_n(struct cnc_spool *s, int from, int to)
{
    char rec[64];
    for (int i = from; i < to; i++) {
        int len = snprintf(rec, sizeof rec, "record-%d", i);
        assert_int_equal(cnc_spool_append(s, rec, (size_t)len + (size_t)(i % 7)), 0);
    }
}

/* Reads everything available, checking records come in order from `expect`; returns the next. */
static int drain(struct cnc_spool *s, int expect, bool commit)
{
    struct cnc_spool_record recs[50];
    size_t n;
    while ((n = cnc_spool_read(s, recs, 50, NULL, NULL)) > 0) {
        for (size_t i = 0; i < n; i++) {
            char want[64];
            int len = snprintf(want, sizeof want, "record-%d", expect);
            assert_int_equal(recs[i].len, (size_t)len + (size_t)(expect % 7));
            assert_memory_equal(recs[i].data, want, (size_t)len);
            expect++;
        }
        if (commit) {
            assert_int_equal(cnc_spool_commit(s, &recs[n - 1].end), 0);
        }
    }
    return expect;
}

static void append_read_commit_across_segments(void **state)
{
    (void)state;
    /* 4 KiB segments: a few hundred records span many of them. */
    struct cnc_spool *s = open_spool("a", 1 << 20, 4096);
    append_n(s, 0, 500);
    assert_true(cnc_spool_backlog_bytes(s) > 0);
    assert_int_equal(drain(s, 0, true), 500);
    assert_int_equal(cnc_spool_backlog_bytes(s), 0);
    append_n(s, 500, 520);
    assert_int_equal(drain(s, 500, true), 520);
    cnc_spool_close(s);
}

static void replay_after_restart(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("b", 1 << 20, 4096);
    append_n(s, 0, 300);
    struct cnc_spool_record recs[100];
    size_t n = cnc_spool_read(s, recs, 100, NULL, NULL);
    assert_int_equal(n, 100);
    assert_int_equal(cnc_spool_commit(s, &recs[99].end), 0);
    /* Read more but do not commit: as if the database had not confirmed. */
    assert_int_equal(cnc_spool_read(s, recs, 100, NULL, NULL), 100);
    cnc_spool_close(s);

    s = open_spool("b", 1 << 20, 4096);
    assert_true(cnc_spool_backlog_bytes(s) > 0);
    append_n(s, 300, 310);
    assert_int_equal(drain(s, 100, true), 310);
    assert_int_equal(cnc_spool_backlog_bytes(s), 0);
    cnc_spool_close(s);

    /* Everything committed: a restart replays nothing. */
    s = open_spool("b", 1 << 20, 4096);
    assert_int_equal(cnc_spool_read(s, recs, 100, NULL, NULL), 0);
    cnc_spool_close(s);
}

static ino_t inode_of(const char *sub, const char *name)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 32); /* one checkpoint record */
    return st.st_ino;
}

static void damage_checkpoint(const char *sub, const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 9, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
}

/*
 * The checkpoint lives in two files written in place by turns (never a new file, so a full
 * disk cannot stop commits). A damaged newer one (a write torn by a power loss) falls back to
 * the older one, which replays one commit's records again; both damaged refuse the open.
 */
static void checkpoint_in_place_by_turns(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("cp", 1 << 20, 4096);
    ino_t a = inode_of("cp", "checkpoint"), b = inode_of("cp", "checkpoint.1");
    append_n(s, 0, 30);
    struct cnc_spool_record recs[10];
    for (int k = 0; k < 3; k++) { /* commits after records 9, 19 and 29 */
        assert_int_equal(cnc_spool_read(s, recs, 10, NULL, NULL), 10);
        assert_int_equal(cnc_spool_commit(s, &recs[9].end), 0);
    }
    assert_true(inode_of("cp", "checkpoint") == a && inode_of("cp", "checkpoint.1") == b);
    cnc_spool_close(s);

    /* Turns after an open: checkpoint (9), checkpoint.1 (19), checkpoint (29). The newest
       damaged leaves checkpoint.1 at record 19: records 20-29 come again. */
    damage_checkpoint("cp", "checkpoint");
    s = open_spool("cp", 1 << 20, 4096);
    assert_int_equal(drain(s, 20, true), 30);
    cnc_spool_close(s);

    damage_checkpoint("cp", "checkpoint");
    damage_checkpoint("cp", "checkpoint.1");
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/cp", dir);
    assert_null(cnc_spool_open(path, 1 << 20, 4096, CNC_FSYNC_NEVER, err, sizeof err));
    assert_non_null(strstr(err, "are damaged"));
}

/* Two brokers with one spool.dir: the second is refused while the first has it open. */
static void second_open_refused(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("lock", 1 << 20, 4096);
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/lock", dir);
    assert_null(cnc_spool_open(path, 1 << 20, 4096, CNC_FSYNC_NEVER, err, sizeof err));
    assert_non_null(strstr(err, "is in use by another process (another broker"));
    assert_non_null(strstr(err, "give each broker its own spool.dir"));
    cnc_spool_close(s);
    s = open_spool("lock", 1 << 20, 4096); /* free again once closed */
    cnc_spool_close(s);
}

static void rewind_rereads(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("c", 1 << 20, 4096);
    append_n(s, 0, 10);
    struct cnc_spool_record recs[20];
    assert_int_equal(cnc_spool_read(s, recs, 20, NULL, NULL), 10);
    cnc_spool_rewind(s);
    assert_int_equal(drain(s, 0, true), 10);
    cnc_spool_close(s);
}

static void full_until_committed(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("d", 16384, 4096);
    char rec[100] = {0};
    int accepted = 0;
    while (cnc_spool_append(s, rec, sizeof rec) == 0) {
        accepted++;
    }
    assert_int_equal(cnc_spool_append(s, rec, sizeof rec), CNC_EFULL);
    assert_true(accepted > 100 && accepted <= 16384 / 116);
    struct cnc_spool_record recs[500];
    size_t n = cnc_spool_read(s, recs, 500, NULL, NULL);
    assert_int_equal(n, (size_t)accepted);
    assert_int_equal(cnc_spool_commit(s, &recs[n - 1].end), 0);
    assert_int_equal(cnc_spool_append(s, rec, sizeof rec), 0);
    cnc_spool_close(s);
}

static int warnings;
static void count_warning(void *arg, const char *message)
{
    (void)arg;
    assert_non_null(strstr(message, "damaged record"));
    warnings++;
}

/* Corrupts bytes at `at` of the first segment file in sub. */
static void corrupt(const char *sub, long at, const char *bytes, size_t n)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s/seg-%016x.spool", dir, sub, 1); /* the first segment */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, at, SEEK_SET);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static void damage_is_skipped_and_reported(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("e", 1 << 20, 1 << 16);
    append_n(s, 0, 20);
    cnc_spool_close(s);
    /* Record i has a 16-byte header and 8 + i % 7 body bytes, 8-aligned: record 0 takes
       bytes 0-23, record 1 24-55, record 2 56-87. Flip a body byte of record 1. */
    corrupt("e", 24 + 16 + 2, "X", 1);
    s = open_spool("e", 1 << 20, 1 << 16);
    struct cnc_spool_record recs[50];
    warnings = 0;
    size_t n = cnc_spool_read(s, recs, 50, count_warning, NULL);
    assert_int_equal(warnings, 1);
    assert_int_equal(n, 19); /* record 1 lost, the 18 after it intact */
    assert_memory_equal(recs[0].data, "record-0", 8);
    assert_memory_equal(recs[1].data, "record-2", 8);
    assert_int_equal(cnc_spool_commit(s, &recs[n - 1].end), 0);
    assert_int_equal(cnc_spool_backlog_bytes(s), 0);
    cnc_spool_close(s);
}

static void torn_tail_cut_off(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("f", 1 << 20, 1 << 16);
    append_n(s, 0, 3);
    cnc_spool_close(s);
    /* Zero the end of record 2's body: header present, body incomplete. */
    corrupt("f", 56 + 16 + 4, "\0\0\0\0", 4);
    s = open_spool("f", 1 << 20, 1 << 16);
    struct cnc_spool_record recs[10];
    warnings = 0;
    assert_int_equal(cnc_spool_read(s, recs, 10, count_warning, NULL), 2);
    assert_int_equal(warnings, 1);
    assert_int_equal(cnc_spool_read(s, recs, 10, count_warning, NULL), 0);
    cnc_spool_close(s);
}

/* A batch built from several reads across segment switches: all its records stay readable. */
static void records_valid_until_commit(void **state)
{
    (void)state;
    struct cnc_spool *s = open_spool("h", 1 << 20, 4096);
    append_n(s, 0, 400);
    struct cnc_spool_record recs[400];
    size_t n = 0;
    while (n < 400) {
        size_t got = cnc_spool_read(s, recs + n, 7, NULL, NULL);
        assert_true(got > 0);
        n += got;
    }
    for (size_t i = 0; i < n; i++) {
        char want[64];
        int len = snprintf(want, sizeof want, "record-%zu", i);
        assert_memory_equal(recs[i].data, want, (size_t)len);
    }
    assert_int_equal(cnc_spool_commit(s, &recs[n - 1].end), 0);
    cnc_spool_close(s);
}

struct race {
    struct cnc_spool *s;
    int total;
    int seen;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    struct cnc_spool_record recs[64];
    while (r->seen < r->total) {
        cnc_spool_prepare(r->s);
        size_t n = cnc_spool_read(r->s, recs, 64, NULL, NULL);
        for (size_t i = 0; i < n; i++) {
            int v;
            memcpy(&v, recs[i].data, sizeof v);
            if (v != r->seen) {
                return (void *)1;
            }
            r->seen++;
        }
        if (n > 0) {
            cnc_spool_commit(r->s, &recs[n - 1].end);
        } else {
            usleep(100);
        }
    }
    return NULL;
}

static void appender_and_reader_threads(void **state)
{
    (void)state;
    struct race r = {open_spool("g", 1 << 20, 8192), 20000, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &r), 0);
    for (int i = 0; i < r.total;) {
        int rc = cnc_spool_append(r.s, &i, sizeof i);
        if (rc == 0) {
            i++;
        } else {
            /* Full is the one answer to wait out (the reader frees room); any other is a
               failure, not a reason to retry for ever. */
            assert_int_equal(rc, CNC_EFULL);
            usleep(50);
        }
    }
    void *bad;
    assert_int_equal(pthread_join(th, &bad), 0);
    assert_null(bad);
    assert_int_equal(r.seen, r.total);
    cnc_spool_close(r.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_read_commit_across_segments),
        cmocka_unit_test(replay_after_restart),
        cmocka_unit_test(checkpoint_in_place_by_turns),
        cmocka_unit_test(rewind_rereads),
        cmocka_unit_test(second_open_refused),
        cmocka_unit_test(full_until_committed),
        cmocka_unit_test(damage_is_skipped_and_reported),
        cmocka_unit_test(torn_tail_cut_off),
        cmocka_unit_test(records_valid_until_commit),
        cmocka_unit_test(appender_and_reader_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
