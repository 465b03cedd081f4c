/*
 * sink_shifts.c - the shift calendar into cnc_shift, see sink_shifts.h.
 *
 * Writer thread. The calendar's names and zone are checked to a safe alphabet
 * when the config is read (shift_calendar.c), so they are written into the
 * statements' text; the dates are the writer's own.
 */
#include "sink_shifts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timestamp.h"

#define RESYNC_MS 3600000

struct cnc_shift_sink {
    bool have;
    struct cnc_shift_calendar cal;
    int64_t synced_ms; /* 0: not on this connection */
};

struct cnc_shift_sink *cnc_shift_sink_create(const struct cnc_shift_calendar *cal)
{
    struct cnc_shift_sink *ss = calloc(1, sizeof *ss);
    if (ss != NULL && cal != NULL) {
        ss->have = true;
        ss->cal = *cal;
    }
    return ss;
}

void cnc_shift_sink_destroy(struct cnc_shift_sink *ss)
{
    free(ss);
}

bool cnc_shift_sink_due(const struct cnc_shift_sink *ss, int64_t now_ms)
{
    return ss->have && (ss->synced_ms == 0 || now_ms - ss->synced_ms >= RESYNC_MS);
}

void cnc_shift_sink_reset(struct cnc_shift_sink *ss)
{
    ss->synced_ms = 0;
}

static int query(MYSQL *conn, const char *sql, const char *what, char *warn, size_t warn_len)
{
    if (mysql_query(conn, sql) != 0) {
        snprintf(warn, warn_len, "shifts: %s: %s (%u); the shift views are not up to date", what,
                 mysql_error(conn), mysql_errno(conn));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(conn);
    mysql_free_result(r);
    return 0;
}

/* The server converts this zone: its time zone tables are loaded. */
static int zone_known(struct cnc_shift_sink *ss, MYSQL *conn, char *warn, size_t warn_len)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT CONVERT_TZ('2000-01-01 12:00:00', '%s', '+00:00')",
             ss->cal.time_zone);
    if (mysql_query(conn, sql) != 0) {
        snprintf(warn, warn_len, "shifts: %s (%u)", mysql_error(conn), mysql_errno(conn));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(conn);
    MYSQL_ROW row = r != NULL ? mysql_fetch_row(r) : NULL;
    bool known = row != NULL && row[0] != NULL;
    mysql_free_result(r);
    if (!known) {
        snprintf(warn, warn_len,
                 "shifts: the database server does not know the time zone \"%s\" (its time zone "
                 "tables are empty: as its administrator, mariadb-tzinfo-to-sql "
                 "/usr/share/zoneinfo | mariadb mysql); no shifts written, the shift views stay "
                 "empty",
                 ss->cal.time_zone);
        return -1;
    }
    return 0;
}

/* "YYYY-MM-DD HH:MM:00" of a day count plus minutes. */
static void local_text(int64_t day, int minutes, char out[24])
{
    int y;
    unsigned m, d;
    cnc_civil_from_days(day + minutes / 1440, &y, &m, &d);
    minutes %= 1440;
    snprintf(out, 24, "%04d-%02u-%02u %02d:%02d:00", y, m, d, minutes / 60, minutes % 60);
}

int cnc_shift_sink_sync(struct cnc_shift_sink *ss, MYSQL *conn, int64_t now_ms, char *warn,
                        size_t warn_len)
{
    if (!ss->have) {
        return 0;
    }
    ss->synced_ms = now_ms; /* a failure is said once an hour, not at every batch */
    if (zone_known(ss, conn, warn, warn_len) != 0) {
        return -1;
    }
    const struct cnc_shift_calendar *c = &ss->cal;
    int64_t today = now_ms / 86400000;
    size_t cap = 256 + (size_t)(c->history_days + 5) * c->n * 200;
    char *sql = malloc(cap);
    if (sql == NULL) {
        snprintf(warn, warn_len, "shifts: out of memory");
        return -1;
    }
    size_t n = (size_t)snprintf(sql, cap,
                                "INSERT IGNORE INTO cnc_shift (shift_start, shift_end, name, "
                                "shift_day) VALUES");
    bool first = true;
    /* Local dates around the UTC ones: a day more each side covers any zone's offset. */
    for (int64_t day = today - c->history_days - 1; day <= today + 2; day++) {
        for (size_t i = 0; i < c->n; i++) {
            const struct cnc_shift_def *d = &c->defs[i];
            if ((d->days & (1u << cnc_weekday(day))) == 0) {
                continue;
            }
            char from[24], to[24], date[24];
            int end = d->end_min <= d->start_min ? d->end_min + 1440 : d->end_min;
            local_text(day, d->start_min, from);
            local_text(day, end, to);
            local_text(day, 0, date);
            date[10] = '\0';
            n += (size_t)snprintf(sql + n, cap - n,
                                  "%s(CONVERT_TZ('%s', '%s', '+00:00'), CONVERT_TZ('%s', '%s', "
                                  "'+00:00'), '%s', '%s')",
                                  first ? " " : ",", from, c->time_zone, to, c->time_zone, d->name,
                                  date);
            first = false;
        }
    }
    /* The future follows the calendar now in force; the past stays as it was written. */
    int rc = query(conn, "DELETE FROM cnc_shift WHERE shift_start > UTC_TIMESTAMP()",
                   "deleting future shifts", warn, warn_len);
    if (rc == 0 && !first) {
        rc = query(conn, sql, "writing the shifts", warn, warn_len);
    }
    free(sql);
    /* Shifts with no state time yet (written just now, or before any interval closed in them):
       the closed intervals' time, for every machine. */
    if (rc == 0) {
        rc = query(conn,
                   "INSERT IGNORE INTO cnc_state_shift (cnc_id, shift_start, shift_name, "
                   "category, reason, seconds, starts)"
                   " SELECT i.cnc_id, s.shift_start, s.name, i.category, COALESCE(i.reason, ''),"
                   " SUM(TIMESTAMPDIFF(MICROSECOND, GREATEST(i.started_at, s.shift_start),"
                   " LEAST(i.ended_at, s.shift_end))) / 1e6, SUM(i.started_at >= s.shift_start)"
                   " FROM cnc_shift s JOIN cnc_state_interval i"
                   " ON i.ended_at > s.shift_start AND i.started_at < s.shift_end"
                   " WHERE s.shift_start < UTC_TIMESTAMP() AND NOT EXISTS (SELECT 1 FROM "
                   "cnc_state_shift x WHERE x.shift_start = s.shift_start AND x.shift_name = "
                   "s.name)"
                   " GROUP BY i.cnc_id, s.shift_start, s.name, i.category, COALESCE(i.reason, '')",
                   "the state time of new shifts", warn, warn_len);
    }
    if (rc == 0 && mysql_commit(conn) != 0) {
        snprintf(warn, warn_len, "shifts: commit: %s (%u)", mysql_error(conn), mysql_errno(conn));
        rc = -1;
    }
    if (rc != 0) {
        mysql_rollback(conn);
    }
    return rc;
}
