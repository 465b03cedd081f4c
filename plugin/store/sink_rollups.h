/*
 * sink_rollups.h - per machine and minute, and per machine and hour, what the
 * messages of a batch add up to (cnc_rollup_minute, cnc_rollup_hour:
 * messages, efficiency n/sum/min/max, anomaly flags, parts, good, rejects and
 * their ideal time), written in the batch's transaction, so that an MES reads
 * a day of 500 machines as 12,000 rows, not 43 million.
 *
 * Writer thread (prepare, write, close); create/destroy where the sink is.
 *
 * Exactly once: when every message of the batch was new (the inserts into
 * cnc_message inserted as many rows as the batch holds), the batch's sums are
 * added to the rows (an upsert). When some were not (a replay after a crash,
 * the same message through a second broker), the minutes and hours the batch
 * touches are computed again from the stored rows instead.
 */
#ifndef CNC_SINK_ROLLUPS_H
#define CNC_SINK_ROLLUPS_H

#include <stdbool.h>
#include <stddef.h>

#include <mysql.h>

#include "db_cause.h"
#include "stored_record.h"

struct cnc_rollup_sink;

struct cnc_rollup_sink *cnc_rollup_sink_create(void);
void cnc_rollup_sink_destroy(struct cnc_rollup_sink *rs);
int cnc_rollup_sink_prepare(struct cnc_rollup_sink *rs, MYSQL *conn, char *err, size_t err_len,
                            enum cnc_db_cause *cause);
void cnc_rollup_sink_close(struct cnc_rollup_sink *rs);

/* all_new: every message of recs was inserted by this transaction. 0, or -1 with err. */
int cnc_rollup_sink_write(struct cnc_rollup_sink *rs, const struct cnc_stored *recs, size_t n,
                          bool all_new, char *err, size_t err_len, enum cnc_db_cause *cause);

#endif
