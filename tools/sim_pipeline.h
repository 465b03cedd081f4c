/*
 * sim_pipeline.h - cnc-sim's pipelined publisher: one plain TCP connection,
 * many PUBLISH packets per write, acknowledgements read in bulk (QoS 0 and 1,
 * MQTT 3.1.1 and 5). Main thread only; see sim_wire.h for why it exists.
 */
#ifndef CNC_SIM_PIPELINE_H
#define CNC_SIM_PIPELINE_H

#include <stddef.h>

#include "sim_run.h"

struct pipeline;

/*
 * Connects and waits for the CONNACK (at most 5 s). *window is lowered to
 * the broker's Receive Maximum when it announces one. NULL on failure, with
 * the reason on stderr.
 */
struct pipeline *pipeline_connect(const char *host, int port, int protocol, int qos,
                                  const char *client_id, long *window, struct run *r);

/* Queues one PUBLISH (written once enough are queued); *mid is its packet id. 0 or -1. */
int pipeline_publish(struct pipeline *p, const char *topic, const void *payload, size_t len,
                     int *mid);

/* Writes what is queued and reads acknowledgements, waiting up to timeout_ms for any. 0 or -1. */
int pipeline_service(struct pipeline *p, int timeout_ms);

/* Writes what is queued, disconnects, frees. */
void pipeline_close(struct pipeline *p);

#endif
