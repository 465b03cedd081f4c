/*
 * handler_scripts.h - the config loader's part of the `lua` handler type:
 * reading each instance's params.script into params.source, so that the
 * route table compares and builds a script instance from its config alone.
 *
 * Runs inside cnc_config_load (the reload thread on SIGHUP, the broker
 * thread at start, the checker): the file I/O stays off the broker thread
 * on a reload. A script whose text changed makes params differ, so a reload
 * builds that instance afresh (fresh per-machine state); an unchanged one
 * compares equal and keeps its instance and state (route.c).
 */
#ifndef CNC_HANDLER_SCRIPTS_H
#define CNC_HANDLER_SCRIPTS_H

#include <stddef.h>

#include "config.h"

/*
 * For every handler of type lua: params.script (a path; relative paths from the config file's
 * folder) must be a regular file of at most CNC_LUA_SCRIPT_MAX bytes without NUL, not writable
 * by every user; its text becomes params.source. params.source alone is an inline script.
 * params.max_machines defaults to ingest.max_tracked_machines. 0, or -1 with
 * "FILE:LINE: handlers.NAME.params.script: reason" in err.
 */
int cnc_config_read_scripts(struct cnc_config *cfg, char *err, size_t err_len);

#endif
