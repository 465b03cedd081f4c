/*
 * sink_mysql.c - batches of stored records into MySQL/MariaDB, see sink_mysql.h.
 *
 * Writer thread (cnc_mysql_library_init / _read_password: main thread at
 * init). Prepared statements only; every value is bound, never formatted
 * into SQL text.
 */
#include "grow.h"
#include "sink_mysql.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "clock.h"
#include "cnc_error.h"
#include "json_number.h"
#include "payload_span.h"
#include "migrations_sql.h"
#include "mysql_bind.h"
#include "sink_rollups.h"
#include "sink_shifts.h"
#include "sink_states.h"
#include "schema_sql.h"
#include "timestamp.h"

enum { T_MESSAGE, T_READING, T_EFFICIENCY, T_ANOMALY, T_PART_COUNT, N_TABLES };

static const struct {
    const char *name;
    const char *columns;
    int ncols;
} tables[N_TABLES] = {
    {"cnc_message", "msg_key,cnc_id,part_program,ts,received_at,handler,payload,ingest_node", 8},
    {"cnc_reading", "msg_key,name,num_value,str_value", 4},
    {"cnc_efficiency",
     "msg_key,cnc_id,ts,mode,temperature,vibration,efficiency_score,efficiency_level,is_anomaly",
     9},
    {"cnc_anomaly", "msg_key,cnc_id,ts,rule,variable,value,threshold,severity", 8},
    {"cnc_part_count", "msg_key,cnc_id,ts,part_program,parts,good,rejects,ideal_s", 8},
};

/* The type of each column as bound (bulk sends the types once; a NULL goes as an indicator). */
static const enum enum_field_types column_types[N_TABLES][9] = {
    {MYSQL_TYPE_BLOB, MYSQL_TYPE_STRING, MYSQL_TYPE_STRING, MYSQL_TYPE_DATETIME,
     MYSQL_TYPE_DATETIME, MYSQL_TYPE_STRING, MYSQL_TYPE_STRING, MYSQL_TYPE_STRING},
    {MYSQL_TYPE_BLOB, MYSQL_TYPE_STRING, MYSQL_TYPE_DOUBLE, MYSQL_TYPE_STRING},
    {MYSQL_TYPE_BLOB, MYSQL_TYPE_STRING, MYSQL_TYPE_DATETIME, MYSQL_TYPE_STRING, MYSQL_TYPE_DOUBLE,
     MYSQL_TYPE_DOUBLE, MYSQL_TYPE_DOUBLE, MYSQL_TYPE_STRING, MYSQL_TYPE_TINY},
    {MYSQL_TYPE_BLOB, MYSQL_TYPE_STRING, MYSQL_TYPE_DATETIME, MYSQL_TYPE_STRING, MYSQL_TYPE_STRING,
     MYSQL_TYPE_DOUBLE, MYSQL_TYPE_DOUBLE, MYSQL_TYPE_STRING},
    {MYSQL_TYPE_BLOB, MYSQL_TYPE_STRING, MYSQL_TYPE_DATETIME, MYSQL_TYPE_STRING, MYSQL_TYPE_LONG,
     MYSQL_TYPE_LONG, MYSQL_TYPE_LONG, MYSQL_TYPE_DOUBLE},
};

/* Multi-row statements of these sizes are prepared; the last (one row) also serves bulk. */
static const unsigned chunks[] = {256, 64, 16, 4, 1};
#define N_CHUNKS (sizeof chunks / sizeof chunks[0])

struct table_rows {
    MYSQL_STMT *stmt[N_CHUNKS];
    MYSQL_BIND *binds; /* rows * ncols */
    size_t rows, cap;
    uint64_t inserted; /* rows of this batch the server inserted (the rest: duplicates) */
};

/* What the binds of one message's rows point to. */
struct msg_slot {
    uint8_t key[16];
    MYSQL_TIME ts, received;
    double ideal_s; /* parts x the program's ideal cycle (cnc_part_count) */
    char *printed;  /* the payload printed by cJSON when its span could not be found */
};

/* One server to write through: mysql.host/port or socket, or an item of mysql.hosts. */
struct target {
    char *host;   /* NULL with a socket */
    char *socket; /* NULL with a host */
    unsigned port;
    char label[300]; /* "db1:3306" or the socket path, for logs and metrics */
};

#define CHECK_EVERY_MS 1000 /* a node's state is looked at again before a write after this */

struct cnc_mysql {
    char *user, *password, *database;
    char *node; /* stored with every message (cnc_message.ingest_node) */
    struct target *targets;
    size_t n_targets;
    size_t current;             /* writer thread: the target to try first */
    _Atomic long connected_to;  /* the target of the last connection, -1 before the first;
                                   written by the writer thread, read by describe (any) */
    _Atomic uint64_t failovers; /* connections made to another target than the one before */
    int64_t checked_ms;         /* writer thread: when the node's state was last looked at */
    bool create_schema;
    bool mes_tables;     /* mysql.mes_tables: the state, rollup and shift sinks run */
    bool schema_applied; /* create_schema: done once per process, not at every reconnect (each
                            statement is a cluster-wide DDL under Galera) */
    bool reading_rows;
    int insert_mode; /* enum cnc_insert_mode */
    bool bulk;       /* this connection sends each table's rows as one bulk execute */
    bool tls, tls_verify_server;
    char *tls_ca, *tls_cert, *tls_key;
    unsigned read_timeout_s;
    MYSQL *conn;
    unsigned long max_packet; /* the server's max_allowed_packet, read at connect */
    struct table_rows t[N_TABLES];
    struct cnc_state_sink *states;   /* cnc_state_interval, cnc_machine_state */
    struct cnc_rollup_sink *rollups; /* cnc_rollup_minute, cnc_rollup_hour */
    struct cnc_shift_sink *shifts;   /* cnc_shift, from the config's calendar */
    char warning[600];               /* for take_warning; "" when none */
    int64_t downtime_warned_ms;      /* the downtime rollup's failures: said once a minute */
    /* Per-batch storage the binds point into. */
    struct msg_slot *msgs;
    size_t n_bound; /* msgs[0, n_bound) were set by the batch being written */
    struct cnc_stored_reading *readings;
    struct cnc_stored_anomaly *anomalies;
    size_t cap_msgs, cap_readings, cap_anomalies;
    cnc_mybool is_true;
};

int cnc_mysql_library_init(void)
{
    return mysql_library_init(0, NULL, NULL) == 0 ? 0 : -1;
}

void cnc_mysql_library_end(void)
{
    mysql_library_end();
}

