/*
 * spool.c - segment files, append (broker thread), read/commit (writer
 * thread). See spool.h for the format and the threading contract.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "cnc_error.h"

#define MAGIC 0x52434E43u /* "CNCR" */
#define HDR 16u
#define OFFSET_BITS 37 /* segments are at most 2^36 bytes; ids get the other 27 bits */
#define OFFSET_MASK ((UINT64_C(1) << OFFSET_BITS) - 1)
#define CHECKPOINT_MAGIC 0x544B4843u /* "CHKT" */

struct segment_map {
    uint64_t id;
    int fd;
    char *base;
    size_t size;
};

struct cnc_spool {
    char *dir;
    int dir_fd;
    uint64_t max_bytes;
    uint64_t segment_bytes;
    enum cnc_fsync fsync;

    /* Appender (broker thread) only. */
    struct segment_map cur;
    uint64_t append_off;
    unsigned spare_seq;

    /* Shared. */
    _Atomic uint64_t pos;                /* published append position */
    _Atomic uint64_t appended;           /* bytes appended (incl. backlog found at open) */
    _Atomic uint64_t committed;          /* bytes the reader has committed */
    _Atomic(struct segment_map *) spare; /* a preallocated, mapped file ready to become a segment */

    /* Reader (writer thread) only. */
    struct segment_map rd;
    struct segment_map retired[16]; /* maps whose records the caller may still hold */
    size_t n_retired;
    bool outstanding;        /* records handed out since the last commit or rewind */
    uint64_t synced_segment; /* fsync batch: segments below this one are on disk */
    struct cnc_spool_pos rpos;
    struct cnc_spool_pos cpos;
    uint64_t lowest_segment; /* the oldest segment file that may still exist */
    int cp_fd[2];            /* the two checkpoint files, written in place by turns */
    int cp_slot;             /* the one the next commit overwrites (not the newest) */
};

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static uint64_t checksum(uint32_t len, const void *body)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &len, sizeof len);
    XXH3_64bits_update(&st, body, len);
    return XXH3_64bits_digest(&st);
}

static void segment_path(const struct cnc_spool *s, uint64_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/seg-%016" PRIx64 ".spool", s->dir, id);
}

static void unmap(struct segment_map *m)
{
    if (m->base != NULL) {
        munmap(m->base, m->size);
    }
    if (m->fd >= 0) {
        close(m->fd);
    }
    m->base = NULL;
    m->fd = -1;
    m->size = 0;
}

/* Maps an existing segment for reading and writing. 0, or -errno. */
static int map_file(const char *path, struct segment_map *m, uint64_t id)
{
    m->fd = open(path, O_RDWR | O_CLOEXEC);
    if (m->fd < 0) {
        return -errno;
    }
    struct stat st = {0};
    errno = 0;
    if (fstat(m->fd, &st) != 0 || st.st_size <= 0) {
        int e = errno != 0 ? errno : EINVAL;
        close(m->fd);
        m->fd = -1;
        return -e;
    }
    m->size = (size_t)st.st_size;
    m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (m->base == MAP_FAILED) {
        int e = errno;
        m->base = NULL;
        close(m->fd);
        m->fd = -1;
        return -e;
    }
    m->id = id;
    return 0;
}

/* Creates a preallocated (zeroed) file and maps it. 0, or -errno (ENOSPC: disk full). */
static int create_file(const char *path, uint64_t size, struct segment_map *m, uint64_t id)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -errno;
    }
    int rc = posix_fallocate(fd, 0, (off_t)size);
    if (rc != 0) {
        close(fd);
        unlink(path);
        return -rc;
    }
    close(fd);
    rc = map_file(path, m, id);
    if (rc != 0) {
        unlink(path);
    }
    return rc;
}

static void sync_dir(struct cnc_spool *s)
{
    if (s->fsync != CNC_FSYNC_NEVER) {
        fsync(s->dir_fd);
    }
}

/* ---- checkpoint ---- */

struct checkpoint_file {
    uint32_t magic;
    uint32_t zero;
    uint64_t segment;
    uint64_t offset;
    uint64_t sum;
};

