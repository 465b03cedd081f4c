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

/* The columns read back of an interval (struct read_back). */
#define READ_COLS "cnc_id, started_at, ended_at, state, category, reason, part_program"

/*
 * The newest interval of each machine of a batch, each read locking by a descent of the
 * primary key, in one statement. The lock is InnoDB's next-key lock: the row and the gap before
 * it. Another broker appending to the machine waits on the row (it closes it too); when the
 * machine has one interval or none, the gap reaches back to the machine before it in key order,
 * so two brokers starting new machines may deadlock, and one batch is retried (a lock wait).
 */
static const char newest_many_row[] = "(SELECT " READ_COLS " FROM cnc_state_interval"
                                      " WHERE cnc_id = ? ORDER BY started_at DESC LIMIT 1"
                                      " FOR UPDATE)";

/* The newest intervals end where the first of the batch's start (each row's key exists). */
#define CLOSE_ROW_PARAMS 7
static const char closes_head[] =
    "INSERT INTO cnc_state_interval (cnc_id, started_at, state, category, part_program, handler,"
    " ended_at) VALUES";
static const char closes_tail[] = " ON DUPLICATE KEY UPDATE ended_at = VALUES(ended_at)";

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
    " AND BINARY prev.part_program = ?)";
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
    "SELECT " READ_COLS " FROM cnc_state_interval"
    " WHERE cnc_id = ? AND started_at <= ? ORDER BY started_at DESC LIMIT 2 LOCK IN SHARE MODE";

/* The columns of an interval as read back (utf8mb4: 4 bytes a character). */
struct read_back {
    MYSQL_TIME started, ended;
    char cnc_id[257], state[1025], category[81], reason[1025], program[513];
    unsigned long cnc_id_len, state_len, category_len, reason_len, program_len;
    cnc_mybool null_ended, null_reason;
};

/* A machine's newest interval as read; its strings are offsets into text. */
struct newest {
    size_t state, state_len, category, category_len, reason, reason_len, program, program_len;
    MYSQL_TIME started;
    int64_t started_ms;
    bool open, null_reason;
};

/*
 * A machine of the batch: where its changes start, its newest interval (-1: none read), the
 * closed time its changes placed between others changed (span_to > span_from: computed again).
 */
struct group {
    size_t at;
    long newest;
    int64_t span_from, span_to;
};

/* A newest interval closed by the batch's first new one of its machine. */
struct close_row {
    const struct cnc_str *cnc_id;
    MYSQL_TIME started, end;
};

/* A row of the multi-row insert. */
struct row {
    const struct cnc_change *c;
    MYSQL_TIME start, end;
    bool ends;
};

struct cnc_intervals {
    MYSQL_STMT *insert, *close, *neighbours;
    struct cnc_chunked rows, newest_many, closes;
    struct row *row;
    size_t n_rows, cap_rows;
    struct newest *newest_of;
    size_t n_newest, cap_newest;
    struct close_row *close_of;
    size_t n_closes, cap_closes;
    struct group *group;
    size_t n_groups, cap_groups;
    struct cnc_text text; /* newest_of's strings */
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
        {&(iv)->insert, insert_sql, "the insert into cnc_state_interval"},                         \
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
    cnc_chunked_close(&iv->newest_many);
    cnc_chunked_close(&iv->closes);
}

void cnc_intervals_destroy(struct cnc_intervals *iv)
{
    if (iv == NULL) {
        return;
    }
    cnc_intervals_close(iv);
    free(iv->row);
    free(iv->newest_of);
    free(iv->close_of);
    free(iv->group);
    free(iv->text.p);
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
                            "insert into cnc_state_interval", err, err_len, cause) != 0 ||
        cnc_chunked_prepare_rows(&iv->newest_many, conn, "", newest_many_row, " UNION ALL ", "",
                                 "read of the newest intervals", err, err_len, cause) != 0 ||
        cnc_chunked_prepare(&iv->closes, conn, closes_head, CLOSE_ROW_PARAMS, closes_tail,
                            "end of the newest intervals", err, err_len, cause) != 0) {
        cnc_intervals_close(iv);
        return -1;
    }
    return 0;
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