/* A copy of s, or NULL for an empty one; *failed when the copy could not be made. */
static char *dup_or_null(const char *s, bool *failed)
{
    if (s == NULL || s[0] == '\0') {
        return NULL;
    }
    char *copy = strdup(s);
    *failed |= copy == NULL;
    return copy;
}

struct cnc_mysql *cnc_mysql_create(const struct cnc_mysql_config *cfg, const char *password,
                                   const char *node)
{
    struct cnc_mysql *db = calloc(1, sizeof *db);
    if (db == NULL) {
        return NULL;
    }
    bool failed = false; /* a password silently absent on out-of-memory would connect without */
    db->user = dup_or_null(cfg->user, &failed);
    db->password = dup_or_null(password, &failed);
    db->database = dup_or_null(cfg->database, &failed);
    db->node = dup_or_null(node, &failed);
    size_t n = cfg->n_hosts > 0 ? cfg->n_hosts : 1;
    db->targets = calloc(n, sizeof *db->targets);
    failed |= db->targets == NULL;
    for (size_t i = 0; db->targets != NULL && i < n; i++) {
        struct target *t = &db->targets[i];
        db->n_targets++; /* counted before it is filled: destroy frees whatever it holds */
        if (cfg->n_hosts > 0) {
            char host[CNC_MYSQL_HOST_MAX];
            if (!cnc_config_host_port(cfg->hosts[i], host, sizeof host, &t->port)) {
                failed = true; /* the config loader checked the form: only a too long name */
                continue;
            }
            t->host = dup_or_null(host, &failed);
            snprintf(t->label, sizeof t->label, "%s", cfg->hosts[i]);
        } else if (cfg->socket[0] != '\0') {
            t->socket = dup_or_null(cfg->socket, &failed);
            snprintf(t->label, sizeof t->label, "%s", cfg->socket);
        } else {
            t->host = dup_or_null(cfg->host, &failed);
            t->port = (unsigned)cfg->port;
            snprintf(t->label, sizeof t->label, "%s:%u", cfg->host, t->port);
        }
    }
    atomic_init(&db->connected_to, -1);
    db->read_timeout_s = (unsigned)cfg->read_timeout_s;
    db->create_schema = cfg->create_schema;
    db->mes_tables = cfg->mes_tables;
    db->reading_rows = cfg->readings == CNC_READINGS_ROWS;
    db->insert_mode = cfg->insert;
    db->tls = cfg->tls;
    db->tls_verify_server = cfg->tls_verify_server;
    db->tls_ca = dup_or_null(cfg->tls_ca, &failed);
    db->tls_cert = dup_or_null(cfg->tls_cert, &failed);
    db->tls_key = dup_or_null(cfg->tls_key, &failed);
    db->is_true = 1;
    db->states = cnc_state_sink_create();
    db->rollups = cnc_rollup_sink_create();
    db->shifts = cnc_shift_sink_create(NULL);
    failed |= db->states == NULL || db->rollups == NULL || db->shifts == NULL;
    if (failed) {
        cnc_mysql_destroy(db);
        return NULL;
    }
    return db;
}

int cnc_mysql_connected(const struct cnc_mysql *db)
{
    return db->conn != NULL;
}

void cnc_mysql_disconnect(struct cnc_mysql *db)
{
    cnc_state_sink_close(db->states);
    cnc_rollup_sink_close(db->rollups);
    if (db->shifts != NULL) {
        cnc_shift_sink_reset(db->shifts);
    }
    for (int t = 0; t < N_TABLES; t++) {
        for (size_t c = 0; c < N_CHUNKS; c++) {
            if (db->t[t].stmt[c] != NULL) {
                mysql_stmt_close(db->t[t].stmt[c]);
                db->t[t].stmt[c] = NULL;
            }
        }
    }
    if (db->conn != NULL) {
        mysql_close(db->conn);
        db->conn = NULL;
    }
}

/* The connection's last error, in err and as a cause. */
static int fail_db(struct cnc_mysql *db, char *err, size_t err_len, const char *what,
                   enum cnc_db_cause *cause)
{
    unsigned code = db->conn ? mysql_errno(db->conn) : 0;
    snprintf(err, err_len, "mysql: %s: %s (%u)", what, db->conn ? mysql_error(db->conn) : "", code);
    *cause = code != 0 ? cnc_db_classify(code, mysql_sqlstate(db->conn)) : CNC_DB_OTHER;
    return CNC_EIO;
}

/* Runs a script of several statements; what names it in errors. */
/*
 * The end of the SQL statement that starts at p: its ';' outside '--' comments and quoted text,
 * or the end of the text.
 */
static const char *statement_end(const char *p)
{
    char quote = 0;
    for (; *p != '\0'; p++) {
        if (quote != 0) {
            if (*p == '\\' && p[1] != '\0') {
                p++;
            } else if (*p == quote) {
                quote = 0;
            }
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (p[1] != '\0' && p[1] != '\n') {
                p++;
            }
        } else if (*p == ';') {
            return p;
        }
    }
    return p;
}

/*
 * A script (sql/schema.sql, a migration) one statement at a time: a server's max_allowed_packet
 * may be smaller than the whole file (16 KiB here and there), never than one statement.
 */
static int run_script(struct cnc_mysql *db, const char *sql, const char *what, char *err,
                      size_t err_len, enum cnc_db_cause *cause)
{
    for (const char *p = sql; *p != '\0';) {
        const char *end = statement_end(p);
        const char *q = p;
        while (q < end) { /* only comments and blanks: nothing to send */
            if (q[0] == '-' && q[1] == '-') {
                while (q < end && *q != '\n') {
                    q++;
                }
            } else if (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') {
                q++;
            } else {
                break;
            }
        }
        if (q < end) {
            if (mysql_real_query(db->conn, p, (unsigned long)(end - p)) != 0) {
                return fail_db(db, err, err_len, what, cause);
            }
            MYSQL_RES *r = mysql_store_result(db->conn);
            if (r != NULL) {
                mysql_free_result(r);
            }
        }
        p = *end == ';' ? end + 1 : end;
    }
    return 0;
}

int cnc_mysql_read_schema_version(struct st_mysql *conn)
{
    if (mysql_query(conn, "SELECT MAX(version) FROM cnc_schema_version") != 0) {
        return mysql_errno(conn) == 1146 /* no such table */ ? 0 : -1;
    }
    int version = 0;
    MYSQL_RES *res = mysql_store_result(conn);
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    if (row != NULL && row[0] != NULL) {
        version = atoi(row[0]);
    }
    if (res != NULL) {
        mysql_free_result(res);
    }
    return version;
}

