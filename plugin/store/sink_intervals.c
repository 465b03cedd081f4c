/*
 * sink_intervals.c - state changes into cnc_state_interval, see
 * sink_intervals.h.
 *
 * Writer thread.
 */
#include "sink_intervals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "machine_states.h"
#include "mysql_bind.h"
#include "mysql_chunks.h"
#include "mysql_stmts.h"
#include "state_map.h"

/* A machine's newest interval, locked: no other broker appends to the machine meanwhile. */
static const char newest_sql[] =
    "SELECT started_at, state, category, reason, part_program FROM cnc_state_interval"
    " WHERE cnc_id = ? ORDER BY started_at DESC LIMIT 1 FOR UPDATE";

/* It ends where the first of the batch's starts. */
static const char end_sql[] =
    "UPDATE cnc_state_interval SET ended_at = ? WHERE cnc_id = ? AND started_at = ?";

/* The batch's new intervals after the newest of their machines. */
#define ROW_PARAMS 9
static const char rows_head[] =
    "INSERT INTO cnc_state_interval (cnc_id, started_at, state, category, reason, part_program,"
    " handler, ideal_cycle_s, ended_at) VALUES";

/*
 * One interval anywhere: unless one starts at that moment (a replay: the key) or the interval
 * before it is the same (a restarted broker's first message). It ends where the next one
 * starts, NULL when it is the newest.
 */
static const char insert_sql[] =
    "INSERT IGNORE INTO cnc_state_interval"
    " (cnc_id, started_at, state, category, reason, part_program, handler, ideal_cycle_s,"
    " ended_at)"
    " SELECT ?, ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT MIN(n.started_at) FROM cnc_state_interval n"
    " WHERE n.cnc_id = ? AND n.started_at > ?)"
    " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM"
    " (SELECT p.state, p.category, p.reason, p.part_program FROM cnc_state_interval p"
    " WHERE p.cnc_id = ? AND p.started_at < ? ORDER BY p.started_at DESC LIMIT 1) prev"
    " WHERE prev.state = ? AND prev.category = ? AND prev.reason <=> ?"
    " AND prev.part_program = ?)";
#define INSERT_PARAMS 16

/* The interval before a new one ends where the new one starts. */
static const char close_sql[] =
    "UPDATE cnc_state_interval p JOIN (SELECT MAX(started_at) AS s FROM cnc_state_interval"
    " WHERE cnc_id = ? AND started_at < ?) x ON p.started_at = x.s"
    " SET p.ended_at = ? WHERE p.cnc_id = ?";
#define CLOSE_PARAMS 4

/*
 * A new interval and the one before it, read locking (another broker's uncommitted interval of
 * the machine is waited for, not missed): the new one's end says whether one follows it, the
 * one before it is what the new one closed.
 */
static const char neighbours_sql[] =
    "SELECT started_at, ended_at, category, reason FROM cnc_state_interval"
    " WHERE cnc_id = ? AND started_at <= ? ORDER BY started_at DESC LIMIT 2 LOCK IN SHARE MODE";

/* The columns of an interval as read back (utf8mb4: 4 bytes a character). */
struct read_back {
    MYSQL_TIME started, ended;
    char state[1025], category[32], reason[1025], program[513];
    unsigned long state_len, category_len, reason_len, program_len;
    cnc_mybool null_ended, null_reason;
};

/* A row of the multi-row insert. */
struct row {
    const struct cnc_change *c;
    MYSQL_TIME start, end;
    bool ends;
};

struct cnc_intervals {
    MYSQL_STMT *newest, *end, *insert, *close, *neighbours;
    struct cnc_chunked rows;
    struct row *row;
    size_t n_rows, cap_rows;
    MYSQL_BIND *binds;
    size_t cap_binds;
    struct read_back rb;
};

struct cnc_intervals *cnc_intervals_create(void)
{
    return calloc(1, sizeof(struct cnc_intervals));
}

/* The statements, in the order they are prepared. */
#define DEFS(iv)                                                                                   \
    {                                                                                              \
        {&(iv)->newest, newest_sql, "the newest interval of a machine"},                           \
            {&(iv)->end, end_sql, "the end of the newest interval"},                               \
            {&(iv)->insert, insert_sql, "the insert into cnc_state_interval"},                     \
            {&(iv)->close, close_sql, "the update of cnc_state_interval"},                         \
            {&(iv)->neighbours, neighbours_sql, "the neighbours of an interval"},                  \
    }

