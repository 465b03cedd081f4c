/*
 * json_locate.c - a lexical walk over JSON text that keeps the path, see
 * json_locate.h.
 *
 * Any thread. The path is kept for the first levels only (what fits in
 * CNC_JSON_PATH_MAX); deeper levels are counted.
 */
#include "json_locate.h"

#include <stdio.h>
#include <string.h>

#define KEEP_LEVELS 40

struct level {
    bool object;
    bool at_key; /* object: the next string is a member name */
    size_t index;
    const char *key; /* raw text of the current member name, between the quotes */
    size_t key_len;
};

struct walk {
    const char *s;
    size_t len;
    struct level lv[KEEP_LEVELS];
    size_t depth;
};

size_t cnc_json_string_end(const char *s, size_t len, size_t i)
{
    for (size_t j = i + 1; j < len; j++) {
        if (s[j] == '\\') {
            j++;
        } else if (s[j] == '"') {
            return j + 1;
        }
    }
    return len;
}

size_t cnc_json_scalar_end(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r') {
        i++;
    }
    return i;
}

static bool has_nul_escape(const char *s, size_t start, size_t end)
{
    for (size_t j = start; j + 5 < end; j++) {
        if (s[j] == '\\') {
            if (s[j + 1] == 'u' && memcmp(s + j + 2, "0000", 4) == 0) {
                return true;
            }
            j++; /* the escaped character */
        }
    }
    return false;
}

static void fill(const struct walk *w, size_t offset, bool is_name, struct cnc_json_location *loc)
{
    size_t o = 0, kept = w->depth < KEEP_LEVELS ? w->depth : KEEP_LEVELS;
    loc->path[0] = loc->top[0] = '\0';
    loc->is_name = is_name;
    loc->depth = w->depth;
    loc->offset = offset;
    loc->root_is_object = w->depth > 0 && w->lv[0].object;
    loc->top_index = w->depth > 0 ? w->lv[0].index : 0;
    for (size_t d = 0; d < kept && o < sizeof loc->path; d++) {
        const struct level *l = &w->lv[d];
        int n;
        if (l->object) {
            if (l->key == NULL) {
                break;
            }
            n = snprintf(loc->path + o, sizeof loc->path - o, "%s%.*s", o ? "." : "",
                         (int)l->key_len, l->key);
            if (d == 0) {
                snprintf(loc->top, sizeof loc->top, "%.*s", (int)l->key_len, l->key);
            }
        } else {
            n = snprintf(loc->path + o, sizeof loc->path - o, "[%zu]", l->index);
        }
        o += n > 0 ? (size_t)n : 0;
    }
}

/* A value (not a member name) has been read in the innermost level. */
static void value_done(struct walk *w)
{
    if (w->depth == 0 || w->depth > KEEP_LEVELS) {
        return;
    }
    struct level *l = &w->lv[w->depth - 1];
    if (l->object) {
        l->at_key = true;
    }
    l->index++; /* members of an object are counted too: top_index */
}

/*
 * Walks the text; at each string calls on_string (stop when it returns true), at each
 * container opened at a depth beyond max_depth stops with it.
 */
static bool walk(struct walk *w, size_t max_depth,
                 bool (*on_string)(struct walk *w, size_t start, size_t end, bool is_name,
                                   void *arg),
                 void *arg, struct cnc_json_location *loc)
{
    const char *s = w->s;
    for (size_t i = 0; i < w->len; i++) {
        char c = s[i];
        if (c == '"') {
            size_t end = cnc_json_string_end(s, w->len, i);
            struct level *l = w->depth > 0 && w->depth <= KEEP_LEVELS ? &w->lv[w->depth - 1] : NULL;
            bool is_name = l != NULL && l->object && l->at_key;
            if (is_name) {
                l->key = s + i + 1;
                l->key_len = end > i + 2 ? end - i - 2 : 0;
                l->at_key = false;
            }
            if (on_string != NULL && on_string(w, i, end, is_name, arg)) {
                fill(w, i, is_name, loc);
                return true;
            }
            if (!is_name) {
                value_done(w);
            }
            i = end - 1;
        } else if (c == '{' || c == '[') {
            if (w->depth + 1 > max_depth) {
                fill(w, i, false, loc);
                loc->depth = w->depth + 1;
                return true;
            }
            if (w->depth < KEEP_LEVELS) {
                w->lv[w->depth] =
                    (struct level){.object = c == '{', .at_key = c == '{', .key = NULL};
            }
            w->depth++;
        } else if (c == '}' || c == ']') {
            if (w->depth > 0) {
                w->depth--;
            }
            value_done(w);
        } else if (c == ',' && w->depth > 0 && w->depth <= KEEP_LEVELS) {
            struct level *l = &w->lv[w->depth - 1];
            if (l->object) {
                l->at_key = true;
            }
        } else if ((c >= '0' && c <= '9') || c == '-' || c == 't' || c == 'f' || c == 'n') {
            i = cnc_json_scalar_end(s, w->len, i) - 1; /* a number or literal: a value */
            value_done(w);
        }
    }
    return false;
}

struct nul_search {
    bool (*skip)(const struct cnc_json_location *loc, void *arg);
    void *arg;
};

static bool nul_string(struct walk *w, size_t start, size_t end, bool is_name, void *arg)
{
    struct nul_search *q = arg;
    if (!has_nul_escape(w->s, start + 1, end)) {
        return false;
    }
    if (q->skip == NULL) {
        return true;
    }
    struct cnc_json_location loc;
    fill(w, start, is_name, &loc);
    return !q->skip(&loc, q->arg);
}

bool cnc_json_find_nul_escape(const char *buf, size_t len,
                              bool (*skip)(const struct cnc_json_location *loc, void *arg),
                              void *arg, struct cnc_json_location *loc)
{
    struct walk w = {.s = buf, .len = len};
    struct nul_search q = {skip, arg};
    return walk(&w, (size_t)-1, nul_string, &q, loc);
}

bool cnc_json_find_depth(const char *buf, size_t len, size_t depth, struct cnc_json_location *loc)
{
    struct walk w = {.s = buf, .len = len};
    return walk(&w, depth, NULL, NULL, loc);
}
