/*
 * test_identity.c - the identity section and table (plugin/config/config.c load_identity,
 * plugin/ingest/identity.c): exact and glob publishers, first match decides, %u/%c taken
 * literally, anonymous clients refused, every pattern that can never match refused with its
 * key and line, and the refusal as a reject (unauthorized_cnc_id, field cnc_id, the table never
 * shown). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "identity.h"
#include "support.h"

#define TAIL "handlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: any}]\n"

static struct cnc_registry *reg;

static struct cnc_ingest *build(const char *yaml, char *err, size_t err_len)
{
    err[0] = '\0';
    return support_ingest(yaml, &reg, err, err_len);
}

static void expect_error(const char *yaml, const char *expected)
{
    char err[1024];
    struct cnc_ingest *ing = build(yaml, err, sizeof err);
    if (ing != NULL || strstr(err, expected) == NULL) {
        fail_msg("expected error containing \"%s\", got \"%s\"", expected, err);
    }
}

/* Whether who may publish cnc_id, through the table alone. */
static bool may(struct cnc_ingest *ing, const char *client_id, const char *username,
                const char *cnc_id)
{
    const struct cnc_publisher who = {client_id, username};
    const struct cnc_identity_entry *e = cnc_identity_find(cnc_ingest_identity(ing), &who);
    return e != NULL && cnc_identity_permits(e, &who, cnc_id, strlen(cnc_id));
}

static const char *plant = "identity:\n"
                           "  by: username\n"
                           "  publishers:\n"
                           "    - {match: LATHE-01, cnc_ids: [\"%u\"]}\n"
                           "    - {match: line3, cnc_ids: [\"LINE3-*\", \"%c-[0-9]\"]}\n"
                           "    - {match: \"coll-*\", cnc_ids: [\"%u\"]}\n"
                           "    - {match: \"coll-9\", cnc_ids: [\"OTHER\"]}\n"
                           "    - {match: \"sub-*\", cnc_ids: [\"%u.%c\", \"X-%u-?\"]}\n"
                           "    - {match: \"*\", cnc_ids: [SPARE-01]}\n" TAIL;

static void exact_glob_and_first_match(void **state)
{
    (void)state;
    char err[1024];
    struct cnc_ingest *ing = build(plant, err, sizeof err);
    assert_non_null(ing);
    const struct cnc_identity_table *t = cnc_ingest_identity(ing);
    assert_int_equal(cnc_identity_exact_count(t), 3);
    assert_int_equal(cnc_identity_glob_count(t), 3);
    /* One collector per machine. */
    assert_true(may(ing, "c1", "LATHE-01", "LATHE-01"));
    assert_false(may(ing, "c1", "LATHE-01", "LATHE-02"));
    assert_false(may(ing, "c1", "LATHE-01", "LATHE-0"));
    assert_false(may(ing, "c1", "LATHE-01", "LATHE-011"));
    /* A line collector: its glob, and the client id substituted. */
    assert_true(may(ing, "gw7", "line3", "LINE3-17"));
    assert_true(may(ing, "gw7", "line3", "gw7-4"));
    assert_false(may(ing, "gw7", "line3", "gw8-4"));
    assert_false(may(ing, "gw7", "line3", "LINE4-1"));
    /* An exact entry is found before the globs; a glob before the ones below it. */
    assert_false(may(ing, "x", "coll-9", "coll-9"));
    assert_true(may(ing, "x", "coll-9", "OTHER"));
    assert_true(may(ing, "x", "coll-4", "coll-4"));
    assert_false(may(ing, "x", "coll-4", "SPARE-01"));
    assert_true(may(ing, "x", "stranger", "SPARE-01"));
    assert_false(may(ing, "x", "stranger", "stranger"));
    /* Several substitutions in one glob. */
    assert_true(may(ing, "B", "sub-a", "sub-a.B"));
    assert_true(may(ing, "B", "sub-a", "X-sub-a-7"));
    assert_false(may(ing, "B", "sub-a", "X-sub-a-77"));
    cnc_ingest_destroy(ing);
}

/* A name substituted is literal: a user called "*" or "LINE3-?" gains no wildcard, and a name
   that is no cnc_id matches nothing. */
