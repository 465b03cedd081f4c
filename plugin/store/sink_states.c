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
#include "sink_states.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cnc_error.h"
#include "machine_states.h"
#include "mysql_bind.h"
#include "payload_span.h"
#include "state_map.h"

/*
 * A new interval, unless one starts at that moment (a replay: the key) or the interval before
 * it is the same (a restarted broker's first message): then nothing. It ends where the next
 * one starts, NULL when it is the newest.
 */
static const char insert_sql[] =
    "INSERT IGNORE INTO cnc_state_interval"
    " (cnc_id, started_at, state, category, reason, part_program, handler, ended_at)"
    " SELECT ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT MIN(n.started_at) FROM cnc_state_interval n"
    " WHERE n.cnc_id = ? AND n.started_at > ?)"
    " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM"
    " (SELECT p.state, p.category, p.reason, p.part_program FROM cnc_state_interval p"
    " WHERE p.cnc_id = ? AND p.started_at < ? ORDER BY p.started_at DESC LIMIT 1) prev"
    " WHERE prev.state = ? AND prev.category = ? AND prev.reason <=> ?"
    " AND prev.part_program = ?)";
#define INSERT_PARAMS 15

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
static const char upsert_columns[] =
    "cnc_id, handler, part_program, last_ts, last_msg_key, state, category, reason, state_since";
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

static const unsigned upsert_chunks[] = {64, 16, 4, 1};
#define N_UPSERT (sizeof upsert_chunks / sizeof upsert_chunks[0])

/* One machine of the batch: its newest message and its newest stored state change. */
struct latest {
    const struct cnc_stored *msg;   /* NULL: only an offline interval in this batch */
    const struct cnc_stored *state; /* NULL: no change stored by this batch */
    const struct cnc_stored *any;   /* a record of the machine (its cnc_id, handler) */
    bool state_is_gap;              /* the change is the offline interval before state's message */
    int64_t state_ms;
    uint8_t key[16];
    MYSQL_TIME last_ts, since;
};

struct cnc_state_sink {
    MYSQL_STMT *insert, *close;
    MYSQL_STMT *upsert[N_UPSERT];
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
    MYSQL_STMT **all[] = {&ss->insert, &ss->close};
    for (size_t i = 0; i < 2; i++) {
        if (*all[i] != NULL) {
            mysql_stmt_close(*all[i]);
            *all[i] = NULL;
        }
    }
    for (size_t i = 0; i < N_UPSERT; i++) {
        if (ss->upsert[i] != NULL) {
            mysql_stmt_close(ss->upsert[i]);
            ss->upsert[i] = NULL;
        }
    }
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
    if (ss->close == NULL) {
        cnc_state_sink_close(ss);
        return -1;
    }
    for (size_t c = 0; c < N_UPSERT; c++) {
        size_t cap = 128 + sizeof upsert_columns + sizeof upsert_update +
                     upsert_chunks[c] * (UPSERT_PARAMS * 2 + 3);
        char *sql = malloc(cap);
        if (sql == NULL) {
            snprintf(err, err_len, "mysql: out of memory");
            *cause = CNC_DB_OTHER;
            cnc_state_sink_close(ss);
            return -1;
        }
        size_t n =
            (size_t)snprintf(sql, cap, "INSERT INTO cnc_machine_state (%s) VALUES", upsert_columns);
        for (unsigned r = 0; r < upsert_chunks[c]; r++) {
            n += (size_t)snprintf(sql + n, cap - n, "%s(?,?,?,?,?,?,?,?,?)", r ? "," : " ");
        }
        snprintf(sql + n, cap - n, "%s", upsert_update);
        ss->upsert[c] =
            prepare(conn, sql, "the upsert into cnc_machine_state", err, err_len, cause);
        free(sql);
        if (ss->upsert[c] == NULL) {
            cnc_state_sink_close(ss);
            return -1;
        }
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
                        bool *inserted, char *err, size_t err_len, enum cnc_db_cause *cause)
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
    b_cstr(&b[5], &s->part_program);
    b_cstr(&b[6], &s->handler);
    b_cstr(&b[7], &s->cnc_id);
    b_time(&b[8], &start);
    b_cstr(&b[9], &s->cnc_id);
    b_time(&b[10], &start);
    b[11] = b[2];
    b[12] = b[3];
    b[13] = b[4];
    b[14] = b[5];
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

static int grow_to(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        c *= 2;
    }
    void *n = realloc(*p, c * size);
    if (n == NULL) {
        return -1;
    }
    *p = n;
    *cap = c;
    return 0;
}

static int upsert_latest(struct cnc_state_sink *ss, char *err, size_t err_len,
                         enum cnc_db_cause *cause)
{
    qsort(ss->latest, ss->n_latest, sizeof *ss->latest, cmp_latest);
    if (grow_to((void **)&ss->binds, &ss->cap_binds, ss->n_latest * UPSERT_PARAMS + 1,
                sizeof *ss->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding the machines' states");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < ss->n_latest; i++) {
        bind_latest(&ss->binds[i * UPSERT_PARAMS], &ss->latest[i]);
    }
    size_t done = 0;
    while (done < ss->n_latest) {
        size_t c = 0;
        while (upsert_chunks[c] > ss->n_latest - done) {
            c++;
        }
        MYSQL_STMT *st = ss->upsert[c];
        if (mysql_stmt_bind_param(st, &ss->binds[done * UPSERT_PARAMS]) != 0 ||
            mysql_stmt_execute(st) != 0) {
            return stmt_fail(st, "upsert into cnc_machine_state", err, err_len, cause);
        }
        done += upsert_chunks[c];
    }
    return 0;
}

int cnc_state_sink_write(struct cnc_state_sink *ss, const struct cnc_stored *recs, size_t n,
                         char *err, size_t err_len, enum cnc_db_cause *cause)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    if (grow_to((void **)&ss->latest, &ss->cap_latest, n + 1, sizeof *ss->latest) != 0 ||
        (slots > ss->n_slots &&
         grow_to((void **)&ss->slots, &ss->n_slots, slots, sizeof *ss->slots) != 0)) {
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
                             CNC_STATE_UNPLANNED_DOWNTIME, &offline_reason, &inserted, err, err_len,
                             cause) != 0) {
                return -1;
            }
            if (inserted) {
                note_state(l, s, s->offline_from_ms, true);
            }
        }
        if ((s->state_flags & (CNC_STATE_CHANGED | CNC_STATE_EVENT_ONLY)) != 0) {
            if (put_interval(ss, s, s->state_started_ms, &s->state, s->state_category, &s->reason,
                             &inserted, err, err_len, cause) != 0) {
                return -1;
            }
            if (inserted) {
                note_state(l, s, s->state_started_ms, false);
            }
        }
    }
    return upsert_latest(ss, err, err_len, cause);
}