/* The highest schema version recorded; 0 on a database without cnc_schema_version (new). */
static int schema_version(struct cnc_mysql *db, int *version, char *err, size_t err_len,
                          enum cnc_db_cause *cause)
{
    *version = cnc_mysql_read_schema_version(db->conn);
    return *version < 0 ? fail_db(db, err, err_len, "reading cnc_schema_version", cause) : 0;
}

/* sql/migrations above the database's version, in order, then sql/schema.sql (idempotent). */
static int apply_schema(struct cnc_mysql *db, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    int version;
    if (schema_version(db, &version, err, err_len, cause) != 0) {
        return CNC_EIO;
    }
    for (size_t i = 0; version > 0 && cnc_migrations[i].sql != NULL; i++) {
        if (cnc_migrations[i].version > version) {
            char what[96];
            snprintf(what, sizeof what, "applying sql/migrations/%s", cnc_migrations[i].name);
            if (run_script(db, cnc_migrations[i].sql, what, err, err_len, cause) != 0) {
                return CNC_EIO;
            }
        }
    }
    return run_script(db, cnc_schema_sql, "applying sql/schema.sql", err, err_len, cause);
}

static int prepare_all(struct cnc_mysql *db, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    for (int t = 0; t < N_TABLES; t++) {
        for (size_t c = 0; c < N_CHUNKS; c++) {
            size_t cap = 64 + strlen(tables[t].name) + strlen(tables[t].columns) +
                         chunks[c] * (size_t)(tables[t].ncols * 2 + 3);
            char *sql = malloc(cap);
            if (sql == NULL) {
                snprintf(err, err_len, "mysql: out of memory");
                *cause = CNC_DB_OTHER;
                return CNC_ENOMEM;
            }
            size_t n = (size_t)snprintf(sql, cap, "INSERT IGNORE INTO %s (%s) VALUES ",
                                        tables[t].name, tables[t].columns);
            for (unsigned r = 0; r < chunks[c]; r++) {
                sql[n++] = r ? ',' : ' ';
                sql[n++] = '(';
                for (int k = 0; k < tables[t].ncols; k++) {
                    if (k) {
                        sql[n++] = ',';
                    }
                    sql[n++] = '?';
                }
                sql[n++] = ')';
            }
            sql[n] = '\0';
            MYSQL_STMT *st = mysql_stmt_init(db->conn);
            int rc = st != NULL ? mysql_stmt_prepare(st, sql, (unsigned long)n) : -1;
            free(sql);
            if (rc != 0) {
                if (st != NULL) {
                    snprintf(err, err_len, "mysql: preparing the insert into %s: %s (%u)",
                             tables[t].name, mysql_stmt_error(st), mysql_stmt_errno(st));
                    *cause = cnc_db_classify(mysql_stmt_errno(st), mysql_stmt_sqlstate(st));
                    mysql_stmt_close(st);
                } else {
                    fail_db(db, err, err_len, "mysql_stmt_init", cause);
                }
                return CNC_EIO;
            }
            db->t[t].stmt[c] = st;
        }
    }
    return 0;
}

