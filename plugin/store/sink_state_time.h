/*
 * sink_state_time.h - the state time of closed intervals per machine and hour
 * (cnc_state_hour) and per machine and shift (cnc_state_shift), and the plant's
 * downtime per hour (cnc_downtime_hour), kept by the writer.
 *
 * Writer thread. An interval closed by the next one appended after it (the
 * usual case) is added: its seconds and its start, hour by hour and shift by
 * shift, whatever the hour held before. Where an interval came between two
 * others (a late message through another broker) the time it changed is
 * computed again from cnc_state_interval, after the additions. So the cost of
 * a state change does not grow with the changes before it in its hour or shift.
 */
#ifndef CNC_SINK_STATE_TIME_H
#define CNC_SINK_STATE_TIME_H

#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "db_cause.h"
#include "stored_record.h"

/* An interval counts in at most this many hours, its last ones (a clock reset to 2000). */
#define CNC_STATE_HOURS_MAX 744

struct cnc_state_time;

struct cnc_state_time *cnc_state_time_create(void);
void cnc_state_time_destroy(struct cnc_state_time *st);

/* Prepares the statements on conn (after each connect). 0, or -1 with err and *cause. */
int cnc_state_time_prepare(struct cnc_state_time *st, MYSQL *conn, char *err, size_t err_len,
                           enum cnc_db_cause *cause);
void cnc_state_time_close(struct cnc_state_time *st);

/* A new batch: nothing closed yet. */
void cnc_state_time_begin(struct cnc_state_time *st);

/*
 * [from_ms, to_ms) of cnc_id (which must outlive the batch) closed in this batch, newest of
 * its machine until then: category and reason (NULL: none) are copied. 0, or -1 (memory).
 */
int cnc_state_time_closed(struct cnc_state_time *st, const struct cnc_str *cnc_id, int64_t from_ms,
                          int64_t to_ms, const char *category, size_t category_len,
                          const char *reason, size_t reason_len);

/* Sends the additions of the batch's closed intervals. 0, or -1 with err and *cause. */
int cnc_state_time_add(struct cnc_state_time *st, char *err, size_t err_len,
                       enum cnc_db_cause *cause);

/*
 * cnc_id's state time again from its intervals, for the hours and shifts in [from_ms, to_ms]
 * (after cnc_state_time_add). 0, or -1 with err and *cause.
 */
int cnc_state_time_again(struct cnc_state_time *st, const struct cnc_str *cnc_id, int64_t from_ms,
                         int64_t to_ms, char *err, size_t err_len, enum cnc_db_cause *cause);

/*
 * After the batch committed: cnc_downtime_hour again for the hours whose state time the batches
 * changed, in a transaction of its own. 0, or -1 with a warning (the hours stay due: the next
 * call tries them again; a deadlock with another broker is no batch's failure).
 */
int cnc_state_time_refresh_downtime(struct cnc_state_time *st, MYSQL *conn, char *warn,
                                    size_t warn_len);

#endif