/*
 * Two checkpoint files, "checkpoint" and "checkpoint.1", created at open and from then on
 * overwritten in place by turns: a commit never needs a new block, so a full disk cannot stop
 * the writer from recording what it stored (and then deleting spent segments, which frees the
 * disk). On a copy-on-write filesystem (btrfs, ZFS) an overwrite allocates too: keep the spool
 * on another kind there, or leave room. The newer intact one counts; a write torn by a power loss
 * leaves the other, one commit older, whose replay the database ignores as duplicates.
 */
static const char *const checkpoint_names[2] = {"checkpoint", "checkpoint.1"};

/* 0 and the position, 1 when the file does not exist or is empty, -EINVAL when damaged. */
static int read_slot(const struct cnc_spool *s, int slot, struct cnc_spool_pos *pos)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->dir, checkpoint_names[slot]);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? 1 : -errno;
    }
    struct checkpoint_file c;
    size_t got = fread(&c, 1, sizeof c, f);
    fclose(f);
    if (got == 0) {
        return 1;
    }
    if (got != sizeof c || c.magic != CHECKPOINT_MAGIC ||
        c.sum != XXH3_64bits(&c, offsetof(struct checkpoint_file, sum))) {
        return -EINVAL;
    }
    pos->segment = c.segment;
    pos->offset = c.offset;
    return 0;
}

/* The newer intact checkpoint: 0, 1 when there is none, -EINVAL when every one is damaged. */
static int read_checkpoint(struct cnc_spool *s, struct cnc_spool_pos *pos)
{
    struct cnc_spool_pos p[2] = {{0, 0, 0}, {0, 0, 0}};
    int rc[2] = {read_slot(s, 0, &p[0]), read_slot(s, 1, &p[1])};
    int newest = -1;
    for (int i = 0; i < 2; i++) {
        if (rc[i] == 0 && (newest < 0 || p[i].segment > p[newest].segment ||
                           (p[i].segment == p[newest].segment && p[i].offset > p[newest].offset))) {
            newest = i;
        }
    }
    if (newest >= 0) {
        *pos = p[newest];
        s->cp_slot = newest ^ 1;
        return 0;
    }
    return rc[0] < 0 ? rc[0] : rc[1] < 0 ? rc[1] : 1;
}

static int write_slot(struct cnc_spool *s, int slot, const struct cnc_spool_pos *pos)
{
    struct checkpoint_file c = {CHECKPOINT_MAGIC, 0, pos->segment, pos->offset, 0};
    c.sum = XXH3_64bits(&c, offsetof(struct checkpoint_file, sum));
    if (pwrite(s->cp_fd[slot], &c, sizeof c, 0) != (ssize_t)sizeof c) {
        return CNC_EIO;
    }
    if (s->fsync != CNC_FSYNC_NEVER && fdatasync(s->cp_fd[slot]) != 0) {
        return CNC_EIO;
    }
    return 0;
}

static int write_checkpoint(struct cnc_spool *s, const struct cnc_spool_pos *pos)
{
    int rc = write_slot(s, s->cp_slot, pos);
    if (rc == 0) {
        s->cp_slot ^= 1;
    }
    return rc;
}

/* At open: both files exist and hold pos, so no later commit allocates. 0 or -errno. */
static int create_checkpoints(struct cnc_spool *s, const struct cnc_spool_pos *pos)
{
    for (int i = 0; i < 2; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", s->dir, checkpoint_names[i]);
        s->cp_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (s->cp_fd[i] < 0 || write_slot(s, i, pos) != 0) {
            return errno != 0 ? -errno : -EIO;
        }
    }
    char old[4200]; /* an earlier version wrote a temporary file and renamed it */
    snprintf(old, sizeof old, "%s/checkpoint.tmp", s->dir);
    unlink(old);
    s->cp_slot = 0;
    sync_dir(s);
    return 0;
}

/* ---- reading records ---- */

static void release_retired(struct cnc_spool *s)
{
    for (size_t i = 0; i < s->n_retired; i++) {
        unmap(&s->retired[i]);
    }
    s->n_retired = 0;
}

