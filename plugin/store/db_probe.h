/*
 * db_probe.h - cnc-ingest-check --connect: the database as the plugin's writer would find it,
 * reported line by line ("connect: ..."), changing nothing. The checker's main thread, after
 * cnc_mysql_library_init.
 */
#ifndef CNC_DB_PROBE_H
#define CNC_DB_PROBE_H

#include <stdio.h>

#include "config.h"

/* Each configured server, the schema version, the grants and a writer session, to out.
   0 when nothing is lacking, 1 otherwise. password may be NULL. */
int cnc_db_probe(const struct cnc_mysql_config *cfg, const char *password, FILE *out);

#endif
