/*
 * sink_states.h - the writer's statements for machine states: the intervals
 * (cnc_state_interval, sink_intervals.h), their time per hour and shift
 * (sink_state_time.h) and the current state of every machine
 * (cnc_machine_state), written in the batch's transaction.
 *
 * Writer thread (prepare, write, close); create/destroy where the sink is.
 */
#ifndef CNC_SINK_STATES_H
#define CNC_SINK_STATES_H

#include <stddef.h>

#include <mysql.h>

#include "db_cause.h"
#include "stored_record.h"

struct cnc_state_sink;

struct cnc_state_sink *cnc_state_sink_create(void);
void cnc_state_sink_destroy(struct cnc_state_sink *ss);

/* Prepares the statements on conn (after each connect). 0, or -1 with err and *cause. */
int cnc_state_sink_prepare(struct cnc_state_sink *ss, MYSQL *conn, char *err, size_t err_len,
                           enum cnc_db_cause *cause);

/* Closes the statements (before the connection goes). */
void cnc_state_sink_close(struct cnc_state_sink *ss);

/*
 * Writes the batch's state changes and current states, inside the open transaction. An
 * interval is inserted unless one starts at the same moment (a replay) or the interval before
 * it has the same state, category, reason and part program (a broker restarted: nothing
 * changed); the interval before it then ends where it starts, and it ends where the next one
 * starts (a message that came late through another broker). 0, or -1 with err and *cause.
 */
int cnc_state_sink_write(struct cnc_state_sink *ss, const struct cnc_stored *recs, size_t n,
                         char *err, size_t err_len, enum cnc_db_cause *cause);

/*
 * After the batch committed: cnc_downtime_hour again for the hours whose state time the batches
 * changed, in a transaction of its own. 0, or -1 with a warning (the hours stay due: the next
 * call tries them again; a deadlock with another broker is no batch's failure).
 */
int cnc_state_sink_refresh_downtime(struct cnc_state_sink *ss, MYSQL *conn, char *warn,
                                    size_t warn_len);

#endif
