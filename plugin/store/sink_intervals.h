/*
 * sink_intervals.h - a batch's state changes into cnc_state_interval, inside
 * the batch's transaction.
 *
 * Writer thread. A machine's changes newer than its newest interval (the usual
 * case: one broker, in order) are one locking read of that interval, one
 * update closing it, and rows of one multi-row insert shared by the batch, so
 * a machine that changes state at every message costs about what its messages
 * do. Any other change (a replay, a late message through a second broker) is
 * placed on its own: inserted unless one starts at that moment or the one
 * before it is the same, between its neighbours.
 */
#ifndef CNC_SINK_INTERVALS_H
#define CNC_SINK_INTERVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "db_cause.h"
#include "sink_state_time.h"
#include "stored_record.h"

/* One interval a record starts. */
struct cnc_change {
    const struct cnc_stored *s; /* the record: cnc_id, handler */
    int64_t start_ms;
    const struct cnc_str *state, *reason, *program; /* reason length 0: none */
    const double *ideal_cycle_s;                    /* NaN: NULL */
    uint8_t category;
    bool gap;      /* the offline interval before the record's message */
    uint32_t seq;  /* order in the batch */
    bool inserted; /* out: stored (not a replay, not the same as the one before it) */
};

struct cnc_intervals;

struct cnc_intervals *cnc_intervals_create(void);
void cnc_intervals_destroy(struct cnc_intervals *iv);
int cnc_intervals_prepare(struct cnc_intervals *iv, MYSQL *conn, char *err, size_t err_len,
                          enum cnc_db_cause *cause);
void cnc_intervals_close(struct cnc_intervals *iv);

/*
 * Writes the changes (sorted here by cnc_id, then seq), then the state time they changed:
 * the intervals they closed in order added (cnc_state_time_closed, cnc_state_time_add), the
 * time around those placed between others computed again (cnc_state_time_again). 0, or -1
 * with err and *cause.
 */
int cnc_intervals_write(struct cnc_intervals *iv, struct cnc_change *ch, size_t n,
                        struct cnc_state_time *time, char *err, size_t err_len,
                        enum cnc_db_cause *cause);

#endif
