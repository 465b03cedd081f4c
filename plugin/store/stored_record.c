/*
 * stored_record.c - encode (broker thread) and decode (writer thread) the
 * spool record of an accepted message, see stored_record.h.
 */
#include "stored_record.h"

#include <stdbool.h>

#include <stdlib.h>
#include <string.h>

#include "cnc_error.h"

static int reserve(struct cnc_buf *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return CNC_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put(struct cnc_buf *b, const void *v, size_t n)
{
    if (n == 0) {
        return; /* v may be NULL (an absent string): memcpy's arguments must not be */
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put_str(struct cnc_buf *b, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    uint16_t l = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
    put(b, &l, 2);
    put(b, s, l);
}

static size_t str_size(const char *s)
{
    return 2 + (s != NULL ? strlen(s) : 0);
}

/* member, or the first scalar member after it (readings skip nested values). */
static const cJSON *first_scalar(const cJSON *member)
{
    while (member != NULL && (cJSON_IsObject(member) || cJSON_IsArray(member))) {
        member = member->next;
    }
    return member;
}

/* Whether member v holds r's value (kind and value alike). */
static bool same_value(const cJSON *v, const struct cnc_reading *r)
{
    switch (r->kind) {
    case CNC_VALUE_NUMBER:
        return cJSON_IsNumber(v) && v->valuedouble == r->num;
    case CNC_VALUE_BOOL:
        return cJSON_IsBool(v) && (cJSON_IsTrue(v) != 0) == (r->num != 0);
    case CNC_VALUE_STRING:
        return cJSON_IsString(v) && strcmp(v->valuestring, r->str) == 0;
    case CNC_VALUE_NULL:
        return cJSON_IsNull(v);
    }
    return false;
}

/*
 * The payload's members by name, made on the first reading that is not the next member in
 * payload order (a script's readings, sorted by name; a module's in any order): a lookup is
 * then a binary search, not a walk of every member (256 readings x 256 members was ~90 us).
 * Up to 256 members (max_payload_fields' default) the index is on the stack: no allocation on
 * the broker thread.
 */
#define INDEX_ON_STACK 256

struct member_index {
    const cJSON **by_name; /* on_stack, or allocated for a larger payload */
    size_t n;
    bool built;
    const cJSON *on_stack[INDEX_ON_STACK];
};

static int cmp_member(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static const cJSON *find_member(struct member_index *ix, const cJSON *payload, const char *name)
{
    if (!ix->built) {
        ix->built = true;
        size_t n = 0;
        for (const cJSON *m = payload != NULL ? payload->child : NULL; m != NULL; m = m->next) {
            n++;
        }
        ix->by_name = n == 0                ? NULL
                      : n <= INDEX_ON_STACK ? ix->on_stack
                                            : malloc(n * sizeof *ix->by_name);
        for (const cJSON *m = ix->by_name != NULL ? payload->child : NULL; m != NULL; m = m->next) {
            ix->by_name[ix->n++] = m;
        }
        qsort(ix->by_name, ix->n, sizeof *ix->by_name, cmp_member);
    }
    if (ix->by_name == NULL) { /* out of memory, or an empty payload */
        return cJSON_GetObjectItemCaseSensitive(payload, name);
    }
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->by_name[mid]->string, name);
        if (c == 0) {
            return ix->by_name[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static size_t state_size(const struct cnc_state_event *st)
{
    return st != NULL ? 2 + 16 + 12 + 8 + 2 + st->state_len + 2 + st->reason_len + 2 +
                            strlen(st->gap_program)
                      : 0;
}

/* The state block: u8 flags | u8 category | i64 started_ms | i64 offline_from_ms |
   u32 parts, good, rejects | f64 ideal_cycle_s | str state | str reason (length 0: none) |
   str gap_program. */
static void put_state(struct cnc_buf *b, const struct cnc_state_event *st)
{
    uint8_t fc[2] = {st->flags, (uint8_t)st->category};
    put(b, fc, 2);
    put(b, &st->started_ms, 8);
    put(b, &st->offline_from_ms, 8);
    put(b, &st->parts, 4);
    put(b, &st->good, 4);
    put(b, &st->rejects, 4);
    put(b, &st->ideal_cycle_s, 8);
    uint16_t l = (uint16_t)(st->state_len > UINT16_MAX ? UINT16_MAX : st->state_len);
    put(b, &l, 2);
    put(b, st->state, l);
    l = (uint16_t)(st->reason == NULL            ? 0
                   : st->reason_len > UINT16_MAX ? UINT16_MAX
                                                 : st->reason_len);
    put(b, &l, 2);
    put(b, st->reason, l);
    put_str(b, st->gap_program);
}

int cnc_stored_encode(struct cnc_buf *b, const struct cnc_message *msg,
                      const struct cnc_record *rec, const void *message, size_t message_len,
                      int64_t received_ms)
{
    return cnc_stored_encode_state(b, msg, rec, message, message_len, received_ms, NULL);
}

int cnc_stored_encode_offline(struct cnc_buf *b, const struct cnc_offline_machine *m,
                              int64_t received_ms)
{
    const struct cnc_state_event *st = &m->event;
    size_t need = 8 + 16 + str_size(m->cnc_id) + str_size(m->part_program) + str_size(m->handler) +
                  4 + state_size(st);
    b->len = 0;
    if (reserve(b, need) != 0) {
        return CNC_ENOMEM;
    }
    uint8_t head[8] = {CNC_STORED_VERSION, 0, 0, 0, 0, 0, CNC_STORED_HAS_STATE, 0};
    put(b, head, 8);
    put(b, &st->started_ms, 8);
    put(b, &received_ms, 8);
    put_str(b, m->cnc_id);
    put_str(b, m->part_program);
    put_str(b, m->handler);
    uint32_t ml = 0;
    put(b, &ml, 4);
    put_state(b, st);
    return 0;
}

int cnc_stored_encode_state(struct cnc_buf *b, const struct cnc_message *msg,
                            const struct cnc_record *rec, const void *message, size_t message_len,
                            int64_t received_ms, const struct cnc_state_event *st)
{
    if (st != NULL && st->flags == 0) {
        st = NULL; /* nothing to say: the record is as it was before states */
    }
    const struct cnc_efficiency *e = &rec->efficiency;
    size_t need = 8 + 16 + str_size(msg->cnc_id) + str_size(msg->part_program) +
                  str_size(rec->handler) + 4 + message_len;
    for (size_t i = 0; i < rec->n_readings; i++) {
        need += str_size(rec->readings[i].name) + 1 + 8 + str_size(rec->readings[i].str);
    }
    if (e->present) {
        need += str_size(e->mode) + 24 + str_size(e->level) + 1;
    }
    for (size_t i = 0; i < rec->n_anomalies; i++) {
        need += str_size(rec->anomalies[i].rule) + str_size(rec->anomalies[i].variable) + 17;
    }
    need += state_size(st);
    b->len = 0;
    if (reserve(b, need) != 0) {
        return CNC_ENOMEM;
    }
    uint8_t head[8] = {CNC_STORED_VERSION,
                       (uint8_t)(e->present != 0),
                       0,
                       0,
                       0,
                       0,
                       (uint8_t)(st != NULL ? CNC_STORED_HAS_STATE : 0),
                       0};
    uint16_t nr = (uint16_t)rec->n_readings, na = (uint16_t)rec->n_anomalies;
    memcpy(head + 2, &nr, 2);
    memcpy(head + 4, &na, 2);
    put(b, head, 8);
    put(b, &msg->ts_ms, 8);
    put(b, &received_ms, 8);
    put_str(b, msg->cnc_id);
    put_str(b, msg->part_program);
    put_str(b, rec->handler);
    uint32_t ml = (uint32_t)message_len;
    put(b, &ml, 4);
    put(b, message, message_len);
    /* Computed: the payload does not hold the reading as it stands. The readings the C types
       take from the payload are its members in order (the same name pointers): no lookup. */
    const cJSON *next = first_scalar(msg->payload != NULL ? msg->payload->child : NULL);
    struct member_index ix;
    ix.by_name = NULL;
    ix.n = 0;
    ix.built = false;
    for (size_t i = 0; i < rec->n_readings; i++) {
        const struct cnc_reading *r = &rec->readings[i];
        uint8_t kind = (uint8_t)r->kind;
        const cJSON *member;
        if (next != NULL && next->string == r->name) {
            member = next;
            next = first_scalar(next->next);
        } else {
            member = find_member(&ix, msg->payload, r->name);
        }
        if (!same_value(member, r)) {
            kind |= CNC_STORED_COMPUTED;
        }
        put_str(b, r->name);
        put(b, &kind, 1);
        put(b, &r->num, 8);
        put_str(b, r->kind == CNC_VALUE_STRING ? r->str : NULL);
    }
    if (e->present) {
        uint8_t an = (uint8_t)(e->is_anomaly != 0);
        put_str(b, e->mode);
        put(b, &e->temperature, 8);
        put(b, &e->vibration, 8);
        put(b, &e->score, 8);
        put_str(b, e->level);
        put(b, &an, 1);
    }
    for (size_t i = 0; i < rec->n_anomalies; i++) {
        const struct cnc_anomaly *a = &rec->anomalies[i];
        uint8_t sev = (uint8_t)a->severity;
        put_str(b, a->rule);
        put_str(b, a->variable);
        put(b, &a->value, 8);
        put(b, &a->threshold, 8);
        put(b, &sev, 1);
    }
    if (st != NULL) {
        put_state(b, st);
    }
    if (ix.by_name != ix.on_stack) {
        free(ix.by_name);
    }
    return 0;
}

/* Bounds-checked reads from a cursor. */
static int take(const uint8_t **c, const uint8_t *end, void *out, size_t n)
{
    if ((size_t)(end - *c) < n) {
        return CNC_EINVAL;
    }
    memcpy(out, *c, n);
    *c += n;
    return 0;
}

static int take_str(const uint8_t **c, const uint8_t *end, struct cnc_str *s)
{
    if (take(c, end, &s->len, 2) != 0 || (size_t)(end - *c) < s->len) {
        return CNC_EINVAL;
    }
    s->p = (const char *)*c;
    *c += s->len;
    return 0;
}

int cnc_stored_next_reading(const struct cnc_stored *s, const uint8_t **c,
                            struct cnc_stored_reading *r)
{
    if (take_str(c, s->end, &r->name) != 0 || take(c, s->end, &r->kind, 1) != 0 ||
        take(c, s->end, &r->num, 8) != 0 || take_str(c, s->end, &r->text) != 0) {
        return CNC_EINVAL;
    }
    r->computed = (r->kind & CNC_STORED_COMPUTED) != 0;
    r->kind &= (uint8_t)~CNC_STORED_COMPUTED;
    return 0;
}

int cnc_stored_next_anomaly(const struct cnc_stored *s, const uint8_t **c,
                            struct cnc_stored_anomaly *a)
{
    if (take_str(c, s->end, &a->rule) != 0 || take_str(c, s->end, &a->variable) != 0 ||
        take(c, s->end, &a->value, 8) != 0 || take(c, s->end, &a->threshold, 8) != 0 ||
        take(c, s->end, &a->severity, 1) != 0) {
        return CNC_EINVAL;
    }
    return 0;
}

int cnc_stored_decode(const void *data, size_t len, struct cnc_stored *out)
{
    const uint8_t *c = data, *end = c + len;
    uint8_t head[8];
    memset(out, 0, sizeof *out);
    out->end = end;
    if (take(&c, end, head, 8) != 0 || head[0] != CNC_STORED_VERSION) {
        return CNC_EINVAL;
    }
    out->has_efficiency = head[1];
    bool has_state = (head[6] & CNC_STORED_HAS_STATE) != 0;
    memcpy(&out->n_readings, head + 2, 2);
    memcpy(&out->n_anomalies, head + 4, 2);
    if (take(&c, end, &out->ts_ms, 8) != 0 || take(&c, end, &out->received_ms, 8) != 0 ||
        take_str(&c, end, &out->cnc_id) != 0 || take_str(&c, end, &out->part_program) != 0 ||
        take_str(&c, end, &out->handler) != 0 || take(&c, end, &out->message_len, 4) != 0 ||
        (size_t)(end - c) < out->message_len) {
        return CNC_EINVAL;
    }
    out->message = (const char *)c;
    c += out->message_len;
    out->readings = c;
    struct cnc_stored_reading r;
    for (uint16_t i = 0; i < out->n_readings; i++) {
        if (cnc_stored_next_reading(out, &c, &r) != 0) {
            return CNC_EINVAL;
        }
    }
    if (out->has_efficiency &&
        (take_str(&c, end, &out->mode) != 0 || take(&c, end, &out->temperature, 8) != 0 ||
         take(&c, end, &out->vibration, 8) != 0 || take(&c, end, &out->score, 8) != 0 ||
         take_str(&c, end, &out->level) != 0 || take(&c, end, &out->is_anomaly, 1) != 0)) {
        return CNC_EINVAL;
    }
    out->anomalies = c;
    struct cnc_stored_anomaly a;
    for (uint16_t i = 0; i < out->n_anomalies; i++) {
        if (cnc_stored_next_anomaly(out, &c, &a) != 0) {
            return CNC_EINVAL;
        }
    }
    if (has_state) {
        uint8_t fc[2];
        if (take(&c, end, fc, 2) != 0 || take(&c, end, &out->state_started_ms, 8) != 0 ||
            take(&c, end, &out->offline_from_ms, 8) != 0 || take(&c, end, &out->parts, 4) != 0 ||
            take(&c, end, &out->good, 4) != 0 || take(&c, end, &out->rejects, 4) != 0 ||
            take(&c, end, &out->ideal_cycle_s, 8) != 0 || take_str(&c, end, &out->state) != 0 ||
            take_str(&c, end, &out->reason) != 0 || take_str(&c, end, &out->gap_program) != 0) {
            return CNC_EINVAL;
        }
        out->state_flags = fc[0];
        out->state_category = fc[1];
        /* A record without a message is the offline interval found on TICK, and only that. */
        if ((out->state_flags & CNC_STATE_EVENT_ONLY) != 0) {
            if (out->message_len != 0 || out->n_readings != 0 || out->n_anomalies != 0 ||
                out->has_efficiency) {
                return CNC_EINVAL;
            }
        } else if (out->message_len == 0) {
            return CNC_EINVAL;
        }
        /* A changed state names it; a record of counts alone carries none. */
        bool says_state = (out->state_flags & (CNC_STATE_CHANGED | CNC_STATE_EVENT_ONLY)) != 0;
        if (out->state_category >= CNC_STATE__COUNT || (says_state && out->state.len == 0) ||
            ((out->state_flags & CNC_STATE_GAP) != 0 && out->gap_program.len == 0)) {
            return CNC_EINVAL;
        }
    }
    return c == end ? 0 : CNC_EINVAL;
}

void cnc_buf_free(struct cnc_buf *buf)
{
    free(buf->p);
    buf->p = NULL;
    buf->len = buf->cap = 0;
}
