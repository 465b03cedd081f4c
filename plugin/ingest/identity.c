/*
 * identity.c - the identity table, see identity.h.
 *
 * Broker thread. Exact publishers live in an open-addressing table (XXH3,
 * linear probing, load factor <= 0.5) of one cache line each; globs are kept in file order, at most
 * 256 so that a message from an unlisted publisher tries a bounded number. Each cnc_id pattern is
 * classified once: a plain cnc_id, exactly "%u" or "%c" (one compare: the common
 * one-collector-per-machine table costs a hash and a memcmp), a glob, or a glob with substitutions,
 * expanded per message into a stack buffer. A substituted name that is not itself a valid cnc_id
 * can match nothing (it would have to appear in the cnc_id literally), so a user named "*" gains no
 * wildcard.
 */
#include "identity.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#include <xxhash.h>

#define MAX_GLOB_PUBLISHERS 256
#define MAX_GLOB_NAME 256 /* longer publisher names are matched by exact entries only */
#define MAX_PATTERN_BYTES 256
#define MAX_SUBSTITUTIONS 8
#define EXPANDED_MAX 1024 /* longer expansions hold > 64 substituted characters: no match */

/* The characters of a cnc_id (envelope.c), for "*[bracket]*" checks. */
static const char cnc_id_chars[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.:-";

enum pattern_kind { PAT_EXACT, PAT_USER, PAT_CLIENT, PAT_GLOB, PAT_SUBST };

struct id_pattern {
    const char *text; /* borrowed from the config */
    uint32_t len;
    uint8_t kind;
    uint8_t n_subs;
    uint16_t sub_at[MAX_SUBSTITUTIONS]; /* offsets of "%u" / "%c" outside brackets */
};

struct cnc_identity_entry {
    const struct cnc_publisher_config *pc; /* NULL: an empty slot */
    const struct id_pattern *patterns;
    uint32_t n_patterns;
    uint8_t only; /* PAT_USER or PAT_CLIENT when that is the one pattern, else PAT_EXACT */
};

/*
 * An exact publisher: its hash, name (when short) and entry in one cache line, so that the
 * common table of thousands of collectors costs one miss a message (bench/RESULTS.md).
 */
#define INLINE_NAME 30
struct exact_slot {
    uint64_t hash;
    struct cnc_identity_entry entry;
    uint16_t len; /* of the name (see stored_len); longer than INLINE_NAME: in entry.pc->match */
    char name[INLINE_NAME];
};
_Static_assert(sizeof(struct exact_slot) == 64, "one exact publisher, one cache line");

struct cnc_identity_table {
    int by;
    struct exact_slot *slots;
    size_t mask; /* capacity - 1 */
    size_t n_exact;
    struct cnc_identity_entry globs[MAX_GLOB_PUBLISHERS]; /* in file order */
    size_t n_globs;
    struct id_pattern *patterns; /* every entry's, in file order */
};

static bool is_glob(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

static bool cnc_id_char(char c)
{
    return cnc_envelope_valid_cnc_id(&c, 1);
}

/* Offset just after the bracket expression opening at p[i] ('['), or 0 when it is unclosed
   (fnmatch then takes the '[' literally). */
static size_t bracket_end(const char *p, size_t i)
{
    size_t j = i + 1;
    if (p[j] == '!' || p[j] == '^') {
        j++;
    }
    if (p[j] == ']') {
        j++;
    }
    while (p[j] != '\0' && p[j] != ']') {
        if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '=' || p[j + 1] == '.')) {
            const char *close = strstr(p + j + 2, (char[]){p[j + 1], ']', '\0'});
            if (close == NULL) {
                return 0;
            }
            j = (size_t)(close - p) + 2;
        } else if (p[j] == '\\' && p[j + 1] != '\0') {
            j += 2;
        } else {
            j++;
        }
    }
    return p[j] == ']' ? j + 1 : 0;
}

/* Whether the bracket p[i..end) admits a character a cnc_id may hold: one fnmatch call. */
static bool bracket_admits(const char *p, size_t i, size_t end)
{
    char probe[MAX_PATTERN_BYTES + 3];
    size_t n = end - i;
    probe[0] = '*';
    memcpy(probe + 1, p + i, n);
    probe[n + 1] = '*';
    probe[n + 2] = '\0';
    return fnmatch(probe, cnc_id_chars, 0) == 0;
}