/* After a commit short of the read position: maps still holding handed-out records stay. */
static void release_retired_before(struct cnc_spool *s, uint64_t segment)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_retired; i++) {
        if (s->retired[i].id < segment) {
            unmap(&s->retired[i]);
        } else {
            s->retired[kept++] = s->retired[i];
        }
    }
    s->n_retired = kept;
}

/* True when a whole, intact record starts at off (below limit). */
static bool record_at(const struct segment_map *m, uint64_t off, uint64_t limit, uint32_t *len)
{
    if (off + HDR > limit) {
        return false;
    }
    const char *p = m->base + off;
    uint32_t magic, l;
    uint64_t sum;
    memcpy(&magic, p, 4);
    memcpy(&l, p + 4, 4);
    memcpy(&sum, p + 8, 8);
    if (magic != MAGIC || l > limit - off - HDR || checksum(l, p + HDR) != sum) {
        return false;
    }
    *len = l;
    return true;
}

static bool zero_header(const struct segment_map *m, uint64_t off)
{
    static const char zeros[HDR];
    return off + HDR > m->size || memcmp(m->base + off, zeros, HDR) == 0;
}

/* The end of the records in a closed segment (scan; damage skipped). */
static uint64_t segment_data_end(const struct segment_map *m, uint64_t from)
{
    uint64_t off = from, end = from;
    uint32_t len;
    while (off + HDR <= m->size) {
        if (record_at(m, off, m->size, &len)) {
            off += align8(HDR + len);
            end = off;
        } else if (zero_header(m, off)) {
            break;
        } else {
            off += 8;
        }
    }
    return end;
}

static int parse_segment_name(const char *name, uint64_t *id)
{
    unsigned long long v;
    int n = 0;
    if (sscanf(name, "seg-%16llx.spool%n", &v, &n) == 1 && name[n] == '\0') {
        *id = v;
        return 0;
    }
    return -1;
}

/* Finds existing segments: the lowest and highest id, and removes stale spare files. */
static void scan_dir(struct cnc_spool *s, uint64_t *lowest, uint64_t *highest, bool *any)
{
    DIR *d = opendir(s->dir);
    *any = false;
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t id;
        if (parse_segment_name(e->d_name, &id) == 0) {
            if (!*any || id < *lowest) {
                *lowest = id;
            }
            if (!*any || id > *highest) {
                *highest = id;
            }
            *any = true;
        } else if (strncmp(e->d_name, "spare-", 6) == 0) {
            unlinkat(s->dir_fd, e->d_name, 0);
        }
    }
    closedir(d);
}

