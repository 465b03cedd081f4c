/*
 * rules.h - the anomaly rules any handler instance may add under `rules:`.
 *
 * Broker thread: built at config load/reload, applied after the handler for
 * every message routed to the instance. Kinds:
 *
 *   {variable: V, above: X}            V > X
 *   {variable: V, below: X}            V < X
 *   {variable: V, outside: [L, H]}     V < L or V > H
 *   {variable: V, zscore: {window: 100, smooth: 1, limit: 4, warmup: 50}}
 *       per cnc_id: a slow EWMA baseline (window samples) of V and a noise
 *       sigma from the mean squared successive difference (insensitive to
 *       trends, so a drift does not hide itself by inflating the variance);
 *       flags when an EWMA of the last `smooth` samples is more than `limit`
 *       sigmas (of that EWMA) from the baseline. While flagged the baseline
 *       is frozen, for at most `window` samples, then re-adapts to a new level.
 *       Evaluated only while the machine is active (as for stuck, below); any
 *       other message resets the machine's baseline, which warms up again.
 *   {variable: V, hampel: {window: 15, limit: 5, warmup: window, min_deviation: 0}}
 *       per cnc_id: a Hampel filter over the last `window` values (3 to 63):
 *       flags V when it is more than `limit` robust sigmas (1.4826 * MAD, at
 *       least the long-run mean of that over about ten windows) and more than
 *       min_deviation from their median, once `warmup` values are in. Flagged
 *       values enter the window, so a lasting step stops alarming after about
 *       window/2 samples. Evaluated only while the machine is active, as the
 *       z-score. 24 + 16 * window bytes per machine.
 *   {variable: V, stuck: {samples: 20}, active_when: {variable: mode, in: [active]}}
 *       per cnc_id: V unchanged for `samples` consecutive messages while the
 *       machine is active (default: mode == active if the payload has a mode,
 *       else status == running if it has a status, else always).
 *
 * Common keys: name (default "<variable>_<kind>"), severity (info, warning,
 * critical; default warning). A rule whose variable is absent or not a
 * number is skipped for that message.
 *
 * Per-machine state is bounded: at most max_machines distinct cnc_ids per
 * instance are tracked; a further machine takes the state row of the machine
 * seen least recently (counted in cnc_rules_evicted()). Only when memory
 * runs out does a message get the stateless rules alone
 * (cnc_rules_untracked()).
 */
#ifndef CNC_RULES_H
#define CNC_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cnc_record.h"

struct cnc_rule_set;

/* Rules per handler instance, at most (each is evaluated for every message). */
#define CNC_RULES_MAX 128

/*
 * Builds the rules of a `rules:` list (NULL: an empty set). Returns NULL
 * with "rules[N].KEY: reason" in err.
 */
struct cnc_rule_set *cnc_rules_create(const cJSON *rules, size_t max_machines, char *err,
                                      size_t err_len);

/* Evaluates every rule for msg, appending anomalies to rec; updates per-machine state. */
void cnc_rules_apply(struct cnc_rule_set *rs, const struct cnc_message *msg,
                     struct cnc_record *rec);

size_t cnc_rules_count(const struct cnc_rule_set *rs);
size_t cnc_rules_tracked_machines(const struct cnc_rule_set *rs);
uint64_t cnc_rules_untracked(const struct cnc_rule_set *rs);
uint64_t cnc_rules_evicted(const struct cnc_rule_set *rs);

void cnc_rules_destroy(struct cnc_rule_set *rs);

#endif
