/*
 * test_db_cause.c - database answers sorted into causes (plugin/store/db_cause.c): only what the
 * database refuses a record for is a refusal; every server state, and anything unknown, waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db_cause.h"

static void causes(void **state)
{
    (void)state;
    static const struct {
        unsigned error;
        const char *sqlstate;
        enum cnc_db_cause cause;
    } cases[] = {
        {0, "00000", CNC_DB_OK},
        /* The record: data and integrity errors, a trigger's SIGNAL. */
        {4025, "23000", CNC_DB_REFUSED}, /* CHECK, the JSON column's check */
        {1406, "22001", CNC_DB_REFUSED}, /* data too long */
        {1264, "22003", CNC_DB_REFUSED}, /* out of range */
        {1366, "HY000", CNC_DB_REFUSED}, /* incorrect string value, whatever the state */
        {1048, "23000", CNC_DB_REFUSED}, /* NOT NULL */
        {1452, "23000", CNC_DB_REFUSED}, /* foreign key */
        {1644, "45000", CNC_DB_REFUSED}, /* SIGNAL */
        {9999, "22007", CNC_DB_REFUSED}, /* an unknown number in class 22 */
        {9998, "23505", CNC_DB_REFUSED}, /* and 23 */
        /* The server's state: never the record's fault. */
        {1290, "HY000", CNC_DB_READ_ONLY},
        {1836, "HY000", CNC_DB_READ_ONLY},
        {1114, "HY000", CNC_DB_FULL},
        {1021, "HY000", CNC_DB_FULL},
        {1205, "HY000", CNC_DB_LOCK},
        {1213, "40001", CNC_DB_LOCK},
        {2006, "HY000", CNC_DB_CONNECTION_LOST},
        {2013, "HY000", CNC_DB_CONNECTION_LOST},
        {4031, "HY000", CNC_DB_CONNECTION_LOST},
        {1969, "70100", CNC_DB_TIMEOUT},
        {1040, "08004", CNC_DB_TOO_MANY_CONNECTIONS},
        {1142, "42000", CNC_DB_PRIVILEGES},
        {1045, "28000", CNC_DB_PRIVILEGES},
        {1146, "42S02", CNC_DB_SCHEMA},
        {1047, "08S01", CNC_DB_NOT_READY},
        {2002, "HY000", CNC_DB_UNREACHABLE},
        {1153, "08S01", CNC_DB_OTHER}, /* packet too large: the writer sizes statements itself */
        {7777, "HY000", CNC_DB_OTHER}, /* unknown: waited on, never diverted */
        {7777, NULL, CNC_DB_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum cnc_db_cause c = cnc_db_classify(cases[i].error, cases[i].sqlstate);
        if (c != cases[i].cause) {
            fail_msg("error %u (%s): %s, expected %s", cases[i].error,
                     cases[i].sqlstate ? cases[i].sqlstate : "-", cnc_db_cause_name(c),
                     cnc_db_cause_name(cases[i].cause));
        }
    }
    for (int c = 0; c < CNC_DB__COUNT; c++) {
        assert_non_null(cnc_db_cause_name((enum cnc_db_cause)c));
    }
    assert_string_equal(cnc_db_cause_name(CNC_DB_REFUSED), "refused_record");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(causes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