/* TLS required: a server without it, or with an unverifiable certificate, is refused. */
static void set_tls(struct cnc_mysql *db)
{
    if (db->tls_ca != NULL) {
        mysql_options(db->conn, MYSQL_OPT_SSL_CA, db->tls_ca);
    }
    if (db->tls_cert != NULL) {
        mysql_options(db->conn, MYSQL_OPT_SSL_CERT, db->tls_cert);
    }
    if (db->tls_key != NULL) {
        mysql_options(db->conn, MYSQL_OPT_SSL_KEY, db->tls_key);
    }
#if defined(MARIADB_BASE_VERSION) || defined(MARIADB_PACKAGE_VERSION)
    cnc_mybool on = 1, verify = db->tls_verify_server;
    mysql_options(db->conn, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_options(db->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
#else
    unsigned mode = db->tls_verify_server ? SSL_MODE_VERIFY_IDENTITY : SSL_MODE_REQUIRED;
    mysql_options(db->conn, MYSQL_OPT_SSL_MODE, &mode);
#endif
}

/* The session's max_allowed_packet: no statement may be larger. */
static int read_max_packet(struct cnc_mysql *db, char *err, size_t err_len,
                           enum cnc_db_cause *cause)
{
    if (mysql_query(db->conn, "SELECT @@max_allowed_packet") != 0) {
        return fail_db(db, err, err_len, "reading max_allowed_packet", cause);
    }
    MYSQL_RES *res = mysql_store_result(db->conn);
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    db->max_packet = row != NULL && row[0] != NULL ? strtoul(row[0], NULL, 10) : 0;
    if (res != NULL) {
        mysql_free_result(res);
    }
    if (db->max_packet < 1024) {
        db->max_packet = 1024 * 1024; /* MySQL's smallest default; cannot be unknown */
    }
    return 0;
}

/*
 * Whether the server may be written through now: not read-only, and, on a Galera node, ready
 * and Synced (a donor, a desynced node or one outside the primary component is skipped). 0, or
 * CNC_EIO with err and *cause (read_only, not_ready).
 */
static int check_node(struct cnc_mysql *db, const struct target *t, char *err, size_t err_len,
                      enum cnc_db_cause *cause)
{
    db->checked_ms = cnc_mono_ms();
    bool galera = true;
    if (mysql_query(db->conn, "SELECT @@read_only, @@wsrep_on") != 0) {
        galera = false; /* a server without Galera (MySQL: no wsrep_on) */
        if (mysql_query(db->conn, "SELECT @@read_only") != 0) {
            return fail_db(db, err, err_len, "reading read_only", cause);
        }
    }
    MYSQL_RES *res = mysql_store_result(db->conn);
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    bool read_only = row != NULL && row[0] != NULL && strcmp(row[0], "0") != 0;
    bool wsrep = galera && row != NULL && row[1] != NULL && strcmp(row[1], "0") != 0;
    if (res != NULL) {
        mysql_free_result(res);
    }
    if (read_only) {
        snprintf(err, err_len, "mysql: %s is read-only (read_only=ON): not written through",
                 t->label);
        *cause = CNC_DB_READ_ONLY;
        return CNC_EIO;
    }
    if (!wsrep) {
        return 0;
    }
    if (mysql_query(db->conn, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', "
                              "'wsrep_local_state_comment')") != 0 ||
        (res = mysql_store_result(db->conn)) == NULL) {
        return fail_db(db, err, err_len, "reading the Galera node's state", cause);
    }
    char ready[16] = "?", state[64] = "?";
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (row[0] != NULL && row[1] != NULL) {
            snprintf(strcmp(row[0], "wsrep_ready") == 0 ? ready : state,
                     strcmp(row[0], "wsrep_ready") == 0 ? sizeof ready : sizeof state, "%s",
                     row[1]);
        }
    }
    mysql_free_result(res);
    if (strcmp(ready, "ON") != 0 || strcmp(state, "Synced") != 0) {
        snprintf(err, err_len,
                 "mysql: %s is a Galera node not ready for writes (wsrep_ready=%s, state %s): "
                 "not written through",
                 t->label, ready, state);
        *cause = CNC_DB_NOT_READY;
        return CNC_EIO;
    }
    return 0;
}

/* Whether the server takes COM_STMT_BULK_EXECUTE (MariaDB 10.2 on; not MySQL, not a proxy that
   does not pass it), through a client library that sends it (MariaDB Connector/C 3.1 on). */
static bool server_takes_bulk(struct cnc_mysql *db)
{
#if defined(MARIADB_PACKAGE_VERSION_ID) && MARIADB_PACKAGE_VERSION_ID >= 30100
    unsigned long caps = 0, extended = 0;
    if (mariadb_get_infov(db->conn, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) != 0 ||
        mariadb_get_infov(db->conn, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended) !=
            0) {
        return false;
    }
    return !(caps & CLIENT_MYSQL) && (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
#else
    (void)db;
    return false;
#endif
}

/* mysql.insert: bulk where it can be (auto), or as configured. */
static int choose_insert(struct cnc_mysql *db, const struct target *t, char *err, size_t err_len,
                         enum cnc_db_cause *cause)
{
    bool can = server_takes_bulk(db);
    db->bulk = can && db->insert_mode != CNC_INSERT_MULTI_ROW;
    if (db->insert_mode == CNC_INSERT_BULK && !can) {
        snprintf(err, err_len,
                 "mysql: %s does not take bulk inserts (COM_STMT_BULK_EXECUTE: MariaDB 10.2 on, "
                 "through MariaDB Connector/C), and mysql.insert is bulk: set it to auto or "
                 "multi_row",
                 t->label);
        *cause = CNC_DB_OTHER;
        return CNC_EIO;
    }
    return 0;
}

/* A connection to t with the writer's options (timeouts, packet size, charset, TLS), nothing
   run on it yet: db->conn, or CNC_EIO / CNC_ENOMEM with err and *cause. */
static int open_target(struct cnc_mysql *db, const struct target *t, char *err, size_t err_len,
                       enum cnc_db_cause *cause)
{
    cnc_mysql_disconnect(db);
    *cause = CNC_DB_OK;
    db->conn = mysql_init(NULL);
    if (db->conn == NULL) {
        snprintf(err, err_len, "mysql: out of memory");
        *cause = CNC_DB_OTHER;
        return CNC_ENOMEM;
    }
    unsigned timeout = 5;
    mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    /* A lock held longer than this ends the statement (lost connection, retried later). */
    unsigned rw_timeout = db->read_timeout_s;
    mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    /* The server's max_allowed_packet is the limit that counts (read_max_packet). */
    unsigned long client_max = 1UL << 30;
    mysql_options(db->conn, MYSQL_OPT_MAX_ALLOWED_PACKET, &client_max);
    mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (db->tls) {
        set_tls(db);
    }
    if (mysql_real_connect(db->conn, t->host, db->user, db->password, db->database, t->port,
                           t->socket, CLIENT_MULTI_STATEMENTS) == NULL) {
        char what[340];
        snprintf(what, sizeof what, "connect to %s", t->label);
        fail_db(db, err, err_len, what, cause);
        if (*cause == CNC_DB_OTHER || *cause == CNC_DB_CONNECTION_LOST) {
            *cause = CNC_DB_UNREACHABLE;
        }
        cnc_mysql_disconnect(db);
        return CNC_EIO;
    }
    return 0;
}

static int connect_to(struct cnc_mysql *db, const struct target *t, char *err, size_t err_len,
                      enum cnc_db_cause *cause)
{
    int rc = open_target(db, t, err, err_len, cause);
    if (rc != 0) {
        return rc;
    }
    /* Warnings listed in full (SHOW WARNINGS keeps 64 by default): see check_ignored. */
    err[0] = '\0';
    if (mysql_query(db->conn, "SET time_zone = '+00:00', max_error_count = 65535") != 0 ||
        check_node(db, t, err, err_len, cause) != 0 ||
        read_max_packet(db, err, err_len, cause) != 0 ||
        (db->create_schema && !db->schema_applied && apply_schema(db, err, err_len, cause) != 0) ||
        mysql_autocommit(db->conn, 0) != 0 || prepare_all(db, err, err_len, cause) != 0 ||
        (db->mes_tables &&
         (cnc_state_sink_prepare(db->states, db->conn, err, err_len, cause) != 0 ||
          cnc_rollup_sink_prepare(db->rollups, db->conn, err, err_len, cause) != 0)) ||
        choose_insert(db, t, err, err_len, cause) != 0) {
        if (err[0] == '\0') {
            fail_db(db, err, err_len, "session setup", cause);
        }
        /* A record is never at fault here: whatever it says, wait. */
        if (*cause == CNC_DB_REFUSED || *cause == CNC_DB_OK) {
            *cause = CNC_DB_OTHER;
        }
        cnc_mysql_disconnect(db);
        return CNC_EIO;
    }
    db->schema_applied = db->create_schema;
    return 0;
}

size_t cnc_mysql_server_count(const struct cnc_mysql *db)
{
    return db->n_targets;
}

const char *cnc_mysql_server_label(const struct cnc_mysql *db, size_t i)
{
    return db->targets[i].label;
}

struct st_mysql *cnc_mysql_open_server(struct cnc_mysql *db, size_t i, char *err, size_t err_len)
{
    enum cnc_db_cause cause;
    if (open_target(db, &db->targets[i], err, err_len, &cause) != 0) {
        return NULL;
    }
    MYSQL *conn = db->conn;
    db->conn = NULL; /* the caller's now */
    return conn;
}

int cnc_mysql_connect(struct cnc_mysql *db, char *err, size_t err_len, enum cnc_db_cause *cause)
{
    /* One round of the servers from the current one on; the writer backs off between rounds. */
    int rc = CNC_EIO;
    enum cnc_db_cause first = CNC_DB_OTHER;
    char first_err[512] = "";
    for (size_t k = 0; k < db->n_targets; k++) {
        size_t i = (db->current + k) % db->n_targets;
        rc = connect_to(db, &db->targets[i], err, err_len, cause);
        if (rc == 0) {
            long before = atomic_load(&db->connected_to);
            if (before >= 0 && (size_t)before != i) {
                atomic_fetch_add(&db->failovers, 1);
            }
            db->current = i;
            atomic_store(&db->connected_to, (long)i);
            err[0] = '\0';
            *cause = CNC_DB_OK;
            if (k > 0) { /* say why the servers before this one were passed over */
                snprintf(err, err_len, "%s; so %zu server(s) skipped, connected to %s", first_err,
                         k, db->targets[i].label);
                *cause = first;
            }
            return 0;
        }
        if (k == 0) {
            first = *cause;
            snprintf(first_err, sizeof first_err, "%s", err);
        }
    }
    if (db->n_targets > 1) {
        /* Name the server the round started with (what was in use), and that none would do. */
        char last[512];
        snprintf(last, sizeof last, "%s", err);
        snprintf(err, err_len, "%s; and %zu other servers: none usable (last: %s)", first_err,
                 db->n_targets - 1, last);
        *cause = first;
    }
    return rc;
}

/* A failure the node is to blame for: the next connect starts at the next server. */
static void move_on(struct cnc_mysql *db, enum cnc_db_cause cause)
{
    if (db->n_targets > 1 &&
        (cause == CNC_DB_CONNECTION_LOST || cause == CNC_DB_UNREACHABLE ||
         cause == CNC_DB_NOT_READY || cause == CNC_DB_READ_ONLY || cause == CNC_DB_TIMEOUT)) {
        db->current = (db->current + 1) % db->n_targets;
    }
}

void cnc_mysql_describe(const struct cnc_mysql *db, char *where, size_t len, uint64_t *failovers)
{
    long i = atomic_load(&db->connected_to);
    /* "" before the first connection: no server has been written through yet. */
    snprintf(where, len, "%s", i >= 0 && (size_t)i < db->n_targets ? db->targets[i].label : "");
    *failovers = atomic_load(&db->failovers);
}

/* ---- binding: mysql_bind.h ---- */

static MYSQL_BIND *row(struct cnc_mysql *db, int t)
{
    struct table_rows *tr = &db->t[t];
    if (cnc_grow((void **)&tr->binds, &tr->cap, (tr->rows + 1) * (size_t)tables[t].ncols,
                 sizeof(MYSQL_BIND)) != 0) {
        return NULL;
    }
    return &tr->binds[tr->rows++ * (size_t)tables[t].ncols];
}

static const char *const severity_names[] = {"info", "warning", "critical"};

/* Binds every row of the batch; pointers stay valid until the batch is written. */
static int bind_batch(struct cnc_mysql *db, const struct cnc_stored *recs, size_t n)
{
    size_t total_r = 0, total_a = 0;
    for (size_t i = 0; i < n; i++) {
        total_r += recs[i].n_readings;
        total_a += recs[i].n_anomalies;
    }
    if (cnc_grow((void **)&db->msgs, &db->cap_msgs, n, sizeof *db->msgs) != 0) {
        return CNC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        db->msgs[i].printed = NULL;
    }
    db->n_bound = n; /* the slots whose printed payload cnc_mysql_write frees */
    if (cnc_grow((void **)&db->readings, &db->cap_readings, total_r + 1, sizeof *db->readings) !=
            0 ||
        cnc_grow((void **)&db->anomalies, &db->cap_anomalies, total_a + 1, sizeof *db->anomalies) !=
            0) {
        return CNC_ENOMEM;
    }
    for (int t = 0; t < N_TABLES; t++) {
        db->t[t].rows = 0;
        db->t[t].inserted = 0;
    }
    size_t ri = 0, ai = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cnc_stored *s = &recs[i];
        if ((s->state_flags & CNC_STATE_EVENT_ONLY) != 0) {
            continue; /* an offline interval: no message (sink_states.c) */
        }
        struct msg_slot *m = &db->msgs[i];
        uint8_t *key = m->key;
        MYSQL_TIME *ts = &m->ts, *rx = &m->received;
        cnc_msg_key(s, key);
        to_mysql_time(s->ts_ms, ts);
        to_mysql_time(s->received_ms, rx);
        size_t ps, pe;
        const char *payload;
        size_t payload_len;
        if (cnc_payload_span(s->message, s->message_len, &ps, &pe) == 0) {
            payload = s->message + ps;
            payload_len = pe - ps;
        } else {
            cJSON *root = cJSON_ParseWithLength(s->message, s->message_len);
            cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "payload");
            cnc_json_exact_numbers(pl); /* the numbers as sent, not cJSON's 15 digits */
            m->printed = cJSON_PrintUnformatted(pl);
            cJSON_Delete(root);
            payload = m->printed != NULL ? m->printed : "{}";
            payload_len = strlen(payload);
        }
        MYSQL_BIND *b = row(db, T_MESSAGE);
        if (b == NULL) {
            return CNC_ENOMEM;
        }
        b_blob(&b[0], key, 16);
        b_str(&b[1], s->cnc_id.p, s->cnc_id.len);
        b_str(&b[2], s->part_program.p, s->part_program.len);
        b_time(&b[3], ts);
        b_time(&b[4], rx);
        b_str(&b[5], s->handler.p, s->handler.len);
        b_str(&b[6], payload, payload_len);
        if (db->node != NULL) {
            b_str(&b[7], db->node, strlen(db->node));
        } else {
            b_null(&b[7]);
        }

        /* rows: every reading; json: the payload, and the readings it does not hold. */
        const uint8_t *c = s->readings;
        for (uint16_t k = 0; k < s->n_readings; k++, ri++) {
            struct cnc_stored_reading *r = &db->readings[ri];
            cnc_stored_next_reading(s, &c, r);
            if (!db->reading_rows && !r->computed) {
                continue;
            }
            if ((b = row(db, T_READING)) == NULL) {
                return CNC_ENOMEM;
            }
            b_blob(&b[0], key, 16);
            b_str(&b[1], r->name.p, r->name.len);
            if (r->kind == 1 /* number */ || r->kind == 2 /* bool */) {
                b_double(&b[2], &r->num);
            } else {
                b_null(&b[2]);
            }
            if (r->kind == 3 /* string */) {
                b_str(&b[3], r->text.p, r->text.len);
            } else {
                b_null(&b[3]);
            }
        }
        if (s->has_efficiency) {
            if ((b = row(db, T_EFFICIENCY)) == NULL) {
                return CNC_ENOMEM;
            }
            b_blob(&b[0], key, 16);
            b_str(&b[1], s->cnc_id.p, s->cnc_id.len);
            b_time(&b[2], ts);
            b_str(&b[3], s->mode.p, s->mode.len);
            b_double(&b[4], &s->temperature);
            b_double(&b[5], &s->vibration);
            b_double(&b[6], &s->score);
            b_str(&b[7], s->level.p, s->level.len);
            b_tiny(&b[8], &s->is_anomaly);
        }
        c = s->anomalies;
        for (uint16_t k = 0; k < s->n_anomalies; k++, ai++) {
            struct cnc_stored_anomaly *a = &db->anomalies[ai];
            cnc_stored_next_anomaly(s, &c, a);
            if ((b = row(db, T_ANOMALY)) == NULL) {
                return CNC_ENOMEM;
            }
            b_blob(&b[0], key, 16);
            b_str(&b[1], s->cnc_id.p, s->cnc_id.len);
            b_time(&b[2], ts);
            b_str(&b[3], a->rule.p, a->rule.len);
            b_str(&b[4], a->variable.p, a->variable.len);
            b_double(&b[5], &a->value);
            b_double(&b[6], &a->threshold);
            const char *sev = severity_names[a->severity < 3 ? a->severity : 1];
            b_str(&b[7], sev, strlen(sev));
        }
        if ((s->state_flags & CNC_STATE_COUNTS) != 0) {
            if ((b = row(db, T_PART_COUNT)) == NULL) {
                return CNC_ENOMEM;
            }
            m->ideal_s = (double)s->parts * s->ideal_cycle_s; /* NaN (NULL) without one */
            b_blob(&b[0], key, 16);
            b_str(&b[1], s->cnc_id.p, s->cnc_id.len);
            b_time(&b[2], ts);
            b_str(&b[3], s->part_program.p, s->part_program.len);
            b_ulong(&b[4], &s->parts);
            b_ulong(&b[5], &s->good);
            b_ulong(&b[6], &s->rejects);
            b_double(&b[7], &m->ideal_s);
        }
    }
    return 0;
}

