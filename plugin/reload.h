/*
 * reload.h - reading the config file of a reload off the broker thread.
 *
 * A config may be up to 4 MiB (~100,000 exact routes), which libyaml takes
 * about half a second to parse: far too long to stall every client. On
 * MOSQ_EVT_RELOAD the broker thread calls cnc_reload_request(), and a thread
 * of its own parses the file; the broker thread's TICK calls
 * cnc_reload_take(), which hands over the result once it is there. Building
 * the route table from it (which moves rule state out of the running one)
 * stays on the broker thread.
 *
 * Threads: every function is called on the broker thread; the load runs on
 * the reload thread, which touches only its own struct cnc_reload fields
 * (`cfg`, `err`) before it publishes `state` = DONE (release); the broker
 * thread reads them after seeing DONE (acquire). A request while a load runs
 * is remembered and started when that one has been taken: the file may have
 * changed again since the running load opened it.
 */
#ifndef CNC_RELOAD_H
#define CNC_RELOAD_H

#include <stddef.h>

#include "config.h"

struct cnc_reload;

/* For the config file at path (copied). NULL on out of memory. */
struct cnc_reload *cnc_reload_create(const char *path);

/*
 * Starts a load, or remembers one for after the running load. If no thread
 * can be started the file is loaded right here (the old, blocking way) and
 * the result waits for cnc_reload_take() all the same.
 */
void cnc_reload_request(struct cnc_reload *r);

/*
 * 1 when a load has finished: *cfg is the new config (the caller owns it),
 * or NULL with "FILE:LINE: KEY: reason" in err. 0 when none is ready.
 */
int cnc_reload_take(struct cnc_reload *r, struct cnc_config **cfg, char *err, size_t err_len);

/* Waits for a running load and frees everything, an unclaimed config included. NULL is fine. */
void cnc_reload_destroy(struct cnc_reload *r);

#endif