/* Classifies pattern text into out; false with the reason in why when it can never match. */
static bool compile_pattern(const char *text, struct id_pattern *out, char *why, size_t why_len)
{
    size_t len = strlen(text);
    *out = (struct id_pattern){.text = text, .len = (uint32_t)len};
    if (len > MAX_PATTERN_BYTES) {
        snprintf(why, why_len, "longer than %d bytes", MAX_PATTERN_BYTES);
        return false;
    }
    size_t min_len = 0;
    bool glob = false;
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (c == '%') {
            if (text[i + 1] != 'u' && text[i + 1] != 'c') {
                snprintf(why, why_len,
                         "only %%u (the user name) and %%c (the client id) are substituted, "
                         "and %% is no character of a cnc_id");
                return false;
            }
            if (out->n_subs == MAX_SUBSTITUTIONS) {
                snprintf(why, why_len, "more than %d substitutions", MAX_SUBSTITUTIONS);
                return false;
            }
            out->sub_at[out->n_subs++] = (uint16_t)i;
            min_len++;
            i += 2;
        } else if (c == '*') {
            glob = true;
            i++;
        } else if (c == '?') {
            glob = true;
            min_len++;
            i++;
        } else if (c == '[' && bracket_end(text, i) != 0) {
            size_t end = bracket_end(text, i);
            if (!bracket_admits(text, i, end)) {
                snprintf(why, why_len, "\"%.*s\" admits no character a cnc_id may hold",
                         (int)(end - i), text + i);
                return false;
            }
            glob = true;
            min_len++;
            i = end;
        } else {
            char lit = c;
            if (c == '\\') {
                lit = text[i + 1];
                glob = true;
                i++;
            }
            if (!cnc_id_char(lit)) {
                if (lit == '\0') {
                    snprintf(why, why_len, "ends in a lone \\");
                } else if (lit == '[') {
                    snprintf(why, why_len, "an unclosed [ (and [ is no character of a cnc_id)");
                } else if ((unsigned char)lit < 0x20 || (unsigned char)lit >= 0x7f) {
                    snprintf(why, why_len,
                             "byte 0x%02x is no character of a cnc_id (A-Z a-z 0-9 _ . : -): it "
                             "can never match",
                             (unsigned char)lit);
                } else {
                    snprintf(why, why_len,
                             "'%c' is no character of a cnc_id (A-Z a-z 0-9 _ . : -): it can "
                             "never match",
                             lit);
                }
                return false;
            }
            min_len++;
            i++;
        }
    }
    if (min_len > CNC_CNC_ID_MAX) {
        snprintf(why, why_len,
                 "matches only ids of %zu characters or more; a cnc_id has at most %d", min_len,
                 CNC_CNC_ID_MAX);
        return false;
    }
    if (out->n_subs == 1 && len == 2) {
        out->kind = text[1] == 'u' ? PAT_USER : PAT_CLIENT;
    } else if (out->n_subs > 0) {
        out->kind = PAT_SUBST;
    } else {
        out->kind = glob ? PAT_GLOB : PAT_EXACT;
    }
    return true;
}

static int fail(char *err, size_t err_len, const struct cnc_config *cfg, int line, const char *key,
                const char *msg)
{
    snprintf(err, err_len, "%s:%d: %s: %s", cfg->path, line, key, msg);
    return -1;
}

static uint16_t stored_len(size_t len)
{
    return len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;
}

/* The slot holding name, or the empty one where it would go. */
static struct exact_slot *slot_of(const struct cnc_identity_table *t, const char *name, size_t len,
                                  uint64_t h)
{
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        struct exact_slot *s = &t->slots[i];
        if (s->entry.pc == NULL) {
            return s;
        }
        if (s->hash == h && s->len == stored_len(len) &&
            (len <= INLINE_NAME ? memcmp(s->name, name, len) == 0
                                : strcmp(s->entry.pc->match, name) == 0)) {
            return s;
        }
    }
}

