/*
 * test_db_probe.c - cnc-ingest-check --connect's reading of SHOW GRANTS (db_probe.c): which
 * lines give what on the database, LIKE patterns with escapes, column grants, roles, and a
 * server answer built to make a naive matcher take exponential time. No database: the lines
 * are the ones MariaDB prints. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db_probe.h"

static void grants(const char *line, const char *db, bool have[CNC_DB_N_PRIVS])
{
    memset(have, 0, CNC_DB_N_PRIVS * sizeof have[0]);
    cnc_db_probe_read_grant(line, db, have);
}

static void schema_and_global_grants(void **state)
{
    (void)state;
    bool h[CNC_DB_N_PRIVS];
    grants("GRANT SELECT, INSERT ON `cnc`.* TO `least`@`localhost`", "cnc", h);
    assert_true(h[CNC_DB_SELECT] && h[CNC_DB_INSERT] && !h[CNC_DB_UPDATE] && !h[CNC_DB_CREATE] &&
                !h[CNC_DB_DROP]);
    grants("GRANT SELECT, INSERT ON `cnc`.* TO `least`@`localhost`", "other", h);
    assert_false(h[CNC_DB_SELECT] || h[CNC_DB_INSERT]);
    grants("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", "cnc", h);
    for (int p = 0; p < CNC_DB_N_PRIVS; p++) {
        assert_true(h[p]);
    }
    grants("GRANT ALL PRIVILEGES ON `cnc`.* TO `cnc`@`localhost`", "cnc", h);
    assert_true(h[CNC_DB_CREATE_VIEW] && h[CNC_DB_ALTER]);
    grants("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, CREATE VIEW ON `cnc`.* TO "
           "`c`@`%`",
           "cnc", h);
    for (int p = 0; p < CNC_DB_N_PRIVS; p++) {
        assert_true(h[p]);
    }
    /* CREATE VIEW is not CREATE, SHOW VIEW is nothing the writer needs. */
    grants("GRANT SHOW VIEW, CREATE VIEW ON `cnc`.* TO `c`@`%`", "cnc", h);
    assert_true(h[CNC_DB_CREATE_VIEW] && !h[CNC_DB_CREATE]);
}

static void what_gives_nothing(void **state)
{
    (void)state;
    bool h[CNC_DB_N_PRIVS];
    const char *none[] = {
        "GRANT USAGE ON *.* TO `least`@`localhost` IDENTIFIED BY PASSWORD '*D821809F'",
        "GRANT `writer` TO `viarole`@`localhost`",        /* a role: its own line follows */
        "GRANT INSERT ON `cnc`.`cnc_message` TO `t`@`%`", /* one table: the session test's */
        "SET DEFAULT ROLE `writer` FOR `viarole`@`localhost`",
        "",
        "GRANT ",
        "GRANT SELECT ON `cnc", /* cut */
        "REVOKE ALL",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        grants(none[i], "cnc", h);
        for (int p = 0; p < CNC_DB_N_PRIVS; p++) {
            assert_false(h[p]);
        }
    }
    /* A column grant names the privilege, not the whole schema's rows: still counted as the
       privilege on the schema it names (the session test proves it on the tables). */
    grants("GRANT SELECT (`cnc_id`, `ts`), INSERT ON `cnc`.* TO `c`@`%`", "cnc", h);
    assert_true(h[CNC_DB_SELECT] && h[CNC_DB_INSERT]);
}

static void like_patterns(void **state)
{
    (void)state;
    bool h[CNC_DB_N_PRIVS];
    struct {
        const char *pattern, *db;
        bool match;
    } cases[] = {
        {"cn_", "cnc", true},        {"cn_", "cn", false},     {"cn_", "cncc", false},
        {"c%", "cnc", true},         {"%", "cnc", true},       {"%c", "cnc", true},
        {"%x", "cnc", false},        {"c%c%", "cnc", true},    {"cnc\\_%", "cnc_a", true},
        {"cnc\\_%", "cncXa", false}, {"cnc\\%", "cnc%", true}, {"cnc\\%", "cncx", false},
        {"%%%c", "cnc", true},       {"", "cnc", false},       {"c_c", "cnc", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[300];
        snprintf(line, sizeof line, "GRANT INSERT ON `%s`.* TO `u`@`%%`", cases[i].pattern);
        grants(line, cases[i].db, h);
        if (h[CNC_DB_INSERT] != cases[i].match) {
            fail_msg("pattern \"%s\" against \"%s\": expected %d", cases[i].pattern, cases[i].db,
                     cases[i].match);
        }
    }
}

/* 120 %s and a name of 64 characters that never matches: trying every split would take
   64^120 steps; the one-backtrack matcher takes a few thousand. */
static void many_percents_in_linear_time(void **state)
{
    (void)state;
    char line[400] = "GRANT INSERT ON `";
    for (int i = 0; i < 120; i++) {
        strcat(line, "%a");
    }
    strcat(line, "b`.* TO `u`@`%`");
    char db[65];
    memset(db, 'a', 64);
    db[64] = '\0';
    bool h[CNC_DB_N_PRIVS];
    for (int round = 0; round < 1000; round++) {
        grants(line, db, h);
        assert_false(h[CNC_DB_INSERT]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schema_and_global_grants),
        cmocka_unit_test(what_gives_nothing),
        cmocka_unit_test(like_patterns),
        cmocka_unit_test(many_percents_in_linear_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