static int mkdirs(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

struct cnc_spool *cnc_spool_open(const char *dir, uint64_t max_bytes, uint64_t segment_bytes,
                                 enum cnc_fsync fsync, char *err, size_t err_len)
{
    struct cnc_spool *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        snprintf(err, err_len, "spool: out of memory");
        return NULL;
    }
    s->cur.fd = s->rd.fd = s->dir_fd = s->cp_fd[0] = s->cp_fd[1] = -1;
    s->max_bytes = max_bytes;
    s->segment_bytes =
        segment_bytes > max_bytes / 2 ? align8(max_bytes / 2) : align8(segment_bytes);
    s->fsync = fsync;
    int rc = mkdirs(dir);
    if (rc == 0) {
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = s->dir_fd < 0 ? -errno : 0;
    }
    if (rc == 0 && access(dir, W_OK) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        snprintf(err, err_len,
                 "spool.dir: %s: %s (the folder must be writable by the broker's user)", dir,
                 strerror(-rc));
        cnc_spool_close(s);
        return NULL;
    }
    /* One broker per spool: two appending to the same segments would interleave records and
       checkpoints. The lock is the open folder's own; the kernel drops it when the process
       ends, however it ends. */
    if (flock(s->dir_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            snprintf(err, err_len,
                     "spool.dir: %s is in use by another process (another broker with the same "
                     "config?): give each broker its own spool.dir",
                     dir);
        } else { /* a file system without locks (NFS without lockd): say so, not "in use" */
            snprintf(err, err_len,
                     "spool.dir: %s cannot be locked (flock: %s): put the spool on a local file "
                     "system",
                     dir, strerror(errno));
        }
        cnc_spool_close(s);
        return NULL;
    }
    uint64_t lowest = 0, highest = 0;
    bool any;
    scan_dir(s, &lowest, &highest, &any);
    struct cnc_spool_pos cp = {0, 0, 0};
    rc = read_checkpoint(s, &cp);
    if (rc < 0) {
        snprintf(err, err_len,
                 "spool: %s/checkpoint and checkpoint.1 are damaged or unreadable: %s; move them "
                 "away to replay every segment",
                 dir, strerror(-rc));
        cnc_spool_close(s);
        return NULL;
    }
    if (rc == 1 || !any || cp.segment < lowest) {
        /* No checkpoint (or older than every file): replay everything there is. */
        cp.segment = any ? lowest : highest + 1;
        cp.offset = 0;
    }
    /* Backlog: what existing segments hold beyond the checkpoint. */
    uint64_t backlog = 0;
    for (uint64_t id = cp.segment; any && id <= highest; id++) {
        char path[4200];
        struct segment_map m = {.fd = -1};
        segment_path(s, id, path, sizeof path);
        if (map_file(path, &m, id) == 0) {
            uint64_t from = id == cp.segment ? cp.offset : 0;
            backlog += segment_data_end(&m, from) - from;
            unmap(&m);
        }
    }
    s->cpos = s->rpos = cp;
    s->lowest_segment = any ? lowest : cp.segment;
    errno = 0;
    rc = create_checkpoints(s, &cp);
    if (rc != 0) {
        snprintf(err, err_len, "spool: cannot write %s/checkpoint: %s", dir, strerror(-rc));
        cnc_spool_close(s);
        return NULL;
    }
    atomic_store(&s->appended, backlog);
    atomic_store(&s->committed, 0);

    /* Appends go to a fresh segment after every existing one. */
    char path[4200];
    uint64_t id = any ? highest + 1 : cp.segment;
    segment_path(s, id, path, sizeof path);
    rc = create_file(path, s->segment_bytes, &s->cur, id);
    if (rc != 0) {
        snprintf(err, err_len, "spool: cannot create %s (%llu bytes): %s", path,
                 (unsigned long long)s->segment_bytes, strerror(-rc));
        cnc_spool_close(s);
        return NULL;
    }
    sync_dir(s);
    atomic_store(&s->pos, id << OFFSET_BITS);
    return s;
}

size_t cnc_spool_max_record(const struct cnc_spool *s)
{
    return (size_t)(s->segment_bytes - HDR);
}

/* Broker thread: moves appends to the next segment. 0 or -errno. */
static int rotate(struct cnc_spool *s)
{
    uint64_t id = s->cur.id + 1;
    char path[4200];
    segment_path(s, id, path, sizeof path);
    struct segment_map next = {.fd = -1};
    struct segment_map *spare = atomic_exchange(&s->spare, NULL);
    int rc;
    if (spare != NULL) {
        char spath[4200];
        snprintf(spath, sizeof spath, "%s/spare-%u.tmp", s->dir, (unsigned)spare->id);
        rc = rename(spath, path) == 0 ? 0 : -errno;
        if (rc == 0) {
            next = *spare;
            next.id = id;
        } else {
            unmap(spare);
            unlink(spath);
        }
        free(spare);
    }
    if (next.base == NULL) {
        rc = create_file(path, s->segment_bytes, &next, id);
        if (rc != 0) {
            return rc;
        }
    }
    unmap(&s->cur);
    s->cur = next;
    s->append_off = 0;
    if (s->fsync == CNC_FSYNC_ALWAYS) {
        fsync(s->dir_fd); /* in batch mode cnc_spool_sync does it, off the broker thread */
    }
    atomic_store_explicit(&s->pos, id << OFFSET_BITS, memory_order_release);
    return 0;
}

