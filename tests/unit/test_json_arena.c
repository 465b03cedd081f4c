/*
 * test_json_arena.c - the cJSON arena allocator (plugin/ingest/json_arena.c):
 * parses come from the arena only while it is active on this thread, a full
 * arena falls back to malloc, and trees built outside it are untouched.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "json_arena.h"

static int in_arena(const struct cnc_json_arena *a, const void *p)
{
    return (const char *)p >= a->base && (const char *)p < a->base + a->size;
}

static void parse_uses_arena_while_active(void **state)
{
    (void)state;
    struct cnc_json_arena a;
    cnc_json_arena_install();
    assert_int_equal(cnc_json_arena_init(&a, 4096), 0);

    cnc_json_arena_begin(&a);
    cJSON *t = cJSON_Parse("{\"spin\":200,\"status\":\"running\"}");
    cnc_json_arena_end();
    assert_non_null(t);
    assert_true(in_arena(&a, t));
    assert_true(in_arena(&a, t->child->string));
    assert_true(a.used > 0);
    assert_string_equal(cJSON_GetObjectItem(t, "status")->valuestring, "running");
    cJSON_Delete(t); /* a no-op for arena memory */

    /* Outside begin/end, cJSON uses malloc: the tree survives the next begin. */
    cJSON *outside = cJSON_Parse("{\"a\":\"kept\"}");
    assert_false(in_arena(&a, outside));
    cnc_json_arena_begin(&a);
    assert_int_equal(a.used, 0);
    cnc_json_arena_end();
    assert_string_equal(cJSON_GetObjectItem(outside, "a")->valuestring, "kept");
    cJSON_Delete(outside);
    cnc_json_arena_destroy(&a);
    cnc_json_arena_uninstall();
}

static void full_arena_falls_back(void **state)
{
    (void)state;
    struct cnc_json_arena a;
    cnc_json_arena_install();
    assert_int_equal(cnc_json_arena_init(&a, 256), 0);
    char big[2048] = "[";
    for (int i = 0; i < 100; i++) {
        strcat(big, i ? ",1" : "1");
    }
    strcat(big, "]");
    cnc_json_arena_begin(&a);
    cJSON *t = cJSON_Parse(big);
    cnc_json_arena_end();
    assert_non_null(t);
    assert_int_equal(cJSON_GetArraySize(t), 100);
    int outside = 0;
    for (cJSON *c = t->child; c != NULL; c = c->next) {
        outside += !in_arena(&a, c);
    }
    assert_true(outside > 0); /* the tail came from malloc, and is freed by Delete */
    cJSON_Delete(t);
    cnc_json_arena_destroy(&a);
    cnc_json_arena_uninstall();
}

static void *other_thread(void *arg)
{
    struct cnc_json_arena *a = arg;
    cJSON *t = cJSON_Parse("{\"x\":1}");
    void *where = t;
    int inside = in_arena(a, where);
    cJSON_Delete(t);
    return (void *)(intptr_t)inside;
}

static void other_threads_unaffected(void **state)
{
    (void)state;
    struct cnc_json_arena a;
    cnc_json_arena_install();
    assert_int_equal(cnc_json_arena_init(&a, 4096), 0);
    cnc_json_arena_begin(&a);
    pthread_t th;
    void *inside;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &a), 0);
    assert_int_equal(pthread_join(th, &inside), 0);
    cnc_json_arena_end();
    assert_int_equal((intptr_t)inside, 0);
    cnc_json_arena_destroy(&a);
    cnc_json_arena_uninstall();
}

/*
 * The hooks leave with their last user: mosquitto dlclose()s the plugin after its cleanup, and
 * hooks left behind would point into unmapped code for the broker's other cJSON users.
 */
static void hooks_removed_with_the_last_user(void **state)
{
    (void)state;
    struct cnc_json_arena a;
    assert_int_equal(cnc_json_arena_init(&a, 4096), 0);
    cnc_json_arena_install(); /* two generations, as during a reload */
    cnc_json_arena_install();
    cnc_json_arena_uninstall();
    cnc_json_arena_begin(&a);
    cJSON *t = cJSON_CreateObject();
    cnc_json_arena_end();
    assert_true(in_arena(&a, t)); /* still one user: still the arena */
    cJSON_Delete(t);
    cnc_json_arena_uninstall(); /* the last */
    cnc_json_arena_begin(&a);
    t = cJSON_CreateObject();
    cnc_json_arena_end();
    assert_false(in_arena(&a, t)); /* cJSON's own malloc: nothing of the plugin is reached */
    cJSON_Delete(t);
    cnc_json_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_uses_arena_while_active),
        cmocka_unit_test(full_arena_falls_back),
        cmocka_unit_test(other_threads_unaffected),
        cmocka_unit_test(hooks_removed_with_the_last_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
