/*
 * sink_state_time.c - state time per machine and hour, per machine and shift,
 * and downtime per hour, see sink_state_time.h.
 *
 * Writer thread.
 */
#include "sink_state_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "mysql_bind.h"
#include "mysql_chunks.h"
#include "mysql_stmts.h"

#define HOUR_MS INT64_C(3600000)

/* An hour's addition: hour rows sent in (cnc_id, hour, category, reason) order. */
#define HOUR_ADD_PARAMS 6
static const char hour_add_head[] =
    "INSERT INTO cnc_state_hour (cnc_id, hour, category, reason, seconds, starts) VALUES";
static const char hour_add_tail[] = " ON DUPLICATE KEY UPDATE seconds = seconds + VALUES(seconds), "
                                    "starts = starts + VALUES(starts)";

/*
 * The batch's closed intervals' time in each shift they overlap, added: the intervals a derived
 * table (a shift lasts at most a day: the day before an interval bounds the shifts to look at).
 */
#define SHIFT_ADD_PARAMS 5
/* (the reason compared as its column compares it: byte for byte, trailing spaces too) */
static const char shift_add_row[] = "SELECT ? AS c, ? AS a, ? AS b, ? AS cat,"
                                    " CAST(? AS CHAR CHARACTER SET utf8mb4) COLLATE"
                                    " utf8mb4_nopad_bin AS r";
static const char shift_add_head[] =
    "INSERT INTO cnc_state_shift (cnc_id, shift_start, shift_name, category, reason, seconds,"
    " starts)"
    " SELECT i.c, s.shift_start, s.name, i.cat, i.r,"
    " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(i.a, s.shift_start), LEAST(i.b, s.shift_end)))"
    " / 1e6, SUM(i.a >= s.shift_start) FROM (";
static const char shift_add_tail[] =
    ") i JOIN cnc_shift s ON s.shift_start < i.b AND s.shift_start > i.a - INTERVAL 1 DAY"
    " AND s.shift_end > i.a GROUP BY i.c, s.shift_start, s.name, i.cat, i.r"
    " ON DUPLICATE KEY UPDATE seconds = seconds + VALUES(seconds), starts = starts + "
    "VALUES(starts)";

/*
 * Computed again where an interval came between two others. The intervals read are bounded in
 * the primary key from below by the one under way at the hour's start (or, for shifts, a day
 * before the span: a shift lasts at most a day), not by the machine's whole history.
 */
static const char hour_clear_sql[] = "DELETE FROM cnc_state_hour WHERE cnc_id = ? AND hour = ?";
#define HOUR_AGAIN_PARAMS 10
static const char hour_again_sql[] =
    "INSERT INTO cnc_state_hour (cnc_id, hour, category, reason, seconds, starts)"
    " SELECT cnc_id, ?, category, COALESCE(reason, ''),"
    " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(started_at, ?),"
    " LEAST(ended_at, ? + INTERVAL 1 HOUR))) / 1e6, SUM(started_at >= ?)"
    " FROM cnc_state_interval WHERE cnc_id = ? AND ended_at > ? AND started_at < ? + INTERVAL 1 "
    "HOUR AND started_at >= COALESCE((SELECT MAX(j.started_at) FROM cnc_state_interval j"
    " WHERE j.cnc_id = ? AND j.started_at <= ?), ?)"
    " GROUP BY cnc_id, category, COALESCE(reason, '')";
static const char shift_clear_sql[] =
    "DELETE x FROM cnc_state_shift x JOIN cnc_shift s"
    " ON s.shift_start = x.shift_start AND s.name = x.shift_name"
    " WHERE x.cnc_id = ? AND s.shift_start < ? AND s.shift_end > ?"
    " AND s.shift_start > ? - INTERVAL 1 DAY";
static const char shift_again_sql[] =
    "INSERT INTO cnc_state_shift (cnc_id, shift_start, shift_name, category, reason, seconds,"
    " starts)"
    " SELECT i.cnc_id, s.shift_start, s.name, i.category, COALESCE(i.reason, ''),"
    " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(i.started_at, s.shift_start),"
    " LEAST(i.ended_at, s.shift_end))) / 1e6, SUM(i.started_at >= s.shift_start)"
    " FROM cnc_shift s JOIN cnc_state_interval i"
    " ON i.cnc_id = ? AND i.ended_at > s.shift_start AND i.started_at < s.shift_end"
    " WHERE s.shift_start < ? AND s.shift_end > ? AND s.shift_start > ? - INTERVAL 1 DAY"
    " AND i.started_at >= COALESCE((SELECT MAX(j.started_at) FROM cnc_state_interval j"
    " WHERE j.cnc_id = ? AND j.started_at <= ? - INTERVAL 1 DAY), ? - INTERVAL 1 DAY)"
    " GROUP BY i.cnc_id, s.shift_start, s.name, i.category, COALESCE(i.reason, '')";

