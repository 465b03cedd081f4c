/*
 * db_cause.h - why the database did not take a batch, and what the writer
 * does about it.
 *
 * Any thread (pure). The one rule: a record goes to the dead letters only
 * when the database refuses that record for what it is; a server's state is a
 * reason to wait. So exactly one cause, CNC_DB_REFUSED, means "this record can
 * never be stored as it is": SQLSTATE class 22 (data exception: a value out of
 * range, a string too long, an invalid character or date) and class 23
 * (integrity constraint: a CHECK such as the JSON column's, NOT NULL, a
 * foreign key an administrator added), a trigger's SIGNAL, and a record
 * larger than the server's max_allowed_packet. Every other answer, named or
 * not (read-only, table or disk full, lock waits and deadlocks, timeouts, a
 * lost connection, too many connections, missing privileges or tables, a
 * Galera node not ready), leaves the batch in the spool to be retried with
 * backoff; an error this table does not know is waited on too, never diverted.
 */
#ifndef CNC_DB_CAUSE_H
#define CNC_DB_CAUSE_H

enum cnc_db_cause {
    CNC_DB_OK = 0,
    CNC_DB_UNREACHABLE,     /* no connection: 2002, 2003, 2005, connect timeout */
    CNC_DB_CONNECTION_LOST, /* 2006, 2013, 2055, 4031 (idle), 1927 (killed), 1053 (shutdown) */
    CNC_DB_TIMEOUT,         /* 1317 (interrupted), 1969 (max_statement_time) */
    CNC_DB_READ_ONLY,       /* 1290 (read_only), 1836, 1792 */
    CNC_DB_FULL, /* 1114 (table full), 1021 (disk full), 1026, 1030, 1037, 1038, 1041, 1206 */
    CNC_DB_LOCK, /* 1205 (lock wait timeout), 1213 (deadlock, certification conflict) */
    CNC_DB_TOO_MANY_CONNECTIONS, /* 1040, 1203, 1226 */
    CNC_DB_PRIVILEGES,           /* 1044, 1045, 1142, 1143, 1227, 1370, 1698 */
    CNC_DB_SCHEMA,               /* 1049 (no database), 1054, 1136, 1146: tables not as expected */
    CNC_DB_NOT_READY,            /* 1047: a Galera node that is not synced */
    CNC_DB_OTHER,                /* anything else the server or client says: waited on */
    CNC_DB_REFUSED,              /* the record itself: kept in the dead letters */
    CNC_DB__COUNT
};

/* The cause of a server or client error number and the statement's SQLSTATE (may be NULL). */
enum cnc_db_cause cnc_db_classify(unsigned error, const char *sqlstate);

/* Stable names for metrics and logs: "read_only", "connection_lost", ... ("ok" for 0). */
const char *cnc_db_cause_name(enum cnc_db_cause cause);

#endif