static int build_entry(struct cnc_identity_table *t, const struct cnc_config *cfg, size_t i,
                       struct id_pattern *patterns, char *err, size_t err_len)
{
    const struct cnc_publisher_config *pc = &cfg->identity.publishers[i];
    char key[96], why[300];
    for (size_t k = 0; k < pc->n_cnc_ids; k++) {
        if (!compile_pattern(pc->cnc_ids[k], &patterns[k], why, sizeof why)) {
            char msg[400];
            snprintf(key, sizeof key, "identity.publishers[%zu].cnc_ids[%zu]", i, k);
            snprintf(msg, sizeof msg, "\"%.80s\": %s", pc->cnc_ids[k], why);
            return fail(err, err_len, cfg, pc->cnc_id_lines[k], key, msg);
        }
    }
    struct cnc_identity_entry e = {
        .pc = pc,
        .patterns = patterns,
        .n_patterns = (uint32_t)pc->n_cnc_ids,
        .only =
            pc->n_cnc_ids == 1 && (patterns[0].kind == PAT_USER || patterns[0].kind == PAT_CLIENT)
                ? patterns[0].kind
                : PAT_EXACT,
    };
    snprintf(key, sizeof key, "identity.publishers[%zu].match", i);
    if (is_glob(pc->match)) {
        for (size_t g = 0; g < t->n_globs; g++) {
            if (strcmp(t->globs[g].pc->match, pc->match) == 0) {
                return fail(err, err_len, cfg, pc->line, key,
                            "this glob is listed above: this entry would never be reached");
            }
        }
        if (t->n_globs == MAX_GLOB_PUBLISHERS) {
            return fail(err, err_len, cfg, pc->line, key,
                        "more than 256 glob publishers (a message from an unlisted publisher "
                        "tries them all): list publishers by exact name, which costs the same "
                        "for any number");
        }
        t->globs[t->n_globs++] = e;
        return 0;
    }
    size_t len = strlen(pc->match);
    uint64_t h = XXH3_64bits(pc->match, len);
    struct exact_slot *s = slot_of(t, pc->match, len, h);
    if (s->entry.pc != NULL) {
        return fail(err, err_len, cfg, pc->line, key,
                    "this publisher is listed above: one entry per publisher (give it all its "
                    "patterns there)");
    }
    s->hash = h;
    s->entry = e;
    s->len = stored_len(len);
    if (len <= INLINE_NAME) {
        memcpy(s->name, pc->match, len);
    }
    t->n_exact++;
    return 0;
}

struct cnc_identity_table *cnc_identity_table_build(const struct cnc_config *cfg, char *err,
                                                    size_t err_len)
{
    const struct cnc_identity_config *ic = &cfg->identity;
    size_t n_patterns = 0, cap = 16;
    for (size_t i = 0; i < ic->n_publishers; i++) {
        n_patterns += ic->publishers[i].n_cnc_ids;
    }
    while (cap < 2 * ic->n_publishers) {
        cap <<= 1;
    }
    struct cnc_identity_table *t = calloc(1, sizeof *t);
    if (t == NULL || (t->slots = aligned_alloc(64, cap * sizeof *t->slots)) == NULL ||
        (t->patterns = calloc(n_patterns ? n_patterns : 1, sizeof *t->patterns)) == NULL) {
        snprintf(err, err_len, "out of memory");
        cnc_identity_table_destroy(t);
        return NULL;
    }
    memset(t->slots, 0, cap * sizeof *t->slots);
    t->mask = cap - 1;
    t->by = ic->by;
    for (size_t i = 0, at = 0; i < ic->n_publishers; at += ic->publishers[i].n_cnc_ids, i++) {
        if (build_entry(t, cfg, i, t->patterns + at, err, err_len) != 0) {
            cnc_identity_table_destroy(t);
            return NULL;
        }
    }
    return t;
}

void cnc_identity_table_destroy(struct cnc_identity_table *t)
{
    if (t == NULL) {
        return;
    }
    free(t->slots);
    free(t->patterns);
    free(t);
}

