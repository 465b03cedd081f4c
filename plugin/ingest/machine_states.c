/*
 * machine_states.c - per-cnc_id current state and silence, see machine_states.h.
 *
 * Broker thread only. Rows are found through a bounded machine table (the
 * rules' and scripts' least-recently-seen table); silence is watched with a
 * timer wheel of one-second slots: a message moves its machine to the slot of
 * its new deadline (unlink + link, constant time), and TICK walks the slots of
 * the seconds that have passed. A deadline more than WHEEL_SLOTS seconds away
 * stays in its slot for that many more rounds (looked at once per round).
 */
#include "machine_states.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "envelope.h"
#include "machine_table.h"

#define WHEEL_SLOTS 4096u
#define NONE UINT32_MAX

struct row {
    char cnc_id[CNC_CNC_ID_MAX + 1];
    char handler[CNC_DB_NAME_MAX + 1];
    char part_program[CNC_PART_PROGRAM_MAX + 1];
    uint64_t sig; /* hash of state, category, reason and part program */
    int64_t last_ts_ms;
    int64_t deadline_ms; /* monotonic: offline past this */
    uint32_t prev, next; /* in the wheel slot's list */
    uint32_t slot;       /* NONE: not in the wheel (offline, or never heard) */
    bool known;          /* heard from since the row was given to this machine */
    bool has_state;      /* a message with the state member was heard */
    bool offline;        /* its open interval is offline */
    uint8_t have_count;  /* bit per CNC_COUNT_*: last_count holds a value */
    uint64_t last_count[CNC_COUNT__N];
};

struct cnc_machine_states {
    struct cnc_machine_table table;
    struct row *rows;
    size_t cap;
    uint32_t wheel[WHEEL_SLOTS];
    int64_t next_s; /* the first second not yet looked at; 0 before the first expire */
    struct cnc_state_counts counts;
};

struct cnc_machine_states *cnc_machine_states_create(size_t max_machines)
{
    struct cnc_machine_states *ms = calloc(1, sizeof *ms);
    if (ms == NULL) {
        return NULL;
    }
    cnc_machine_table_init(&ms->table, max_machines);
    for (size_t i = 0; i < WHEEL_SLOTS; i++) {
        ms->wheel[i] = NONE;
    }
    return ms;
}

void cnc_machine_states_destroy(struct cnc_machine_states *ms)
{
    if (ms == NULL) {
        return;
    }
    cnc_machine_table_free(&ms->table);
    free(ms->rows);
    free(ms);
}

static void unlink_row(struct cnc_machine_states *ms, uint32_t i)
{
    struct row *w = &ms->rows[i];
    if (w->slot == NONE) {
        return;
    }
    if (w->prev != NONE) {
        ms->rows[w->prev].next = w->next;
    } else {
        ms->wheel[w->slot] = w->next;
    }
    if (w->next != NONE) {
        ms->rows[w->next].prev = w->prev;
    }
    w->slot = NONE;
    w->prev = w->next = NONE;
}

static void link_row(struct cnc_machine_states *ms, uint32_t i, int64_t deadline_ms)
{
    struct row *w = &ms->rows[i];
    unlink_row(ms, i);
    w->deadline_ms = deadline_ms;
    w->slot = (uint32_t)((uint64_t)(deadline_ms / 1000) % WHEEL_SLOTS);
    w->prev = NONE;
    w->next = ms->wheel[w->slot];
    if (w->next != NONE) {
        ms->rows[w->next].prev = i;
    }
    ms->wheel[w->slot] = i;
}

static int ensure_rows(struct cnc_machine_states *ms, size_t need)
{
    if (need <= ms->cap) {
        return 0;
    }
    size_t cap = ms->cap ? ms->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    struct row *r = realloc(ms->rows, cap * sizeof *r);
    if (r == NULL) {
        return -1;
    }
    ms->rows = r;
    ms->cap = cap;
    return 0;
}

static void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1; /* names are checked shorter than the columns; never cut in practice */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t state_sig(const struct cnc_state_reading *r, const char *part_program)
{
    uint64_t h = XXH3_64bits_withSeed(r->state, r->state_len, (uint64_t)r->category + 1);
    h = XXH3_64bits_withSeed(r->reason != NULL ? r->reason : "", r->reason_len,
                             h ^ (r->reason != NULL ? 0x9e3779b97f4a7c15u : 0));
    return XXH3_64bits_withSeed(part_program, strlen(part_program), h);
}