int cnc_spool_append(struct cnc_spool *s, const void *body, size_t len)
{
    uint64_t size = align8(HDR + len);
    if (len > cnc_spool_max_record(s)) {
        return CNC_EINVAL;
    }
    uint64_t used = atomic_load_explicit(&s->appended, memory_order_relaxed) -
                    atomic_load_explicit(&s->committed, memory_order_acquire);
    if (used + size > s->max_bytes) {
        return CNC_EFULL;
    }
    if (s->append_off + size > s->cur.size) {
        int rc = rotate(s);
        if (rc != 0) {
            return rc == -ENOSPC || rc == -EDQUOT ? CNC_ENOSPACE : CNC_EIO;
        }
    }
    char *p = s->cur.base + s->append_off;
    uint32_t magic = MAGIC, l = (uint32_t)len;
    uint64_t sum = checksum(l, body);
    /* Header first: a crash in the middle leaves a record whose checksum fails. */
    memcpy(p, &magic, 4);
    memcpy(p + 4, &l, 4);
    memcpy(p + 8, &sum, 8);
    memcpy(p + HDR, body, len);
    if (s->fsync == CNC_FSYNC_ALWAYS) {
        long page = sysconf(_SC_PAGESIZE);
        uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
        if (msync((void *)start, (size_t)((uintptr_t)p + size - start), MS_SYNC) != 0) {
            memset(p, 0, HDR); /* refused: the record must never be read back */
            return CNC_EIO;
        }
    }
    s->append_off += size;
    atomic_fetch_add_explicit(&s->appended, size, memory_order_relaxed);
    /* Sequentially consistent (not just release): the writer's parking check and the broker
       thread's wake-up rely on a total order of this store and the writer's parked flag. */
    atomic_store(&s->pos, (s->cur.id << OFFSET_BITS) | s->append_off);
    return 0;
}

uint64_t cnc_spool_append_pos(const struct cnc_spool *s)
{
    return atomic_load(&s->pos);
}

uint64_t cnc_spool_backlog_bytes(const struct cnc_spool *s)
{
    return atomic_load(&s->appended) - atomic_load(&s->committed);
}

void cnc_spool_prepare(struct cnc_spool *s)
{
    if (atomic_load(&s->spare) != NULL) {
        return;
    }
    struct segment_map *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return;
    }
    char path[4200];
    unsigned seq = ++s->spare_seq;
    snprintf(path, sizeof path, "%s/spare-%u.tmp", s->dir, seq);
    if (create_file(path, s->segment_bytes, m, seq) != 0) {
        free(m);
        return;
    }
    struct segment_map *expected = NULL;
    if (!atomic_compare_exchange_strong(&s->spare, &expected, m)) {
        unmap(m);
        unlink(path);
        free(m);
    }
}

size_t cnc_spool_read(struct cnc_spool *s, struct cnc_spool_record *out, size_t max,
                      cnc_spool_warn_fn warn, void *warn_arg)
{
    size_t n = 0;
    char msg[4400];
    if (!s->outstanding) {
        release_retired(s);
    }
    while (n < max) {
        uint64_t p = atomic_load_explicit(&s->pos, memory_order_acquire);
        uint64_t aseg = p >> OFFSET_BITS, aoff = p & OFFSET_MASK;
        struct cnc_spool_pos *r = &s->rpos;
        if (r->segment > aseg) {
            break;
        }
        if (s->rd.base == NULL || s->rd.id != r->segment) {
            char path[4200];
            if (s->rd.base != NULL && (s->outstanding || n > 0)) {
                /* Records handed out point into this map: keep it until commit or rewind. */
                if (s->n_retired == sizeof s->retired / sizeof s->retired[0]) {
                    break;
                }
                s->retired[s->n_retired++] = s->rd;
                s->rd = (struct segment_map){.fd = -1};
            }
            unmap(&s->rd);
            segment_path(s, r->segment, path, sizeof path);
            if (map_file(path, &s->rd, r->segment) != 0) {
                if (r->segment < aseg) {
                    r->segment++;
                    r->offset = 0;
                    continue;
                }
                break;
            }
        }
        bool sealed = r->segment < aseg;
        uint64_t limit = sealed ? s->rd.size : aoff;
        uint32_t len;
        if (r->offset + HDR <= limit && record_at(&s->rd, r->offset, limit, &len)) {
            uint64_t size = align8(HDR + len);
            out[n].data = s->rd.base + r->offset + HDR;
            out[n].len = len;
            r->offset += size;
            r->consumed += size;
            out[n].end = *r;
            n++;
            continue;
        }
        if (r->offset + HDR > limit || zero_header(&s->rd, r->offset)) {
            if (!sealed) {
                break; /* caught up with the appender */
            }
            r->segment++;
            r->offset = 0;
            continue;
        }
        /* Damage: look for the next intact record in this segment. */
        uint64_t from = r->offset, off = from + 8;
        /* Zero bytes can be data (a 0.0 reading): scan a closed segment to its end. */
        while (off + HDR <= limit && !record_at(&s->rd, off, limit, &len) &&
               (sealed || !zero_header(&s->rd, off))) {
            off += 8;
        }
        bool found = off + HDR <= limit && record_at(&s->rd, off, limit, &len);
        if (warn != NULL) {
            snprintf(msg, sizeof msg,
                     "spool: damaged record in %s/seg-%016" PRIx64 ".spool at offset %" PRIu64
                     ": %s",
                     s->dir, r->segment, from,
                     found ? "skipped to the next intact record" : "torn or damaged tail cut off");
            warn(warn_arg, msg);
        }
        if (found) {
            r->consumed += off - from;
            r->offset = off;
        } else if (sealed) {
            r->consumed += segment_data_end(&s->rd, from) - from;
            r->segment++;
            r->offset = 0;
        } else {
            break; /* cannot happen below a published position; wait for more */
        }
    }
    if (n > 0) {
        s->outstanding = true;
    }
    return n;
}

