/*
 * sink_rollups.c - per-minute and per-hour sums of each batch, see sink_rollups.h.
 *
 * Writer thread. A batch's records are summed in a hash by (cnc_id, bucket)
 * for each of the two tables; the sums go out as multi-row upserts (64 rows a
 * statement), or, after a replay, each bucket is computed again from the
 * stored rows (two statements per minute, one per hour).
 */
#include "grow.h"
#include "sink_rollups.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "machine_states.h"
#include "mysql_bind.h"
#include "mysql_chunks.h"
#include "mysql_stmts.h"

#define COLUMNS                                                                                    \
    " messages, eff_n, eff_sum, eff_min, eff_max, anomalies, parts, good, rejects, ideal_s"
#define NCOLS 12

/* Adds a batch's sums; min and max of what both have, ideal time NULL while nothing has one. */
#define ADD_UPDATE                                                                                 \
    " ON DUPLICATE KEY UPDATE messages = messages + VALUES(messages),"                             \
    " eff_n = eff_n + VALUES(eff_n), eff_sum = eff_sum + VALUES(eff_sum),"                         \
    " eff_min = LEAST(COALESCE(eff_min, VALUES(eff_min)), COALESCE(VALUES(eff_min), eff_min)),"    \
    " eff_max = GREATEST(COALESCE(eff_max, VALUES(eff_max)), COALESCE(VALUES(eff_max), eff_max))," \
    " anomalies = anomalies + VALUES(anomalies), parts = parts + VALUES(parts),"                   \
    " good = good + VALUES(good), rejects = rejects + VALUES(rejects),"                            \
    " ideal_s = IF(ideal_s IS NULL AND VALUES(ideal_s) IS NULL, NULL,"                             \
    " COALESCE(ideal_s, 0) + COALESCE(VALUES(ideal_s), 0))"

/* One minute of one machine again, from the stored rows (14 parameters). */
static const char minute_again_sql[] =
    "REPLACE INTO cnc_rollup_minute (cnc_id, minute," COLUMNS ")"
    " SELECT ?, ?,"
    " (SELECT COUNT(*) FROM cnc_message WHERE cnc_id = ? AND ts >= ? AND ts < ?),"
    " e.n, e.s, e.mi, e.ma,"
    " (SELECT COUNT(*) FROM cnc_anomaly WHERE cnc_id = ? AND ts >= ? AND ts < ?),"
    " p.parts, p.good, p.rejects, p.ideal"
    " FROM (SELECT COUNT(*) AS n, COALESCE(SUM(efficiency_score), 0) AS s,"
    " MIN(efficiency_score) AS mi, MAX(efficiency_score) AS ma"
    " FROM cnc_efficiency WHERE cnc_id = ? AND ts >= ? AND ts < ?) e,"
    " (SELECT COALESCE(SUM(parts), 0) AS parts, COALESCE(SUM(good), 0) AS good,"
    " COALESCE(SUM(rejects), 0) AS rejects, SUM(ideal_s) AS ideal"
    " FROM cnc_part_count WHERE cnc_id = ? AND ts >= ? AND ts < ?) p";

/* One hour of one machine again, from its minutes (4 parameters). */
static const char hour_again_sql[] =
    "REPLACE INTO cnc_rollup_hour (cnc_id, hour," COLUMNS ")"
    " SELECT cnc_id, ?, SUM(messages), SUM(eff_n), SUM(eff_sum), MIN(eff_min), MAX(eff_max),"
    " SUM(anomalies), SUM(parts), SUM(good), SUM(rejects), SUM(ideal_s)"
    " FROM cnc_rollup_minute WHERE cnc_id = ? AND minute >= ? AND minute < ? GROUP BY cnc_id";

struct bucket {
    struct cnc_str cnc_id;
    int64_t start_ms;
    uint32_t messages, eff_n, anomalies, parts, good, rejects;
    double eff_sum, eff_min, eff_max, ideal_s; /* min/max/ideal NaN: none */
    MYSQL_TIME at;
};

struct table_sums {
    int64_t width_ms;
    struct bucket *b;
    size_t n, cap;
    uint32_t *slots; /* index + 1; 0: empty */
    size_t n_slots;
};

struct cnc_rollup_sink {
    struct table_sums minute, hour;
    struct cnc_chunked add_minute, add_hour;
    MYSQL_STMT *minute_again, *hour_again;
    MYSQL_BIND *binds;
    size_t cap_binds;
};

struct cnc_rollup_sink *cnc_rollup_sink_create(void)
{
    struct cnc_rollup_sink *rs = calloc(1, sizeof *rs);
    if (rs != NULL) {
        rs->minute.width_ms = 60000;
        rs->hour.width_ms = 3600000;
    }
    return rs;
}

