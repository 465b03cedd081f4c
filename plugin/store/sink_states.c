/*
 * sink_states.c - machine states into the database, see sink_states.h.
 *
 * Writer thread. The coordinator of a batch's states: the intervals its
 * records start go to sink_intervals.c (which hands the intervals they close
 * to sink_state_time.c), the state time is added or computed again there, and
 * the current states are one upsert row per machine of the batch (its newest
 * message and newest change), sent in multi-row statements in cnc_id order
 * (the same lock order on every broker of a cluster).
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
#include "sink_intervals.h"
#include "sink_state_time.h"
#include "state_map.h"

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
    const struct cnc_stored *msg;   /* NULL: only an offline interval in this batch */
    const struct cnc_stored *state; /* NULL: no change stored by this batch */
    const struct cnc_stored *any;   /* a record of the machine (its cnc_id, handler) */
    bool state_is_gap;              /* the change is the offline interval before state's message */
    int64_t state_ms;
    uint8_t key[16];
    MYSQL_TIME last_ts, since;
};

struct cnc_state_sink {
    struct cnc_intervals *intervals; /* cnc_state_interval */
    struct cnc_state_time *time;     /* cnc_state_hour, cnc_state_shift, cnc_downtime_hour */
    struct cnc_change *changes;
    size_t cap_changes;
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
    struct cnc_state_sink *ss = calloc(1, sizeof *ss);
    if (ss != NULL && ((ss->time = cnc_state_time_create()) == NULL ||
                       (ss->intervals = cnc_intervals_create()) == NULL)) {
        cnc_state_time_destroy(ss->time);
        free(ss);
        return NULL;
    }
    return ss;
}

void cnc_state_sink_close(struct cnc_state_sink *ss)
{
    if (ss == NULL) {
        return;
    }
    cnc_intervals_close(ss->intervals);
    cnc_chunked_close(&ss->upsert);
    cnc_state_time_close(ss->time);
}

void cnc_state_sink_destroy(struct cnc_state_sink *ss)
{
    if (ss == NULL) {
        return;
    }
    cnc_state_sink_close(ss);
    cnc_state_time_destroy(ss->time);
    cnc_intervals_destroy(ss->intervals);
    free(ss->changes);
    free(ss->latest);
    free(ss->slots);
    free(ss->binds);
    free(ss);
}

int cnc_state_sink_prepare(struct cnc_state_sink *ss, MYSQL *conn, char *err, size_t err_len,
                           enum cnc_db_cause *cause)
{
    cnc_state_sink_close(ss);
    if (cnc_intervals_prepare(ss->intervals, conn, err, err_len, cause) != 0 ||
        cnc_chunked_prepare(
            &ss->upsert, conn,
            "INSERT INTO cnc_machine_state (cnc_id, handler, part_program, last_ts, "
            "last_msg_key, state, category, reason, state_since) VALUES",
            UPSERT_PARAMS, upsert_update, "upsert into cnc_machine_state", err, err_len,
            cause) != 0 ||
        cnc_state_time_prepare(ss->time, conn, err, err_len, cause) != 0) {
        cnc_state_sink_close(ss);
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

static const double no_ideal = NAN;

/* The intervals records start: the offline one before a message, the message's own. */
static size_t changes_of(struct cnc_change *out, const struct cnc_stored *s, uint32_t *seq)
{
    size_t k = 0;
    if ((s->state_flags & CNC_STATE_GAP) != 0) {
        out[k++] = (struct cnc_change){.s = s,
                                       .start_ms = s->offline_from_ms,
                                       .state = &offline_state,
                                       .reason = &offline_reason,
                                       .program = &s->gap_program,
                                       .ideal_cycle_s = &no_ideal,
                                       .category = CNC_STATE_UNPLANNED_DOWNTIME,
                                       .gap = true,
                                       .seq = (*seq)++};
    }
    if ((s->state_flags & (CNC_STATE_CHANGED | CNC_STATE_EVENT_ONLY)) != 0) {
        bool offline = (s->state_flags & CNC_STATE_EVENT_ONLY) != 0;
        out[k++] = (struct cnc_change){.s = s,
                                       .start_ms = s->state_started_ms,
                                       .state = &s->state,
                                       .reason = &s->reason,
                                       .program = &s->part_program,
                                       .ideal_cycle_s = offline ? &no_ideal : &s->ideal_cycle_s,
                                       .category = s->state_category,
                                       .seq = (*seq)++};
    }
    return k;
}

int cnc_state_sink_write(struct cnc_state_sink *ss, const struct cnc_stored *recs, size_t n,
                         char *err, size_t err_len, enum cnc_db_cause *cause)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    if (cnc_grow((void **)&ss->latest, &ss->cap_latest, n + 1, sizeof *ss->latest) != 0 ||
        cnc_grow((void **)&ss->changes, &ss->cap_changes, 2 * n + 1, sizeof *ss->changes) != 0 ||
        (slots > ss->n_slots &&
         cnc_grow((void **)&ss->slots, &ss->n_slots, slots, sizeof *ss->slots) != 0)) {
        snprintf(err, err_len, "mysql: out of memory for a batch of %zu machine states", n);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    memset(ss->slots, 0, ss->n_slots * sizeof *ss->slots);
    ss->n_latest = 0;
    cnc_state_time_begin(ss->time);
    size_t n_changes = 0;
    uint32_t seq = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cnc_stored *s = &recs[i];
        struct latest *l = latest_of(ss, s);
        if ((s->state_flags & CNC_STATE_EVENT_ONLY) == 0 &&
            (l->msg == NULL || s->ts_ms >= l->msg->ts_ms)) {
            l->msg = s;
        }
        n_changes += changes_of(&ss->changes[n_changes], s, &seq);
    }
    if (cnc_intervals_write(ss->intervals, ss->changes, n_changes, ss->time, err, err_len, cause) !=
        0) {
        return -1;
    }
    for (size_t i = 0; i < n_changes; i++) {
        const struct cnc_change *c = &ss->changes[i];
        if (!c->inserted) {
            continue;
        }
        note_state(latest_of(ss, c->s), c->s, c->start_ms, c->gap);
    }
    return upsert_latest(ss, err, err_len, cause);
}

int cnc_state_sink_refresh_downtime(struct cnc_state_sink *ss, MYSQL *conn, char *warn,
                                    size_t warn_len)
{
    return cnc_state_time_refresh_downtime(ss->time, conn, warn, warn_len);
}
