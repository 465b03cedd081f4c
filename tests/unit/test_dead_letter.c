/*
 * test_dead_letter.c - dead-letter lines (plugin/store/dead_letter.c): a line carries the message
 * and the record, and parses back to the same record; the file's bound holds back a grown file but
 * never a first line (a record alone larger than the bound would otherwise block the writer for
 * good); bad lines are refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "cnc_error.h"
#include "dead_letter.h"
#include "support.h"

static void encode(struct cnc_buf *rec, const char *json)
{
    struct cnc_registry *reg = NULL;
    char err[512];
    struct cnc_ingest *ing = support_ingest("handlers: {any: {type: generic}}\n"
                                            "routes: [{match: \"*\", handler: any}]\n",
                                            &reg, err, sizeof err);
    struct cnc_ingest_result res;
    assert_int_equal(support_run(ing, json, &res), 0);
    assert_int_equal(cnc_stored_encode(rec, &res.msg, &res.rec, json, strlen(json), 1747400000000),
                     0);
    cnc_ingest_result_release(&res);
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
}

static void line_round_trip(void **state)
{
    (void)state;
    struct cnc_buf rec = {0}, line = {0}, back = {0};
    const char *msg = "{\"cnc_id\":\"P-1\",\n \"part_program\":\"p\",\"timestamp\":1747379028,"
                      "\"payload\":{\"s\":\"caf\xc3\xa9\",\"x\":1.5}}";
    encode(&rec, msg);
    struct cnc_stored s;
    assert_int_equal(cnc_stored_decode(rec.p, rec.len, &s), 0);
    assert_int_equal(cnc_dead_letter_format(&line, &s, rec.p, rec.len, "mysql: no (4025)", 0), 0);
    assert_int_equal(line.p[line.len - 1], '\n');
    assert_null(memchr(line.p, '\n', line.len - 1)); /* one line, though the message had two */
    cJSON *o = cJSON_ParseWithLength((const char *)line.p, line.len);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "cnc_id")->valuestring, "P-1");
    assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "mysql: no (4025)");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "message"), "payload"), "s")
            ->valuestring,
        "caf\xc3\xa9");
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "msg_key")->valuestring), 32);
    cJSON_Delete(o);
    char err[256];
    assert_int_equal(cnc_dead_letter_parse((const char *)line.p, line.len, &back, err, sizeof err),
                     0);
    assert_int_equal(back.len, rec.len);
    assert_memory_equal(back.p, rec.p, rec.len);
    /* Not a dead letter. */
    static const char *const bad[] = {"not json", "{\"record\":\"0g\"}", "{\"record\":\"abc\"}",
                                      "{\"record\":\"0102\"}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(cnc_dead_letter_parse(bad[i], strlen(bad[i]), &back, err, sizeof err),
                             0);
        assert_true(err[0] != '\0');
    }
    cnc_buf_free(&rec);
    cnc_buf_free(&line);
    cnc_buf_free(&back);
}

static void bound(void **state)
{
    (void)state;
    char dir[] = "/tmp/cnc-dl-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dead-letter.jsonl", dir);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\n';
    /* A first line larger than the bound still goes in: nothing else could ever unblock it. */
    assert_int_equal(cnc_dead_letter_append(path, big, sizeof big, 4096), 0);
    assert_int_equal(cnc_dead_letter_append(path, "y\n", 2, 4096), CNC_EFULL);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, sizeof big); /* as it was */
    /* Moved away (what an operator, or cnc-ingest-resubmit, does): a new file takes it. */
    char moved[80];
    snprintf(moved, sizeof moved, "%s.moved", path);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(cnc_dead_letter_append(path, "y\n", 2, 4096), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 2);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_round_trip),
        cmocka_unit_test(bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
