/*
 * shift_calendar.h - the plant's shifts (`shifts:` in the YAML): named shifts by weekday with
 * a local start and end, and the plant's time zone. The writer turns them into rows of
 * cnc_shift (UTC, through the database's time zone tables) for the MES views.
 *
 * Parsed with the config (broker thread at start, or the offline checker); read by the writer
 * thread, which keeps its own copy.
 */
#ifndef CNC_SHIFT_CALENDAR_H
#define CNC_SHIFT_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define CNC_SHIFTS_MAX 64
#define CNC_SHIFT_NAME_MAX 32
#define CNC_TIME_ZONE_MAX 64

struct cnc_shift_def {
    char name[CNC_SHIFT_NAME_MAX + 1];
    uint8_t days;           /* bit 0 Monday ... bit 6 Sunday: the days it starts on */
    int start_min, end_min; /* local minutes after midnight; end <= start: ends the next day */
};

struct cnc_shift_calendar {
    char time_zone[CNC_TIME_ZONE_MAX + 1]; /* "Europe/Berlin", "UTC" */
    int history_days;                      /* shifts written this many days back */
    size_t n;
    struct cnc_shift_def defs[CNC_SHIFTS_MAX];
};

/*
 * From the `shifts:` mapping. 0, or -1 with "shifts.KEY: what is wrong" in err (overlapping
 * shifts, an unknown day, a time that is not HH:MM, a zone this machine does not know).
 */
int cnc_shift_calendar_parse(const cJSON *shifts, struct cnc_shift_calendar *out, char *err,
                             size_t err_len);

/* The weekday of a day counted from 1970-01-01 (cnc_days_from_civil): 0 Monday ... 6 Sunday. */
int cnc_weekday(int64_t days);

#endif
