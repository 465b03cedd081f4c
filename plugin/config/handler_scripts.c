/*
 * handler_scripts.c - params.script of `lua` handlers read into params.source;
 * see handler_scripts.h.
 *
 * The thread that loads the config (reload thread, broker thread at start, checker).
 */
#include "handler_scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lua_handler.h"
#include "safe_file.h"

static int fail(const struct cnc_config *cfg, const struct cnc_handler_config *h, const char *key,
                const char *why, char *err, size_t err_len)
{
    char path[300];
    snprintf(path, sizeof path, "handlers.%s.params.%s", h->name, key);
    snprintf(err, err_len, "%s:%d: %s: %s", cfg->path, cnc_config_line_of(cfg, path, h->line), path,
             why);
    return -1;
}

/* path as written, or joined to the config file's folder when relative. NULL: out of memory. */
static char *resolve(const char *config_path, const char *path)
{
    const char *slash = strrchr(config_path, '/');
    if (path[0] == '/' || slash == NULL) {
        return strdup(path);
    }
    size_t dir = (size_t)(slash - config_path) + 1;
    size_t len = dir + strlen(path) + 1;
    char *out = malloc(len);
    if (out != NULL) {
        snprintf(out, len, "%.*s%s", (int)dir, config_path, path);
    }
    return out;
}

static int read_script(const struct cnc_config *cfg, const struct cnc_handler_config *h,
                       const char *script, char *err, size_t err_len)
{
    char why[700];
    if (script[0] == '\0') {
        return fail(cfg, h, "script", "must be the path of a Lua file", err, err_len);
    }
    if (cJSON_GetObjectItemCaseSensitive(h->params, "source") != NULL) {
        return fail(cfg, h, "source", "give script: (a file) or source: (inline), not both", err,
                    err_len);
    }
    char *path = resolve(cfg->path, script);
    if (path == NULL) {
        return fail(cfg, h, "script", "out of memory", err, err_len);
    }
    size_t len = 0;
    char *text = cnc_file_read(path, CNC_FILE_CODE, CNC_FILE_NO_OWNER, CNC_LUA_SCRIPT_MAX, &len,
                               why, sizeof why);
    free(path);
    if (text == NULL) {
        return fail(cfg, h, "script", why, err, err_len);
    }
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        int line = 1;
        for (const char *c = text; c < nul; c++) {
            line += *c == '\n';
        }
        snprintf(why, sizeof why, "%.400s:%d: holds a NUL byte: a handler script is text", script,
                 line);
        free(text);
        return fail(cfg, h, "script", why, err, err_len);
    }
    cJSON *source = cJSON_CreateString(text);
    free(text);
    if (source == NULL || !cJSON_AddItemToObject(h->params, "source", source)) {
        cJSON_Delete(source);
        return fail(cfg, h, "script", "out of memory", err, err_len);
    }
    return 0;
}

int cnc_config_read_scripts(struct cnc_config *cfg, char *err, size_t err_len)
{
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        struct cnc_handler_config *h = &cfg->handlers[i];
        if (strcmp(h->type, CNC_LUA_TYPE) != 0) {
            continue;
        }
        if (h->params == NULL && (h->params = cJSON_CreateObject()) == NULL) {
            return fail(cfg, h, "script", "out of memory", err, err_len);
        }
        const cJSON *script = cJSON_GetObjectItemCaseSensitive(h->params, "script");
        if (script != NULL && !cJSON_IsString(script)) {
            return fail(cfg, h, "script", "must be the path of a Lua file", err, err_len);
        }
        if (script != NULL && read_script(cfg, h, script->valuestring, err, err_len) != 0) {
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(h->params, "max_machines") == NULL &&
            cJSON_AddNumberToObject(h->params, "max_machines",
                                    (double)cfg->ingest.max_tracked_machines) == NULL) {
            return fail(cfg, h, "max_machines", "out of memory", err, err_len);
        }
    }
    return 0;
}
