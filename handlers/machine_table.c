/*
 * machine_table.c - per-cnc_id rows bounded by a maximum with least-recently-
 * seen eviction, see machine_table.h.
 *
 * Broker thread.
 */
#include "machine_table.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* A slot of the id table: the row + 1 (0: empty) and the id's hash. */
struct cnc_machine_slot {
    uint32_t row1;
    uint64_t hash;
};

#define NO_ROW UINT32_MAX

/* Per row: whose it is, and its place in the list of rows by last use. */
struct cnc_machine_meta {
    char *id;
    uint64_t hash;
    uint32_t newer, older; /* NO_ROW at the ends */
};

void cnc_machine_table_init(struct cnc_machine_table *t, size_t max_rows)
{
    *t = (struct cnc_machine_table){
        .max_rows = max_rows < UINT32_MAX - 1 ? max_rows : UINT32_MAX - 1,
        .newest = NO_ROW,
        .oldest = NO_ROW,
    };
}

void cnc_machine_table_free(struct cnc_machine_table *t)
{
    for (size_t i = 0; i < t->n_rows; i++) {
        free(t->meta[i].id);
    }
    free(t->meta);
    free(t->slots);
    cnc_machine_table_init(t, t->max_rows);
}

static struct cnc_machine_slot *probe(const struct cnc_machine_table *t, const char *id, uint64_t h)
{
    size_t i = (size_t)h & t->mask;
    for (;;) {
        struct cnc_machine_slot *s = &t->slots[i];
        if (s->row1 == 0 || (s->hash == h && strcmp(t->meta[s->row1 - 1].id, id) == 0)) {
            return s;
        }
        i = (i + 1) & t->mask;
    }
}

static int grow_table(struct cnc_machine_table *t)
{
    size_t cap = t->slots == NULL ? 64 : (t->mask + 1) * 2;
    struct cnc_machine_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return -1;
    }
    struct cnc_machine_slot *old = t->slots;
    size_t old_cap = old != NULL ? t->mask + 1 : 0;
    t->slots = slots;
    t->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].row1 != 0) {
            size_t k = (size_t)old[i].hash & t->mask;
            while (slots[k].row1 != 0) {
                k = (k + 1) & t->mask;
            }
            slots[k] = old[i];
        }
    }
    free(old);
    return 0;
}

/* Linear probing: the slot at i is emptied and later entries of its cluster move back. */
static void delete_slot(struct cnc_machine_table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].row1 == 0) {
            break;
        }
        size_t home = (size_t)t->slots[j].hash & t->mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (struct cnc_machine_slot){0, 0};
}

static void unlink_row(struct cnc_machine_table *t, uint32_t r)
{
    struct cnc_machine_meta *m = &t->meta[r];
    if (m->newer != NO_ROW) {
        t->meta[m->newer].older = m->older;
    } else {
        t->newest = m->older;
    }
    if (m->older != NO_ROW) {
        t->meta[m->older].newer = m->newer;
    } else {
        t->oldest = m->newer;
    }
}

static void push_newest(struct cnc_machine_table *t, uint32_t r)
{
    struct cnc_machine_meta *m = &t->meta[r];
    m->newer = NO_ROW;
    m->older = t->newest;
    if (t->newest != NO_ROW) {
        t->meta[t->newest].newer = r;
    } else {
        t->oldest = r;
    }
    t->newest = r;
}

/* A row for a machine not yet tracked: a new one, or the least recently seen one's. */
static int new_row(struct cnc_machine_table *t, uint32_t *row)
{
    if (t->n_rows < t->max_rows) {
        if (t->n_rows == t->meta_cap) {
            size_t cap = t->meta_cap ? t->meta_cap * 2 : 64;
            struct cnc_machine_meta *meta = realloc(t->meta, cap * sizeof *meta);
            if (meta == NULL) {
                return -1;
            }
            t->meta = meta;
            t->meta_cap = cap;
        }
        *row = (uint32_t)t->n_rows++;
        t->meta[*row].id = NULL;
        return 0;
    }
    /* Full: the machine seen least recently gives up its row. */
    uint32_t r = t->oldest;
    struct cnc_machine_meta *m = &t->meta[r];
    delete_slot(t, (size_t)(probe(t, m->id, m->hash) - t->slots));
    unlink_row(t, r);
    free(m->id);
    m->id = NULL;
    t->evicted++;
    *row = r;
    return 0;
}

long cnc_machine_table_row(struct cnc_machine_table *t, const char *id, bool *fresh)
{
    uint64_t h = XXH3_64bits(id, strlen(id));
    *fresh = false;
    if (t->slots != NULL) {
        struct cnc_machine_slot *s = probe(t, id, h);
        if (s->row1 != 0) {
            uint32_t r = s->row1 - 1;
            if (t->newest != r) {
                unlink_row(t, r);
                push_newest(t, r);
            }
            return (long)r;
        }
    }
    if (t->max_rows == 0) {
        return -1;
    }
    bool full = t->n_rows >= t->max_rows;
    if (!full && (t->slots == NULL || (t->n_rows + 1) * 2 > t->mask + 1) && grow_table(t) != 0) {
        return -1;
    }
    char *copy = strdup(id);
    uint32_t r;
    if (copy == NULL || new_row(t, &r) != 0) {
        free(copy);
        return -1;
    }
    t->meta[r].id = copy;
    t->meta[r].hash = h;
    push_newest(t, r);
    *probe(t, id, h) = (struct cnc_machine_slot){r + 1, h};
    *fresh = true;
    return (long)r;
}