void cnc_intervals_close(struct cnc_intervals *iv)
{
    if (iv == NULL) {
        return;
    }
    const struct cnc_stmt_def defs[] = DEFS(iv);
    cnc_stmts_close(defs, sizeof defs / sizeof defs[0]);
    cnc_chunked_close(&iv->rows);
}

void cnc_intervals_destroy(struct cnc_intervals *iv)
{
    if (iv == NULL) {
        return;
    }
    cnc_intervals_close(iv);
    free(iv->row);
    free(iv->binds);
    free(iv);
}

int cnc_intervals_prepare(struct cnc_intervals *iv, MYSQL *conn, char *err, size_t err_len,
                          enum cnc_db_cause *cause)
{
    cnc_intervals_close(iv);
    const struct cnc_stmt_def defs[] = DEFS(iv);
    if (cnc_stmts_prepare(conn, defs, sizeof defs / sizeof defs[0], err, err_len, cause) != 0) {
        return -1;
    }
    if (cnc_chunked_prepare(&iv->rows, conn, rows_head, ROW_PARAMS, "",
                            "insert into cnc_state_interval", err, err_len, cause) != 0) {
        cnc_intervals_close(iv);
        return -1;
    }
    return 0;
}

static void b_cstr(MYSQL_BIND *b, const struct cnc_str *s)
{
    b_str(b, s->p, s->len);
}

static void b_reason(MYSQL_BIND *b, const struct cnc_str *reason)
{
    if (reason->len > 0) {
        b_cstr(b, reason);
    } else {
        b_null(b);
    }
}

static const char *category_name(uint8_t category)
{
    return cnc_state_category_name((enum cnc_state_category)category);
}

/* Result binds for the read-back columns from started_at on, in the order given. */
static void bind_result(MYSQL_BIND *r, struct read_back *rb, bool with_state)
{
    memset(r, 0, 5 * sizeof *r);
    size_t k = 0;
    r[k].buffer_type = MYSQL_TYPE_DATETIME;
    r[k++].buffer = &rb->started;
    if (!with_state) { /* neighbours: started_at, ended_at, category, reason */
        r[k].buffer_type = MYSQL_TYPE_DATETIME;
        r[k].buffer = &rb->ended;
        r[k++].is_null = &rb->null_ended;
    } else { /* newest: started_at, state, category, reason, part_program */
        r[k].buffer_type = MYSQL_TYPE_STRING;
        r[k].buffer = rb->state;
        r[k].buffer_length = sizeof rb->state;
        r[k++].length = &rb->state_len;
    }
    r[k].buffer_type = MYSQL_TYPE_STRING;
    r[k].buffer = rb->category;
    r[k].buffer_length = sizeof rb->category;
    r[k++].length = &rb->category_len;
    r[k].buffer_type = MYSQL_TYPE_STRING;
    r[k].buffer = rb->reason;
    r[k].buffer_length = sizeof rb->reason;
    r[k].length = &rb->reason_len;
    r[k++].is_null = &rb->null_reason;
    if (with_state) {
        r[k].buffer_type = MYSQL_TYPE_STRING;
        r[k].buffer = rb->program;
        r[k].buffer_length = sizeof rb->program;
        r[k].length = &rb->program_len;
    }
}

