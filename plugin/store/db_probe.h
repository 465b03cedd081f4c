/*
 * db_probe.h - cnc-ingest-check --connect: the database as the plugin's writer would find it,
 * reported line by line ("connect: ..."), changing nothing. The checker's main thread, after
 * cnc_mysql_library_init.
 */
#ifndef CNC_DB_PROBE_H
#define CNC_DB_PROBE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/* Each configured server, the schema version, the grants and a writer session, to out.
   0 when nothing is lacking, 1 otherwise. password may be NULL. */
int cnc_db_probe(const struct cnc_mysql_config *cfg, const char *password, FILE *out);

/* The privileges the writer needs, as read from SHOW GRANTS (exposed for the unit test). */
enum {
    CNC_DB_SELECT,
    CNC_DB_INSERT,
    CNC_DB_UPDATE, /* machine states: intervals closed, the current state upserted */
    CNC_DB_DELETE, /* the MES rollups computed again, future shifts of an old calendar */
    CNC_DB_CREATE,
    CNC_DB_ALTER,
    CNC_DB_DROP,
    CNC_DB_CREATE_VIEW,
    CNC_DB_N_PRIVS
};

/* Marks in have[] what one SHOW GRANTS line gives on database, globally or on the whole
   schema (a grant's LIKE pattern matched); other lines (roles, tables, other schemas) none. */
void cnc_db_probe_read_grant(const char *line, const char *database, bool have[CNC_DB_N_PRIVS]);

#endif
