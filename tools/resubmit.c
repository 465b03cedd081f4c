/*
 * resubmit.c - cnc-ingest-resubmit, the way back for dead letters.
 *
 *   cnc-ingest-resubmit CONFIG [FILE]
 *
 * Writes the records of a dead-letter file (default: dead-letter.jsonl in
 * the config's spool.dir) into the config's database, once the cause that
 * made the database refuse them is fixed (a CHECK dropped, a column widened,
 * max_allowed_packet raised). Each record is the spool record that was
 * refused, with what its handler computed, so it is stored as it would have
 * been, with the same msg_key: running the command twice, or on a record that
 * did get stored, adds nothing.
 *
 * The file is first renamed to FILE.resubmit-<pid> (the broker's writer
 * starts a new FILE for any new dead letter meanwhile) and locked (flock, as
 * the writer locks each append: one that opened the old name just before the
 * rename finishes first); records the database still refuses are appended
 * back to FILE with the new reason; if the database stops taking writes
 * (read-only, down, ...) the remaining lines go back to FILE untouched and the
 * command says so. Left-over .resubmit-* files of an interrupted run are taken
 * up first; a record seen twice in one run (by msg_key) is handled once. One
 * run at a time: FILE.resubmit.lock.
 *
 * Exit status: 0 all stored; 1 some still refused or left; 2 usage or config
 * errors. Single-threaded command-line tool; talks to the database directly
 * through the plugin's own MySQL sink.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/file.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dead_letter.h"
#include "payload_span.h"
#include "safe_file.h"
#include "sink_mysql.h"
#include "stored_record.h"

#include <xxhash.h>

struct counts {
    long stored, refused, left, bad, repeated;
};

/* The msg_keys handled in this run (a small open-addressing set; dead letters are few). */
struct seen {
    uint8_t (*keys)[16];
    size_t cap, n;
};

/* true when key was already there; adds it otherwise. */
static bool seen_before(struct seen *set, const uint8_t key[16])
{
    if (set->n * 2 >= set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 1024;
        uint8_t(*keys)[16] = calloc(cap, 16);
        if (keys == NULL) {
            return false; /* out of memory: no dedupe, INSERT IGNORE still makes it one row */
        }
        for (size_t i = 0; i < set->cap; i++) {
            static const uint8_t zero[16];
            if (memcmp(set->keys[i], zero, 16) != 0) {
                size_t k = (size_t)XXH3_64bits(set->keys[i], 16) & (cap - 1);
                while (memcmp(keys[k], zero, 16) != 0) {
                    k = (k + 1) & (cap - 1);
                }
                memcpy(keys[k], set->keys[i], 16);
            }
        }
        free(set->keys);
        set->keys = keys;
        set->cap = cap;
    }
    static const uint8_t zero[16];
    size_t k = (size_t)XXH3_64bits(key, 16) & (set->cap - 1);
    while (memcmp(set->keys[k], zero, 16) != 0) {
        if (memcmp(set->keys[k], key, 16) == 0) {
            return true;
        }
        k = (k + 1) & (set->cap - 1);
    }
    memcpy(set->keys[k], key, 16);
    set->n++;
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int append_back(const char *target, const char *line, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, line, len);
    copy[len] = '\n';
    int rc = cnc_dead_letter_append(target, copy, len + 1, UINT64_MAX);
    free(copy);
    return rc;
}

