/*
 * db_probe.c - cnc-ingest-check --connect: tries the database as the plugin's writer would,
 * with the configured servers, user and password, and reports what it lacks: a connection
 * (each server of mysql.hosts in turn), the schema and its version, the grants the writer
 * needs (SELECT, INSERT, UPDATE, DELETE; with create_schema also CREATE, ALTER, DROP and CREATE
 * VIEW), and a writer session itself (its statements prepared against the tables as they are).
 * Changes nothing in the database: create_schema is never acted on here.
 *
 * The checker's main thread; never linked into the broker's code path.
 */
#include "db_probe.h"

#include <ctype.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_version.h"
#include "sink_mysql.h"

enum {
    P_SELECT = CNC_DB_SELECT,
    P_INSERT = CNC_DB_INSERT,
    P_UPDATE = CNC_DB_UPDATE,
    P_DELETE = CNC_DB_DELETE,
    P_CREATE = CNC_DB_CREATE,
    P_ALTER = CNC_DB_ALTER,
    P_DROP = CNC_DB_DROP,
    P_CREATE_VIEW = CNC_DB_CREATE_VIEW,
    N_PRIVS = CNC_DB_N_PRIVS
};
static const char *const priv_names[N_PRIVS] = {"SELECT", "INSERT", "UPDATE", "DELETE",
                                                "CREATE", "ALTER",  "DROP",   "CREATE VIEW"};

/* MySQL's LIKE with \ escapes, as a grant's database name is written (`cnc\_%`). The server's
   answer is data: one pass with a single backtrack point (the last %), so a pattern of many
   %s costs O(pattern x name), never the exponential time of trying every split. */
static bool grant_name_matches(const char *pat, const char *name)
{
    const char *star = NULL, *resume = NULL;
    while (*name != '\0') {
        if (*pat == '%') {
            star = ++pat;
            resume = name;
            continue;
        }
        bool escaped = pat[0] == '\\' && pat[1] != '\0';
        char want = escaped ? pat[1] : pat[0];
        if (want != '\0' && ((!escaped && want == '_') || want == *name)) {
            pat += escaped ? 2 : 1;
            name++;
        } else if (star != NULL) {
            pat = star;
            name = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '%') {
        pat++;
    }
    return *pat == '\0';
}

/* One SHOW GRANTS line: "GRANT p1, p2 (col), ... ON `db`.* TO ...". Marks what it gives on
   the database (globally or on the whole schema; table grants are left to the session test). */
void cnc_db_probe_read_grant(const char *line, const char *database, bool have[CNC_DB_N_PRIVS])
{
    if (strncmp(line, "GRANT ", 6) != 0) {
        return;
    }
    const char *on = strstr(line, " ON ");
    if (on == NULL) {
        return; /* a role granted: its own lines follow when it is enabled */
    }
    const char *target = on + 4;
    bool applies = strncmp(target, "*.*", 3) == 0;
    if (!applies && target[0] == '`') {
        const char *end = strstr(target + 1, "`.*");
        if (end != NULL && end - target - 1 < 256) {
            char pat[256];
            memcpy(pat, target + 1, (size_t)(end - target - 1));
            pat[end - target - 1] = '\0';
            applies = grant_name_matches(pat, database);
        }
    }
    if (!applies) {
        return;
    }
    if (strncmp(line + 6, "ALL PRIVILEGES", 14) == 0) {
        for (int p = 0; p < N_PRIVS; p++) {
            have[p] = true;
        }
        return;
    }
    const char *s = line + 6;
    while (s < on) {
        const char *e = s;
        while (e < on && *e != ',' && *e != '(') {
            e++;
        }
        size_t n = (size_t)(e - s);
        while (n > 0 && isspace((unsigned char)s[n - 1])) {
            n--;
        }
        for (int p = 0; p < N_PRIVS; p++) {
            if (strlen(priv_names[p]) == n && strncmp(s, priv_names[p], n) == 0) {
                have[p] = true;
            }
        }
        if (e < on && *e == '(') { /* column list: skip to its end */
            while (e < on && *e != ')') {
                e++;
            }
            e++;
        }
        while (e < on && (*e == ',' || isspace((unsigned char)*e))) {
            e++;
        }
        s = e;
    }
}

/* The grants of this session's user and enabled roles on the database. false: unreadable. */
static bool read_grants(MYSQL *conn, const char *database, bool have[N_PRIVS], FILE *out)
{
    if (mysql_query(conn, "SHOW GRANTS") != 0) {
        fprintf(out, "connect: grants: SHOW GRANTS failed: %s (%u)\n", mysql_error(conn),
                mysql_errno(conn));
        return false;
    }
    MYSQL_RES *res = mysql_store_result(conn);
    MYSQL_ROW row;
    while (res != NULL && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0] != NULL) {
            cnc_db_probe_read_grant(row[0], database, have);
        }
    }
    if (res != NULL) {
        mysql_free_result(res);
    }
    return true;
}

