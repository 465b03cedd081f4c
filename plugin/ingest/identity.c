/*
 * identity.c - the identity table, see identity.h.
 *
 * Broker thread. Exact publisher names go into a name index (XXH3, borrowed
 * from the config); globs are kept in file order, at most 256 so that a
 * message from an unlisted publisher tries a bounded number. Each cnc_id
 * pattern is classified once: a plain cnc_id, exactly "%u" or "%c" (one
 * compare: the common one-collector-per-machine table costs a hash and a
 * memcmp), a glob, or a glob with substitutions, expanded per message into a
 * stack buffer. A substituted name that is not itself a valid cnc_id can
 * match nothing (it would have to appear in the cnc_id literally), so a user
 * named "*" gains no wildcard.
 */
#include "identity.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "name_index.h"

#define MAX_GLOB_PUBLISHERS 256
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
    const struct cnc_publisher_config *pc;
    struct id_pattern *patterns;
    size_t n_patterns;
};

struct cnc_identity_table {
    int by;
    struct cnc_identity_entry *entries;
    size_t n_entries;
    struct cnc_name_index exact;
    size_t n_exact;
    uint32_t globs[MAX_GLOB_PUBLISHERS];
    size_t n_globs;
};

static bool is_glob(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

static bool cnc_id_char(char c)
{
    return c != '\0' && strchr(cnc_id_chars, c) != NULL;
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

static int build_entry(struct cnc_identity_table *t, const struct cnc_config *cfg, size_t i,
                       char *err, size_t err_len)
{
    const struct cnc_publisher_config *pc = &cfg->identity.publishers[i];
    struct cnc_identity_entry *e = &t->entries[i];
    char key[96], why[300];
    e->pc = pc;
    e->patterns = calloc(pc->n_cnc_ids, sizeof *e->patterns);
    if (e->patterns == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < pc->n_cnc_ids; k++) {
        if (!compile_pattern(pc->cnc_ids[k], &e->patterns[k], why, sizeof why)) {
            char msg[400];
            snprintf(key, sizeof key, "identity.publishers[%zu].cnc_ids[%zu]", i, k);
            snprintf(msg, sizeof msg, "\"%.80s\": %s", pc->cnc_ids[k], why);
            return fail(err, err_len, cfg, pc->cnc_id_lines[k], key, msg);
        }
        e->n_patterns++;
    }
    snprintf(key, sizeof key, "identity.publishers[%zu].match", i);
    if (is_glob(pc->match)) {
        for (size_t g = 0; g < t->n_globs; g++) {
            if (strcmp(t->entries[t->globs[g]].pc->match, pc->match) == 0) {
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
        t->globs[t->n_globs++] = (uint32_t)i;
        return 0;
    }
    if (cnc_name_index_add(&t->exact, pc->match, (uint32_t)i) != 0) {
        return fail(err, err_len, cfg, pc->line, key,
                    "this publisher is listed above: one entry per publisher (give it all its "
                    "patterns there)");
    }
    t->n_exact++;
    return 0;
}

struct cnc_identity_table *cnc_identity_table_build(const struct cnc_config *cfg, char *err,
                                                    size_t err_len)
{
    const struct cnc_identity_config *ic = &cfg->identity;
    struct cnc_identity_table *t = calloc(1, sizeof *t);
    if (t == NULL || cnc_name_index_init(&t->exact, ic->n_publishers) != 0 ||
        (t->entries = calloc(ic->n_publishers ? ic->n_publishers : 1, sizeof *t->entries)) ==
            NULL) {
        snprintf(err, err_len, "out of memory");
        cnc_identity_table_destroy(t);
        return NULL;
    }
    t->by = ic->by;
    for (size_t i = 0; i < ic->n_publishers; i++) {
        t->n_entries++;
        if (build_entry(t, cfg, i, err, err_len) != 0) {
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
    for (size_t i = 0; i < t->n_entries; i++) {
        free(t->entries[i].patterns);
    }
    free(t->entries);
    cnc_name_index_free(&t->exact);
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
        long i = cnc_name_index_find(&t->exact, name);
        if (i >= 0) {
            return &t->entries[i];
        }
    }
    for (size_t g = 0; g < t->n_globs; g++) {
        const struct cnc_identity_entry *e = &t->entries[t->globs[g]];
        if (fnmatch(e->pc->match, name, 0) == 0) {
            return e;
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