/* One renamed file: every line stored, refused again (back to target) or left (back to target). */
static int run_file(struct cnc_mysql *db, const char *path, const char *target, struct counts *c,
                    struct seen *set)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "cnc-ingest-resubmit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* Waits for an append that opened the file under its old name to finish. */
    if (flock(fileno(in), LOCK_EX) != 0) {
        fprintf(stderr, "cnc-ingest-resubmit: %s: cannot lock: %s\n", path, strerror(errno));
        fclose(in);
        return -1;
    }
    char *line = NULL, err[1024];
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    bool waiting = false;
    struct cnc_buf rec = {0}, out = {0};
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        struct cnc_stored s;
        enum cnc_db_cause cause = CNC_DB_OK;
        uint8_t key[16];
        if (waiting) {
            c->left++;
        } else if (cnc_dead_letter_parse(line, (size_t)n, &rec, err, sizeof err) != 0 ||
                   cnc_stored_decode(rec.p, rec.len, &s) != 0) {
            fprintf(stderr, "%s:%ld: not a dead letter (%s); kept\n", path, lineno, err);
            c->bad++;
        } else if (cnc_msg_key(&s, key), seen_before(set, key)) {
            c->repeated++; /* the same record twice (a retried dead letter): handled once */
            continue;
        } else if ((!cnc_mysql_connected(db) &&
                    cnc_mysql_connect(db, err, sizeof err, &cause) != 0) ||
                   cnc_mysql_write(db, &s, 1, err, sizeof err, &cause) != 0) {
            if (cause == CNC_DB_REFUSED &&
                cnc_dead_letter_format(&out, &s, rec.p, rec.len, err, now_ms()) == 0) {
                fprintf(stderr, "%s:%ld: %.*s still refused: %s\n", path, lineno, (int)s.cnc_id.len,
                        s.cnc_id.p, err);
                c->refused++;
                if (cnc_dead_letter_append(target, out.p, out.len, UINT64_MAX) != 0) {
                    break; /* the file is kept whole; a record in both is handled once later */
                }
                continue;
            }
            fprintf(stderr,
                    "cnc-ingest-resubmit: the database does not take writes now (%s: %s); the "
                    "rest goes back to %s\n",
                    cnc_db_cause_name(cause), err, target);
            waiting = true;
            c->left++;
        } else {
            c->stored++;
            continue;
        }
        if (append_back(target, line, (size_t)n) != 0) {
            break;
        }
    }
    bool complete = feof(in) && !ferror(in);
    if (!complete) {
        fprintf(stderr, "cnc-ingest-resubmit: cannot write %s: %s; %s is kept whole\n", target,
                strerror(errno), path);
    } else {
        unlink(path); /* under the lock: no append can land in it after this */
    }
    free(line);
    fclose(in);
    cnc_buf_free(&rec);
    cnc_buf_free(&out);
    return complete ? 0 : -1;
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: cnc-ingest-resubmit CONFIG [DEAD_LETTER_FILE]\n");
        return 2;
    }
    struct cnc_config *cfg = cnc_config_load(argv[1], err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (!cnc_config_has(cfg, "mysql")) {
        fprintf(stderr, "%s: no mysql section: nowhere to re-submit to\n", argv[1]);
        cnc_config_destroy(cfg);
        return 2;
    }
    char target[4200];
    if (argc == 3) {
        snprintf(target, sizeof target, "%s", argv[2]);
    } else {
        snprintf(target, sizeof target, "%s/" CNC_DEAD_LETTER_FILE, cfg->spool.dir);
    }
    char *password = NULL;
    if (cnc_password_read(cfg->mysql.password_file, CNC_FILE_NO_OWNER, &password, err,
                          sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        cnc_config_destroy(cfg);
        return 2;
    }
    /* One run at a time. */
    char lock_path[4300];
    snprintf(lock_path, sizeof lock_path, "%s.resubmit.lock", target);
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0 || cnc_mysql_library_init() != 0) {
        fprintf(stderr, "cnc-ingest-resubmit: %s\n",
                lock_fd < 0            ? strerror(errno)
                : errno == EWOULDBLOCK ? "another cnc-ingest-resubmit is running on this file"
                                       : "cannot initialise the MySQL client library");
        if (password != NULL) {
            memset(password, 0, strlen(password));
            free(password);
        }
        cnc_config_destroy(cfg);
        return 2;
    }
    cfg->mysql.create_schema = false; /* the broker made the tables (and migrated them) */
    struct cnc_mysql *db = cnc_mysql_create(&cfg->mysql, password, cfg->node);
    if (password != NULL) {
        memset(password, 0, strlen(password));
        free(password);
    }
    enum cnc_db_cause cause;
    if (db == NULL || cnc_mysql_connect(db, err, sizeof err, &cause) != 0) {
        /* A server that is up but read-only (or a cluster with no node ready) is found here. */
        if (db != NULL) {
            fprintf(stderr,
                    "cnc-ingest-resubmit: the database does not take writes now (%s: %s); "
                    "nothing was changed\n",
                    cnc_db_cause_name(cause), err);
        } else {
            fprintf(stderr, "cnc-ingest-resubmit: out of memory; nothing was changed\n");
        }
        cnc_mysql_destroy(db);
        cnc_config_destroy(cfg);
        return 1;
    }
    /* Left-overs of an interrupted run first, then the current file, renamed. */
    char dir_buf[4200], base_buf[4200], prefix[4300], path[8600];
    snprintf(dir_buf, sizeof dir_buf, "%s", target);
    snprintf(base_buf, sizeof base_buf, "%s", target);
    const char *dir = dirname(dir_buf), *base = basename(base_buf);
    snprintf(prefix, sizeof prefix, "%s.resubmit-", base);
    struct counts c = {0};
    struct seen set = {0};
    int failed = 0, files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            failed |= run_file(db, path, target, &c, &set) != 0;
            files++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    snprintf(path, sizeof path, "%s.resubmit-%ld", target, (long)getpid());
    if (rename(target, path) == 0) {
        failed |= run_file(db, path, target, &c, &set) != 0;
        files++;
    } else if (errno != ENOENT) {
        fprintf(stderr, "cnc-ingest-resubmit: cannot take %s: %s\n", target, strerror(errno));
        failed = 1;
    }
    if (files == 0 && !failed) {
        printf("%s: no dead letters\n", target);
    } else {
        printf("%ld stored, %ld still refused, %ld left for later, %ld unreadable lines kept%s%s"
               "%s\n",
               c.stored, c.refused, c.left, c.bad, c.refused + c.left + c.bad > 0 ? " in " : "",
               c.refused + c.left + c.bad > 0 ? target : "",
               c.repeated > 0 ? " (repeated records handled once)" : "");
    }
    free(set.keys);
    cnc_mysql_destroy(db);
    cnc_mysql_library_end();
    cnc_config_destroy(cfg);
    close(lock_fd); /* the lock file stays: removing it would race the next run's open */
    return failed || c.refused + c.left + c.bad > 0 ? 1 : 0;
}