/* The schema version as the writer reads it; -1 (said on out) when unreadable. */
static int read_schema_version(MYSQL *conn, FILE *out)
{
    int version = cnc_mysql_read_schema_version(conn);
    if (version < 0) {
        fprintf(out, "connect: schema: cannot read cnc_schema_version: %s (%u)\n",
                mysql_error(conn), mysql_errno(conn));
    }
    return version;
}

int cnc_db_probe(const struct cnc_mysql_config *cfg, const char *password, FILE *out)
{
    struct cnc_mysql_config quiet = *cfg;
    quiet.create_schema = false; /* the probe never changes the database */
    struct cnc_mysql *db = cnc_mysql_create(&quiet, password, NULL);
    if (db == NULL) {
        fprintf(out, "connect: out of memory\n");
        return 1;
    }
    int lacks = 0;
    MYSQL *conn = NULL;
    char err[1024];
    for (size_t i = 0; i < cnc_mysql_server_count(db); i++) {
        MYSQL *c = cnc_mysql_open_server(db, i, err, sizeof err);
        if (c == NULL) {
            fprintf(out, "connect: %s: FAILED: %s\n", cnc_mysql_server_label(db, i), err);
            lacks++;
            continue;
        }
        fprintf(out, "connect: %s: connected as %s to %s %s\n", cnc_mysql_server_label(db, i),
                cfg->user, mysql_get_server_info(c), cfg->tls ? "(TLS)" : "");
        if (conn == NULL) {
            conn = c;
        } else {
            mysql_close(c);
        }
    }
    if (conn == NULL) {
        fprintf(out, "connect: no server took the connection: the writer would keep every "
                     "message in the spool and retry\n");
        cnc_mysql_destroy(db);
        return 1;
    }
    bool have[N_PRIVS] = {false};
    bool grants_known = read_grants(conn, cfg->database, have, out);
    if (!grants_known) {
        lacks++; /* nothing verified is no "ok" */
    }
    int version = read_schema_version(conn, out);
    mysql_close(conn);
    if (version < 0) {
        lacks++;
    } else if (version == 0 && cfg->create_schema) {
        fprintf(out, "connect: schema: none yet in `%s`; create_schema: true makes it at start\n",
                cfg->database);
    } else if (version == 0) {
        fprintf(out,
                "connect: schema: none in `%s`, and create_schema is false: apply "
                "sql/schema.sql (/usr/share/cnc-ingest/sql/schema.sql) as an administrator\n",
                cfg->database);
        lacks++;
    } else if (version < CNC_SCHEMA_VERSION && !cfg->create_schema) {
        fprintf(out,
                "connect: schema: version %d, this plugin needs %d: apply sql/migrations/ above "
                "%04d as an administrator, or set create_schema: true\n",
                version, CNC_SCHEMA_VERSION, version);
        lacks++;
    } else if (version < CNC_SCHEMA_VERSION) {
        fprintf(out,
                "connect: schema: version %d; create_schema: true migrates it to %d at start\n",
                version, CNC_SCHEMA_VERSION);
    } else {
        fprintf(out, "connect: schema: version %d%s\n", version,
                version > CNC_SCHEMA_VERSION ? " (newer than this plugin's: upgrade the plugin)"
                                             : " (current)");
    }
    /* The writer's own session: its statements prepared against the tables as they are. */
    if (version > 0) {
        enum cnc_db_cause cause;
        if (cnc_mysql_connect(db, err, sizeof err, &cause) != 0) {
            fprintf(out, "connect: writer session: FAILED: %s\n", err);
            lacks++;
        } else {
            fprintf(out, "connect: writer session: ok (its inserts prepared on every table)\n");
            /* proven, whatever SHOW GRANTS said */
            have[P_SELECT] = have[P_INSERT] = have[P_UPDATE] = have[P_DELETE] = true;
        }
    }
    if (grants_known) {
        int need = cfg->create_schema ? N_PRIVS : P_CREATE;
        char missing[200] = "";
        for (int p = 0; p < need; p++) {
            if (!have[p]) {
                size_t n = strlen(missing);
                snprintf(missing + n, sizeof missing - n, "%s%s", n ? ", " : "", priv_names[p]);
            }
        }
        if (missing[0] != '\0') {
            fprintf(out, "connect: grants: %s lacks %s on `%s`%s\n", cfg->user, missing,
                    cfg->database,
                    cfg->create_schema ? " (create_schema: true needs CREATE, ALTER, DROP and "
                                         "CREATE VIEW besides SELECT, INSERT, UPDATE and DELETE)"
                                       : "");
            lacks++;
        } else {
            fprintf(out, "connect: grants: %s has what the writer needs on `%s`\n", cfg->user,
                    cfg->database);
        }
    }
    cnc_mysql_destroy(db);
    return lacks > 0 ? 1 : 0;
}
