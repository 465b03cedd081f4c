/*
 * sink_mysql.h - writes batches of stored records to MySQL/MariaDB.
 *
 * Writer thread only (the one place that talks to the database). Coded
 * against the libmysqlclient API (mysql.h): builds with MariaDB
 * Connector/C (Debian's default-libmysqlclient-dev) and Oracle's client.
 * One transaction per batch; multi-row prepared INSERT IGNOREs in chunks of
 * 256, 64, 16, 4 and 1 rows, so any batch size takes few round trips and a
 * replayed record is a no-op (msg_key). A chunk is never larger than the
 * server's max_allowed_packet: a record that alone is larger is refused.
 *
 * With mysql.hosts (a cluster) it writes through one server while that works; a connect
 * tries the servers in order from the one in use, skipping a read-only server and a Galera
 * node that is not ready and Synced (looked at on connect and again before a write once a
 * second has passed); a failure the node is to blame for (lost connection, not ready,
 * read-only) starts the next connect at the next server.
 *
 * Every failure comes with its cause (db_cause.h): CNC_DB_REFUSED when the
 * database refused a record for what it is, anything else when the batch
 * should wait and be retried.
 */
#ifndef CNC_SINK_MYSQL_H
#define CNC_SINK_MYSQL_H

#include <stddef.h>

#include "config.h"
#include "db_cause.h"
#include "sink.h"
#include "stored_record.h"

struct cnc_mysql;

/* Main thread, before any writer thread exists: initialises the client library. */
int cnc_mysql_library_init(void);
void cnc_mysql_library_end(void);

/* Copies what it needs from cfg. password may be NULL; node (config `node:`) is stored with
   every message, NULL stores NULL. NULL on out of memory. */
struct cnc_mysql *cnc_mysql_create(const struct cnc_mysql_config *cfg, const char *password,
                                   const char *node);

/* The plant's shift calendar (config `shifts:`) the writer keeps in cnc_shift; NULL: none.
   Before the writer starts. 0 or CNC_ENOMEM. */
int cnc_mysql_set_shifts(struct cnc_mysql *db, const struct cnc_shift_calendar *cal);

/*
 * Connects, applies sql/schema.sql when create_schema, prepares statements.
 * 0, or CNC_EIO / CNC_ENOMEM with err and *cause.
 */
int cnc_mysql_connect(struct cnc_mysql *db, char *err, size_t err_len, enum cnc_db_cause *cause);

/*
 * Writes n records in one transaction. 0, or CNC_EIO / CNC_ENOMEM with err and *cause (the
 * transaction is rolled back and the connection dropped). CNC_DB_REFUSED:
 * some record of the batch can never be stored as it is (which one is found
 * by writing them one by one).
 */
int cnc_mysql_write(struct cnc_mysql *db, const struct cnc_stored *recs, size_t n, char *err,
                    size_t err_len, enum cnc_db_cause *cause);

int cnc_mysql_connected(const struct cnc_mysql *db);

/* For cnc-ingest-check --connect (db_probe.c): the configured servers (one, or mysql.hosts),
   each one's label, and a connection to server i opened as the writer opens one (its timeouts,
   charset and TLS) with nothing run on it: the caller's to mysql_close. NULL with err. */
size_t cnc_mysql_server_count(const struct cnc_mysql *db);
const char *cnc_mysql_server_label(const struct cnc_mysql *db, size_t i);
struct st_mysql *cnc_mysql_open_server(struct cnc_mysql *db, size_t i, char *err, size_t err_len);

/* The highest version in cnc_schema_version on conn: > 0; 0 where the table does not exist (a
   new database); -1 on any other error (mysql_error(conn) says which). The writer's
   create_schema and --connect read it the same way. */
int cnc_mysql_read_schema_version(struct st_mysql *conn);

/*
 * The server last connected to ("db1:3306", a socket path; "" before the first connection) and
 * how often the writer has moved to another one. Any thread (atomics and immutable labels).
 */
void cnc_mysql_describe(const struct cnc_mysql *db, char *where, size_t len, uint64_t *failovers);

/* db as the writer's sink (sink.h); the sink owns db from then on (destroy frees it). */
struct cnc_sink cnc_mysql_sink(struct cnc_mysql *db);
void cnc_mysql_disconnect(struct cnc_mysql *db);
void cnc_mysql_destroy(struct cnc_mysql *db);

#endif
