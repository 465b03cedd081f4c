/*
 * report_limit.h - at most N reject reports per client and second, so that a broken collector
 * sending thousands of bad messages a second is not amplified onto the rejected topic and every
 * dashboard. Counters stay exact; what is held back is counted and said in the client's next
 * report ("suppressed"). Bounded memory: a fixed table of clients keyed by a 64-bit hash of the
 * client id; past it, the client heard from least recently gives up its slot.
 *
 * Broker thread only (the message callback).
 */
#ifndef CNC_REPORT_LIMIT_H
#define CNC_REPORT_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNC_REPORT_LIMIT_SLOTS 4096 /* clients followed at once */

struct cnc_report_limit;

/* per_second 0: no limit. NULL when out of memory. */
struct cnc_report_limit *cnc_report_limit_create(unsigned per_second);
void cnc_report_limit_destroy(struct cnc_report_limit *rl);
void cnc_report_limit_set(struct cnc_report_limit *rl, unsigned per_second); /* at a reload */

/*
 * Whether a report for client_id (NULL: a client without one) may go out at now_ms. True with
 * *suppressed set to the reports held back for that client since its last one (to be said in
 * this one); false when this one is held back (counted).
 */
bool cnc_report_limit_take(struct cnc_report_limit *rl, const char *client_id, int64_t now_ms,
                           uint64_t *suppressed);

/* Reports held back since start. */
uint64_t cnc_report_limit_suppressed(const struct cnc_report_limit *rl);

#endif
