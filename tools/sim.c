/*
 * sim.c - machine models, faults and invalid messages for cnc-sim, see sim.h.
 *
 * Single-threaded. All randomness comes from one splitmix64 stream seeded by
 * the caller, so a seed and a sequence of timestamps give the same messages.
 */
#include "sim.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { ACTIVE, IDLE, MAINTENANCE, OFFLINE, ALARM /* lathes, with states on */ };
static const char *const mode_names[] = {"active", "idle", "maintenance", "offline"};
static const char *const lathe_status[] = {"running", "idle", "setup", "stopped", "alarm"};
/* The categories the shipped handlers give these states (plugin/ingest/state_map.c). */
static const char *const press_category[] = {"productive", "idle", "planned_downtime",
                                             "unplanned_downtime"};
static const char *const lathe_category[] = {"productive", "idle", "planned_downtime",
                                             "unplanned_downtime", "unplanned_downtime"};
static const char *const alarm_codes[] = {"E-101 tool breakage", "E-205 door open",
                                          "E-310 coolant low", "E-412 spindle overload"};
#define COUNTER_WRAP 65536u /* the lathes' part counters are 16 bits */

struct fault {
    enum sim_fault_kind kind;
    const char *variable;
    long start, end; /* sample numbers */
    int64_t start_ms, last_ms;
    double magnitude, frozen;
};

struct machine {
    char id[24];
    int64_t last_ts; /* a machine never reports two samples with one timestamp */
    bool press;
    enum mode mode;
    long sample;
    double temperature, vibration, wear;
    double spin, spin_target, spin_noise, phase;
    int program;
    struct fault fault;
    /* With states on. */
    int64_t last_sent;    /* the last message sent (0: none yet) */
    int64_t silent_until; /* sends nothing before this */
    int alarm;            /* alarm_codes[alarm] while ALARM */
    uint32_t parts, rejects;
    double cycle_ms, cycle_factor;
    struct {
        bool open;
        char state[16], program[24];
        const char *category, *reason;
        int64_t start_ms;
        uint64_t parts, good, rejects;
    } ivl;
};

struct sim {
    struct sim_options opt;
    uint64_t rng;
    uint64_t srng; /* the states' own stream: states off leaves rng's sequence as it was */
    struct machine *m;
    size_t n;
    char prefix[64];
};

