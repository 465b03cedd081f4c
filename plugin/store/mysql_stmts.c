/*
 * mysql_stmts.c - prepared statements in lists, see mysql_stmts.h.
 *
 * Writer thread.
 */
#include "mysql_stmts.h"

#include <stdio.h>
#include <string.h>

int cnc_stmt_fail(MYSQL_STMT *st, const char *what, char *err, size_t err_len,
                  enum cnc_db_cause *cause)
{
    snprintf(err, err_len, "mysql: %s: %s (%u)", what, mysql_stmt_error(st), mysql_stmt_errno(st));
    *cause = cnc_db_classify(mysql_stmt_errno(st), mysql_stmt_sqlstate(st));
    return -1;
}

int cnc_stmt_run(MYSQL_STMT *st, MYSQL_BIND *b, const char *what, char *err, size_t err_len,
                 enum cnc_db_cause *cause)
{
    if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0) {
        return cnc_stmt_fail(st, what, err, err_len, cause);
    }
    return 0;
}

void cnc_stmts_close(const struct cnc_stmt_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*defs[i].st != NULL) {
            mysql_stmt_close(*defs[i].st);
            *defs[i].st = NULL;
        }
    }
}

int cnc_stmts_prepare(MYSQL *conn, const struct cnc_stmt_def *defs, size_t n, char *err,
                      size_t err_len, enum cnc_db_cause *cause)
{
    for (size_t i = 0; i < n; i++) {
        MYSQL_STMT *s = mysql_stmt_init(conn);
        if (s == NULL) {
            snprintf(err, err_len, "mysql: preparing %s: out of memory", defs[i].what);
            *cause = CNC_DB_OTHER;
            cnc_stmts_close(defs, n);
            return -1;
        }
        if (mysql_stmt_prepare(s, defs[i].sql, (unsigned long)strlen(defs[i].sql)) != 0) {
            char w[128];
            snprintf(w, sizeof w, "preparing %s", defs[i].what);
            cnc_stmt_fail(s, w, err, err_len, cause);
            mysql_stmt_close(s);
            cnc_stmts_close(defs, n);
            return -1;
        }
        *defs[i].st = s;
    }
    return 0;
}
