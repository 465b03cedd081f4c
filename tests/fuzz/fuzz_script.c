/*
 * fuzz_script.c - libFuzzer harness for handler scripts: arbitrary messages
 * through `lua` instances running the shipped scripts (cnc_type_a.lua,
 * cnc_type_b.lua, cycle_time.lua) and an echo script that turns whatever the
 * payload holds (nested, any strings) into readings, anomalies and an
 * efficiency, and runs the string pattern functions (Lua's matcher, counting its
 * steps: script_patterns.c) on any pattern and subject a message carries, under
 * small limits so that the budget and memory refusals are reached too. The first input byte picks
 * the instance; the rest is the message. What comes out must be valid UTF-8 JSON, whatever the
 * script returned.
 *
 * Replay in CI: fuzz_script tests/fuzz/corpus/script -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "ingest.h"
#include "utf8.h"

#define N_INGEST 4
static struct cnc_ingest *ing[N_INGEST];
static struct cnc_registry *reg;

static const char *echo_script =
    "local function walk(v, out, prefix, depth)\n"
    "  for k, x in pairs(v) do\n"
    "    local name = prefix .. tostring(k)\n"
    "    if type(x) == 'table' then\n"
    "      if depth < 4 then walk(x, out, name .. '.', depth + 1) end\n"
    "    else\n"
    "      out[name] = x\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {process = function(msg, state)\n"
    "  local p = msg.payload\n"
    "  state.n = (state.n or 0) + 1\n"
    "  if p.loop then while true do end end\n"
    "  if p.grow then state.t = state.t or {} for i = 1, 1000 do state.t[#state.t + 1] = "
    "tostring(p.grow) .. i end end\n"
    "  if p.refuse then return nil, p.refuse end\n"
    "  if type(p.pat) == 'string' and type(p.sub) == 'string' then\n"
    "    local rep = p.rep\n"
    "    if type(rep) ~= 'string' then rep = '%0' end\n"
    "    pcall(string.find, p.sub, p.pat, p.init)\n"
    "    pcall(string.match, p.sub, p.pat)\n"
    "    pcall(function() for a, b in p.sub:gmatch(p.pat) do end end)\n"
    "    pcall(string.gsub, p.sub, p.pat, rep, p.max)\n"
    "  end\n"
    "  if p.raw then return p.raw end\n"
    "  local readings = {}\n"
    "  walk(p, readings, '', 0)\n"
    "  readings.n = state.n\n"
    "  local r = {readings = readings}\n"
    "  if type(p.rule) == 'string' then\n"
    "    r.anomalies = {{rule = p.rule, variable = p.variable or 'v', value = p.value or 0,\n"
    "                    threshold = p.threshold, severity = p.severity}}\n"
    "  end\n"
    "  if p.mode ~= nil then\n"
    "    r.efficiency = {mode = p.mode, temperature = p.temperature, vibration = p.vibration,\n"
    "                    score = p.score, level = p.level, is_anomaly = p.is_anomaly}\n"
    "  end\n"
    "  return r\n"
    "end}\n";

static struct cnc_ingest *make(const char *yaml)
{
    char err[1024];
    struct cnc_config *cfg = cnc_config_load_buffer("fuzz", yaml, strlen(yaml), err, sizeof err);
    struct cnc_ingest *i = cfg != NULL ? cnc_ingest_create(cfg, reg, NULL, err, sizeof err) : NULL;
    if (i == NULL) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return i;
}

static struct cnc_ingest *make_script(const char *file)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "ingest: {topics: [\"cnc/+/data\"], max_tracked_machines: 16}\n"
             "handlers:\n  s: {type: lua, params: {script: %s/handlers/scripts/%s}}\n"
             "routes: [{match: \"*\", handler: s}]\n",
             CNC_SOURCE_DIR, file);
    return make(yaml);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    reg = cnc_registry_create(NULL, 0, err, sizeof err);
    ing[0] = make_script("cnc_type_a.lua");
    ing[1] = make_script("cnc_type_b.lua");
    ing[2] = make_script("cycle_time.lua");
    cJSON *y = cJSON_CreateString(echo_script); /* a JSON string is a YAML double-quoted one */
    char *quoted = cJSON_PrintUnformatted(y);
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "ingest: {topics: [\"cnc/+/data\"], allow_nested: true, unknown_fields: ignore, "
             "max_tracked_machines: 4}\n"
             "handlers:\n  e:\n    type: lua\n    params:\n      max_instructions: 20000\n"
             "      max_memory_kb: 1024\n      max_string_kb: 4\n      source: %s\n"
             "routes: [{match: \"*\", handler: e}]\n",
             quoted);
    free(quoted);
    cJSON_Delete(y);
    ing[3] = make(yaml);
    return 0;
}

static void must_be_utf8(const char *s, size_t n)
{
    if (utf8_invalid_at(s, n) != n) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct cnc_ingest *i = ing[data[0] % N_INGEST];
    struct cnc_topic_capture cap;
    if (!cnc_ingest_wants(i, "cnc/CNC001/data", &cap)) {
        abort();
    }
    size_t len = size - 1;
    char *msg = malloc(len ? len : 1);
    memcpy(msg, data + 1, len);
    struct cnc_ingest_result res;
    /* The topic level is not compared with the cnc_id without a capture: any id routes. */
    int rc = cnc_ingest_process(i, NULL, len ? msg : NULL, len, INT64_C(1747400000000), NULL, &res);
    if (rc == 0) {
        size_t alen;
        const char *text = cnc_ingest_analytics(i, &res, &alen);
        if (text != NULL) {
            must_be_utf8(text, alen);
            cJSON *a = cJSON_Parse(text);
            if (a == NULL) {
                abort();
            }
            cJSON_Delete(a);
        }
        cJSON *o = cnc_analytics_object(&res.msg, &res.rec, CNC_ANALYTICS_READINGS);
        char *s = cJSON_PrintUnformatted(o);
        if (s == NULL) {
            abort();
        }
        must_be_utf8(s, strlen(s));
        free(s);
        cJSON_Delete(o);
        for (size_t k = 0; k < res.rec.n_readings; k++) {
            const struct cnc_reading *r = &res.rec.readings[k];
            must_be_utf8(r->name, strlen(r->name));
            if (r->kind == CNC_VALUE_STRING) {
                must_be_utf8(r->str, strlen(r->str));
            }
        }
    } else {
        if (res.rej.code == CNC_REJECT_NONE || res.rej.code >= CNC_REJECT__COUNT) {
            abort();
        }
        must_be_utf8(res.rej.detail, strlen(res.rej.detail));
        char *s =
            cnc_reject_report(&res.rej, "fuzz-node", "cnc/CNC001/data", "fuzz", 0, msg, len, 0);
        cJSON *parsed = s != NULL ? cJSON_Parse(s) : NULL;
        if (parsed == NULL) {
            abort();
        }
        cJSON_Delete(parsed);
        free(s);
    }
    cnc_ingest_result_release(&res);
    free(msg);
    return 0;
}