/*
 * Downtime of every machine per hour, by category and reason (the Pareto's rollup): an hour
 * whose machines' state time changed, again from cnc_state_hour, after the batch committed and
 * in a transaction of its own: every broker of a plant writes these rows, so a conflict between
 * two of them (a deadlock, a Galera certification failure) costs this refresh, which the next
 * batch tries again, never a batch.
 */
static const char downtime_clear_sql[] = "DELETE FROM cnc_downtime_hour WHERE hour = ?";
static const char downtime_again_sql[] =
    "INSERT INTO cnc_downtime_hour (hour, category, reason, seconds, starts)"
    " SELECT hour, category, reason, SUM(seconds), SUM(starts) FROM cnc_state_hour"
    " WHERE hour = ? AND category IN ('planned_downtime', 'unplanned_downtime')"
    " GROUP BY hour, category, reason";

#define TOUCHED_HOURS_MAX 4096 /* hours whose downtime is due again (kept until done) */

/* A closed interval of the batch; its strings are offsets into text. */
struct closed {
    const struct cnc_str *cnc_id;
    int64_t from_ms, to_ms;
    MYSQL_TIME from, to;
    size_t category, category_len, reason, reason_len;
};

/* One machine's time in one hour, for one category and reason. */
struct hour_add {
    const struct cnc_str *cnc_id;
    int64_t hour;
    size_t category, category_len, reason, reason_len;
    const char *category_p, *reason_p; /* in text, once the batch's text is all there */
    double seconds;
    uint32_t starts;
    MYSQL_TIME t;
};

struct cnc_state_time {
    MYSQL_STMT *hour_clear, *hour_again, *shift_clear, *shift_again;
    MYSQL_STMT *downtime_clear, *downtime_again;
    struct cnc_chunked hour_add, shift_add;
    struct closed *closed;
    size_t n_closed, cap_closed;
    struct hour_add *adds;
    size_t n_adds, cap_adds;
    struct cnc_text text; /* the closed intervals' categories and reasons */
    MYSQL_BIND *binds;
    size_t cap_binds;
    int64_t touched[TOUCHED_HOURS_MAX];
    size_t n_touched;
};

struct cnc_state_time *cnc_state_time_create(void)
{
    return calloc(1, sizeof(struct cnc_state_time));
}

/* The statements, in the order they are prepared. */
#define DEFS(st)                                                                                   \
    {                                                                                              \
        {&(st)->hour_clear, hour_clear_sql, "the delete from cnc_state_hour"},                     \
            {&(st)->hour_again, hour_again_sql, "the insert into cnc_state_hour"},                 \
            {&(st)->shift_clear, shift_clear_sql, "the delete from cnc_state_shift"},              \
            {&(st)->shift_again, shift_again_sql, "the insert into cnc_state_shift"},              \
            {&(st)->downtime_clear, downtime_clear_sql, "the delete from cnc_downtime_hour"},      \
            {&(st)->downtime_again, downtime_again_sql, "the insert into cnc_downtime_hour"},      \
    }

void cnc_state_time_close(struct cnc_state_time *st)
{
    if (st == NULL) {
        return;
    }
    const struct cnc_stmt_def defs[] = DEFS(st);
    cnc_stmts_close(defs, sizeof defs / sizeof defs[0]);
    cnc_chunked_close(&st->hour_add);
    cnc_chunked_close(&st->shift_add);
}

void cnc_state_time_destroy(struct cnc_state_time *st)
{
    if (st == NULL) {
        return;
    }
    cnc_state_time_close(st);
    free(st->closed);
    free(st->adds);
    free(st->text.p);
    free(st->binds);
    free(st);
}

int cnc_state_time_prepare(struct cnc_state_time *st, MYSQL *conn, char *err, size_t err_len,
                           enum cnc_db_cause *cause)
{
    cnc_state_time_close(st);
    const struct cnc_stmt_def defs[] = DEFS(st);
    if (cnc_stmts_prepare(conn, defs, sizeof defs / sizeof defs[0], err, err_len, cause) != 0) {
        return -1;
    }
    if (cnc_chunked_prepare(&st->hour_add, conn, hour_add_head, HOUR_ADD_PARAMS, hour_add_tail,
                            "addition to cnc_state_hour", err, err_len, cause) != 0 ||
        cnc_chunked_prepare_rows(&st->shift_add, conn, shift_add_head, shift_add_row, " UNION ALL ",
                                 shift_add_tail, "addition to cnc_state_shift", err, err_len,
                                 cause) != 0) {
        cnc_state_time_close(st);
        return -1;
    }
    return 0;
}