static void bind_text(MYSQL_BIND *r, char *buf, size_t cap, unsigned long *len)
{
    r->buffer_type = MYSQL_TYPE_STRING;
    r->buffer = buf;
    r->buffer_length = (unsigned long)cap;
    r->length = len;
}

/* Result binds for READ_COLS into rb. */
static void bind_result(MYSQL_BIND *r, struct read_back *rb)
{
    memset(r, 0, 7 * sizeof *r);
    bind_text(&r[0], rb->cnc_id, sizeof rb->cnc_id, &rb->cnc_id_len);
    r[1].buffer_type = MYSQL_TYPE_DATETIME;
    r[1].buffer = &rb->started;
    r[2].buffer_type = MYSQL_TYPE_DATETIME;
    r[2].buffer = &rb->ended;
    r[2].is_null = &rb->null_ended;
    bind_text(&r[3], rb->state, sizeof rb->state, &rb->state_len);
    bind_text(&r[4], rb->category, sizeof rb->category, &rb->category_len);
    bind_text(&r[5], rb->reason, sizeof rb->reason, &rb->reason_len);
    r[5].is_null = &rb->null_reason;
    bind_text(&r[6], rb->program, sizeof rb->program, &rb->program_len);
}

/* The interval c starts at start: cnc_id .. ideal_cycle_s, b[0..8). */
static void bind_interval(MYSQL_BIND *b, const struct cnc_change *c, MYSQL_TIME *start)
{
    const char *cat = category_name(c->category);
    b_cstr(&b[0], &c->s->cnc_id);
    b_time(&b[1], start);
    b_cstr(&b[2], c->state);
    b_str(&b[3], cat, strlen(cat));
    b_reason(&b[4], c->reason);
    b_cstr(&b[5], c->program);
    b_cstr(&b[6], &c->s->handler);
    b_double(&b[7], c->ideal_cycle_s);
}