/* The statements prepared one by one, in order. */
#define DEFS(rs)                                                                                   \
    {                                                                                              \
        {&(rs)->minute_again, minute_again_sql, "the minute rollup again"},                        \
            {&(rs)->hour_again, hour_again_sql, "the hour rollup again"},                          \
    }

void cnc_rollup_sink_close(struct cnc_rollup_sink *rs)
{
    if (rs == NULL) {
        return;
    }
    cnc_chunked_close(&rs->add_minute);
    cnc_chunked_close(&rs->add_hour);
    const struct cnc_stmt_def defs[] = DEFS(rs);
    cnc_stmts_close(defs, sizeof defs / sizeof defs[0]);
}

void cnc_rollup_sink_destroy(struct cnc_rollup_sink *rs)
{
    if (rs == NULL) {
        return;
    }
    cnc_rollup_sink_close(rs);
    struct table_sums *ts[] = {&rs->minute, &rs->hour};
    for (size_t i = 0; i < 2; i++) {
        free(ts[i]->b);
        free(ts[i]->slots);
    }
    free(rs->binds);
    free(rs);
}

int cnc_rollup_sink_prepare(struct cnc_rollup_sink *rs, MYSQL *conn, char *err, size_t err_len,
                            enum cnc_db_cause *cause)
{
    cnc_rollup_sink_close(rs);
    const struct cnc_stmt_def defs[] = DEFS(rs);
    if (cnc_chunked_prepare(&rs->add_minute, conn,
                            "INSERT INTO cnc_rollup_minute (cnc_id, minute," COLUMNS ") VALUES",
                            NCOLS, ADD_UPDATE, "upsert into cnc_rollup_minute", err, err_len,
                            cause) != 0 ||
        cnc_chunked_prepare(&rs->add_hour, conn,
                            "INSERT INTO cnc_rollup_hour (cnc_id, hour," COLUMNS ") VALUES", NCOLS,
                            ADD_UPDATE, "upsert into cnc_rollup_hour", err, err_len, cause) != 0 ||
        cnc_stmts_prepare(conn, defs, sizeof defs / sizeof defs[0], err, err_len, cause) != 0) {
        cnc_rollup_sink_close(rs);
        return -1;
    }
    return 0;
}

static int reset_sums(struct table_sums *t, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    if (cnc_grow((void **)&t->b, &t->cap, n + 1, sizeof *t->b) != 0 ||
        (slots > t->n_slots &&
         cnc_grow((void **)&t->slots, &t->n_slots, slots, sizeof *t->slots))) {
        return -1;
    }
    memset(t->slots, 0, t->n_slots * sizeof *t->slots);
    t->n = 0;
    return 0;
}

static int64_t floor_to(int64_t ms, int64_t width)
{
    int64_t q = ms / width;
    return (ms % width < 0 ? q - 1 : q) * width;
}

static struct bucket *bucket_of(struct table_sums *t, const struct cnc_str *id, int64_t ts_ms)
{
    int64_t start = floor_to(ts_ms, t->width_ms);
    uint64_t h = XXH3_64bits_withSeed(id->p, id->len, (uint64_t)start);
    size_t mask = t->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t k = t->slots[i];
        if (k == 0) {
            struct bucket *b = &t->b[t->n];
            memset(b, 0, sizeof *b);
            b->cnc_id = *id;
            b->start_ms = start;
            b->eff_min = b->eff_max = b->ideal_s = NAN;
            t->slots[i] = (uint32_t)++t->n;
            return b;
        }
        struct bucket *b = &t->b[k - 1];
        if (b->start_ms == start && b->cnc_id.len == id->len &&
            memcmp(b->cnc_id.p, id->p, id->len) == 0) {
            return b;
        }
    }
}

static void add_record(struct bucket *b, const struct cnc_stored *s)
{
    b->messages++;
    b->anomalies += s->n_anomalies;
    if (s->has_efficiency && isfinite(s->score)) {
        b->eff_n++;
        b->eff_sum += s->score;
        b->eff_min = isnan(b->eff_min) || s->score < b->eff_min ? s->score : b->eff_min;
        b->eff_max = isnan(b->eff_max) || s->score > b->eff_max ? s->score : b->eff_max;
    }
    if ((s->state_flags & CNC_STATE_COUNTS) != 0) {
        b->parts += s->parts;
        b->good += s->good;
        b->rejects += s->rejects;
        double ideal = (double)s->parts * s->ideal_cycle_s;
        if (isfinite(ideal)) {
            b->ideal_s = isnan(b->ideal_s) ? ideal : b->ideal_s + ideal;
        }
    }
}