static void substitutions_are_literal(void **state)
{
    (void)state;
    char err[1024];
    struct cnc_ingest *ing =
        build("identity:\n  by: username\n  publishers:\n"
              "    - {match: \"*\", cnc_ids: [\"%u\", \"%u-*\", \"%c\"]}\n" TAIL,
              err, sizeof err);
    assert_non_null(ing);
    assert_true(may(ing, "cid", "PRESS-04", "PRESS-04"));
    assert_true(may(ing, "cid", "PRESS-04", "PRESS-04-aux"));
    assert_true(may(ing, "cid", "PRESS-04", "cid"));
    assert_false(may(ing, "cid", "*", "PRESS-04"));
    assert_false(may(ing, "cid", "?", "A-1"));
    assert_false(may(ing, "cid", "[A-Z]*", "PRESS-04-x"));
    assert_false(may(ing, "*", "u s", "PRESS-04"));
    /* A name too long to be a cnc_id. */
    char longname[200];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(may(ing, "cid", longname, "AAAA"));
    cnc_ingest_destroy(ing);
}

/* Names past the slot's inline 30 bytes are compared in full; a name longer than 256 bytes
   (a client id may be 65,535) is found by an exact entry only, never tried against the globs. */
static void long_names(void **state)
{
    (void)state;
    char err[1024];
    const char *a40 = "collector-0123456789012345678901234567-A";
    const char *b40 = "collector-0123456789012345678901234567-B";
    char huge[70000];
    memset(huge, 'g', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "identity:\n  by: username\n  publishers:\n    - {match: %s, cnc_ids: [A1]}\n"
             "    - {match: \"*g*g*g*g*g*g*g?x\", cnc_ids: [G1]}\n"
             "    - {match: \"g*\", cnc_ids: [G2]}\n" TAIL,
             a40);
    struct cnc_ingest *ing = build(yaml, err, sizeof err);
    assert_non_null(ing);
    assert_true(may(ing, "c", a40, "A1"));
    assert_false(may(ing, "c", b40, "A1")); /* same first 30 bytes, same length */
    assert_true(may(ing, "c", "gg", "G2"));
    assert_false(may(ing, "c", huge, "G2"));
    cnc_ingest_destroy(ing);
}

/* Anonymous clients have no identity, whichever name the table uses. */
static void anonymous_and_by_client_id(void **state)
{
    (void)state;
    char err[1024];
    struct cnc_ingest *ing = build("identity:\n  by: client_id\n  publishers:\n"
                                   "    - {match: \"gw-*\", cnc_ids: [\"%c\", \"%u\"]}\n" TAIL,
                                   err, sizeof err);
    assert_non_null(ing);
    assert_string_equal(cnc_identity_kind(cnc_ingest_identity(ing)), "client_id");
    assert_true(may(ing, "gw-1", "someone", "gw-1"));
    assert_true(may(ing, "gw-1", "someone", "someone"));
    assert_false(may(ing, "gw-1", NULL, "gw-1"));
    assert_false(may(ing, "other", "gw-1", "gw-1")); /* the user name is not the client id */
    struct cnc_ingest_result res;
    const struct cnc_publisher unlisted = {"other", "gw-1"};
    assert_int_not_equal(
        cnc_ingest_process(ing, NULL, "{}", 2, INT64_C(1747400000000), &unlisted, &res), 0);
    assert_string_equal(res.rej.detail, "client_id \"other\" may publish no cnc_id");
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
}

/* Through the pipeline: a reject with its code, field and a detail naming the publisher, not
   the patterns; a refused publisher's message is not even parsed. */
static void refusals_as_rejects(void **state)
{
    (void)state;
    char err[1024], buf[512];
    struct cnc_ingest *ing = build(plant, err, sizeof err);
    struct cnc_ingest_result res;
    const struct cnc_publisher lathe = {"c1", "LATHE-01"}, anon = {"c1", NULL},
                               stranger = {"c1", "coll"}, evil = {"c1", "line3\nFAKE LOG LINE"};
    const char *msg = support_msg(buf, sizeof buf, "LATHE-01", "{\"a\":1}");
    assert_int_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), &lathe, &res), 0);
    cnc_ingest_result_release(&res);

    msg = support_msg(buf, sizeof buf, "LINE3-1", "{\"a\":1}");
    assert_int_not_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), &lathe, &res), 0);
    assert_int_equal(res.rej.code, CNC_REJECT_UNAUTHORIZED_CNC_ID);
    assert_string_equal(cnc_reject_name(res.rej.code), "unauthorized_cnc_id");
    assert_string_equal(res.rej.field, "cnc_id");
    assert_string_equal(res.rej.detail, "username \"LATHE-01\" may not publish cnc_id \"LINE3-1\"");
    cnc_ingest_result_release(&res);

    /* Refused before parsing: not_json from an anonymous client is unauthorized first. */
    assert_int_not_equal(
        cnc_ingest_process(ing, NULL, "{oops", 5, INT64_C(1747400000000), &anon, &res), 0);
    assert_int_equal(res.rej.code, CNC_REJECT_UNAUTHORIZED_CNC_ID);
    assert_non_null(strstr(res.rej.detail, "anonymous client"));
    cnc_ingest_result_release(&res);

    assert_int_not_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), &stranger, &res),
        0);
    assert_string_equal(res.rej.detail, "username \"coll\" may not publish cnc_id \"LINE3-1\"");
    cnc_ingest_result_release(&res);

    /* A name with a newline is shown on one line (the detail is logged and published). */
    assert_int_not_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), &evil, &res), 0);
    assert_null(strchr(res.rej.detail, '\n'));
    assert_null(strstr(res.rej.detail, "LINE3-*"));
    cnc_ingest_result_release(&res);

    /* Without a publisher (tools testing what follows) the table is not asked. */
    assert_int_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), NULL, &res), 0);
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
}