/*
 * INSERT IGNORE skips a duplicate (a replay, a QoS 2 retransmission: expected) but also a row
 * the server refuses in a multi-row statement (a CHECK, the JSON check: warning 4025; a unique
 * key other than the primary; a foreign key; a one-row statement may get the error instead).
 * When a statement inserted fewer rows than it carried, every skipped row must be accounted for
 * by a duplicate-primary-key warning (one per row; the session lists them all,
 * max_error_count); otherwise the batch fails: as refused (the writer then isolates the
 * refused record into the dead-letter file instead of losing it) when a warning refuses a row,
 * else as waiting. Other warnings (a truncation on a row that was inserted) count neither way.
 * 0, or -1 with the reason in err and *cause.
 */
static int check_ignored(struct cnc_mysql *db, const char *table, uint64_t skipped, char *err,
                         size_t err_len, enum cnc_db_cause *cause)
{
    if (mysql_query(db->conn, "SHOW WARNINGS") != 0) {
        return fail_db(db, err, err_len, "show warnings", cause);
    }
    MYSQL_RES *res = mysql_store_result(db->conn);
    if (res == NULL) {
        return fail_db(db, err, err_len, "show warnings", cause);
    }
    uint64_t replays = 0;
    bool refusal = false;
    char other[300] = "no warning given";
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned code = row[1] != NULL ? (unsigned)strtoul(row[1], NULL, 10) : 0;
        const char *text = row[2] != NULL ? row[2] : "?";
        size_t n = strlen(text);
        /* A replay collides on the primary key (msg_key first); a unique key an administrator
           added is a refusal of this record like a CHECK ("for key 'PRIMARY'", MySQL 8:
           "'cnc_message.PRIMARY'"). */
        if (code == ER_DUP_ENTRY && n >= 8 && strcmp(text + n - 8, "PRIMARY'") == 0) {
            replays++;
            continue;
        }
        /* The warnings that mean a row was skipped for what it is; any other (a truncation on a
           row that was inserted, something unknown) explains nothing and refuses nothing. */
        static const unsigned skipping[] = {ER_DUP_ENTRY, 4025, 3819, 1452, 1216, 1644, 1048};
        for (size_t k = 0; k < sizeof skipping / sizeof skipping[0]; k++) {
            refusal |= code == skipping[k];
        }
        if (strcmp(other, "no warning given") == 0 || code != 0) {
            snprintf(other, sizeof other, "%s (%u)", text, code);
        }
    }
    mysql_free_result(res);
    if (replays >= skipped) {
        return 0;
    }
    snprintf(err, err_len,
             "mysql: insert into %s: %" PRIu64 " rows skipped, %" PRIu64 " of them replays; %s: %s",
             table, skipped, replays,
             refusal ? "the database refused the others" : "no reason given for the others", other);
    /* Without a warning that refuses a record, the batch waits (never diverted on a guess). */
    *cause = refusal ? CNC_DB_REFUSED : CNC_DB_OTHER;
    return CNC_EIO;
}