/*
 * What a counter moved by: value - last, or past the wrap (a decrease that max_step can cover
 * through the modulus), or, after any other decrease, value itself (the counter was reset to 0
 * and counted since). More than max_step at once is a counter set anew: 0, counted as a jump.
 */
static uint64_t counter_step(struct cnc_machine_states *ms, uint64_t last, uint64_t value,
                             uint64_t wrap, uint64_t max_step)
{
    uint64_t step;
    if (value >= last) {
        step = value - last;
    } else if (wrap > last && value + (wrap - last) <= max_step) {
        step = value + (wrap - last);
    } else {
        step = value;
    }
    if (step > max_step) {
        ms->counts.count_jumps++;
        return 0;
    }
    return step;
}

/* The parts, good and rejects the message's counters add (total = good + rejects where two of
   the three are read). */
static void count_parts(struct cnc_machine_states *ms, struct row *w,
                        const struct cnc_state_map *map, const struct cnc_state_reading *r,
                        struct cnc_state_event *ev)
{
    uint64_t step[CNC_COUNT__N] = {0};
    bool moved[CNC_COUNT__N] = {false};
    uint64_t wrap = cnc_state_map_count_wrap(map), max_step = cnc_state_map_max_count_step(map);
    for (int c = 0; c < CNC_COUNT__N; c++) {
        if (!r->has_count[c]) {
            continue;
        }
        if ((w->have_count & (1u << c)) != 0) {
            step[c] = counter_step(ms, w->last_count[c], r->count[c], wrap, max_step);
            moved[c] = true;
        }
        w->last_count[c] = r->count[c];
        w->have_count |= (uint8_t)(1u << c);
    }
    unsigned read = cnc_state_map_counters(map);
    uint64_t total = step[CNC_COUNT_TOTAL], good = step[CNC_COUNT_GOOD],
             rejects = step[CNC_COUNT_REJECT];
    if ((read & (1u << CNC_COUNT_TOTAL)) == 0) {
        total = good + rejects;
    } else if ((read & (1u << CNC_COUNT_GOOD)) == 0) {
        good = total > rejects ? total - rejects : 0;
    } else if ((read & (1u << CNC_COUNT_REJECT)) == 0) {
        rejects = total > good ? total - good : 0;
    }
    if (!moved[0] && !moved[1] && !moved[2]) {
        return;
    }
    if (total != 0 || good != 0 || rejects != 0) {
        ev->flags |= CNC_STATE_COUNTS;
        ev->parts = (uint32_t)total;
        ev->good = (uint32_t)good;
        ev->rejects = (uint32_t)rejects;
    }
}

int cnc_machine_states_observe(struct cnc_machine_states *ms, const struct cnc_state_map *map,
                               const char *handler, const struct cnc_message *msg,
                               const struct cnc_state_reading *r, int64_t mono_ms,
                               struct cnc_state_event *ev)
{
    memset(ev, 0, sizeof *ev);
    bool fresh;
    uint64_t evicted = ms->table.evicted;
    long row = cnc_machine_table_row(&ms->table, msg->cnc_id, &fresh);
    if (row < 0 || ensure_rows(ms, (size_t)row + 1) != 0) {
        return -1;
    }
    uint32_t i = (uint32_t)row;
    struct row *w = &ms->rows[i];
    if (fresh) {
        if (ms->table.evicted != evicted) {
            unlink_row(ms, i); /* the row was another machine's */
            ms->counts.evicted++;
        }
        memset(w, 0, sizeof *w);
        w->slot = NONE;
        w->prev = w->next = NONE;
        copy_name(w->cnc_id, sizeof w->cnc_id, msg->cnc_id);
    }
    int64_t offline_after_ms = cnc_state_map_offline_after_ms(map);
    if (w->known && msg->ts_ms < w->last_ts_ms) {
        ms->counts.late++;
        if (!w->offline) {
            link_row(ms, i, mono_ms + offline_after_ms); /* it does speak */
        }
        return 0;
    }
    ev->ideal_cycle_s = cnc_state_map_ideal_cycle_s(map, msg->part_program);
    if (w->known && !w->offline && msg->ts_ms - w->last_ts_ms > offline_after_ms) {
        ev->flags |= CNC_STATE_GAP;
        ev->offline_from_ms = w->last_ts_ms + 1;
        memcpy(ev->gap_program, w->part_program, sizeof ev->gap_program);
        w->offline = true;
        ms->counts.offline++;
    }
    count_parts(ms, w, map, r, ev);
    w->known = true;
    w->last_ts_ms = msg->ts_ms;
    copy_name(w->handler, sizeof w->handler, handler);
    copy_name(w->part_program, sizeof w->part_program, msg->part_program);
    if (r->present) {
        uint64_t sig = state_sig(r, msg->part_program);
        if (!w->has_state || w->offline || sig != w->sig) {
            ev->flags |= CNC_STATE_CHANGED;
            ev->started_ms = msg->ts_ms;
            ev->state = r->state;
            ev->state_len = r->state_len;
            ev->category = r->category;
            ev->reason = r->reason;
            ev->reason_len = r->reason_len;
            ms->counts.changes++;
        }
        w->sig = sig;
        w->has_state = true;
        w->offline = false;
    }
    if (w->offline) {
        unlink_row(ms, i);
    } else {
        link_row(ms, i, mono_ms + offline_after_ms);
    }
    return 0;
}