/* Without the section, nothing changes: any client, any cnc_id. */
static void off_by_default(void **state)
{
    (void)state;
    char err[1024], buf[512];
    struct cnc_ingest *ing = build(TAIL, err, sizeof err);
    assert_null(cnc_ingest_identity(ing));
    struct cnc_ingest_result res;
    const struct cnc_publisher anon = {"c1", NULL};
    const char *msg = support_msg(buf, sizeof buf, "ANY-1", "{\"a\":1}");
    assert_int_equal(
        cnc_ingest_process(ing, NULL, msg, strlen(msg), INT64_C(1747400000000), &anon, &res), 0);
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
}

#define ID(entries) "identity:\n  by: username\n  publishers:\n" entries TAIL

static void patterns_that_never_match(void **state)
{
    (void)state;
    expect_error(ID("    - match: a\n      cnc_ids: [A, \"PRESS 4\"]\n"),
                 "t.yaml:5: identity.publishers[0].cnc_ids[1]: \"PRESS 4\": ' ' is no character "
                 "of a cnc_id");
    expect_error(ID("    - {match: a, cnc_ids: [\"%x\"]}\n"),
                 "t.yaml:4: identity.publishers[0].cnc_ids[0]: \"%x\": only %u");
    expect_error(ID("    - {match: a, cnc_ids: [\"%\"]}\n"), "only %u");
    expect_error(ID("    - {match: a, cnc_ids: [\"[!A-Za-z0-9_.:-]\"]}\n"),
                 "admits no character a cnc_id may hold");
    expect_error(ID("    - {match: a, cnc_ids: [\"[/ ]*\"]}\n"), "admits no character");
    expect_error(ID("    - {match: a, cnc_ids: [\"LINE[\"]}\n"), "an unclosed [");
    expect_error(ID("    - {match: a, cnc_ids: [\"A\\\\\"]}\n"), "ends in a lone \\");
    expect_error(ID("    - {match: a, cnc_ids: [\"A/B\"]}\n"), "'/' is no character");
    expect_error(ID("    - {match: a, cnc_ids: [\"\\\\*x\"]}\n"), "'*' is no character");
    expect_error(ID("    - {match: a, cnc_ids: [\"caf\xc3\xa9\"]}\n"), "byte 0xc3");
    expect_error(ID("    - {match: a, cnc_ids: [\"%u"
                    "?????????????????????????????????????????????????????????????????\"]}\n"),
                 "matches only ids of 66 characters or more");
    expect_error(ID("    - {match: a, cnc_ids: [\"%u%u%u%u%u%u%u%u%u\"]}\n"),
                 "more than 8 substitutions");
    /* These can match. */
    char err[1024];
    struct cnc_ingest *ing =
        build(ID("    - {match: a, cnc_ids: [\"[[:alpha:]]*\", \"\\\\Ax\", \"[]A]\", \"%c:%u\", "
                 "\"?\"]}\n"),
              err, sizeof err);
    if (ing == NULL) {
        fail_msg("%s", err);
    }
    assert_true(may(ing, "c", "a", "Q7"));
    assert_true(may(ing, "c", "a", "c:a"));
    assert_true(may(ing, "c", "a", "Ax"));
    assert_true(may(ing, "c", "a", "A"));
    cnc_ingest_destroy(ing);
}