const char *cnc_identity_name(const struct cnc_identity_table *t, const struct cnc_publisher *who)
{
    if (who->username == NULL) {
        return NULL; /* anonymous: no identity, whichever name the table uses */
    }
    return t->by == CNC_IDENTITY_USERNAME ? who->username : who->client_id;
}

const char *cnc_identity_kind(const struct cnc_identity_table *t)
{
    return t->by == CNC_IDENTITY_USERNAME ? "username" : "client_id";
}

const struct cnc_identity_entry *cnc_identity_find(const struct cnc_identity_table *t,
                                                   const struct cnc_publisher *who)
{
    const char *name = cnc_identity_name(t, who);
    if (name == NULL) {
        return NULL;
    }
    if (t->n_exact > 0) {
        size_t len = strlen(name);
        const struct exact_slot *s = slot_of(t, name, len, XXH3_64bits(name, len));
        if (s->entry.pc != NULL) {
            return &s->entry;
        }
    }
    /* A client id or user name may be 65,535 bytes: against 256 globs of several stars that
       was ~0.25 s of fnmatch on the broker thread per message. Exact names have no bound. */
    if (strnlen(name, MAX_GLOB_NAME + 1) > MAX_GLOB_NAME) {
        return NULL;
    }
    for (size_t g = 0; g < t->n_globs; g++) {
        if (fnmatch(t->globs[g].pc->match, name, 0) == 0) {
            return &t->globs[g];
        }
    }
    return NULL;
}

static bool equals(const char *value, const char *cnc_id, size_t len)
{
    return value != NULL && strncmp(value, cnc_id, len) == 0 && value[len] == '\0';
}

/* The pattern with its substitutions made, in out; false when it can match nothing. */
static bool expand(const struct id_pattern *p, const struct cnc_publisher *who, char *out)
{
    size_t o = 0, from = 0;
    for (size_t s = 0; s < p->n_subs; s++) {
        size_t at = p->sub_at[s];
        const char *v = p->text[at + 1] == 'u' ? who->username : who->client_id;
        size_t vlen = v != NULL ? strlen(v) : 0;
        if (!cnc_envelope_valid_cnc_id(v, vlen) || o + (at - from) + vlen >= EXPANDED_MAX) {
            return false;
        }
        memcpy(out + o, p->text + from, at - from);
        o += at - from;
        memcpy(out + o, v, vlen);
        o += vlen;
        from = at + 2;
    }
    if (o + (p->len - from) >= EXPANDED_MAX) {
        return false;
    }
    memcpy(out + o, p->text + from, p->len - from);
    out[o + p->len - from] = '\0';
    return true;
}

bool cnc_identity_permits(const struct cnc_identity_entry *e, const struct cnc_publisher *who,
                          const char *cnc_id, size_t len)
{
    if (e->only == PAT_USER) {
        return equals(who->username, cnc_id, len); /* the entry's line only: no pattern read */
    }
    if (e->only == PAT_CLIENT) {
        return equals(who->client_id, cnc_id, len);
    }
    char id[CNC_CNC_ID_MAX + 1];
    if (len > CNC_CNC_ID_MAX) {
        return false;
    }
    memcpy(id, cnc_id, len);
    id[len] = '\0';
    for (size_t i = 0; i < e->n_patterns; i++) {
        const struct id_pattern *p = &e->patterns[i];
        char buf[EXPANDED_MAX];
        bool hit = false;
        switch (p->kind) {
        case PAT_EXACT:
            hit = p->len == len && memcmp(p->text, cnc_id, len) == 0;
            break;
        case PAT_USER:
            hit = equals(who->username, cnc_id, len);
            break;
        case PAT_CLIENT:
            hit = equals(who->client_id, cnc_id, len);
            break;
        case PAT_GLOB:
            hit = fnmatch(p->text, id, 0) == 0;
            break;
        default:
            hit = expand(p, who, buf) && fnmatch(buf, id, 0) == 0;
            break;
        }
        if (hit) {
            return true;
        }
    }
    return false;
}

size_t cnc_identity_exact_count(const struct cnc_identity_table *t)
{
    return t->n_exact;
}

size_t cnc_identity_glob_count(const struct cnc_identity_table *t)
{
    return t->n_globs;
}
