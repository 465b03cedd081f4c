/*
 * sink_states.c - machine states into the database, see sink_states.h.
 *
 * Writer thread. State changes are rare next to messages (a machine changes
 * state every few minutes, and sends every second), so each is two prepared
 * statements of its own; the current states are one upsert row per machine of
 * the batch (its newest message and newest change), sent in multi-row
 * statements in cnc_id order (the same lock order on every broker of a
 * cluster).
 */
#include "grow.h"
#include "sink_states.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cnc_error.h"
#include "machine_states.h"
#include "mysql_bind.h"
#include "mysql_chunks.h"
#include "payload_span.h"
#include "state_map.h"

/*
 * A new interval, unless one starts at that moment (a replay: the key) or the interval before
 * it is the same (a restarted broker's first message): then nothing. It ends where the next
 * one starts, NULL when it is the newest.
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
 * The current state of a machine: the last_* columns move only forward in message time, the
 * state columns only forward in state_since (a batch replayed after a newer one changes
 * nothing). MariaDB assigns left to right, each seeing the ones before: the columns a condition
 * reads are assigned last.
 */
#define UPSERT_PARAMS 9
static const char upsert_update[] =
    " ON DUPLICATE KEY UPDATE"
    " handler = IF(last_ts IS NULL OR VALUES(last_ts) >= last_ts,"
    " COALESCE(VALUES(handler), handler), handler),"
    " part_program = IF(last_ts IS NULL OR VALUES(last_ts) >= last_ts,"
    " COALESCE(VALUES(part_program), part_program), part_program),"
    " last_msg_key = IF(VALUES(last_ts) >= last_ts OR last_ts IS NULL,"
    " COALESCE(VALUES(last_msg_key), last_msg_key), last_msg_key),"
    " last_ts = IF(VALUES(last_ts) >= last_ts OR last_ts IS NULL,"
    " COALESCE(VALUES(last_ts), last_ts), last_ts),"
    " state = IF(VALUES(state_since) >= state_since OR (state_since IS NULL AND VALUES(state_since)"
    " IS NOT NULL), VALUES(state), state),"
    " category = IF(VALUES(state_since) >= state_since OR (state_since IS NULL AND"
    " VALUES(state_since) IS NOT NULL), VALUES(category), category),"
    " reason = IF(VALUES(state_since) >= state_since OR (state_since IS NULL AND"
    " VALUES(state_since) IS NOT NULL), VALUES(reason), reason),"
    " state_since = IF(VALUES(state_since) >= state_since OR state_since IS NULL,"
    " COALESCE(VALUES(state_since), state_since), state_since)";

/* One machine of the batch: its newest message and its newest stored state change. */
struct latest {
    int64_t span_from, span_to;     /* closed intervals changed: state time to compute again */
    const struct cnc_stored *msg;   /* NULL: only an offline interval in this batch */
    const struct cnc_stored *state; /* NULL: no change stored by this batch */
    const struct cnc_stored *any;   /* a record of the machine (its cnc_id, handler) */
    bool state_is_gap;              /* the change is the offline interval before state's message */
    int64_t state_ms;
    uint8_t key[16];
    MYSQL_TIME last_ts, since;
};

/* Where a new interval's neighbours start (NULL: none), to know which closed time changed. */
static const char neighbours_sql[] =
    "SELECT (SELECT MAX(started_at) FROM cnc_state_interval WHERE cnc_id = ? AND started_at < ?),"
    " (SELECT MIN(started_at) FROM cnc_state_interval WHERE cnc_id = ? AND started_at > ?)";

/*
 * The state time of closed intervals per machine and hour, and per machine and shift, by
 * category and reason: computed again for the hours and shifts whose closed time changed.
 */
