/*
 * mysql_stmts.h - the writer's prepared statements: a list prepared together
 * (all or none) and closed together, and a failed statement's error text and
 * cause (sink_intervals.c, sink_state_time.c, sink_rollups.c, mysql_chunks.c).
 *
 * Writer thread.
 */
#ifndef CNC_MYSQL_STMTS_H
#define CNC_MYSQL_STMTS_H

#include <stddef.h>

#include <mysql.h>

#include "db_cause.h"

struct cnc_stmt_def {
    MYSQL_STMT **st;
    const char *sql;
    const char *what; /* "the insert into cnc_state_interval", for errors */
};

/* "mysql: what: error (errno)" into err, *cause from the error. Returns -1. */
int cnc_stmt_fail(MYSQL_STMT *st, const char *what, char *err, size_t err_len,
                  enum cnc_db_cause *cause);

/* Binds b and executes st. 0, or -1 with err and *cause (cnc_stmt_fail). */
int cnc_stmt_run(MYSQL_STMT *st, MYSQL_BIND *b, const char *what, char *err, size_t err_len,
                 enum cnc_db_cause *cause);

/* Prepares every statement of defs on conn. 0, or -1 with err and *cause (none left open). */
int cnc_stmts_prepare(MYSQL *conn, const struct cnc_stmt_def *defs, size_t n, char *err,
                      size_t err_len, enum cnc_db_cause *cause);

/* Closes those of defs that are open. */
void cnc_stmts_close(const struct cnc_stmt_def *defs, size_t n);

#endif