static uint64_t next_u64(struct sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(struct sim *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t next_s64(struct sim *s)
{
    uint64_t z = (s->srng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double suniform(struct sim *s)
{
    return ((double)(next_s64(s) >> 11) + 0.5) / 9007199254740992.0;
}

double sim_ideal_cycle_s(int program)
{
    return 20.0 + 2.0 * program;
}

static double gauss(struct sim *s)
{
    return sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
}

const char *sim_fault_name(enum sim_fault_kind k)
{
    static const char *const names[] = {"none", "spike", "drift", "stuck", "impossible"};
    return (unsigned)k < SIM_FAULT__COUNT ? names[k] : "unknown";
}

const char *sim_invalid_name(enum sim_invalid c)
{
    static const char *const names[] = {"valid",
                                        "not_json",
                                        "not_object",
                                        "missing_field",
                                        "wrong_type",
                                        "unknown_field",
                                        "duplicate_key",
                                        "bad_cnc_id",
                                        "topic_mismatch",
                                        "bad_part_program",
                                        "bad_timestamp",
                                        "timestamp_out_of_range",
                                        "bad_payload_value",
                                        "too_many_fields"};
    return (unsigned)c < SIM_INVALID__COUNT ? names[c] : "unknown";
}

struct sim *sim_create(const struct sim_options *opt)
{
    struct sim *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->opt = *opt;
    s->rng = opt->seed;
    s->srng = opt->seed ^ 0x5EED57A7E5ULL;
    if (s->opt.offline_after_ms <= 0) {
        s->opt.offline_after_ms = 60000;
    }
    s->n = opt->machines ? opt->machines : 1;
    snprintf(s->prefix, sizeof s->prefix, "%s", opt->topic_prefix ? opt->topic_prefix : "cnc");
    s->m = calloc(s->n, sizeof *s->m);
    if (s->m == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct machine *m = &s->m[i];
        /* Every third machine is a press; the rest are lathes. */
        m->press = i % 3 == 2;
        snprintf(m->id, sizeof m->id, m->press ? "PRESS-%04zu" : "CNC%04zu",
                 i + opt->first_machine);
        m->mode = uniform(s) < 0.8 ? ACTIVE : IDLE;
        m->temperature = 45 + 20 * uniform(s);
        m->wear = uniform(s) * 0.3;
        m->program = (int)(next_u64(s) % 20);
        m->spin_target = 1000 + 500 * (double)(next_u64(s) % 12);
        m->phase = uniform(s) * 6.28;
        if (opt->states) {
            m->parts = (uint32_t)(next_s64(s) % COUNTER_WRAP);
            m->rejects = (uint32_t)(next_s64(s) % COUNTER_WRAP);
            m->cycle_factor = 1.05 + 0.2 * suniform(s); /* slower than ideal: performance < 1 */
        }
    }
    return s;
}

size_t sim_machines(const struct sim *s)
{
    return s->n;
}

static void report(struct sim *s, const struct machine *m)
{
    if (s->opt.truth != NULL && m->fault.kind != SIM_FAULT_NONE) {
        struct sim_truth t = {m->id, m->fault.variable, m->fault.kind, m->fault.start_ms,
                              m->fault.last_ms};
        s->opt.truth(s->opt.truth_arg, &t);
    }
}

/* Reports the machine's open interval, ending at end_ms (-1: still open). */
static void end_interval(struct sim *s, struct machine *m, int64_t end_ms)
{
    if (!m->ivl.open) {
        return;
    }
    m->ivl.open = false;
    if (s->opt.state_truth != NULL) {
        struct sim_state_truth t = {m->id,          m->ivl.state,    m->ivl.category, m->ivl.reason,
                                    m->ivl.program, m->ivl.start_ms, end_ms,          m->ivl.parts,
                                    m->ivl.good,    m->ivl.rejects};
        s->opt.state_truth(s->opt.state_truth_arg, &t);
    }
}

static void start_interval(struct machine *m, const char *state, const char *category,
                           const char *reason, const char *program, int64_t start_ms)
{
    m->ivl.open = true;
    snprintf(m->ivl.state, sizeof m->ivl.state, "%s", state);
    snprintf(m->ivl.program, sizeof m->ivl.program, "%s", program);
    m->ivl.category = category;
    m->ivl.reason = reason;
    m->ivl.start_ms = start_ms;
    m->ivl.parts = m->ivl.good = m->ivl.rejects = 0;
}

void sim_destroy(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->m[i].fault.kind != SIM_FAULT_NONE && s->m[i].fault.last_ms != 0) {
            report(s, &s->m[i]);
        }
        end_interval(s, &s->m[i], -1);
    }
    free(s->m);
    free(s);
}

/* The mode state machine: rare changes; maintenance resets tool wear. */
static void step_mode(struct sim *s, struct machine *m)
{
    if (m->fault.kind != SIM_FAULT_NONE) {
        return; /* a machine keeps its mode while a fault runs, so the fault stays visible */
    }
    double r = uniform(s);
    switch (m->mode) {
    case ACTIVE:
        if (r < 0.004) {
            m->mode = IDLE;
        } else if (r < 0.005) {
            m->mode = MAINTENANCE;
        } else if (r < 0.0052) {
            m->mode = OFFLINE;
        }
        break;
    case IDLE:
        if (r < 0.02) {
            m->mode = ACTIVE;
            m->program = (int)(next_u64(s) % 20);
            m->spin_target = 1000 + 500 * (double)(next_u64(s) % 12);
        }
        break;
    case MAINTENANCE:
        if (r < 0.01) {
            m->mode = ACTIVE;
            m->wear = 0;
        }
        break;
    case OFFLINE:
        if (r < 0.01) {
            m->mode = IDLE;
        }
        break;
    case ALARM: /* step_alarm's */
        break;
    }
}

/* With states on, a lathe at work now and then stops on an alarm, and is repaired (idle). */
static void step_alarm(struct sim *s, struct machine *m)
{
    if (m->press || m->fault.kind != SIM_FAULT_NONE) {
        return;
    }
    double r = suniform(s);
    if (m->mode == ACTIVE && r < 0.003) {
        m->mode = ALARM;
        m->alarm = (int)(next_s64(s) % (sizeof alarm_codes / sizeof alarm_codes[0]));
    } else if (m->mode == ALARM && r < 0.05) {
        m->mode = IDLE;
    }
}

/*
 * With states on, a lathe at work makes a part each cycle (its program's ideal cycle times the
 * machine's own factor), 3 % of them rejected; its counters now and then reset to 0 (a power
 * cycle), never within 200 of the wrap (where a reset and a wrap look alike). *made and
 * *rejected: what this message adds.
 */
static void step_parts(struct sim *s, struct machine *m, int64_t now_ms, int *made, int *rejected)
{
    *made = *rejected = 0;
    if (m->press) {
        return;
    }
    if (suniform(s) < 0.0002 && m->parts < COUNTER_WRAP - 200 && m->rejects < COUNTER_WRAP - 200) {
        m->parts = m->rejects = 0;
    }
    if (m->mode == ACTIVE && m->last_sent != 0) {
        m->cycle_ms += (double)(now_ms - m->last_sent);
        double cycle = sim_ideal_cycle_s(m->program) * 1000.0 * m->cycle_factor;
        if (m->cycle_ms >= cycle) {
            m->cycle_ms -= cycle;
            *made = 1;
            *rejected = suniform(s) < 0.03;
        }
    }
    m->parts = (m->parts + (uint32_t)*made) % COUNTER_WRAP;
    m->rejects = (m->rejects + (uint32_t)*rejected) % COUNTER_WRAP;
}

/* The intervals this message ends and starts (sim.h, sim_state_truth). */
static void track_interval(struct sim *s, struct machine *m, int64_t now_ms, int made, int rejected)
{
    char program[24];
    const char *state, *category, *reason = NULL;
    if (m->press) {
        snprintf(program, sizeof program, "P-%03d", m->program);
        state = mode_names[m->mode];
        category = press_category[m->mode];
    } else {
        snprintf(program, sizeof program, "program_%02d", m->program);
        state = lathe_status[m->mode];
        category = lathe_category[m->mode];
        reason = m->mode == ALARM ? alarm_codes[m->alarm] : NULL;
    }
    bool gap = m->last_sent != 0 && now_ms - m->last_sent > s->opt.offline_after_ms;
    if (gap) {
        char last_program[24];
        snprintf(last_program, sizeof last_program, "%s", m->ivl.program);
        end_interval(s, m, m->last_sent + 1);
        start_interval(m, "offline", "unplanned_downtime", "no_data", last_program,
                       m->last_sent + 1);
    }
    if (gap || !m->ivl.open || strcmp(m->ivl.state, state) != 0 || m->ivl.reason != reason ||
        strcmp(m->ivl.program, program) != 0) {
        end_interval(s, m, now_ms);
        start_interval(m, state, category, reason, program, now_ms);
    }
    m->ivl.parts += (uint64_t)made;
    m->ivl.rejects += (uint64_t)rejected;
    m->ivl.good += (uint64_t)(made - rejected);
    m->last_sent = now_ms;
}

/* Physics with inertia: temperature follows load, vibration follows wear. */
static void step_physics(struct sim *s, struct machine *m)
{
    static const double target_temp[] = {72, 52, 38, 25, 45};
    m->temperature += (target_temp[m->mode] - m->temperature) * 0.02 + 0.3 * gauss(s);
    if (m->mode == ACTIVE) {
        m->wear += 0.0004;
        if (m->wear > 1.2) {
            m->wear = 1.2;
        }
    }
    double base_vib = m->mode == ACTIVE ? 1.0 + 1.2 * m->wear : m->mode == IDLE ? 0.3 : 0.05;
    m->vibration = fmax(0.0, base_vib + 0.04 * gauss(s));
    double target_spin = m->mode == ACTIVE ? m->spin_target : 0;
    m->spin += (target_spin - m->spin) * 0.2;
    if (fabs(m->spin - target_spin) < 1) {
        m->spin = target_spin;
    }
    m->spin_noise = m->mode == ACTIVE ? 3.0 * gauss(s) : 0.0;
    m->phase += 0.05;
}

static void maybe_start_fault(struct sim *s, struct machine *m, int64_t now_ms)
{
    if (s->opt.fault_rate <= 0 || m->fault.kind != SIM_FAULT_NONE || m->mode != ACTIVE ||
        m->sample < 50 || uniform(s) >= s->opt.fault_rate) {
        return;
    }
    struct fault *f = &m->fault;
    f->kind = (enum sim_fault_kind)(1 + next_u64(s) % (SIM_FAULT__COUNT - 1));
    if (f->kind == SIM_FAULT_STUCK && !m->press) {
        f->kind =
            SIM_FAULT_DRIFT; /* a lathe's spindle holds its speed anyway: stuck is invisible */
    }
    f->variable = m->press ? (uniform(s) < 0.5 ? "temperature" : "vibration") : "spin";
    f->start = m->sample;
    f->start_ms = now_ms;
    f->last_ms = 0;
    switch (f->kind) {
    case SIM_FAULT_SPIKE:
        f->end = f->start + 5;
        f->magnitude = m->press ? (f->variable[0] == 't' ? 20 : 3) : 3000;
        break;
    case SIM_FAULT_DRIFT:
        f->end = f->start + 300 + (long)(next_u64(s) % 300);
        f->magnitude = m->press ? (f->variable[0] == 't' ? 15 : 2.5) : 2500;
        break;
    case SIM_FAULT_STUCK:
        f->end = f->start + 60;
        break;
    default:
        f->end = f->start + 1;
        break;
    }
}

/* The value a sensor reports: the physics plus the running fault, if it concerns `var`. */
static double sensed(struct machine *m, const char *var, double v)
{
    struct fault *f = &m->fault;
    if (f->kind == SIM_FAULT_NONE || strcmp(f->variable, var) != 0) {
        return v;
    }
    switch (f->kind) {
    case SIM_FAULT_SPIKE:
        return v + f->magnitude;
    case SIM_FAULT_DRIFT:
        return v + f->magnitude * (double)(m->sample - f->start + 1) / (double)(f->end - f->start);
    case SIM_FAULT_STUCK:
        if (m->sample == f->start) {
            f->frozen = v;
        }
        return f->frozen;
    case SIM_FAULT_IMPOSSIBLE:
        return var[0] == 't' ? 400.0 : var[0] == 'v' ? 45.0 : 60000.0;
    default:
        return v;
    }
}

static size_t valid_message(const struct sim *s, struct machine *m, int64_t now_ms, char *buf,
                            size_t len)
{
    int n;
    char extra[96] = "";
    if (s->opt.states && !m->press) {
        int k = snprintf(extra, sizeof extra, ",\"parts\":%u,\"rejects\":%u", m->parts, m->rejects);
        if (m->mode == ALARM && k > 0) {
            snprintf(extra + k, sizeof extra - (size_t)k, ",\"alarm_code\":\"%s\"",
                     alarm_codes[m->alarm]);
        }
    }
    if (m->press) {
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"P-%03d\",\"timestamp\":%lld,"
                     "\"payload\":{\"mode\":\"%s\",\"temperature\":%.2f,\"vibration\":%.3f}}",
                     m->id, m->program, (long long)now_ms, mode_names[m->mode],
                     sensed(m, "temperature", m->temperature),
                     sensed(m, "vibration", m->vibration));
    } else {
        double x = 300 + 250 * sin(m->phase), y = 200 + 150 * cos(m->phase * 0.7);
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"program_%02d\",\"timestamp\":%lld,"
                     "\"payload\":{\"status\":\"%s\",\"spin\":%.0f,\"X-Axis\":%.2f,"
                     "\"Y-Axis\":%.2f,\"Z-Axis\":%.2f%s}}",
                     m->id, m->program, (long long)now_ms, lathe_status[m->mode],
                     sensed(m, "spin", m->spin + m->spin_noise), m->mode == ACTIVE ? x : 0.0,
                     m->mode == ACTIVE ? y : 0.0,
                     m->mode == ACTIVE ? 50 + 20 * sin(m->phase * 2) : 0.0, extra);
    }
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static size_t invalid_message(struct sim *s, struct machine *m, int64_t now_ms,
                              enum sim_invalid cls, char *topic, size_t topic_len, char *buf,
                              size_t len)
{
    const char *id = m->id;
    long long ts = (long long)now_ms;
    int n = 0;
    switch (cls) {
    case SIM_NOT_JSON:
        n = snprintf(buf, len, "status=running spin=%d", (int)(next_u64(s) % 9000));
        break;
    case SIM_NOT_OBJECT:
        n = snprintf(buf, len, "[\"%s\", %lld]", id, ts);
        break;
    case SIM_MISSING_FIELD:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"payload\":{\"spin\":1}}", id);
        break;
    case SIM_WRONG_TYPE:
        n = snprintf(
            buf, len,
            "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%lld,\"payload\":\"spin=1\"}",
            id, ts);
        break;
    case SIM_UNKNOWN_FIELD:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%lld,\"payload\":{},"
                     "\"operator\":\"night shift\"}",
                     id, ts);
        break;
    case SIM_DUPLICATE_KEY:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%lld,"
                     "\"payload\":{\"spin\":1,\"spin\":2}}",
                     id, ts);
        break;
    case SIM_BAD_CNC_ID:
        id = "CNC 7";
        n = snprintf(
            buf, len,
            "{\"cnc_id\":\"CNC 7\",\"part_program\":\"p\",\"timestamp\":%lld,\"payload\":{}}", ts);
        snprintf(topic, topic_len, "%s/CNC-7/data", s->prefix);
        return n > 0 && (size_t)n < len ? (size_t)n : 0;
    case SIM_TOPIC_MISMATCH:
        n = snprintf(
            buf, len,
            "{\"cnc_id\":\"%s-X\",\"part_program\":\"p\",\"timestamp\":%lld,\"payload\":{}}", id,
            ts);
        break;
    case SIM_BAD_PART_PROGRAM:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"\",\"timestamp\":%lld,\"payload\":{}}",
                     id, ts);
        break;
    case SIM_BAD_TIMESTAMP:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":\"yesterday\","
                     "\"payload\":{}}",
                     id);
        break;
    case SIM_TIMESTAMP_OUT_OF_RANGE:
        n = snprintf(
            buf, len,
            "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":\"1999-12-31T23:00:00Z\","
            "\"payload\":{}}",
            id);
        break;
    case SIM_BAD_PAYLOAD_VALUE:
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%lld,"
                     "\"payload\":{\"spin\":1e999}}",
                     id, ts);
        break;
    case SIM_TOO_MANY_FIELDS: {
        n = snprintf(buf, len,
                     "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":%lld,\"payload\":{",
                     id, ts);
        for (int k = 0; k < 300 && n > 0 && (size_t)n + 16 < len; k++) {
            n += snprintf(buf + n, len - (size_t)n, "%s\"v%d\":%d", k ? "," : "", k, k);
        }
        if (n > 0 && (size_t)n + 3 < len) {
            n += snprintf(buf + n, len - (size_t)n, "}}");
        }
        break;
    }
    default:
        return 0;
    }
    snprintf(topic, topic_len, "%s/%s/data", s->prefix, m->id);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