/* What one row adds to a COM_STMT_EXECUTE packet, generously: its values and per-value headers. */
static size_t row_bytes(const MYSQL_BIND *b, int ncols)
{
    size_t n = 0;
    for (int k = 0; k < ncols; k++) {
        n += 12 + (b[k].buffer_type == MYSQL_TYPE_STRING || b[k].buffer_type == MYSQL_TYPE_BLOB
                       ? b[k].buffer_length
                       : 16);
    }
    return n;
}

#if defined(MARIADB_PACKAGE_VERSION_ID) && MARIADB_PACKAGE_VERSION_ID >= 30100
/* The rows a bulk execute sends: the batch's binds, row after row (bind_batch's layout). */
struct bulk_rows {
    const MYSQL_BIND *rows;
    int ncols;
};

static char indicator_null = STMT_INDICATOR_NULL;

#define BULK_ROWS_MAX 4096 /* rows per bulk execute; see execute_rows_bulk */

/* Connector/C asks for each row in turn (STMT_ATTR_CB_PARAM): point its binds at that row. */
static cnc_mybool bulk_row(void *data, MYSQL_BIND *params, unsigned int row_nr)
{
    const struct bulk_rows *br = data;
    const MYSQL_BIND *src = &br->rows[(size_t)row_nr * (size_t)br->ncols];
    for (int k = 0; k < br->ncols; k++) {
        if (src[k].buffer_type == MYSQL_TYPE_NULL) {
            params[k].u.indicator = &indicator_null;
            continue;
        }
        params[k].u.indicator = NULL;
        params[k].buffer = src[k].buffer;
        if (params[k].buffer_type == MYSQL_TYPE_STRING ||
            params[k].buffer_type == MYSQL_TYPE_BLOB) {
            params[k].buffer_length = src[k].buffer_length;
            params[k].length = &params[k].buffer_length;
        }
    }
    return 0;
}