void cnc_state_time_begin(struct cnc_state_time *st)
{
    st->n_closed = 0;
    st->n_adds = 0;
    st->text.n = 0;
}

static void touch_hour(struct cnc_state_time *st, int64_t hour)
{
    for (size_t i = 0; i < st->n_touched; i++) {
        if (st->touched[i] == hour) {
            return;
        }
    }
    if (st->n_touched < TOUCHED_HOURS_MAX) {
        st->touched[st->n_touched++] = hour;
    }
}

static int64_t hour_of(int64_t ms)
{
    return ms - ((ms % HOUR_MS) + HOUR_MS) % HOUR_MS;
}

/* The first hour an interval ending at to_ms counts in: at most CNC_STATE_HOURS_MAX. */
static int64_t first_hour(int64_t from_ms, int64_t to_ms)
{
    int64_t first = hour_of(from_ms), last = hour_of(to_ms - 1);
    int64_t oldest = last - (CNC_STATE_HOURS_MAX - 1) * HOUR_MS;
    return first < oldest ? oldest : first;
}

int cnc_state_time_closed(struct cnc_state_time *st, const struct cnc_str *cnc_id, int64_t from_ms,
                          int64_t to_ms, const char *category, size_t category_len,
                          const char *reason, size_t reason_len)
{
    if (to_ms <= from_ms) {
        return 0;
    }
    if (cnc_grow((void **)&st->closed, &st->cap_closed, st->n_closed + 1, sizeof *st->closed) !=
        0) {
        return -1;
    }
    struct closed *c = &st->closed[st->n_closed];
    c->cnc_id = cnc_id;
    c->from_ms = from_ms;
    c->to_ms = to_ms;
    c->category = cnc_text_keep(&st->text, category, category_len);
    c->category_len = category_len;
    c->reason = cnc_text_keep(&st->text, reason, reason != NULL ? reason_len : 0);
    c->reason_len = reason != NULL ? reason_len : 0;
    if (c->category == SIZE_MAX || c->reason == SIZE_MAX) {
        return -1;
    }
    for (int64_t h = first_hour(from_ms, to_ms); h < to_ms; h += HOUR_MS) {
        if (cnc_grow((void **)&st->adds, &st->cap_adds, st->n_adds + 1, sizeof *st->adds) != 0) {
            return -1;
        }
        struct hour_add *a = &st->adds[st->n_adds++];
        int64_t a_from = from_ms > h ? from_ms : h;
        int64_t a_to = to_ms < h + HOUR_MS ? to_ms : h + HOUR_MS;
        a->cnc_id = cnc_id;
        a->hour = h;
        a->category = c->category;
        a->category_len = c->category_len;
        a->reason = c->reason;
        a->reason_len = c->reason_len;
        a->seconds = (double)(a_to - a_from) / 1000.0;
        a->starts = from_ms >= h;
    }
    st->n_closed++;
    return 0;
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int cmp_add(const void *x, const void *y)
{
    const struct hour_add *a = x, *b = y;
    int c = cmp_bytes(a->cnc_id->p, a->cnc_id->len, b->cnc_id->p, b->cnc_id->len);
    if (c == 0) {
        c = (a->hour > b->hour) - (a->hour < b->hour);
    }
    if (c == 0) {
        c = cmp_bytes(a->category_p, a->category_len, b->category_p, b->category_len);
    }
    if (c == 0) {
        c = cmp_bytes(a->reason_p, a->reason_len, b->reason_p, b->reason_len);
    }
    return c;
}

static int add_hours(struct cnc_state_time *st, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    if (st->n_adds == 0) {
        return 0;
    }
    for (size_t i = 0; i < st->n_adds; i++) {
        st->adds[i].category_p = st->text.p + st->adds[i].category;
        st->adds[i].reason_p = st->text.p + st->adds[i].reason;
    }
    qsort(st->adds, st->n_adds, sizeof *st->adds, cmp_add);
    size_t n = 0;
    for (size_t i = 0; i < st->n_adds; i++) {
        if (n > 0 && cmp_add(&st->adds[n - 1], &st->adds[i]) == 0) {
            st->adds[n - 1].seconds += st->adds[i].seconds;
            st->adds[n - 1].starts += st->adds[i].starts;
        } else {
            st->adds[n++] = st->adds[i];
        }
    }
    st->n_adds = n;
    if (cnc_grow((void **)&st->binds, &st->cap_binds, n * HOUR_ADD_PARAMS + 1, sizeof *st->binds) !=
        0) {
        snprintf(err, err_len, "mysql: out of memory binding the state time per hour");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct hour_add *a = &st->adds[i];
        MYSQL_BIND *b = &st->binds[i * HOUR_ADD_PARAMS];
        to_mysql_time(a->hour, &a->t);
        b_str(&b[0], a->cnc_id->p, a->cnc_id->len);
        b_time(&b[1], &a->t);
        b_str(&b[2], a->category_p, a->category_len);
        b_str(&b[3], a->reason_p, a->reason_len);
        b_double(&b[4], &a->seconds);
        b_ulong(&b[5], &a->starts);
        touch_hour(st, a->hour);
    }
    return cnc_chunked_execute(&st->hour_add, st->binds, n, err, err_len, cause);
}

static int add_shifts(struct cnc_state_time *st, char *err, size_t err_len,
                      enum cnc_db_cause *cause)
{
    if (cnc_grow((void **)&st->binds, &st->cap_binds, st->n_closed * SHIFT_ADD_PARAMS + 1,
                 sizeof *st->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding the state time per shift");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < st->n_closed; i++) {
        struct closed *c = &st->closed[i];
        MYSQL_BIND *b = &st->binds[i * SHIFT_ADD_PARAMS];
        to_mysql_time(c->from_ms, &c->from);
        to_mysql_time(c->to_ms, &c->to);
        b_str(&b[0], c->cnc_id->p, c->cnc_id->len);
        b_time(&b[1], &c->from);
        b_time(&b[2], &c->to);
        b_str(&b[3], st->text.p + c->category, c->category_len);
        b_str(&b[4], st->text.p + c->reason, c->reason_len);
    }
    return cnc_chunked_execute(&st->shift_add, st->binds, st->n_closed, err, err_len, cause);
}

int cnc_state_time_add(struct cnc_state_time *st, char *err, size_t err_len,
                       enum cnc_db_cause *cause)
{
    if (add_hours(st, err, err_len, cause) != 0) {
        return -1;
    }
    return add_shifts(st, err, err_len, cause);
}

int cnc_state_time_again(struct cnc_state_time *st, const struct cnc_str *cnc_id, int64_t from_ms,
                         int64_t to_ms, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    for (int64_t hour = first_hour(from_ms, to_ms); hour < to_ms; hour += HOUR_MS) {
        MYSQL_TIME h;
        to_mysql_time(hour, &h);
        MYSQL_BIND c[2], a[HOUR_AGAIN_PARAMS];
        b_str(&c[0], cnc_id->p, cnc_id->len);
        b_time(&c[1], &h);
        for (int k = 0; k < HOUR_AGAIN_PARAMS; k++) {
            b_time(&a[k], &h);
        }
        b_str(&a[4], cnc_id->p, cnc_id->len);
        b_str(&a[7], cnc_id->p, cnc_id->len);
        if (cnc_stmt_run(st->hour_clear, c, "delete from cnc_state_hour", err, err_len, cause) !=
                0 ||
            cnc_stmt_run(st->hour_again, a, "insert into cnc_state_hour", err, err_len, cause) !=
                0) {
            return -1;
        }
        touch_hour(st, hour);
    }
    MYSQL_TIME from, to;
    to_mysql_time(from_ms, &from);
    to_mysql_time(to_ms, &to);
    MYSQL_BIND b[7];
    b_str(&b[0], cnc_id->p, cnc_id->len);
    b_time(&b[1], &to);
    b_time(&b[2], &from);
    b_time(&b[3], &from);
    b[4] = b[0];
    b_time(&b[5], &from);
    b_time(&b[6], &from);
    if (cnc_stmt_run(st->shift_clear, b, "delete from cnc_state_shift", err, err_len, cause) != 0 ||
        cnc_stmt_run(st->shift_again, b, "insert into cnc_state_shift", err, err_len, cause) != 0) {
        return -1;
    }
    return 0;
}

int cnc_state_time_refresh_downtime(struct cnc_state_time *st, MYSQL *conn, char *warn,
                                    size_t warn_len)
{
    if (st->n_touched == 0) {
        return 0;
    }
    enum cnc_db_cause cause;
    for (size_t i = 0; i < st->n_touched; i++) {
        MYSQL_TIME h;
        to_mysql_time(st->touched[i], &h);
        MYSQL_BIND b[1];
        b_time(&b[0], &h);
        if (cnc_stmt_run(st->downtime_clear, b, "delete from cnc_downtime_hour", warn, warn_len,
                         &cause) != 0 ||
            cnc_stmt_run(st->downtime_again, b, "insert into cnc_downtime_hour", warn, warn_len,
                         &cause) != 0) {
            mysql_rollback(conn);
            return -1;
        }
    }
    if (mysql_commit(conn) != 0) {
        snprintf(warn, warn_len, "mysql: commit of cnc_downtime_hour: %s (%u)", mysql_error(conn),
                 mysql_errno(conn));
        mysql_rollback(conn);
        return -1;
    }
    st->n_touched = 0;
    return 0;
}