size_t sim_next(struct sim *s, size_t i, int64_t now_ms, char *topic, size_t topic_len, char *buf,
                size_t buf_len, enum sim_invalid *cls)
{
    struct machine *m = &s->m[i % s->n];
    *cls = SIM_VALID;
    if (s->opt.states && now_ms < m->silent_until) {
        return 0; /* silent: sends nothing, not even an invalid message */
    }
    if (s->opt.invalid_ratio > 0 && uniform(s) < s->opt.invalid_ratio) {
        *cls = (enum sim_invalid)(1 + next_u64(s) % (SIM_INVALID__COUNT - 1));
        return invalid_message(s, m, now_ms, *cls, topic, topic_len, buf, buf_len);
    }
    *cls = SIM_VALID;
    /* Two samples of one machine in one millisecond (a paced sender catching up) would be
       byte-identical when the machine is idle: the same msg_key, stored once by design. */
    if (now_ms <= m->last_ts) {
        now_ms = m->last_ts + 1;
    }
    m->last_ts = now_ms;
    step_mode(s, m);
    int made = 0, rejected = 0;
    if (s->opt.states) {
        step_alarm(s, m);
        step_parts(s, m, now_ms, &made, &rejected);
    }
    step_physics(s, m);
    maybe_start_fault(s, m, now_ms);
    snprintf(topic, topic_len, "%s/%s/data", s->prefix, m->id);
    size_t n = valid_message(s, m, now_ms, buf, buf_len);
    if (s->opt.states) {
        track_interval(s, m, now_ms, made, rejected);
        if (m->fault.kind == SIM_FAULT_NONE && suniform(s) < 0.0004) {
            m->silent_until =
                now_ms + (int64_t)((2.0 + 2.0 * suniform(s)) * (double)s->opt.offline_after_ms);
        }
    }
    if (m->fault.kind != SIM_FAULT_NONE) {
        m->fault.last_ms = now_ms;
        if (m->sample + 1 >= m->fault.end) {
            report(s, m);
            m->fault.kind = SIM_FAULT_NONE;
        }
    }
    m->sample++;
    return n;
}