/* One interval placed on its own; c->inserted set, g's span widened. 0 or -1. */
static int put_one(struct cnc_intervals *iv, struct cnc_change *c, struct group *g,
                   struct cnc_state_time *time, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    const struct cnc_str *id = &c->s->cnc_id;
    MYSQL_TIME start;
    to_mysql_time(c->start_ms, &start);
    MYSQL_BIND b[INSERT_PARAMS];
    bind_interval(b, c, &start);
    b_cstr(&b[8], id);
    b_time(&b[9], &start);
    b_cstr(&b[10], id);
    b_time(&b[11], &start);
    b[12] = b[2];
    b[13] = b[3];
    b[14] = b[4];
    b[15] = b[5];
    if (cnc_stmt_run(iv->insert, b, "insert into cnc_state_interval", err, err_len, cause) != 0) {
        return -1;
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
    if (cnc_stmt_run(iv->close, u, "update of cnc_state_interval", err, err_len, cause) != 0) {
        return -1;
    }
    /* What it changed: when nothing follows it, the one before it closed (added); else the
       closed time from the start of the one before it to the start of the one after it. */
    MYSQL_BIND p[2], r[7];
    b_cstr(&p[0], id);
    b_time(&p[1], &start);
    struct read_back *rb = &iv->rb;
    bind_result(r, rb);
    MYSQL_STMT *st = iv->neighbours;
    if (mysql_stmt_bind_param(st, p) != 0 || mysql_stmt_execute(st) != 0 ||
        mysql_stmt_bind_result(st, r) != 0 || mysql_stmt_store_result(st) != 0) {
        return cnc_stmt_fail(st, "the neighbours of an interval", err, err_len, cause);
    }
    int rc = mysql_stmt_fetch(st); /* the new interval */
    bool followed = rc == 0 && !rb->null_ended;
    int64_t next_ms = followed ? from_mysql_time(&rb->ended) : c->start_ms;
    rc = rc == 0 ? mysql_stmt_fetch(st) : rc; /* the one before it */
    if (rc == 1) {
        cnc_stmt_fail(st, "the neighbours of an interval", err, err_len, cause);
        mysql_stmt_free_result(st);
        return -1;
    }
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
    g->span_from = prev_ms < g->span_from ? prev_ms : g->span_from;
    g->span_to = next_ms > g->span_to ? next_ms : g->span_to;
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
 * Machines compared as the database compares cnc_id (utf8mb4_general_ci: a cnc_id is ASCII
 * letters, digits and _ . : -, so letters without case): CNC1 and cnc1 are one machine's rows
 * there, so they are one group here, its intervals in one sequence.
 */
static int cmp_id(const struct cnc_str *p, const char *q, size_t q_len)
{
    size_t n = p->len < q_len ? p->len : q_len;
    for (size_t i = 0; i < n; i++) {
        int a = (unsigned char)p->p[i], b = (unsigned char)q[i];
        a = a >= 'A' && a <= 'Z' ? a + 32 : a;
        b = b >= 'A' && b <= 'Z' ? b + 32 : b;
        if (a != b) {
            return a - b;
        }
    }
    return (p->len > q_len) - (p->len < q_len);
}

/* The group of the batch's machine the database knows by this cnc_id, or NULL. */
static struct group *group_of(struct cnc_intervals *iv, const struct cnc_change *ch, const char *id,
                              size_t len)
{
    size_t lo = 0, hi = iv->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_id(&ch[iv->group[mid].at].s->cnc_id, id, len);
        if (c == 0) {
            return &iv->group[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The rows st's execute returned, onto newest_of, each given to its machine's group. 0 or -1. */
static int fetch_newest(struct cnc_intervals *iv, MYSQL_STMT *st, const char *what,
                        const struct cnc_change *ch, char *err, size_t err_len,
                        enum cnc_db_cause *cause)
{
    struct read_back *rb = &iv->rb;
    MYSQL_BIND r[7];
    bind_result(r, rb);
    if (mysql_stmt_bind_result(st, r) != 0 || mysql_stmt_store_result(st) != 0) {
        return cnc_stmt_fail(st, what, err, err_len, cause);
    }
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0) {
        if (cnc_grow((void **)&iv->newest_of, &iv->cap_newest, iv->n_newest + 1,
                     sizeof *iv->newest_of) != 0) {
            rc = CNC_ENOMEM;
            break;
        }
        struct newest *w = &iv->newest_of[iv->n_newest];
        w->state = cnc_text_keep(&iv->text, rb->state, rb->state_len);
        w->state_len = rb->state_len;
        w->category = cnc_text_keep(&iv->text, rb->category, rb->category_len);
        w->category_len = rb->category_len;
        w->null_reason = rb->null_reason;
        w->reason = cnc_text_keep(&iv->text, rb->reason, rb->null_reason ? 0 : rb->reason_len);
        w->reason_len = rb->null_reason ? 0 : rb->reason_len;
        w->program = cnc_text_keep(&iv->text, rb->program, rb->program_len);
        w->program_len = rb->program_len;
        w->started = rb->started;
        w->started_ms = from_mysql_time(&rb->started);
        w->open = rb->null_ended;
        if (w->state == SIZE_MAX || w->category == SIZE_MAX || w->reason == SIZE_MAX ||
            w->program == SIZE_MAX) {
            rc = CNC_ENOMEM;
            break;
        }
        struct group *g = group_of(iv, ch, rb->cnc_id, rb->cnc_id_len);
        if (g != NULL) {
            g->newest = (long)iv->n_newest;
        }
        iv->n_newest++;
    }
    if (rc == 1) {
        cnc_stmt_fail(st, what, err, err_len, cause);
        mysql_stmt_free_result(st);
        return -1;
    }
    mysql_stmt_free_result(st);
    if (rc != MYSQL_NO_DATA) {
        snprintf(err, err_len, "mysql: %s: %s", what,
                 rc == MYSQL_DATA_TRUNCATED ? "a value does not fit" : "out of memory");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    return 0;
}

static bool same_kept(const struct cnc_intervals *iv, size_t at, size_t len,
                      const struct cnc_str *s)
{
    return same_text(iv->text.p + at, len, s);
}

/*
 * A machine's changes c[0..n) (in batch order) after its newest interval nw (NULL: none):
 * appended when all are newer, in order; else each on its own. 0 or -1.
 */
static int put_machine(struct cnc_intervals *iv, struct cnc_change *c, size_t n,
                       const struct newest *nw, struct group *g, struct cnc_state_time *time,
                       char *err, size_t err_len, enum cnc_db_cause *cause)
{
    const struct cnc_str *id = &c[0].s->cnc_id;
    int64_t newest_ms = nw != NULL ? nw->started_ms : INT64_MIN;
    bool in_order = nw == NULL || nw->open; /* a closed newest: placed as a late one would be */
    for (size_t i = 0; i < n && in_order; i++) {
        in_order = c[i].start_ms > (i == 0 ? newest_ms : c[i - 1].start_ms);
    }
    if (!in_order) {
        for (size_t i = 0; i < n; i++) {
            if (put_one(iv, &c[i], g, time, err, err_len, cause) != 0) {
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
        if (prev == NULL && nw != NULL && same_kept(iv, nw->state, nw->state_len, x->state) &&
            same_kept(iv, nw->category, nw->category_len, &(struct cnc_str){cat, strlen(cat)}) &&
            same_kept(iv, nw->reason, nw->reason_len, x->reason) &&
            same_kept(iv, nw->program, nw->program_len, x->program)) {
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
        } else if (nw != NULL) {
            closed = cnc_state_time_closed(
                time, id, newest_ms, x->start_ms, iv->text.p + nw->category, nw->category_len,
                nw->null_reason ? NULL : iv->text.p + nw->reason, nw->reason_len);
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
    if (nw != NULL && iv->n_rows > first_row) {
        if (cnc_grow((void **)&iv->close_of, &iv->cap_closes, iv->n_closes + 1,
                     sizeof *iv->close_of) != 0) {
            snprintf(err, err_len, "mysql: out of memory for a batch's intervals");
            *cause = CNC_DB_OTHER;
            return -1;
        }
        struct close_row *k = &iv->close_of[iv->n_closes++];
        k->cnc_id = id;
        k->started = nw->started;
        k->end = iv->row[first_row].start;
    }
    return 0;
}

/* The newest interval of every machine of the batch, read locking, onto newest_of. 0 or -1. */
static int newest_of_all(struct cnc_intervals *iv, const struct cnc_change *ch, char *err,
                         size_t err_len, enum cnc_db_cause *cause)
{
    if (cnc_grow((void **)&iv->binds, &iv->cap_binds, iv->n_groups + 1, sizeof *iv->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding a batch's machines");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t g = 0; g < iv->n_groups; g++) {
        b_cstr(&iv->binds[g], &ch[iv->group[g].at].s->cnc_id);
    }
    for (size_t done = 0; done < iv->n_groups;) {
        MYSQL_STMT *st;
        size_t k = cnc_chunked_next(&iv->newest_many, iv->n_groups - done, &st);
        if (mysql_stmt_bind_param(st, &iv->binds[done]) != 0 || mysql_stmt_execute(st) != 0) {
            return cnc_stmt_fail(st, "read of the newest intervals", err, err_len, cause);
        }
        if (fetch_newest(iv, st, "read of the newest intervals", ch, err, err_len, cause) != 0) {
            return -1;
        }
        done += k;
    }
    return 0;
}

static int cmp_change(const void *a, const void *b)
{
    const struct cnc_change *x = a, *y = b;
    int c = cmp_id(&x->s->cnc_id, y->s->cnc_id.p, y->s->cnc_id.len);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int send_rows(struct cnc_intervals *iv, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    size_t need = iv->n_rows * ROW_PARAMS > iv->n_closes * CLOSE_ROW_PARAMS
                      ? iv->n_rows * ROW_PARAMS
                      : iv->n_closes * CLOSE_ROW_PARAMS;
    if (cnc_grow((void **)&iv->binds, &iv->cap_binds, need + 1, sizeof *iv->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding a batch's intervals");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    static const char unknown[] = "unknown";
    for (size_t i = 0; i < iv->n_closes; i++) {
        struct close_row *k = &iv->close_of[i];
        MYSQL_BIND *b = &iv->binds[i * CLOSE_ROW_PARAMS];
        b_cstr(&b[0], k->cnc_id);
        b_time(&b[1], &k->started);
        b_str(&b[2], "", 0);
        b_str(&b[3], unknown, sizeof unknown - 1);
        b_str(&b[4], "", 0);
        b_str(&b[5], "", 0);
        b_time(&b[6], &k->end);
    }
    if (iv->n_closes > 0 &&
        cnc_chunked_execute(&iv->closes, iv->binds, iv->n_closes, err, err_len, cause) != 0) {
        return -1;
    }
    for (size_t i = 0; i < iv->n_rows; i++) {
        struct row *w = &iv->row[i];
        const struct cnc_change *c = w->c;
        MYSQL_BIND *b = &iv->binds[i * ROW_PARAMS];
        bind_interval(b, c, &w->start);
        if (w->ends) {
            b_time(&b[8], &w->end);
        } else {
            b_null(&b[8]);
        }
    }
    return iv->n_rows > 0
               ? cnc_chunked_execute(&iv->rows, iv->binds, iv->n_rows, err, err_len, cause)
               : 0;
}

int cnc_intervals_write(struct cnc_intervals *iv, struct cnc_change *ch, size_t n,
                        struct cnc_state_time *time, char *err, size_t err_len,
                        enum cnc_db_cause *cause)
{
    qsort(ch, n, sizeof *ch, cmp_change);
    iv->n_rows = iv->n_newest = iv->n_closes = iv->n_groups = iv->text.n = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 ||
            cmp_id(&ch[i].s->cnc_id, ch[i - 1].s->cnc_id.p, ch[i - 1].s->cnc_id.len) != 0) {
            if (cnc_grow((void **)&iv->group, &iv->cap_groups, iv->n_groups + 1,
                         sizeof *iv->group) != 0) {
                snprintf(err, err_len, "mysql: out of memory for a batch's machines");
                *cause = CNC_DB_OTHER;
                return -1;
            }
            iv->group[iv->n_groups++] = (struct group){i, -1, INT64_MAX, INT64_MIN};
        }
    }
    if (iv->n_groups == 0) {
        return 0;
    }
    if (newest_of_all(iv, ch, err, err_len, cause) != 0) {
        return -1;
    }
    for (size_t g = 0; g < iv->n_groups; g++) {
        struct group *gr = &iv->group[g];
        size_t at = gr->at, end = g + 1 < iv->n_groups ? iv->group[g + 1].at : n;
        long k = gr->newest;
        if (put_machine(iv, &ch[at], end - at, k >= 0 ? &iv->newest_of[k] : NULL, gr, time, err,
                        err_len, cause) != 0) {
            return -1;
        }
    }
    if (send_rows(iv, err, err_len, cause) != 0 ||
        cnc_state_time_add(time, err, err_len, cause) != 0) {
        return -1;
    }
    /* After the additions: each recompute overwrites whatever they put in its hours. */
    for (size_t g = 0; g < iv->n_groups; g++) {
        const struct group *gr = &iv->group[g];
        if (gr->span_to > gr->span_from &&
            cnc_state_time_again(time, &ch[gr->at].s->cnc_id, gr->span_from, gr->span_to, err,
                                 err_len, cause) != 0) {
            return -1;
        }
    }
    return 0;
}