size_t cnc_machine_states_expire(struct cnc_machine_states *ms, int64_t mono_ms, size_t max,
                                 void (*emit)(void *arg, const struct cnc_offline_machine *m),
                                 void *arg)
{
    int64_t now_s = mono_ms / 1000;
    if (ms->next_s == 0 || now_s - ms->next_s > (int64_t)WHEEL_SLOTS) {
        ms->next_s = ms->next_s == 0 ? now_s : now_s - (int64_t)WHEEL_SLOTS;
    }
    size_t emitted = 0;
    /* Only whole seconds that have passed: a slot's deadlines all lie before now. */
    for (; ms->next_s < now_s; ms->next_s++) {
        uint32_t *head = &ms->wheel[(uint64_t)ms->next_s % WHEEL_SLOTS];
        uint32_t i = *head;
        while (i != NONE) {
            struct row *w = &ms->rows[i];
            uint32_t next = w->next;
            if (w->deadline_ms <= mono_ms) {
                if (emitted == max) {
                    return emitted; /* this second again on the next call */
                }
                unlink_row(ms, i);
                w->offline = true;
                ms->counts.offline++;
                struct cnc_offline_machine m = {
                    .cnc_id = w->cnc_id,
                    .handler = w->handler,
                    .part_program = w->part_program,
                    .last_ts_ms = w->last_ts_ms,
                    .event =
                        {
                            .flags = CNC_STATE_EVENT_ONLY,
                            .category = CNC_STATE_UNPLANNED_DOWNTIME,
                            .started_ms = w->last_ts_ms + 1,
                            .state = CNC_OFFLINE_STATE,
                            .state_len = sizeof CNC_OFFLINE_STATE - 1,
                            .reason = CNC_OFFLINE_REASON,
                            .reason_len = sizeof CNC_OFFLINE_REASON - 1,
                            .ideal_cycle_s = NAN,
                        },
                };
                emit(arg, &m);
                emitted++;
            }
            i = next;
        }
    }
    return emitted;
}

void cnc_machine_states_forget(struct cnc_machine_states *ms, const char *cnc_id)
{
    bool fresh;
    uint64_t evicted = ms->table.evicted;
    long row = cnc_machine_table_row(&ms->table, cnc_id, &fresh);
    if (row < 0 || ensure_rows(ms, (size_t)row + 1) != 0) {
        return;
    }
    struct row *w = &ms->rows[row];
    if (fresh && ms->table.evicted != evicted) {
        ms->counts.evicted++;
    } else if (!fresh) {
        unlink_row(ms, (uint32_t)row);
    }
    memset(w, 0, sizeof *w);
    w->slot = NONE;
    w->prev = w->next = NONE;
    copy_name(w->cnc_id, sizeof w->cnc_id, cnc_id);
}

void cnc_machine_states_counts(const struct cnc_machine_states *ms, struct cnc_state_counts *c)
{
    *c = ms->counts;
    c->tracked = ms->table.n_rows;
}
