/*
 * ingest.h - one message through the pipeline: topic filter, envelope,
 * route, handler. Independent of the broker, so the plugin, the offline
 * checker, the benchmark and the fuzz harness run the same code.
 *
 * Broker thread (one cnc_ingest is used by one thread at a time). A
 * cnc_ingest is one config generation: it owns the config and the route
 * table; reload builds a new one and the plugin swaps the pointer.
 */
#ifndef CNC_INGEST_H
#define CNC_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "identity.h"
#include "registry.h"
#include "reject.h"
#include "route.h"
#include "machine_states.h"
#include "state_map.h"
#include "topic.h"

struct cnc_ingest;

struct cnc_ingest_result {
    struct cnc_reject rej; /* rej.code == CNC_REJECT_NONE: accepted */
    struct cnc_message msg;
    struct cnc_record rec; /* arrays owned by the cnc_ingest, valid until the next message */
    const struct cnc_handler_instance *instance;
    struct cnc_state_reading state; /* the machine's state, when the instance tracks it */
    cJSON *root;                    /* the parsed message; cnc_ingest_result_release frees it */
};

/*
 * Takes ownership of cfg (also on failure) and builds its route table from
 * reg, which must outlive the result. Handler instances of `old` (may be
 * NULL) whose config is unchanged move into the new one with their rule
 * state; `old` must then only be destroyed. Returns NULL with "FILE:LINE:
 * KEY: reason" in err (old is left intact).
 */
struct cnc_ingest *cnc_ingest_create(struct cnc_config *cfg, const struct cnc_registry *reg,
                                     struct cnc_ingest *old, char *err, size_t err_len);
void cnc_ingest_destroy(struct cnc_ingest *ing);

const struct cnc_config *cnc_ingest_config(const struct cnc_ingest *ing);
const struct cnc_route_table *cnc_ingest_routes(const struct cnc_ingest *ing);

/*
 * True when topic is one of the plugin's output topics (rejected_topic,
 * analytics.topic, metrics.topic) or below one.
 */
bool cnc_ingest_is_output(const struct cnc_ingest *ing, const char *topic);

/*
 * Whether a client may publish on the output topics: always with
 * ingest.forged_output: allow, else only a bridge named by its client id
 * (ingest.bridge_client_ids) or user name (ingest.bridge_usernames). Either
 * may be NULL (mosquitto gives no user name for an anonymous client).
 */
bool cnc_ingest_may_publish_output(const struct cnc_ingest *ing, const char *client_id,
                                   const char *username);

/*
 * True when topic is one to validate: it matches an ingest filter and is not
 * one of the plugin's own output topics (rejected, analytics, metrics).
 */
bool cnc_ingest_wants(const struct cnc_ingest *ing, const char *topic,
                      struct cnc_topic_capture *cap);

/*
 * Checks the publisher (identity:), validates, routes and runs the handler.
 * Returns 0 (accepted) or CNC_EREJECT with res->rej filled. Call
 * cnc_ingest_result_release after either. who is the publisher as the broker
 * authenticated it; NULL skips the identity check (benchmarks and fuzzers of
 * what follows it). With identity on, an anonymous or unlisted publisher is
 * refused before the message is parsed, and a cnc_id outside the publisher's
 * patterns after: unauthorized_cnc_id, field cnc_id.
 */
int cnc_ingest_process(struct cnc_ingest *ing, const struct cnc_topic_capture *cap,
                       const void *payload, size_t len, int64_t now_ms,
                       const struct cnc_publisher *who, struct cnc_ingest_result *res);

/*
 * Whether a refused message is still delivered: ingest.on_invalid: pass, except for a
 * publisher speaking for a machine that is not its own (unauthorized_cnc_id), never delivered.
 */
bool cnc_ingest_delivers_refused(const struct cnc_ingest *ing, const struct cnc_reject *rej);

/* The identity table, or NULL when the config has no identity section. */
const struct cnc_identity_table *cnc_ingest_identity(const struct cnc_ingest *ing);

/*
 * The analytics JSON of an accepted result (DESIGN.md "Published topics"),
 * built without malloc next to the parsed message; valid until
 * cnc_ingest_result_release. NULL on failure. *len gets its length.
 */
const char *cnc_ingest_analytics(struct cnc_ingest *ing, const struct cnc_ingest_result *res,
                                 size_t *len);

void cnc_ingest_result_release(struct cnc_ingest_result *res);

/* The analytics JSON of a machine found silent (cnc_analytics_offline), in the same buffers. */
const char *cnc_ingest_offline_analytics(struct cnc_ingest *ing,
                                         const struct cnc_offline_machine *m, size_t *len);

/* Wall clock in UTC milliseconds. */
int64_t cnc_now_ms(void);

#endif
