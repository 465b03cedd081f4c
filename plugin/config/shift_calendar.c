/*
 * shift_calendar.c - the plant's shift calendar, see shift_calendar.h.
 *
 * Broker thread at start (or the offline checker); no allocation.
 */
#include "shift_calendar.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int failf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

int cnc_weekday(int64_t days)
{
    int64_t w = (days + 3) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

/* "HH:MM", 00:00 to 24:00, as minutes. */
static bool read_time(const cJSON *v, int *out)
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 5 || v->valuestring[2] != ':') {
        return false;
    }
    const char *s = v->valuestring;
    for (int i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) {
        return false;
    }
    *out = h * 60 + m;
    return true;
}

/* A zone name as the tz database writes them, known to this machine's zoneinfo. */
static bool known_zone(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > CNC_TIME_ZONE_MAX || z[0] == '/' || strstr(z, "..") != NULL ||
        strspn(z, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != n) {
        return false;
    }
    if (strcmp(z, "UTC") == 0) {
        return true;
    }
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_def(const cJSON *e, int i, struct cnc_shift_def *d, char *err, size_t err_len)
{
    if (!cJSON_IsObject(e)) {
        return failf(err, err_len,
                     "shifts.calendar[%d]: must be a mapping {name, days, start, end}", i);
    }
    bool have_start = false, have_end = false;
    for (const cJSON *k = e->child; k != NULL; k = k->next) {
        if (strcmp(k->string, "name") == 0) {
            size_t n = cJSON_IsString(k) ? strlen(k->valuestring) : 0;
            if (n == 0 || n > CNC_SHIFT_NAME_MAX ||
                strspn(k->valuestring, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789_ -") != n) {
                return failf(err, err_len,
                             "shifts.calendar[%d].name: 1 to %d characters of A-Z a-z 0-9 _ - "
                             "and space",
                             i, CNC_SHIFT_NAME_MAX);
            }
            memcpy(d->name, k->valuestring, n + 1);
        } else if (strcmp(k->string, "days") == 0) {
            if (!cJSON_IsArray(k) || k->child == NULL) {
                return failf(err, err_len,
                             "shifts.calendar[%d].days: must be a list of mon, tue, wed, thu, "
                             "fri, sat, sun",
                             i);
            }
            int j = 0;
            for (const cJSON *v = k->child; v != NULL; v = v->next, j++) {
                int day = -1;
                for (int w = 0; w < 7 && cJSON_IsString(v); w++) {
                    day = strcmp(v->valuestring, day_names[w]) == 0 ? w : day;
                }
                if (day < 0) {
                    return failf(err, err_len,
                                 "shifts.calendar[%d].days[%d]: not a day (mon, tue, wed, thu, "
                                 "fri, sat, sun)",
                                 i, j);
                }
                d->days |= (uint8_t)(1u << day);
            }
        } else if (strcmp(k->string, "start") == 0 || strcmp(k->string, "end") == 0) {
            bool start = k->string[0] == 's';
            if (!read_time(k, start ? &d->start_min : &d->end_min)) {
                return failf(err, err_len,
                             "shifts.calendar[%d].%s: must be a local time \"HH:MM\" (00:00 to "
                             "24:00, quoted)",
                             i, k->string);
            }
            *(start ? &have_start : &have_end) = true;
        } else {
            return failf(err, err_len,
                         "shifts.calendar[%d].%.64s: unknown key (known keys: name, days, start, "
                         "end)",
                         i, k->string);
        }
    }
    if (d->name[0] == '\0' || d->days == 0 || !have_start || !have_end) {
        return failf(err, err_len, "shifts.calendar[%d]: name, days, start and end are required",
                     i);
    }
    if (d->start_min % 1440 == d->end_min % 1440) {
        return failf(err, err_len, "shifts.calendar[%d]: starts and ends at the same time", i);
    }
    if (d->start_min == 1440) {
        return failf(err, err_len, "shifts.calendar[%d].start: 24:00 is the end of a day", i);
    }
    return 0;
}

/* No minute of the week in two shifts (a shift past midnight runs into the next day). */
static int check_overlaps(const struct cnc_shift_calendar *c, char *err, size_t err_len)
{
    static const int WEEK = 7 * 1440;
    unsigned char owner[7 * 1440]; /* shift index + 1, 0: free */
    memset(owner, 0, sizeof owner);
    for (size_t i = 0; i < c->n; i++) {
        const struct cnc_shift_def *d = &c->defs[i];
        int len = (d->end_min - d->start_min + 1440) % 1440;
        len = len == 0 ? 1440 : len;
        for (int day = 0; day < 7; day++) {
            if ((d->days & (1u << day)) == 0) {
                continue;
            }
            for (int m = 0; m < len; m++) {
                int at = (day * 1440 + d->start_min + m) % WEEK;
                if (owner[at] != 0) {
                    const struct cnc_shift_def *o = &c->defs[owner[at] - 1];
                    return failf(err, err_len,
                                 "shifts.calendar[%zu]: %s overlaps %s on %s at %02d:%02d", i,
                                 d->name, o->name, day_names[at / 1440], at % 1440 / 60, at % 60);
                }
                owner[at] = (unsigned char)(i + 1);
            }
        }
    }
    return 0;
}

int cnc_shift_calendar_parse(const cJSON *shifts, struct cnc_shift_calendar *out, char *err,
                             size_t err_len)
{
    memset(out, 0, sizeof *out);
    out->history_days = 31;
    snprintf(out->time_zone, sizeof out->time_zone, "UTC");
    if (!cJSON_IsObject(shifts)) {
        return failf(err, err_len, "shifts: must be a mapping (time_zone, history_days, calendar)");
    }
    const cJSON *cal = NULL;
    for (const cJSON *k = shifts->child; k != NULL; k = k->next) {
        if (strcmp(k->string, "time_zone") == 0) {
            if (!cJSON_IsString(k) || !known_zone(k->valuestring)) {
                return failf(err, err_len,
                             "shifts.time_zone: not a time zone of this machine's "
                             "/usr/share/zoneinfo (\"Europe/Berlin\", \"America/Chicago\", "
                             "\"UTC\")");
            }
            snprintf(out->time_zone, sizeof out->time_zone, "%s", k->valuestring);
        } else if (strcmp(k->string, "history_days") == 0) {
            if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) ||
                k->valuedouble < 1 || k->valuedouble > 3660) {
                return failf(err, err_len,
                             "shifts.history_days: must be an integer from 1 to 3660");
            }
            out->history_days = (int)k->valuedouble;
        } else if (strcmp(k->string, "calendar") == 0) {
            cal = k;
        } else {
            return failf(err, err_len,
                         "shifts.%.64s: unknown key (known keys: time_zone, history_days, "
                         "calendar)",
                         k->string);
        }
    }
    if (!cJSON_IsArray(cal) || cal->child == NULL) {
        return failf(err, err_len, "shifts.calendar: required, a list of {name, days, start, end}");
    }
    int i = 0;
    for (const cJSON *e = cal->child; e != NULL; e = e->next, i++) {
        if (out->n == CNC_SHIFTS_MAX) {
            return failf(err, err_len, "shifts.calendar: more than %d shifts", CNC_SHIFTS_MAX);
        }
        if (read_def(e, i, &out->defs[out->n], err, err_len) != 0) {
            return -1;
        }
        for (size_t j = 0; j < out->n; j++) {
            if (strcmp(out->defs[j].name, out->defs[out->n].name) == 0 &&
                (out->defs[j].days & out->defs[out->n].days) != 0) {
                return failf(err, err_len,
                             "shifts.calendar[%d].name: \"%s\" already starts on one of these "
                             "days",
                             i, out->defs[j].name);
            }
        }
        out->n++;
    }
    return check_overlaps(out, err, err_len);
}
