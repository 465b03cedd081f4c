/*
 * json_arena.c - the arena-aware cJSON allocator, see json_arena.h.
 *
 * Thread-local state only; the one process-wide effect is the hook
 * installation, done once.
 */
#include "json_arena.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cnc_error.h"

/*
 * Under AddressSanitizer the arena is poisoned and each allocation unpoisoned
 * to its exact size, so overruns inside the arena are still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CNC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CNC_ASAN 1
#endif
#endif
#ifdef CNC_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

static _Thread_local struct cnc_json_arena *active; /* allocate from here */
static _Thread_local struct cnc_json_arena *owner;  /* frees into here are no-ops */

static void *arena_malloc(size_t n)
{
    struct cnc_json_arena *a = active;
    if (a != NULL) {
        size_t need = (n + 15) & ~(size_t)15;
        if (need <= a->size - a->used) {
            void *p = a->base + a->used;
            a->used += need;
            ASAN_UNPOISON_MEMORY_REGION(p, n);
            return p;
        }
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    if (owner != NULL && cnc_json_arena_owns(owner, p)) {
        return;
    }
    free(p);
}

/*
 * How many users (config generations of the plugin, tools) want the hooks. The first sets
 * them, the last takes them out again: mosquitto dlclose()s a plugin after its cleanup, and
 * hooks left behind would point into unmapped code for every later cJSON user in the broker
 * (the dynamic-security plugin among them). Changed on one thread at a time by contract (the
 * broker thread, at init, reload and cleanup, while no other thread of ours uses cJSON).
 */
static atomic_int users;

void cnc_json_arena_install(void)
{
    if (atomic_fetch_add(&users, 1) == 0) {
        cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
        cJSON_InitHooks(&hooks);
    }
}

void cnc_json_arena_uninstall(void)
{
    if (atomic_fetch_sub(&users, 1) == 1) {
        cJSON_InitHooks(NULL); /* cJSON's own malloc and free again */
        owner = NULL;
        active = NULL;
    }
}

int cnc_json_arena_init(struct cnc_json_arena *a, size_t size)
{
    a->base = malloc(size);
    a->size = a->base != NULL ? size : 0;
    a->used = 0;
    return a->base != NULL ? 0 : CNC_ENOMEM;
}

void cnc_json_arena_destroy(struct cnc_json_arena *a)
{
    if (owner == a) {
        owner = NULL;
    }
    if (active == a) {
        active = NULL;
    }
    ASAN_UNPOISON_MEMORY_REGION(a->base, a->size);
    free(a->base);
    a->base = NULL;
    a->size = 0;
}

void cnc_json_arena_begin(struct cnc_json_arena *a)
{
    a->used = 0;
    ASAN_POISON_MEMORY_REGION(a->base, a->size);
    active = a;
    owner = a;
}

void cnc_json_arena_resume(struct cnc_json_arena *a)
{
    active = a;
    owner = a;
}

int cnc_json_arena_owns(const struct cnc_json_arena *a, const void *p)
{
    return (const char *)p >= a->base && (const char *)p < a->base + a->size;
}

void cnc_json_arena_end(void)
{
    active = NULL;
}
