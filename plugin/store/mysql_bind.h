/*
 * mysql_bind.h - filling MYSQL_BIND parameters and MYSQL_TIME values, for the
 * writer's statements (sink_mysql.c, sink_states.c).
 *
 * Writer thread. Header-only (static inline): the binds point at the caller's
 * data, which must outlive the execute.
 */
#ifndef CNC_MYSQL_BIND_H
#define CNC_MYSQL_BIND_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "stored_record.h"
#include "timestamp.h"

#if defined(MARIADB_BASE_VERSION) || defined(MARIADB_PACKAGE_VERSION) || MYSQL_VERSION_ID < 80000
typedef my_bool cnc_mybool;
#else
typedef bool cnc_mybool;
#endif

static inline void b_str(MYSQL_BIND *b, const char *p, size_t len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)p;
    b->buffer_length = (unsigned long)len;
}

/* A record's string (stored_record.h). */
static inline void b_cstr(MYSQL_BIND *b, const struct cnc_str *s)
{
    b_str(b, s->p, s->len);
}

static inline void b_blob(MYSQL_BIND *b, const void *p, size_t len)
{
    b_str(b, p, len);
    b->buffer_type = MYSQL_TYPE_BLOB;
}

static inline void b_double(MYSQL_BIND *b, const double *v)
{
    memset(b, 0, sizeof *b);
    if (!isfinite(*v)) {
        b->buffer_type = MYSQL_TYPE_NULL;
        return;
    }
    b->buffer_type = MYSQL_TYPE_DOUBLE;
    b->buffer = (void *)v;
}

static inline void b_null(MYSQL_BIND *b)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_NULL;
}

static inline void b_time(MYSQL_BIND *b, MYSQL_TIME *t)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_DATETIME;
    b->buffer = t;
}

static inline void b_tiny(MYSQL_BIND *b, const uint8_t *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_TINY;
    b->buffer = (void *)v;
    b->is_unsigned = 1;
}

static inline void b_ulong(MYSQL_BIND *b, const uint32_t *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = (void *)v;
    b->is_unsigned = 1;
}

static inline void to_mysql_time(int64_t ms, MYSQL_TIME *t)
{
    char text[25];
    /* Reuse the one civil-date routine: "YYYY-MM-DDTHH:MM:SS.mmmZ". */
    cnc_timestamp_format(ms, text);
    memset(t, 0, sizeof *t);
    t->year = (unsigned)atoi(text);
    t->month = (unsigned)atoi(text + 5);
    t->day = (unsigned)atoi(text + 8);
    t->hour = (unsigned)atoi(text + 11);
    t->minute = (unsigned)atoi(text + 14);
    t->second = (unsigned)atoi(text + 17);
    t->second_part = (unsigned long)atoi(text + 20) * 1000;
    t->time_type = MYSQL_TIMESTAMP_DATETIME;
}

/* A DATETIME the server returned, as UTC milliseconds. */
static inline int64_t from_mysql_time(const MYSQL_TIME *t)
{
    int64_t days = cnc_days_from_civil((int64_t)t->year, t->month, t->day);
    return ((days * 24 + t->hour) * 60 + t->minute) * 60000 + (int64_t)t->second * 1000 +
           (int64_t)(t->second_part / 1000);
}

#endif