static void bind_bucket(MYSQL_BIND *b, struct bucket *k)
{
    to_mysql_time(k->start_ms, &k->at);
    b_str(&b[0], k->cnc_id.p, k->cnc_id.len);
    b_time(&b[1], &k->at);
    b_ulong(&b[2], &k->messages);
    b_ulong(&b[3], &k->eff_n);
    b_double(&b[4], &k->eff_sum);
    b_double(&b[5], &k->eff_min); /* NaN: NULL */
    b_double(&b[6], &k->eff_max);
    b_ulong(&b[7], &k->anomalies);
    b_ulong(&b[8], &k->parts);
    b_ulong(&b[9], &k->good);
    b_ulong(&b[10], &k->rejects);
    b_double(&b[11], &k->ideal_s);
}

/* By machine, then time: every broker of a cluster takes the rows' locks in one order. */
static int cmp_bucket(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;
    int c = memcmp(x->cnc_id.p, y->cnc_id.p,
                   x->cnc_id.len < y->cnc_id.len ? x->cnc_id.len : y->cnc_id.len);
    if (c == 0) {
        c = (x->cnc_id.len > y->cnc_id.len) - (x->cnc_id.len < y->cnc_id.len);
    }
    return c != 0 ? c : (x->start_ms > y->start_ms) - (x->start_ms < y->start_ms);
}

static int add_sums(struct cnc_rollup_sink *rs, struct table_sums *t, struct cnc_chunked *c,
                    char *err, size_t err_len, enum cnc_db_cause *cause)
{
    qsort(t->b, t->n, sizeof *t->b, cmp_bucket); /* the slots are not used after this */
    if (cnc_grow((void **)&rs->binds, &rs->cap_binds, t->n * NCOLS + 1, sizeof *rs->binds) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding the rollups");
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        bind_bucket(&rs->binds[i * NCOLS], &t->b[i]);
    }
    return cnc_chunked_execute(c, rs->binds, t->n, err, err_len, cause);
}

/* After a replay: each touched minute, then each touched hour, from what is stored. */
static int compute_again(struct cnc_rollup_sink *rs, char *err, size_t err_len,
                         enum cnc_db_cause *cause)
{
    for (size_t i = 0; i < rs->minute.n; i++) {
        struct bucket *k = &rs->minute.b[i];
        MYSQL_TIME from, to;
        to_mysql_time(k->start_ms, &from);
        to_mysql_time(k->start_ms + rs->minute.width_ms, &to);
        MYSQL_BIND b[14];
        b_str(&b[0], k->cnc_id.p, k->cnc_id.len);
        b_time(&b[1], &from);
        for (int q = 0; q < 4; q++) {
            b_str(&b[2 + 3 * q], k->cnc_id.p, k->cnc_id.len);
            b_time(&b[3 + 3 * q], &from);
            b_time(&b[4 + 3 * q], &to);
        }
        if (cnc_stmt_run(rs->minute_again, b, "the minute rollup again", err, err_len, cause) !=
            0) {
            return -1;
        }
    }
    for (size_t i = 0; i < rs->hour.n; i++) {
        struct bucket *k = &rs->hour.b[i];
        MYSQL_TIME from, to;
        to_mysql_time(k->start_ms, &from);
        to_mysql_time(k->start_ms + rs->hour.width_ms, &to);
        MYSQL_BIND b[4];
        b_time(&b[0], &from);
        b_str(&b[1], k->cnc_id.p, k->cnc_id.len);
        b_time(&b[2], &from);
        b_time(&b[3], &to);
        if (cnc_stmt_run(rs->hour_again, b, "the hour rollup again", err, err_len, cause) != 0) {
            return -1;
        }
    }
    return 0;
}

int cnc_rollup_sink_write(struct cnc_rollup_sink *rs, const struct cnc_stored *recs, size_t n,
                          bool all_new, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    if (reset_sums(&rs->minute, n) != 0 || reset_sums(&rs->hour, n) != 0) {
        snprintf(err, err_len, "mysql: out of memory summing a batch of %zu", n);
        *cause = CNC_DB_OTHER;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct cnc_stored *s = &recs[i];
        if ((s->state_flags & CNC_STATE_EVENT_ONLY) != 0) {
            continue; /* an offline interval, no message */
        }
        add_record(bucket_of(&rs->minute, &s->cnc_id, s->ts_ms), s);
        add_record(bucket_of(&rs->hour, &s->cnc_id, s->ts_ms), s);
    }
    if (rs->minute.n == 0) {
        return 0;
    }
    if (!all_new) {
        return compute_again(rs, err, err_len, cause);
    }
    if (add_sums(rs, &rs->minute, &rs->add_minute, err, err_len, cause) != 0 ||
        add_sums(rs, &rs->hour, &rs->add_hour, err, err_len, cause) != 0) {
        return -1;
    }
    return 0;
}