static const char hour_clear_sql[] = "DELETE FROM cnc_state_hour WHERE cnc_id = ? AND hour = ?";
static const char hour_again_sql[] =
    "INSERT INTO cnc_state_hour (cnc_id, hour, category, reason, seconds, starts)"
    " SELECT cnc_id, ?, category, COALESCE(reason, ''),"
    " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(started_at, ?),"
    " LEAST(ended_at, ? + INTERVAL 1 HOUR))) / 1e6, SUM(started_at >= ?)"
    " FROM cnc_state_interval WHERE cnc_id = ? AND ended_at > ? AND started_at < ? + INTERVAL 1 "
    "HOUR"
    " GROUP BY cnc_id, category, COALESCE(reason, '')";
static const char shift_clear_sql[] =
    "DELETE x FROM cnc_state_shift x JOIN cnc_shift s"
    " ON s.shift_start = x.shift_start AND s.name = x.shift_name"
    " WHERE x.cnc_id = ? AND s.shift_start < ? AND s.shift_end > ?";
static const char shift_again_sql[] =
    "INSERT INTO cnc_state_shift (cnc_id, shift_start, shift_name, category, reason, seconds,"
    " starts)"
    " SELECT i.cnc_id, s.shift_start, s.name, i.category, COALESCE(i.reason, ''),"
    " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(i.started_at, s.shift_start),"
    " LEAST(i.ended_at, s.shift_end))) / 1e6, SUM(i.started_at >= s.shift_start)"
    " FROM cnc_shift s JOIN cnc_state_interval i"
    " ON i.cnc_id = ? AND i.ended_at > s.shift_start AND i.started_at < s.shift_end"
    " WHERE s.shift_start < ? AND s.shift_end > ?"
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

#define TOUCHED_HOURS_MAX 4096 /* hours of one batch whose downtime is computed again */

struct cnc_state_sink {
    MYSQL_STMT *insert, *close, *neighbours;
    MYSQL_STMT *hour_clear, *hour_again, *shift_clear, *shift_again;
    MYSQL_STMT *downtime_clear, *downtime_again;
    int64_t touched[TOUCHED_HOURS_MAX]; /* hours whose downtime is due again (kept until done) */
    size_t n_touched;
    struct cnc_chunked upsert;
    struct latest *latest;
    size_t n_latest, cap_latest;
    uint32_t *slots; /* index + 1 into latest; 0: empty */
    size_t n_slots;
    MYSQL_BIND *binds;
    size_t cap_binds;
};

struct cnc_state_sink *cnc_state_sink_create(void)
{
    return calloc(1, sizeof(struct cnc_state_sink));
}

void cnc_state_sink_close(struct cnc_state_sink *ss)
{
    if (ss == NULL) {
        return;
    }
    MYSQL_STMT **all[] = {&ss->insert,      &ss->close,          &ss->neighbours,
                          &ss->hour_clear,  &ss->hour_again,     &ss->shift_clear,
                          &ss->shift_again, &ss->downtime_clear, &ss->downtime_again};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] != NULL) {
            mysql_stmt_close(*all[i]);
            *all[i] = NULL;
        }
    }
    cnc_chunked_close(&ss->upsert);
}

void cnc_state_sink_destroy(struct cnc_state_sink *ss)
{
    if (ss == NULL) {
        return;
    }
    cnc_state_sink_close(ss);
    free(ss->latest);
    free(ss->slots);
    free(ss->binds);
    free(ss);
}

static int stmt_fail(MYSQL_STMT *st, const char *what, char *err, size_t err_len,
                     enum cnc_db_cause *cause)
{
    snprintf(err, err_len, "mysql: %s: %s (%u)", what, mysql_stmt_error(st), mysql_stmt_errno(st));
    *cause = cnc_db_classify(mysql_stmt_errno(st), mysql_stmt_sqlstate(st));
    return -1;
}

