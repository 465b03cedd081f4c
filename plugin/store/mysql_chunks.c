/*
 * mysql_chunks.c - a multi-row statement in a few sizes, see mysql_chunks.h.
 *
 * Writer thread.
 */
#include "mysql_chunks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_stmts.h"

static const unsigned sizes[CNC_CHUNK_SIZES] = {64, 16, 4, 1};

void cnc_chunked_close(struct cnc_chunked *c)
{
    for (size_t i = 0; i < CNC_CHUNK_SIZES; i++) {
        if (c->stmt[i] != NULL) {
            mysql_stmt_close(c->stmt[i]);
            c->stmt[i] = NULL;
        }
    }
}

int cnc_chunked_prepare_rows(struct cnc_chunked *c, MYSQL *conn, const char *head, const char *row,
                             const char *sep, const char *tail, const char *what, char *err,
                             size_t err_len, enum cnc_db_cause *cause)
{
    cnc_chunked_close(c);
    c->ncols = 0;
    for (const char *q = row; *q != '\0'; q++) {
        c->ncols += *q == '?';
    }
    c->what = what;
    for (size_t i = 0; i < CNC_CHUNK_SIZES; i++) {
        size_t cap = strlen(head) + strlen(tail) + sizes[i] * (strlen(row) + strlen(sep)) + 8;
        char *sql = malloc(cap);
        MYSQL_STMT *st = sql != NULL ? mysql_stmt_init(conn) : NULL;
        if (st == NULL) {
            free(sql);
            snprintf(err, err_len, "mysql: preparing the %s: out of memory", what);
            *cause = CNC_DB_OTHER;
            cnc_chunked_close(c);
            return -1;
        }
        size_t n = (size_t)snprintf(sql, cap, "%s", head);
        for (unsigned r = 0; r < sizes[i]; r++) {
            n += (size_t)snprintf(sql + n, cap - n, "%s%s", r ? sep : "", row);
        }
        snprintf(sql + n, cap - n, "%s", tail);
        int rc = mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql));
        free(sql);
        if (rc != 0) {
            char w[128];
            snprintf(w, sizeof w, "preparing the %s", what);
            cnc_stmt_fail(st, w, err, err_len, cause);
            mysql_stmt_close(st);
            cnc_chunked_close(c);
            return -1;
        }
        c->stmt[i] = st;
    }
    return 0;
}

int cnc_chunked_prepare(struct cnc_chunked *c, MYSQL *conn, const char *head, int ncols,
                        const char *tail, const char *what, char *err, size_t err_len,
                        enum cnc_db_cause *cause)
{
    char row[2 * 256 + 3];
    if (ncols < 1 || ncols > 256) {
        snprintf(err, err_len, "mysql: preparing the %s: %d columns", what, ncols);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    size_t n = 0;
    row[n++] = '(';
    for (int k = 0; k < ncols; k++) {
        if (k) {
            row[n++] = ',';
        }
        row[n++] = '?';
    }
    row[n++] = ')';
    row[n] = '\0';
    return cnc_chunked_prepare_rows(c, conn, head, row, ",", tail, what, err, err_len, cause);
}

size_t cnc_chunked_next(const struct cnc_chunked *c, size_t remaining, MYSQL_STMT **st)
{
    size_t i = 0;
    while (i + 1 < CNC_CHUNK_SIZES && sizes[i] > remaining) {
        i++;
    }
    *st = c->stmt[i];
    return sizes[i];
}

int cnc_chunked_execute(struct cnc_chunked *c, MYSQL_BIND *binds, size_t rows, char *err,
                        size_t err_len, enum cnc_db_cause *cause)
{
    size_t done = 0;
    while (done < rows) {
        size_t i = 0;
        while (sizes[i] > rows - done) {
            i++;
        }
        MYSQL_STMT *st = c->stmt[i];
        if (mysql_stmt_bind_param(st, &binds[done * (size_t)c->ncols]) != 0 ||
            mysql_stmt_execute(st) != 0) {
            return cnc_stmt_fail(st, c->what, err, err_len, cause);
        }
        done += sizes[i];
    }
    return 0;
}
