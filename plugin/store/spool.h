/*
 * spool.h - the durable queue between the broker thread and the writer
 * thread (DESIGN.md "Durability").
 *
 * Segment files seg-<id>.spool in the spool folder, preallocated (so a full
 * disk is seen when a segment is created, never as SIGBUS on a write) and
 * memory-mapped. The broker thread appends a record with one memcpy into the
 * page cache, so a broker crash loses nothing it acknowledged; fsync policy
 * adds power-loss safety. Records are 8-byte aligned:
 *
 *   u32 magic 'CNCR' | u32 length | u64 XXH3 checksum of length + body | body | padding
 *
 * Threads: exactly one appender (the broker thread: cnc_spool_append) and one
 * reader (the writer thread: cnc_spool_read / cnc_spool_commit). They share
 * one atomic word, the append position (segment << 37 | offset), stored with
 * release after the record bytes, so the reader sees whole records only; and
 * the committed byte count, for the max_bytes check. No locks.
 *
 * The reader keeps the checkpoint (segment, offset), written after each
 * database commit in place into two files by turns (see spool.c); opening the
 * spool replays from the newer intact one. A record whose
 * checksum fails is reported and skipped by searching for the next valid
 * header, so intact records after damage are still delivered.
 */
#ifndef CNC_SPOOL_H
#define CNC_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cnc_spool;

struct cnc_spool_pos {
    uint64_t segment;
    uint64_t offset;
    uint64_t consumed; /* reader's byte count since open, for the backlog */
};

/* A record handed to the reader: body bytes valid until cnc_spool_commit or cnc_spool_rewind. */
struct cnc_spool_record {
    const void *data;
    size_t len;
    struct cnc_spool_pos end; /* the position just after this record */
};

/* Reports damage found while reading (writer thread); may be NULL. */
typedef void (*cnc_spool_warn_fn)(void *arg, const char *message);

/*
 * Opens (creating) the spool folder: reads the checkpoint, measures the
 * backlog left by an earlier run, and starts a new segment for appends.
 * Main thread, at init. Returns NULL with a reason in err.
 */
struct cnc_spool *cnc_spool_open(const char *dir, uint64_t max_bytes, uint64_t segment_bytes,
                                 enum cnc_fsync fsync, char *err, size_t err_len);

/*
 * Appends one record (broker thread). Returns 0; CNC_EFULL when max_bytes
 * would be exceeded; CNC_ENOSPACE when the disk has no room for a new segment;
 * CNC_EIO when a segment cannot be created for another reason or a synced
 * write failed.
 */
int cnc_spool_append(struct cnc_spool *s, const void *body, size_t len);

/* The largest body cnc_spool_append accepts. */
size_t cnc_spool_max_record(const struct cnc_spool *s);

/*
 * Reader (writer thread): up to max records after the read position, in
 * order. Returns how many were stored in out (0: nothing new). Several reads
 * may build one batch: every record stays valid until the next commit or
 * rewind. The position advances; cnc_spool_commit makes it durable.
 */
size_t cnc_spool_read(struct cnc_spool *s, struct cnc_spool_record *out, size_t max,
                      cnc_spool_warn_fn warn, void *warn_arg);

/*
 * Reader: everything up to pos is safely stored elsewhere: writes the
 * checkpoint, frees the byte budget, deletes spent segments. pos is the end of
 * a record handed out; records after it stay valid (a batch checkpointed
 * record by record), and a rewind returns to pos. Returns 0 or CNC_EIO.
 */
int cnc_spool_commit(struct cnc_spool *s, const struct cnc_spool_pos *pos);

/* Reader: returns the read position to the last commit (after a failed batch). */
void cnc_spool_rewind(struct cnc_spool *s);

/*
 * The published append position (any thread; sequentially consistent): the writer compares
 * it before a read and before parking, to know whether anything came in between.
 */
uint64_t cnc_spool_append_pos(const struct cnc_spool *s);

/* Bytes appended and not yet committed (any thread). */
uint64_t cnc_spool_backlog_bytes(const struct cnc_spool *s);

/* Reader side (writer thread): pre-creates the next segment so the broker thread need not. */
void cnc_spool_prepare(struct cnc_spool *s);

/* Reader: makes everything appended so far durable (spool.fsync: batch). 0 or CNC_EIO. */
int cnc_spool_sync(struct cnc_spool *s);

/* The spool folder (for files kept next to it, such as dead letters). */
const char *cnc_spool_dir(const struct cnc_spool *s);

/* Main thread, after the reader has stopped. */
void cnc_spool_close(struct cnc_spool *s);

#endif
