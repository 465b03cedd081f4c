/*
 * test_reload.c - config loads of a reload on their own thread (plugin/reload.c):
 * results handed over once, a request during a load remembered and run after it,
 * refusals with their reason, destroy while a load runs. Also run under TSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "reload.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Polls take() as the broker's TICK does, for at most 30 s. */
static struct cnc_config *wait_take(struct cnc_reload *r, char *err, size_t len)
{
    struct cnc_config *cfg = NULL;
    for (int i = 0; i < 30000; i++) {
        if (cnc_reload_take(r, &cfg, err, len)) {
            return cfg;
        }
        usleep(1000);
    }
    fail_msg("no reload result within 30 s");
    return NULL;
}

#define CONFIG(topic)                                                                              \
    "ingest: {topics: [\"" topic "\"]}\nhandlers: {any: {type: generic}}\n"                        \
    "routes: [{match: \"*\", handler: any}]\n"

static void loads_off_the_calling_thread(void **state)
{
    (void)state;
    char path[] = "/tmp/cnc-reload-XXXXXX", err[1024];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, CONFIG("a/+/data"));
    struct cnc_reload *r = cnc_reload_create(path);
    assert_non_null(r);
    struct cnc_config *none = NULL;
    assert_int_equal(cnc_reload_take(r, &none, err, sizeof err), 0); /* nothing requested */
    cnc_reload_request(r);
    struct cnc_config *cfg = wait_take(r, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->ingest.topics[0], "a/+/data");
    cnc_config_destroy(cfg);
    assert_int_equal(cnc_reload_take(r, &none, err, sizeof err), 0); /* handed over once */

    /* A second SIGHUP while the first load runs: the file is read again afterwards. (The
       first load may see the file half rewritten, and refuse it: the second one counts.) */
    cnc_reload_request(r);
    write_file(path, CONFIG("b/+/data"));
    cnc_reload_request(r);
    cfg = wait_take(r, err, sizeof err);
    cnc_config_destroy(cfg);
    cfg = wait_take(r, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->ingest.topics[0], "b/+/data");
    cnc_config_destroy(cfg);

    /* A refused file: NULL and the reason, the loader stays usable. */
    write_file(path, "ingest: {max_message_bytez: 1}\n");
    cnc_reload_request(r);
    assert_null(wait_take(r, err, sizeof err));
    assert_non_null(strstr(err, ":1: ingest.max_message_bytez: unknown key"));
    write_file(path, CONFIG("c/+/data"));
    cnc_reload_request(r);
    cfg = wait_take(r, err, sizeof err);
    assert_non_null(cfg);
    cnc_config_destroy(cfg);

    /* Destroyed while a load may still run (and with its result never taken). */
    cnc_reload_request(r);
    cnc_reload_destroy(r);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_off_the_calling_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
