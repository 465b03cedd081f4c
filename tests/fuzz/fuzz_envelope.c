/*
 * fuzz_envelope.c - libFuzzer harness for the message path: envelope
 * validation, routing, the generic handler, the reject report and the
 * analytics object. The first input byte picks the options (unknown fields,
 * nesting, topic level); the rest is the message.
 *
 * Replay in CI: fuzz_envelope tests/fuzz/corpus/envelope -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "ingest.h"
#include "utf8.h"

static struct cnc_ingest *ing[4];
static struct cnc_registry *reg;

static struct cnc_ingest *make(const char *yaml)
{
    char err[512];
    struct cnc_config *cfg = cnc_config_load_buffer("fuzz", yaml, strlen(yaml), err, sizeof err);
    if (cfg == NULL) {
        abort();
    }
    struct cnc_ingest *i = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    if (i == NULL) {
        abort();
    }
    return i;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    reg = cnc_registry_create(NULL, 0, err, sizeof err);
    ing[0] = make("handlers: {a: {type: generic}}\nroutes: [{match: CNC001, handler: a}, "
                  "{match: \"P*\", handler: a}]\n");
    ing[1] = make("ingest: {unknown_fields: ignore, allow_nested: true, max_payload_fields: 8}\n"
                  "handlers:\n  p:\n    type: sensor_efficiency\n    rules:\n"
                  "      - {variable: temperature, zscore: {window: 5, smooth: 2, limit: 2}}\n"
                  "      - {variable: vibration, stuck: {samples: 2}}\n"
                  "      - {variable: vibration, hampel: {window: 4, limit: 1, warmup: 3}}\n"
                  "      - {variable: temperature, outside: [20, 80]}\n"
                  "routes: [{match: \"*\", handler: p}]\n");
    ing[2] = make("ingest: {max_message_bytes: 64}\n"
                  "handlers: {a: {type: generic}}\nroutes: [{match: \"*\", handler: a}]\n");
    ing[3] = make("ingest: {topics: [\"cnc/#\"], on_invalid: pass, max_tracked_machines: 4}\n"
                  "handlers:\n  m:\n    type: machine_tool\n"
                  "    params: {spindle: [0, 100], axes: {X-Axis: [0, 10]}, required: [spin]}\n"
                  "    rules: [{variable: spin, zscore: {window: 3}}, {variable: spin, stuck: "
                  "{samples: 2}, active_when: {variable: status, in: [running]}}, {variable: spin, "
                  "hampel: {window: 3}}]\n"
                  "routes: [{match: \"[A-Z]*\", handler: m}]\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct cnc_ingest *i = ing[data[0] & 3];
    const char *topic = (data[0] & 4) ? "cnc/CNC001/data" : "cnc/PRESS-04/data";
    struct cnc_topic_capture cap;
    if (!cnc_ingest_wants(i, topic, &cap)) {
        abort();
    }
    /* A private copy without a terminator: the validator must respect the length. */
    size_t len = size - 1;
    char *msg = malloc(len ? len : 1);
    memcpy(msg, data + 1, len);
    struct cnc_ingest_result res;
    int rc = cnc_ingest_process(i, &cap, len ? msg : NULL, len, INT64_C(1747400000000), NULL, &res);
    if (rc == 0) {
        cJSON *o =
            cnc_analytics_object(&res.msg, &res.rec, (enum cnc_analytics_form)((data[0] >> 3) % 3));
        char *s = cJSON_PrintUnformatted(o);
        free(s);
        cJSON_Delete(o);
        /* What is published: valid UTF-8 JSON whose numbers read back bit for bit. */
        size_t alen;
        const char *text = cnc_ingest_analytics(i, &res, &alen);
        if (text != NULL) {
            if (utf8_invalid_at(text, alen) != alen) {
                abort();
            }
            cJSON *a = cJSON_Parse(text);
            const cJSON *values = cJSON_GetObjectItemCaseSensitive(a, "values");
            if (a == NULL) {
                abort();
            }
            for (size_t k = 0; values != NULL && k < res.rec.n_readings; k++) {
                const struct cnc_reading *r = &res.rec.readings[k];
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(values, r->name);
                if (r->kind == CNC_VALUE_NUMBER && v != NULL &&
                    memcmp(&v->valuedouble, &r->num, sizeof r->num) != 0 && r->num == r->num &&
                    !(r->num == 0 && v->valuedouble == 0)) {
                    abort();
                }
            }
            cJSON_Delete(a);
        }
    } else {
        if (res.rej.code == CNC_REJECT_NONE || res.rej.code >= CNC_REJECT__COUNT) {
            abort();
        }
        char *s = cnc_reject_report(&res.rej, "fuzz-node", topic, "fuzz", 0, msg, len, 0);
        cJSON *parsed = s != NULL ? cJSON_Parse(s) : NULL;
        if (parsed == NULL) {
            abort(); /* a report must always be valid JSON */
        }
        if (utf8_invalid_at(s, strlen(s)) != strlen(s) ||
            utf8_invalid_at(res.rej.detail, strlen(res.rej.detail)) != strlen(res.rej.detail) ||
            utf8_invalid_at(res.rej.field, strlen(res.rej.field)) != strlen(res.rej.field)) {
            abort(); /* and valid UTF-8 */
        }
        cJSON_Delete(parsed);
        free(s);
    }
    cnc_ingest_result_release(&res);
    free(msg);
    return 0;
}
