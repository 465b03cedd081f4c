/*
 * db_cause.c - database answers sorted into causes, see db_cause.h.
 *
 * Any thread; pure. Error numbers are MariaDB's and MySQL's (errmsg.h for the
 * client's 2xxx, mysqld_error.h for the server's); a few newer ones are
 * written as numbers because Connector/C's headers predate them.
 */
#include "db_cause.h"

#include <stddef.h>

static const char *const names[CNC_DB__COUNT] = {
    [CNC_DB_OK] = "ok",
    [CNC_DB_UNREACHABLE] = "unreachable",
    [CNC_DB_CONNECTION_LOST] = "connection_lost",
    [CNC_DB_TIMEOUT] = "timeout",
    [CNC_DB_READ_ONLY] = "read_only",
    [CNC_DB_FULL] = "full",
    [CNC_DB_LOCK] = "lock",
    [CNC_DB_TOO_MANY_CONNECTIONS] = "too_many_connections",
    [CNC_DB_PRIVILEGES] = "privileges",
    [CNC_DB_SCHEMA] = "schema",
    [CNC_DB_NOT_READY] = "not_ready",
    [CNC_DB_OTHER] = "other",
    [CNC_DB_REFUSED] = "refused_record",
};

const char *cnc_db_cause_name(enum cnc_db_cause cause)
{
    return (unsigned)cause < CNC_DB__COUNT ? names[cause] : "other";
}

static const struct {
    unsigned error;
    enum cnc_db_cause cause;
} known[] = {
    /* The client library: no server to talk to, or it went away. */
    {2002, CNC_DB_UNREACHABLE},
    {2003, CNC_DB_UNREACHABLE},
    {2005, CNC_DB_UNREACHABLE},
    {2006, CNC_DB_CONNECTION_LOST},
    {2013, CNC_DB_CONNECTION_LOST},
    {2055, CNC_DB_CONNECTION_LOST},
    {4031, CNC_DB_CONNECTION_LOST}, /* disconnected by the server because of inactivity */
    {1927, CNC_DB_CONNECTION_LOST}, /* connection killed */
    {1053, CNC_DB_CONNECTION_LOST}, /* server shutdown in progress */
    {1317, CNC_DB_TIMEOUT},
    {1969, CNC_DB_TIMEOUT},
    {3024, CNC_DB_TIMEOUT}, /* MySQL's max_execution_time */
    /* The server's state. */
    {1290, CNC_DB_READ_ONLY},
    {1836, CNC_DB_READ_ONLY},
    {1792, CNC_DB_READ_ONLY},
    {1114, CNC_DB_FULL},
    {1021, CNC_DB_FULL},
    {1026, CNC_DB_FULL},
    {1030, CNC_DB_FULL},
    {1037, CNC_DB_FULL},
    {1038, CNC_DB_FULL},
    {1041, CNC_DB_FULL},
    {1206, CNC_DB_FULL},
    {1205, CNC_DB_LOCK},
    {1213, CNC_DB_LOCK},
    {1040, CNC_DB_TOO_MANY_CONNECTIONS},
    {1203, CNC_DB_TOO_MANY_CONNECTIONS},
    {1226, CNC_DB_TOO_MANY_CONNECTIONS},
    {1044, CNC_DB_PRIVILEGES},
    {1045, CNC_DB_PRIVILEGES},
    {1142, CNC_DB_PRIVILEGES},
    {1143, CNC_DB_PRIVILEGES},
    {1227, CNC_DB_PRIVILEGES},
    {1370, CNC_DB_PRIVILEGES},
    {1698, CNC_DB_PRIVILEGES},
    {1049, CNC_DB_SCHEMA},
    {1054, CNC_DB_SCHEMA},
    {1136, CNC_DB_SCHEMA},
    {1146, CNC_DB_SCHEMA},
    {1047, CNC_DB_NOT_READY},
    /* The record: refused for what it is, whatever SQLSTATE a server version gives. */
    {1048, CNC_DB_REFUSED}, /* column cannot be null */
    {1264, CNC_DB_REFUSED}, /* out of range */
    {1292, CNC_DB_REFUSED}, /* incorrect value */
    {1300, CNC_DB_REFUSED}, /* invalid character string */
    {1366, CNC_DB_REFUSED}, /* incorrect string value */
    {1406, CNC_DB_REFUSED}, /* data too long */
    {1452, CNC_DB_REFUSED}, /* no referenced row (a foreign key) */
    {1644, CNC_DB_REFUSED}, /* a trigger's SIGNAL */
    {3140, CNC_DB_REFUSED}, /* MySQL: invalid JSON text */
    {3819, CNC_DB_REFUSED}, /* MySQL: check constraint violated */
    {4025, CNC_DB_REFUSED}, /* MariaDB: CONSTRAINT failed (CHECK, the JSON column's check) */
};

enum cnc_db_cause cnc_db_classify(unsigned error, const char *sqlstate)
{
    if (error == 0) {
        return CNC_DB_OK;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].error == error) {
            return known[i].cause;
        }
    }
    /* SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
    if (sqlstate != NULL && sqlstate[0] == '2' && (sqlstate[1] == '2' || sqlstate[1] == '3')) {
        return CNC_DB_REFUSED;
    }
    return CNC_DB_OTHER;
}