static void section_errors(void **state)
{
    (void)state;
    expect_error("identity: [a]\n" TAIL, "t.yaml:1: identity: must be a mapping");
    expect_error("identity: {publishers: []}\n" TAIL, "identity.by: is required");
    expect_error("identity: {by: cert, publishers: []}\n" TAIL,
                 "identity.by: must be username (the authenticated user; with "
                 "use_identity_as_username, the certificate's CN) or client_id");
    expect_error("identity: {by: username, by: client_id, publishers: []}\n" TAIL,
                 "identity.by: duplicate key");
    expect_error("identity: {by: username}\n" TAIL, "identity.publishers: must be a list");
    expect_error("identity: {by: username, publishers: [], acl: 1}\n" TAIL,
                 "identity.acl: unknown key (known keys: by, publishers)");
    expect_error(ID("    - LATHE-01\n"), "t.yaml:4: identity.publishers[0]: must be a mapping");
    expect_error(ID("    - {match: a}\n"),
                 "identity.publishers[0]: needs both match: and cnc_ids:");
    expect_error(ID("    - {match: a, cnc_ids: []}\n"),
                 "identity.publishers[0].cnc_ids: 0 patterns");
    expect_error(ID("    - {match: a, cnc_ids: x}\n"),
                 "cnc_ids: must be a list of cnc_id patterns");
    expect_error(ID("    - {match: a, cnc_ids: [[x]]}\n"),
                 "each pattern must be a non-empty string");
    expect_error(ID("    - {match: \"\", cnc_ids: [x]}\n"), "match: must be a user name");
    expect_error(ID("    - {match: a, cnc_ids: [x], role: y}\n"),
                 "identity.publishers[0].role: unknown key (known keys: match, cnc_ids)");
    expect_error(ID("    - {match: a, cnc_ids: [x]}\n    - {match: a, cnc_ids: [y]}\n"),
                 "t.yaml:5: identity.publishers[1].match: this publisher is listed above");
    expect_error(ID("    - {match: \"a*\", cnc_ids: [x]}\n    - {match: \"a*\", cnc_ids: [y]}\n"),
                 "t.yaml:5: identity.publishers[1].match: this glob is listed above");
    expect_error("identity: {by: username, publishers: []}\nidentity: {by: username, publishers: "
                 "[]}\n" TAIL,
                 "t.yaml:2: identity: duplicate section");
    /* 65 patterns in one entry: each message may try them all. */
    char yaml[4096];
    size_t n = (size_t)snprintf(yaml, sizeof yaml,
                                "identity:\n  by: username\n  publishers:\n"
                                "    - match: a\n      cnc_ids: [");
    for (int i = 0; i < 65; i++) {
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "%sP%d", i ? ", " : "", i);
    }
    snprintf(yaml + n, sizeof yaml - n, "]\n" TAIL);
    expect_error(yaml, "65 patterns: give 1 to 64");
}

static void glob_publishers_bounded(void **state)
{
    (void)state;
    size_t cap = 300 * 64 + 512;
    char *yaml = malloc(cap);
    size_t n = (size_t)snprintf(yaml, cap, "identity:\n  by: username\n  publishers:\n");
    for (int i = 0; i < 257; i++) {
        n += (size_t)snprintf(yaml + n, cap - n, "    - {match: \"g%d-*\", cnc_ids: [\"%%u\"]}\n",
                              i);
    }
    snprintf(yaml + n, cap - n, TAIL);
    expect_error(yaml, "t.yaml:260: identity.publishers[256].match: more than 256 glob publishers");
    free(yaml);
}

/* Tens of thousands of collectors, one machine each: built, and each one found by hash. */
static void many_exact_publishers(void **state)
{
    (void)state;
    const int count = 50000;
    size_t cap = (size_t)count * 48 + 512;
    char *yaml = malloc(cap);
    size_t n = (size_t)snprintf(yaml, cap, "identity:\n  by: username\n  publishers:\n");
    for (int i = 0; i < count; i++) {
        n += (size_t)snprintf(yaml + n, cap - n, "    - {match: M%05d, cnc_ids: [\"%%u\"]}\n", i);
    }
    snprintf(yaml + n, cap - n, TAIL);
    char err[1024];
    struct cnc_ingest *ing = build(yaml, err, sizeof err);
    free(yaml);
    assert_non_null(ing);
    assert_int_equal(cnc_identity_exact_count(cnc_ingest_identity(ing)), count);
    char id[16], other[16];
    for (int i = 0; i < count; i += 997) {
        snprintf(id, sizeof id, "M%05d", i);
        snprintf(other, sizeof other, "M%05d", (i + 1) % count);
        assert_true(may(ing, "c", id, id));
        assert_false(may(ing, "c", id, other));
    }
    assert_false(may(ing, "c", "M99999", "M99999"));
    cnc_ingest_destroy(ing);
}

static int teardown(void **state)
{
    (void)state;
    cnc_registry_destroy(reg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_glob_and_first_match),
        cmocka_unit_test(substitutions_are_literal),
        cmocka_unit_test(long_names),
        cmocka_unit_test(anonymous_and_by_client_id),
        cmocka_unit_test(refusals_as_rejects),
        cmocka_unit_test(off_by_default),
        cmocka_unit_test(patterns_that_never_match),
        cmocka_unit_test(section_errors),
        cmocka_unit_test(glob_publishers_bounded),
        cmocka_unit_test(many_exact_publishers),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