/* One interval placed on its own; c->inserted and its span set. 0 or -1. */
static int put_one(struct cnc_intervals *iv, struct cnc_change *c, struct cnc_state_time *time,
                   char *err, size_t err_len, enum cnc_db_cause *cause)
{
    const struct cnc_str *id = &c->s->cnc_id;
    MYSQL_TIME start;
    to_mysql_time(c->start_ms, &start);
    const char *cat = category_name(c->category);
    MYSQL_BIND b[INSERT_PARAMS];
    b_cstr(&b[0], id);
    b_time(&b[1], &start);
    b_cstr(&b[2], c->state);
    b_str(&b[3], cat, strlen(cat));
    b_reason(&b[4], c->reason);
    b_cstr(&b[5], c->program);
    b_cstr(&b[6], &c->s->handler);
    b_double(&b[7], c->ideal_cycle_s);
    b_cstr(&b[8], id);
    b_time(&b[9], &start);
    b_cstr(&b[10], id);
    b_time(&b[11], &start);
    b[12] = b[2];
    b[13] = b[3];
    b[14] = b[4];
    b[15] = b[5];
    if (mysql_stmt_bind_param(iv->insert, b) != 0 || mysql_stmt_execute(iv->insert) != 0) {
        return cnc_stmt_fail(iv->insert, "insert into cnc_state_interval", err, err_len, cause);
    }
    c->inserted = mysql_stmt_affected_rows(iv->insert) == 1;
    if (!c->inserted) {
        return 0;
    }
    MYSQL_BIND u[CLOSE_PARAMS];
    b_cstr(&u[0], id);
    b_time(&u[1], &start);
    b_time(&u[2], &start);
    b_cstr(&u[3], id);
    if (mysql_stmt_bind_param(iv->close, u) != 0 || mysql_stmt_execute(iv->close) != 0) {
        return cnc_stmt_fail(iv->close, "update of cnc_state_interval", err, err_len, cause);
    }
    /* What it changed: when nothing follows it, the one before it closed (added); else the
       closed time from the start of the one before it to the start of the one after it. */
    MYSQL_BIND p[2], r[5];
    b_cstr(&p[0], id);
    b_time(&p[1], &start);
    struct read_back *rb = &iv->rb;
    bind_result(r, rb, false);
    MYSQL_STMT *st = iv->neighbours;
    if (mysql_stmt_bind_param(st, p) != 0 || mysql_stmt_execute(st) != 0 ||
        mysql_stmt_bind_result(st, r) != 0 || mysql_stmt_store_result(st) != 0) {
        return cnc_stmt_fail(st, "the neighbours of an interval", err, err_len, cause);
    }
    int rc = mysql_stmt_fetch(st); /* the new interval */
    bool followed = rc == 0 && !rb->null_ended;
    int64_t next_ms = followed ? from_mysql_time(&rb->ended) : c->start_ms;
    rc = rc == 0 ? mysql_stmt_fetch(st) : rc; /* the one before it */
    mysql_stmt_free_result(st);
    if (rc == MYSQL_DATA_TRUNCATED) {
        snprintf(err, err_len, "mysql: the interval before one of %.*s does not fit", (int)id->len,
                 id->p);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    bool preceded = rc == 0;
    int64_t prev_ms = preceded ? from_mysql_time(&rb->started) : c->start_ms;
    if (preceded && !followed) {
        if (cnc_state_time_closed(time, id, prev_ms, c->start_ms, rb->category, rb->category_len,
                                  rb->null_reason ? NULL : rb->reason, rb->reason_len) != 0) {
            snprintf(err, err_len, "mysql: out of memory for the state time of a batch");
            *cause = CNC_DB_OTHER;
            return -1;
        }
        return 0;
    }
    c->span_from = prev_ms;
    c->span_to = next_ms;
    return 0;
}

static bool same_text(const char *p, size_t len, const struct cnc_str *s)
{
    return len == s->len && (len == 0 || memcmp(p, s->p, len) == 0);
}

static bool same_str(const struct cnc_str *a, const struct cnc_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* The same interval as the one before it: nothing to insert. */
static bool same_change(const struct cnc_change *a, const struct cnc_change *b)
{
    return a->category == b->category && same_str(a->state, b->state) &&
           same_str(a->reason, b->reason) && same_str(a->program, b->program);
}

/*
 * A machine's changes c[0..n) (in batch order): appended after its newest interval when all
 * are newer, in order; else each on its own. 0 or -1.
 */
static int put_machine(struct cnc_intervals *iv, struct cnc_change *c, size_t n,
                       struct cnc_state_time *time, char *err, size_t err_len,
                       enum cnc_db_cause *cause)
{
    const struct cnc_str *id = &c[0].s->cnc_id;
    struct read_back *rb = &iv->rb;
    MYSQL_BIND p[1], r[5];
    b_cstr(&p[0], id);
    bind_result(r, rb, true);
    MYSQL_STMT *st = iv->newest;
    if (mysql_stmt_bind_param(st, p) != 0 || mysql_stmt_execute(st) != 0 ||
        mysql_stmt_bind_result(st, r) != 0 || mysql_stmt_store_result(st) != 0) {
        return cnc_stmt_fail(st, "the newest interval of a machine", err, err_len, cause);
    }
    int rc = mysql_stmt_fetch(st);
    mysql_stmt_free_result(st);
    if (rc != 0 && rc != MYSQL_NO_DATA) {
        snprintf(err, err_len, "mysql: the newest interval of %.*s does not fit", (int)id->len,
                 id->p);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    bool have = rc == 0;
    int64_t newest_ms = have ? from_mysql_time(&rb->started) : INT64_MIN;
    bool in_order = true;
    for (size_t i = 0; i < n && in_order; i++) {
        in_order = c[i].start_ms > (i == 0 ? newest_ms : c[i - 1].start_ms);
    }
    if (!in_order) {
        for (size_t i = 0; i < n; i++) {
            if (put_one(iv, &c[i], time, err, err_len, cause) != 0) {
                return -1;
            }
        }
        return 0;
    }
    const struct cnc_change *prev = NULL; /* the last kept; NULL: the newest stored one */
    size_t first_row = iv->n_rows;
    for (size_t i = 0; i < n; i++) {
        struct cnc_change *x = &c[i];
        const char *cat = category_name(x->category);
        if (prev == NULL && have && same_text(rb->state, rb->state_len, x->state) &&
            same_text(rb->category, rb->category_len, &(struct cnc_str){cat, strlen(cat)}) &&
            (rb->null_reason ? x->reason->len == 0
                             : same_text(rb->reason, rb->reason_len, x->reason)) &&
            same_text(rb->program, rb->program_len, x->program)) {
            continue; /* a restarted broker's first message: the open interval goes on */
        }
        if (prev != NULL && same_change(prev, x)) {
            continue;
        }
        int closed;
        if (prev != NULL) {
            const char *pc = category_name(prev->category);
            closed = cnc_state_time_closed(time, id, prev->start_ms, x->start_ms, pc, strlen(pc),
                                           prev->reason->len ? prev->reason->p : NULL,
                                           prev->reason->len);
        } else if (have) {
            closed = cnc_state_time_closed(time, id, newest_ms, x->start_ms, rb->category,
                                           rb->category_len, rb->null_reason ? NULL : rb->reason,
                                           rb->reason_len);
        } else {
            closed = 0;
        }
        if (closed != 0 ||
            cnc_grow((void **)&iv->row, &iv->cap_rows, iv->n_rows + 1, sizeof *iv->row) != 0) {
            snprintf(err, err_len, "mysql: out of memory for a batch's intervals");
            *cause = CNC_DB_OTHER;
            return -1;
        }
        struct row *w = &iv->row[iv->n_rows++];
        w->c = x;
        w->ends = false;
        to_mysql_time(x->start_ms, &w->start);
        if (iv->n_rows - 1 > first_row) {
            w[-1].end = w->start;
            w[-1].ends = true;
        }
        x->inserted = true;
        prev = x;
    }
    if (have && iv->n_rows > first_row) {
        MYSQL_TIME newest = rb->started;
        MYSQL_BIND u[3];
        b_time(&u[0], &iv->row[first_row].start);
        b_cstr(&u[1], id);
        b_time(&u[2], &newest);
        if (mysql_stmt_bind_param(iv->end, u) != 0 || mysql_stmt_execute(iv->end) != 0) {
            return cnc_stmt_fail(iv->end, "update of cnc_state_interval", err, err_len, cause);
        }
    }
    return 0;
}

static int cmp_change(const void *a, const void *b)
{
    const struct cnc_change *x = a, *y = b;
    const struct cnc_str *p = &x->s->cnc_id, *q = &y->s->cnc_id;
    int c = memcmp(p->p, q->p, p->len < q->len ? p->len : q->len);
    if (c == 0) {
        c = (p->len > q->len) - (p->len < q->len);
    }
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

int cnc_intervals_write(struct cnc_intervals *iv, struct cnc_change *ch, size_t n,
                        struct cnc_state_time *time, char *err, size_t err_len,
                        enum cnc_db_cause *cause)
{
    qsort(ch, n, sizeof *ch, cmp_change);
    iv->n_rows = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_str(&ch[j].s->cnc_id, &ch[i].s->cnc_id)) {
            j++;
        }
        if (put_machine(iv, &ch[i], j - i, time, err, err_len, cause) != 0) {
            return -1;
        }
        i = j;
    }
    if (iv->n_rows == 0) {
        return 0;
    }
    if (cnc_grow((void **)&iv->binds, &iv->cap_binds, iv->n_rows * ROW_PARAMS + 1,
                 sizeof *iv->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding a batch's intervals");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < iv->n_rows; i++) {
        struct row *w = &iv->row[i];
        const struct cnc_change *c = w->c;
        MYSQL_BIND *b = &iv->binds[i * ROW_PARAMS];
        const char *cat = category_name(c->category);
        b_cstr(&b[0], &c->s->cnc_id);
        b_time(&b[1], &w->start);
        b_cstr(&b[2], c->state);
        b_str(&b[3], cat, strlen(cat));
        b_reason(&b[4], c->reason);
        b_cstr(&b[5], c->program);
        b_cstr(&b[6], &c->s->handler);
        b_double(&b[7], c->ideal_cycle_s);
        if (w->ends) {
            b_time(&b[8], &w->end);
        } else {
            b_null(&b[8]);
        }
    }
    return cnc_chunked_execute(&iv->rows, iv->binds, iv->n_rows, err, err_len, cause);
}
