/*
 * mysql_chunks.h - one multi-row statement prepared in a few sizes (64, 16, 4
 * and 1 rows), and rows sent through the largest that fit: for the writer's
 * upserts and inserts (sink_states.c, sink_intervals.c, sink_state_time.c,
 * sink_rollups.c), whose row counts vary per batch.
 *
 * Writer thread.
 */
#ifndef CNC_MYSQL_CHUNKS_H
#define CNC_MYSQL_CHUNKS_H

#include <stddef.h>

#include <mysql.h>

#include "db_cause.h"

#define CNC_CHUNK_SIZES 4

struct cnc_chunked {
    MYSQL_STMT *stmt[CNC_CHUNK_SIZES];
    int ncols;
    const char *what; /* "upsert into cnc_machine_state", for errors */
};

/*
 * Prepares "head (?,..,?),(?,..,?)... tail" for each size, ncols parameters a row. 0, or -1
 * with err and *cause (nothing left prepared).
 */
int cnc_chunked_prepare(struct cnc_chunked *c, MYSQL *conn, const char *head, int ncols,
                        const char *tail, const char *what, char *err, size_t err_len,
                        enum cnc_db_cause *cause);

/*
 * The same with each row the text row (its '?' the row's parameters), rows joined by sep: a
 * derived table ("SELECT ? AS a, ? AS b", " UNION ALL "), or a query per row.
 */
int cnc_chunked_prepare_rows(struct cnc_chunked *c, MYSQL *conn, const char *head, const char *row,
                             const char *sep, const char *tail, const char *what, char *err,
                             size_t err_len, enum cnc_db_cause *cause);

/* Sends rows rows of binds (ncols each, row after row). 0, or -1 with err and *cause. */
int cnc_chunked_execute(struct cnc_chunked *c, MYSQL_BIND *binds, size_t rows, char *err,
                        size_t err_len, enum cnc_db_cause *cause);

/*
 * For a statement with results, sent by the caller: the statement for the next rows of
 * remaining (> 0) in *st, and how many rows it takes.
 */
size_t cnc_chunked_next(const struct cnc_chunked *c, size_t remaining, MYSQL_STMT **st);

void cnc_chunked_close(struct cnc_chunked *c);

#endif
