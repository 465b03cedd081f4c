/*
 * report_limit.c - per-client reject report limit, see report_limit.h.
 * Broker thread only.
 */
#include "report_limit.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define PROBE 8 /* slots looked at for a client; the least recently used of them is replaced */

struct slot {
    uint64_t key;        /* XXH3 of the client id; 0: free */
    int64_t second;      /* the wall-clock second counted */
    int64_t last_ms;     /* last report asked for */
    uint32_t sent;       /* reports sent in that second */
    uint64_t suppressed; /* held back since the last report sent */
};

struct cnc_report_limit {
    unsigned per_second;
    uint64_t total_suppressed;
    struct slot slots[CNC_REPORT_LIMIT_SLOTS];
};

struct cnc_report_limit *cnc_report_limit_create(unsigned per_second)
{
    struct cnc_report_limit *rl = calloc(1, sizeof *rl);
    if (rl != NULL) {
        rl->per_second = per_second;
    }
    return rl;
}

void cnc_report_limit_destroy(struct cnc_report_limit *rl)
{
    free(rl);
}

void cnc_report_limit_set(struct cnc_report_limit *rl, unsigned per_second)
{
    rl->per_second = per_second;
}

static struct slot *find(struct cnc_report_limit *rl, uint64_t key)
{
    size_t at = (size_t)(key % CNC_REPORT_LIMIT_SLOTS);
    struct slot *oldest = NULL;
    for (size_t k = 0; k < PROBE; k++) {
        struct slot *s = &rl->slots[(at + k) % CNC_REPORT_LIMIT_SLOTS];
        if (s->key == key) {
            return s;
        }
        if (s->key == 0) {
            memset(s, 0, sizeof *s);
            s->key = key;
            return s;
        }
        if (oldest == NULL || s->last_ms < oldest->last_ms) {
            oldest = s;
        }
    }
    /* Full here: the client heard from least recently starts over (its held-back count is
       lost with it, the totals are not). */
    memset(oldest, 0, sizeof *oldest);
    oldest->key = key;
    return oldest;
}

bool cnc_report_limit_take(struct cnc_report_limit *rl, const char *client_id, int64_t now_ms,
                           uint64_t *suppressed)
{
    *suppressed = 0;
    if (rl->per_second == 0) {
        return true;
    }
    const char *id = client_id != NULL ? client_id : "";
    uint64_t key = XXH3_64bits(id, strlen(id)) | 1; /* never 0, the free mark */
    struct slot *s = find(rl, key);
    int64_t second = now_ms / 1000;
    s->last_ms = now_ms;
    if (s->second != second) {
        s->second = second;
        s->sent = 0;
    }
    if (s->sent >= rl->per_second) {
        s->suppressed++;
        rl->total_suppressed++;
        return false;
    }
    s->sent++;
    *suppressed = s->suppressed;
    s->suppressed = 0;
    return true;
}

uint64_t cnc_report_limit_suppressed(const struct cnc_report_limit *rl)
{
    return rl->total_suppressed;
}
