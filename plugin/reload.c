/*
 * reload.c - config loads of a reload on a thread of their own, see reload.h.
 *
 * Broker thread for the API; reload_main on the reload thread (one at a time).
 */
#include "reload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IDLE, RUNNING, DONE };

struct cnc_reload {
    char *path;
    pthread_t thread;
    bool joinable; /* broker thread: a thread was started and not yet joined */
    bool pending;  /* broker thread: a request arrived while a load was running or unclaimed */
    atomic_int state;
    /* Written by the load before state = DONE, read by the broker thread after. */
    struct cnc_config *cfg;
    char err[1024];
};

struct cnc_reload *cnc_reload_create(const char *path)
{
    struct cnc_reload *r = calloc(1, sizeof *r);
    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        return NULL;
    }
    atomic_init(&r->state, IDLE);
    return r;
}

static void load(struct cnc_reload *r)
{
    r->err[0] = '\0';
    r->cfg = cnc_config_load(r->path, r->err, sizeof r->err);
    atomic_store_explicit(&r->state, DONE, memory_order_release);
}

static void *reload_main(void *arg)
{
    load(arg);
    return NULL;
}

void cnc_reload_request(struct cnc_reload *r)
{
    if (atomic_load_explicit(&r->state, memory_order_acquire) != IDLE) {
        r->pending = true;
        return;
    }
    atomic_store_explicit(&r->state, RUNNING, memory_order_relaxed);
    if (pthread_create(&r->thread, NULL, reload_main, r) == 0) {
        r->joinable = true;
        return;
    }
    load(r);
}

int cnc_reload_take(struct cnc_reload *r, struct cnc_config **cfg, char *err, size_t err_len)
{
    if (atomic_load_explicit(&r->state, memory_order_acquire) != DONE) {
        return 0;
    }
    if (r->joinable) {
        pthread_join(r->thread, NULL); /* it has finished: no wait */
        r->joinable = false;
    }
    *cfg = r->cfg;
    r->cfg = NULL;
    snprintf(err, err_len, "%s", r->err);
    atomic_store_explicit(&r->state, IDLE, memory_order_relaxed);
    if (r->pending) {
        r->pending = false;
        cnc_reload_request(r);
    }
    return 1;
}

void cnc_reload_destroy(struct cnc_reload *r)
{
    if (r == NULL) {
        return;
    }
    if (r->joinable) {
        pthread_join(r->thread, NULL);
    }
    cnc_config_destroy(r->cfg);
    free(r->path);
    free(r);
}