/* rows rows of table t, from first, in one COM_STMT_BULK_EXECUTE of the one-row statement. */
static int execute_bulk(struct cnc_mysql *db, int t, size_t first, size_t rows, char *err,
                        size_t err_len, enum cnc_db_cause *cause)
{
    struct table_rows *tr = &db->t[t];
    MYSQL_STMT *st = tr->stmt[N_CHUNKS - 1];
    MYSQL_BIND types[9];
    memset(types, 0, sizeof types);
    for (int k = 0; k < tables[t].ncols; k++) {
        types[k].buffer_type = column_types[t][k];
        types[k].is_unsigned =
            column_types[t][k] == MYSQL_TYPE_TINY || column_types[t][k] == MYSQL_TYPE_LONG;
    }
    struct bulk_rows br = {&tr->binds[first * (size_t)tables[t].ncols], tables[t].ncols};
    unsigned int size = (unsigned int)rows;
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size) != 0 ||
        mysql_stmt_attr_set(st, STMT_ATTR_CB_USER_DATA, &br) != 0 ||
        mysql_stmt_attr_set(st, STMT_ATTR_CB_PARAM, (const void *)bulk_row) != 0 ||
        mysql_stmt_bind_param(st, types) != 0 || mysql_stmt_execute(st) != 0) {
        snprintf(err, err_len, "mysql: bulk insert into %s: %s (%u)", tables[t].name,
                 mysql_stmt_error(st), mysql_stmt_errno(st));
        *cause = cnc_db_classify(mysql_stmt_errno(st), mysql_stmt_sqlstate(st));
        return CNC_EIO;
    }
    uint64_t inserted = (uint64_t)mysql_stmt_affected_rows(st);
    tr->inserted += inserted;
    if (inserted < rows &&
        check_ignored(db, tables[t].name, rows - inserted, err, err_len, cause) != 0) {
        return CNC_EIO;
    }
    return 0;
}
#endif

/* The rows of table t as bulk executes, each as large as max_allowed_packet allows. */
static int execute_rows_bulk(struct cnc_mysql *db, int t, char *err, size_t err_len,
                             enum cnc_db_cause *cause)
{
#if defined(MARIADB_PACKAGE_VERSION_ID) && MARIADB_PACKAGE_VERSION_ID >= 30100
    struct table_rows *tr = &db->t[t];
    const int ncols = tables[t].ncols;
    const size_t limit = db->max_packet > 4096 ? db->max_packet - 1024 : db->max_packet;
    size_t done = 0;
    while (done < tr->rows) {
        size_t n = 0, bytes = 64;
        /* At most BULK_ROWS_MAX rows: every row a replay skips must be matched by one of the
           session's warnings, of which the server keeps max_error_count (65535 at most). */
        while (done + n < tr->rows && n < BULK_ROWS_MAX) {
            size_t one = row_bytes(&tr->binds[(done + n) * (size_t)ncols], ncols);
            if (bytes + one > limit) {
                break;
            }
            bytes += one;
            n++;
        }
        if (n == 0) {
            snprintf(err, err_len,
                     "mysql: a row of about %zu bytes for %s is larger than the server's "
                     "max_allowed_packet (%lu bytes)",
                     bytes + row_bytes(&tr->binds[done * (size_t)ncols], ncols), tables[t].name,
                     db->max_packet);
            *cause = CNC_DB_REFUSED;
            return CNC_EIO;
        }
        if (execute_bulk(db, t, done, n, err, err_len, cause) != 0) {
            return CNC_EIO;
        }
        done += n;
    }
    return 0;
#else
    (void)db;
    (void)t;
    snprintf(err, err_len, "mysql: bulk inserts need MariaDB Connector/C 3.1 or later");
    *cause = CNC_DB_OTHER;
    return CNC_EIO;
#endif
}

static int execute_rows(struct cnc_mysql *db, int t, char *err, size_t err_len,
                        enum cnc_db_cause *cause)
{
    if (db->bulk) {
        return execute_rows_bulk(db, t, err, err_len, cause);
    }
    struct table_rows *tr = &db->t[t];
    const int ncols = tables[t].ncols;
    const size_t limit = db->max_packet > 4096 ? db->max_packet - 1024 : db->max_packet;
    size_t done = 0;
    while (done < tr->rows) {
        size_t c = 0;
        while (chunks[c] > tr->rows - done) {
            c++;
        }
        /* The largest chunk whose statement fits the server's max_allowed_packet. */
        for (;;) {
            size_t bytes = 64;
            for (size_t r = 0; r < chunks[c]; r++) {
                bytes += row_bytes(&tr->binds[(done + r) * (size_t)ncols], ncols);
            }
            if (bytes <= limit) {
                break;
            }
            if (c + 1 == N_CHUNKS) {
                snprintf(err, err_len,
                         "mysql: a row of about %zu bytes for %s is larger than the server's "
                         "max_allowed_packet (%lu bytes)",
                         bytes, tables[t].name, db->max_packet);
                *cause = CNC_DB_REFUSED;
                return CNC_EIO;
            }
            c++;
        }
        MYSQL_STMT *st = tr->stmt[c];
        if (mysql_stmt_bind_param(st, &tr->binds[done * (size_t)ncols]) != 0 ||
            mysql_stmt_execute(st) != 0) {
            snprintf(err, err_len, "mysql: insert into %s: %s (%u)", tables[t].name,
                     mysql_stmt_error(st), mysql_stmt_errno(st));
            *cause = cnc_db_classify(mysql_stmt_errno(st), mysql_stmt_sqlstate(st));
            return CNC_EIO;
        }
        uint64_t inserted = (uint64_t)mysql_stmt_affected_rows(st);
        tr->inserted += inserted;
        if (inserted < chunks[c] &&
            check_ignored(db, tables[t].name, chunks[c] - inserted, err, err_len, cause) != 0) {
            return CNC_EIO;
        }
        done += chunks[c];
    }
    return 0;
}