void cnc_spool_rewind(struct cnc_spool *s)
{
    s->rpos = s->cpos;
    s->outstanding = false;
    release_retired(s);
}

int cnc_spool_commit(struct cnc_spool *s, const struct cnc_spool_pos *pos)
{
    if (write_checkpoint(s, pos) != 0) {
        return CNC_EIO;
    }
    atomic_fetch_add_explicit(&s->committed, pos->consumed - s->cpos.consumed,
                              memory_order_release);
    s->cpos = *pos;
    if (pos->segment == s->rpos.segment && pos->offset == s->rpos.offset) {
        s->outstanding = false;
        release_retired(s);
    } else {
        /* A commit inside a batch (records stored one by one): the rest stay handed out. */
        release_retired_before(s, pos->segment);
    }
    /* Segments wholly before the checkpoint are spent. */
    for (; s->lowest_segment < pos->segment; s->lowest_segment++) {
        char path[4200];
        segment_path(s, s->lowest_segment, path, sizeof path);
        unlink(path);
    }
    return 0;
}

int cnc_spool_sync(struct cnc_spool *s)
{
    uint64_t aseg = atomic_load_explicit(&s->pos, memory_order_acquire) >> OFFSET_BITS;
    if (s->synced_segment < s->cpos.segment) {
        s->synced_segment = s->cpos.segment;
    }
    int rc = 0;
    for (uint64_t id = s->synced_segment; id <= aseg; id++) {
        char path[4200];
        segment_path(s, id, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            rc |= fdatasync(fd);
            close(fd);
        }
    }
    rc |= fsync(s->dir_fd); /* new segment names */
    s->synced_segment = aseg;
    return rc == 0 ? 0 : CNC_EIO;
}

const char *cnc_spool_dir(const struct cnc_spool *s)
{
    return s->dir;
}

void cnc_spool_close(struct cnc_spool *s)
{
    if (s == NULL) {
        return;
    }
    unmap(&s->cur);
    unmap(&s->rd);
    for (size_t i = 0; i < s->n_retired; i++) {
        unmap(&s->retired[i]);
    }
    struct segment_map *spare = atomic_exchange(&s->spare, NULL);
    if (spare != NULL) {
        char path[4200];
        snprintf(path, sizeof path, "%s/spare-%u.tmp", s->dir, (unsigned)spare->id);
        unmap(spare);
        unlink(path);
        free(spare);
    }
    for (int i = 0; i < 2; i++) {
        if (s->cp_fd[i] >= 0) {
            close(s->cp_fd[i]);
        }
    }
    if (s->dir_fd >= 0) {
        close(s->dir_fd);
    }
    free(s->dir);
    free(s);
}
