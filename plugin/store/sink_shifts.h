/*
 * sink_shifts.h - the plant's shift calendar into cnc_shift: the shifts from history_days back
 * to two days ahead, in UTC through the server's time zone tables (CONVERT_TZ), written when
 * the writer connects and every hour after; and the state time of shifts written for the
 * first time (cnc_state_shift), for the machines' closed intervals.
 *
 * Writer thread (sync); create/destroy where the sink is. A failure here (the server has no
 * time zone tables, say) is a warning: the messages are stored all the same.
 */
#ifndef CNC_SINK_SHIFTS_H
#define CNC_SINK_SHIFTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "shift_calendar.h"

struct cnc_shift_sink;

/* A copy of cal; NULL: no calendar (nothing is ever written). */
struct cnc_shift_sink *cnc_shift_sink_create(const struct cnc_shift_calendar *cal);
void cnc_shift_sink_destroy(struct cnc_shift_sink *ss);

/* Whether a sync is due (never synced on this connection, or an hour since the last). */
bool cnc_shift_sink_due(const struct cnc_shift_sink *ss, int64_t now_ms);

/* The connection went: the next one syncs at once. */
void cnc_shift_sink_reset(struct cnc_shift_sink *ss);

/*
 * Writes the shifts in a transaction of its own (conn has autocommit off and no open batch).
 * 0, or -1 with a warning for the log in warn.
 */
int cnc_shift_sink_sync(struct cnc_shift_sink *ss, MYSQL *conn, int64_t now_ms, char *warn,
                        size_t warn_len);

#endif