int cnc_mysql_write(struct cnc_mysql *db, const struct cnc_stored *recs, size_t n, char *err,
                    size_t err_len, enum cnc_db_cause *cause)
{
    *cause = CNC_DB_OK;
    if (db->conn == NULL) {
        snprintf(err, err_len, "mysql: not connected");
        *cause = CNC_DB_CONNECTION_LOST;
        return CNC_EIO;
    }
    int rc = 0;
    /* A node can fall out of sync without failing a statement (a donor, desynced): look. */
    if (cnc_mono_ms() - db->checked_ms >= CHECK_EVERY_MS) {
        rc = check_node(db, &db->targets[db->current], err, err_len, cause);
    }
    /* The shift calendar, in a transaction of its own before the batch's: at the first batch
       of a connection and every hour. Its failure is a warning, never the batch's. */
    if (rc == 0 && db->mes_tables && cnc_shift_sink_due(db->shifts, cnc_wall_ms()) &&
        cnc_shift_sink_sync(db->shifts, db->conn, cnc_wall_ms(), db->warning, sizeof db->warning) !=
            0 &&
        mysql_ping(db->conn) != 0) {
        rc = fail_db(db, err, err_len, "after writing the shifts", cause);
    }
    if (rc == 0 && (rc = bind_batch(db, recs, n)) != 0) {
        snprintf(err, err_len, "mysql: out of memory binding a batch of %zu", n);
        *cause = CNC_DB_OTHER;
    }
    for (int t = 0; rc == 0 && t < N_TABLES; t++) {
        rc = execute_rows(db, t, err, err_len, cause);
    }
    if (rc == 0 && db->mes_tables) {
        rc = cnc_state_sink_write(db->states, recs, n, err, err_len, cause) != 0 ? CNC_EIO : 0;
    }
    if (rc == 0 && db->mes_tables) {
        bool all_new = db->t[T_MESSAGE].inserted == db->t[T_MESSAGE].rows;
        rc = cnc_rollup_sink_write(db->rollups, recs, n, all_new, err, err_len, cause) != 0
                 ? CNC_EIO
                 : 0;
    }
    if (rc == 0 && mysql_commit(db->conn) != 0) {
        rc = fail_db(db, err, err_len, "commit", cause);
        if (*cause == CNC_DB_REFUSED) {
            *cause = CNC_DB_OTHER; /* a commit refuses no record of its own */
        }
    }
    if (rc == 0 && db->mes_tables) {
        char warn[400];
        if (cnc_state_sink_refresh_downtime(db->states, db->conn, warn, sizeof warn) != 0 &&
            db->warning[0] == '\0' && cnc_mono_ms() - db->downtime_warned_ms >= 60000) {
            db->downtime_warned_ms = cnc_mono_ms();
            snprintf(db->warning, sizeof db->warning, "downtime rollup, tried again later: %s",
                     warn);
        }
    }
    /* Only what bind_batch set: a batch refused before binding (the node check) left the
       slots as an earlier, smaller batch had them, or never set them. */
    for (size_t i = 0; i < db->n_bound; i++) {
        cJSON_free(db->msgs[i].printed);
        db->msgs[i].printed = NULL;
    }
    db->n_bound = 0;
    if (rc != 0) {
        /* Whatever went wrong, this connection is not trusted with the next batch. */
        mysql_rollback(db->conn);
        cnc_mysql_disconnect(db);
        move_on(db, *cause);
    }
    return rc;
}

void cnc_mysql_destroy(struct cnc_mysql *db)
{
    if (db == NULL) {
        return;
    }
    cnc_mysql_disconnect(db);
    cnc_state_sink_destroy(db->states);
    cnc_rollup_sink_destroy(db->rollups);
    cnc_shift_sink_destroy(db->shifts);
    for (int t = 0; t < N_TABLES; t++) {
        free(db->t[t].binds);
    }
    free(db->msgs);
    free(db->readings);
    free(db->anomalies);
    for (size_t i = 0; i < db->n_targets; i++) {
        free(db->targets[i].host);
        free(db->targets[i].socket);
    }
    free(db->targets);
    free(db->user);
    free(db->node);
    if (db->password != NULL) {
        memset(db->password, 0, strlen(db->password));
    }
    free(db->password);
    free(db->database);
    free(db->tls_ca);
    free(db->tls_cert);
    free(db->tls_key);
    free(db);
}

/* ---- the writer's sink interface (sink.h) ---- */

static void sink_thread_start(void *state)
{
    (void)state;
    mysql_thread_init();
}

static void sink_thread_end(void *state)
{
    (void)state;
    mysql_thread_end();
}

static enum cnc_sink_outcome sink_open(void *state, char *err, size_t err_len,
                                       enum cnc_db_cause *cause)
{
    return cnc_mysql_connect(state, err, err_len, cause) == 0 ? CNC_SINK_STORED : CNC_SINK_RETRY;
}

static bool sink_is_open(const void *state)
{
    return cnc_mysql_connected(state);
}

static enum cnc_sink_outcome sink_write(void *state, const struct cnc_stored *recs, size_t n,
                                        char *err, size_t err_len, enum cnc_db_cause *cause)
{
    if (cnc_mysql_write(state, recs, n, err, err_len, cause) == 0) {
        return CNC_SINK_STORED;
    }
    return *cause == CNC_DB_REFUSED ? CNC_SINK_REFUSED : CNC_SINK_RETRY;
}

static void sink_describe(const void *state, char *where, size_t len, uint64_t *failovers)
{
    cnc_mysql_describe(state, where, len, failovers);
}

static const char *sink_take_warning(void *state)
{
    struct cnc_mysql *db = state;
    if (db->warning[0] == '\0') {
        return NULL;
    }
    static _Thread_local char said[sizeof db->warning];
    memcpy(said, db->warning, sizeof said);
    db->warning[0] = '\0';
    return said;
}

int cnc_mysql_set_shifts(struct cnc_mysql *db, const struct cnc_shift_calendar *cal)
{
    struct cnc_shift_sink *ss = cnc_shift_sink_create(cal);
    if (ss == NULL) {
        return CNC_ENOMEM;
    }
    cnc_shift_sink_destroy(db->shifts);
    db->shifts = ss;
    return 0;
}

static void sink_close(void *state)
{
    cnc_mysql_disconnect(state);
}

static void sink_destroy(void *state)
{
    cnc_mysql_destroy(state);
}

static const struct cnc_sink_ops mysql_sink_ops = {
    .thread_start = sink_thread_start,
    .thread_end = sink_thread_end,
    .open = sink_open,
    .is_open = sink_is_open,
    .write = sink_write,
    .describe = sink_describe,
    .take_warning = sink_take_warning,
    .close = sink_close,
    .destroy = sink_destroy,
};

struct cnc_sink cnc_mysql_sink(struct cnc_mysql *db)
{
    return (struct cnc_sink){&mysql_sink_ops, db};
}