static MYSQL_STMT *prepare(MYSQL *conn, const char *sql, const char *what, char *err,
                           size_t err_len, enum cnc_db_cause *cause)
{
    MYSQL_STMT *st = mysql_stmt_init(conn);
    if (st == NULL) {
        snprintf(err, err_len, "mysql: preparing %s: out of memory", what);
        *cause = CNC_DB_OTHER;
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        char w[96];
        snprintf(w, sizeof w, "preparing %s", what);
        stmt_fail(st, w, err, err_len, cause);
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

int cnc_state_sink_prepare(struct cnc_state_sink *ss, MYSQL *conn, char *err, size_t err_len,
                           enum cnc_db_cause *cause)
{
    cnc_state_sink_close(ss);
    ss->insert =
        prepare(conn, insert_sql, "the insert into cnc_state_interval", err, err_len, cause);
    ss->close = ss->insert != NULL ? prepare(conn, close_sql, "the update of cnc_state_interval",
                                             err, err_len, cause)
                                   : NULL;
    const struct {
        MYSQL_STMT **st;
        const char *sql, *what;
    } more[] = {
        {&ss->neighbours, neighbours_sql, "the neighbours of an interval"},
        {&ss->hour_clear, hour_clear_sql, "the delete from cnc_state_hour"},
        {&ss->hour_again, hour_again_sql, "the insert into cnc_state_hour"},
        {&ss->shift_clear, shift_clear_sql, "the delete from cnc_state_shift"},
        {&ss->shift_again, shift_again_sql, "the insert into cnc_state_shift"},
        {&ss->downtime_clear, downtime_clear_sql, "the delete from cnc_downtime_hour"},
        {&ss->downtime_again, downtime_again_sql, "the insert into cnc_downtime_hour"},
    };
    for (size_t i = 0; ss->close != NULL && i < sizeof more / sizeof more[0]; i++) {
        if ((*more[i].st = prepare(conn, more[i].sql, more[i].what, err, err_len, cause)) == NULL) {
            cnc_state_sink_close(ss);
            return -1;
        }
    }
    if (ss->close == NULL) {
        cnc_state_sink_close(ss);
        return -1;
    }
    if (cnc_chunked_prepare(
            &ss->upsert, conn,
            "INSERT INTO cnc_machine_state (cnc_id, handler, part_program, last_ts, "
            "last_msg_key, state, category, reason, state_since) VALUES",
            UPSERT_PARAMS, upsert_update, "upsert into cnc_machine_state", err, err_len,
            cause) != 0) {
        cnc_state_sink_close(ss);
        return -1;
    }
    return 0;
}

static void b_cstr(MYSQL_BIND *b, const struct cnc_str *s)
{
    b_str(b, s->p, s->len);
}

/*
 * One interval; *inserted says whether it was new (not a replay, not the same as the one
 * before it). 0 or -1.
 */
static int put_interval(struct cnc_state_sink *ss, const struct cnc_stored *s, int64_t start_ms,
                        const struct cnc_str *state, uint8_t category, const struct cnc_str *reason,
                        const struct cnc_str *program, const double *ideal_cycle_s, bool *inserted,
                        char *err, size_t err_len, enum cnc_db_cause *cause)
{
    MYSQL_TIME start;
    to_mysql_time(start_ms, &start);
    const char *cat = cnc_state_category_name((enum cnc_state_category)category);
    MYSQL_BIND b[INSERT_PARAMS];
    b_cstr(&b[0], &s->cnc_id);
    b_time(&b[1], &start);
    b_cstr(&b[2], state);
    b_str(&b[3], cat, strlen(cat));
    if (reason->len > 0) {
        b_cstr(&b[4], reason);
    } else {
        b_null(&b[4]);
    }
    b_cstr(&b[5], program);
    b_cstr(&b[6], &s->handler);
    b_double(&b[7], ideal_cycle_s); /* NaN: NULL */
    b_cstr(&b[8], &s->cnc_id);
    b_time(&b[9], &start);
    b_cstr(&b[10], &s->cnc_id);
    b_time(&b[11], &start);
    b[12] = b[2];
    b[13] = b[3];
    b[14] = b[4];
    b[15] = b[5];
    if (mysql_stmt_bind_param(ss->insert, b) != 0 || mysql_stmt_execute(ss->insert) != 0) {
        return stmt_fail(ss->insert, "insert into cnc_state_interval", err, err_len, cause);
    }
    *inserted = mysql_stmt_affected_rows(ss->insert) == 1;
    if (!*inserted) {
        return 0;
    }
    MYSQL_BIND c[CLOSE_PARAMS];
    b_cstr(&c[0], &s->cnc_id);
    b_time(&c[1], &start);
    b_time(&c[2], &start);
    b_cstr(&c[3], &s->cnc_id);
    if (mysql_stmt_bind_param(ss->close, c) != 0 || mysql_stmt_execute(ss->close) != 0) {
        return stmt_fail(ss->close, "update of cnc_state_interval", err, err_len, cause);
    }
    return 0;
}

/*
 * The closed time an interval inserted at start_ms changed: from the start of the one before
 * it (which now ends there) to the start of the one after it (up to which it is closed).
 */
static int widen_span(struct cnc_state_sink *ss, struct latest *l, const struct cnc_str *cnc_id,
                      int64_t start_ms, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    MYSQL_TIME start, prev, next;
    to_mysql_time(start_ms, &start);
    MYSQL_BIND p[4];
    b_cstr(&p[0], cnc_id);
    b_time(&p[1], &start);
    b_cstr(&p[2], cnc_id);
    b_time(&p[3], &start);
    cnc_mybool null_prev = 0, null_next = 0;
    MYSQL_BIND r[2];
    memset(r, 0, sizeof r);
    r[0].buffer_type = r[1].buffer_type = MYSQL_TYPE_DATETIME;
    r[0].buffer = &prev;
    r[0].is_null = &null_prev;
    r[1].buffer = &next;
    r[1].is_null = &null_next;
    MYSQL_STMT *st = ss->neighbours;
    if (mysql_stmt_bind_param(st, p) != 0 || mysql_stmt_execute(st) != 0 ||
        mysql_stmt_bind_result(st, r) != 0 || mysql_stmt_fetch(st) != 0) {
        return stmt_fail(st, "the neighbours of an interval", err, err_len, cause);
    }
    mysql_stmt_free_result(st);
    int64_t from = null_prev ? start_ms : from_mysql_time(&prev);
    int64_t to = null_next ? start_ms : from_mysql_time(&next);
    l->span_from = from < l->span_from ? from : l->span_from;
    l->span_to = to > l->span_to ? to : l->span_to;
    return 0;
}

static int run(MYSQL_STMT *st, MYSQL_BIND *b, const char *what, char *err, size_t err_len,
               enum cnc_db_cause *cause)
{
    if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0) {
        return stmt_fail(st, what, err, err_len, cause);
    }
    return 0;
}

static void touch_hour(struct cnc_state_sink *ss, int64_t hour)
{
    for (size_t i = 0; i < ss->n_touched; i++) {
        if (ss->touched[i] == hour) {
            return;
        }
    }
    if (ss->n_touched < TOUCHED_HOURS_MAX) {
        ss->touched[ss->n_touched++] = hour;
    }
}

/* Outside the batch's transaction: see cnc_state_sink_refresh_downtime. */
/* The machine's state time per hour and per shift, again, where its closed intervals changed. */
static int state_time_again(struct cnc_state_sink *ss, const struct latest *l, char *err,
                            size_t err_len, enum cnc_db_cause *cause)
{
    const struct cnc_str *id = &l->any->cnc_id;
    int64_t hour = l->span_from - (l->span_from % 3600000 + 3600000) % 3600000;
    for (; hour < l->span_to; hour += 3600000) {
        MYSQL_TIME h;
        to_mysql_time(hour, &h);
        MYSQL_BIND c[2], a[7];
        b_cstr(&c[0], id);
        b_time(&c[1], &h);
        for (int k = 0; k < 7; k++) {
            b_time(&a[k], &h);
        }
        b_cstr(&a[4], id);
        if (run(ss->hour_clear, c, "delete from cnc_state_hour", err, err_len, cause) != 0 ||
            run(ss->hour_again, a, "insert into cnc_state_hour", err, err_len, cause) != 0) {
            return -1;
        }
        touch_hour(ss, hour);
    }
    MYSQL_TIME from, to;
    to_mysql_time(l->span_from, &from);
    to_mysql_time(l->span_to, &to);
    MYSQL_BIND b[3];
    b_cstr(&b[0], id);
    b_time(&b[1], &to);
    b_time(&b[2], &from);
    if (run(ss->shift_clear, b, "delete from cnc_state_shift", err, err_len, cause) != 0 ||
        run(ss->shift_again, b, "insert into cnc_state_shift", err, err_len, cause) != 0) {
        return -1;
    }
    return 0;
}

static bool same_str(const struct cnc_str *a, const struct cnc_str *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The machine's entry of this batch, made on first sight; NULL when out of memory. */
static struct latest *latest_of(struct cnc_state_sink *ss, const struct cnc_stored *s)
{
    uint64_t h = XXH3_64bits(s->cnc_id.p, s->cnc_id.len);
    size_t mask = ss->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t k = ss->slots[i];
        if (k == 0) {
            struct latest *l = &ss->latest[ss->n_latest];
            memset(l, 0, sizeof *l);
            l->any = s;
            l->span_from = INT64_MAX;
            l->span_to = INT64_MIN;
            ss->slots[i] = (uint32_t)++ss->n_latest;
            return l;
        }
        if (same_str(&ss->latest[k - 1].any->cnc_id, &s->cnc_id)) {
            return &ss->latest[k - 1];
        }
    }
}

static void note_state(struct latest *l, const struct cnc_stored *s, int64_t ms, bool gap)
{
    if (l->state == NULL || ms >= l->state_ms) {
        l->state = s;
        l->state_ms = ms;
        l->state_is_gap = gap;
    }
}

static int cmp_latest(const void *a, const void *b)
{
    const struct cnc_str *x = &((const struct latest *)a)->any->cnc_id;
    const struct cnc_str *y = &((const struct latest *)b)->any->cnc_id;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static const struct cnc_str offline_state = {CNC_OFFLINE_STATE, sizeof CNC_OFFLINE_STATE - 1};
static const struct cnc_str offline_reason = {CNC_OFFLINE_REASON, sizeof CNC_OFFLINE_REASON - 1};

static void bind_latest(MYSQL_BIND *b, struct latest *l)
{
    const struct cnc_stored *who = l->msg != NULL ? l->msg : l->any;
    b_cstr(&b[0], &who->cnc_id);
    b_cstr(&b[1], &who->handler);
    b_cstr(&b[2], &who->part_program);
    if (l->msg != NULL) {
        cnc_msg_key(l->msg, l->key);
        to_mysql_time(l->msg->ts_ms, &l->last_ts);
        b_time(&b[3], &l->last_ts);
        b_blob(&b[4], l->key, 16);
    } else {
        b_null(&b[3]);
        b_null(&b[4]);
    }
    if (l->state == NULL) {
        for (int k = 5; k < 9; k++) {
            b_null(&b[k]);
        }
        return;
    }
    const struct cnc_stored *s = l->state;
    to_mysql_time(l->state_ms, &l->since);
    uint8_t cat = l->state_is_gap ? CNC_STATE_UNPLANNED_DOWNTIME : s->state_category;
    const char *name = cnc_state_category_name((enum cnc_state_category)cat);
    const struct cnc_str *state = l->state_is_gap ? &offline_state : &s->state;
    const struct cnc_str *reason = l->state_is_gap ? &offline_reason : &s->reason;
    b_cstr(&b[5], state);
    b_str(&b[6], name, strlen(name));
    if (reason->len > 0) {
        b_cstr(&b[7], reason);
    } else {
        b_null(&b[7]);
    }
    b_time(&b[8], &l->since);
}

static int upsert_latest(struct cnc_state_sink *ss, char *err, size_t err_len,
                         enum cnc_db_cause *cause)
{
    qsort(ss->latest, ss->n_latest, sizeof *ss->latest, cmp_latest);
    if (cnc_grow((void **)&ss->binds, &ss->cap_binds, ss->n_latest * UPSERT_PARAMS + 1,
                 sizeof *ss->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding the machines' states");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < ss->n_latest; i++) {
        bind_latest(&ss->binds[i * UPSERT_PARAMS], &ss->latest[i]);
    }
    return cnc_chunked_execute(&ss->upsert, ss->binds, ss->n_latest, err, err_len, cause);
}

int cnc_state_sink_write(struct cnc_state_sink *ss, const struct cnc_stored *recs, size_t n,
                         char *err, size_t err_len, enum cnc_db_cause *cause)
{
    static const double none = NAN;
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    if (cnc_grow((void **)&ss->latest, &ss->cap_latest, n + 1, sizeof *ss->latest) != 0 ||
        (slots > ss->n_slots &&
         cnc_grow((void **)&ss->slots, &ss->n_slots, slots, sizeof *ss->slots) != 0)) {
        snprintf(err, err_len, "mysql: out of memory for a batch of %zu machine states", n);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    memset(ss->slots, 0, ss->n_slots * sizeof *ss->slots);
    ss->n_latest = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cnc_stored *s = &recs[i];
        struct latest *l = latest_of(ss, s);
        if ((s->state_flags & CNC_STATE_EVENT_ONLY) == 0 &&
            (l->msg == NULL || s->ts_ms >= l->msg->ts_ms)) {
            l->msg = s;
        }
        bool inserted;
        if ((s->state_flags & CNC_STATE_GAP) != 0) {
            if (put_interval(ss, s, s->offline_from_ms, &offline_state,
                             CNC_STATE_UNPLANNED_DOWNTIME, &offline_reason, &s->gap_program, &none,
                             &inserted, err, err_len, cause) != 0) {
                return -1;
            }
            if (inserted) {
                note_state(l, s, s->offline_from_ms, true);
                if (widen_span(ss, l, &s->cnc_id, s->offline_from_ms, err, err_len, cause) != 0) {
                    return -1;
                }
            }
        }
        if ((s->state_flags & (CNC_STATE_CHANGED | CNC_STATE_EVENT_ONLY)) != 0) {
            bool offline = (s->state_flags & CNC_STATE_EVENT_ONLY) != 0;
            if (put_interval(ss, s, s->state_started_ms, &s->state, s->state_category, &s->reason,
                             &s->part_program, offline ? &none : &s->ideal_cycle_s, &inserted, err,
                             err_len, cause) != 0) {
                return -1;
            }
            if (inserted) {
                note_state(l, s, s->state_started_ms, false);
                if (widen_span(ss, l, &s->cnc_id, s->state_started_ms, err, err_len, cause) != 0) {
                    return -1;
                }
            }
        }
    }
    for (size_t i = 0; i < ss->n_latest; i++) {
        struct latest *l = &ss->latest[i];
        if (l->span_to > l->span_from && state_time_again(ss, l, err, err_len, cause) != 0) {
            return -1;
        }
    }
    return upsert_latest(ss, err, err_len, cause);
}

int cnc_state_sink_refresh_downtime(struct cnc_state_sink *ss, MYSQL *conn, char *warn,
                                    size_t warn_len)
{
    if (ss->n_touched == 0) {
        return 0;
    }
    enum cnc_db_cause cause;
    for (size_t i = 0; i < ss->n_touched; i++) {
        MYSQL_TIME h;
        to_mysql_time(ss->touched[i], &h);
        MYSQL_BIND b[1];
        b_time(&b[0], &h);
        if (run(ss->downtime_clear, b, "delete from cnc_downtime_hour", warn, warn_len, &cause) !=
                0 ||
            run(ss->downtime_again, b, "insert into cnc_downtime_hour", warn, warn_len, &cause) !=
                0) {
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
    ss->n_touched = 0;
    return 0;
}
