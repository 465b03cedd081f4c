/*
 * fuzz_spool_record.c - libFuzzer harness for what the writer thread parses:
 * the spool record format (stored_record.c) and the payload scanner and
 * msg_key (payload_span.c).
 *
 * First input byte even: the rest is raw record bytes, as a damaged segment
 * could hold them; decoding and walking its readings and anomalies must stay
 * inside the bytes. Odd: the rest is a message; when the plugin's pipeline
 * accepts it, its record must decode back to the same fields, and the payload
 * bytes the writer stores (the scanner's span, or the cJSON fallback) must be
 * the same JSON as the payload the validator parsed (a differential check).
 *
 * Replay in CI: fuzz_spool_record tests/fuzz/corpus/spool_record -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest.h"
#include "payload_span.h"
#include "stored_record.h"

static struct cnc_ingest *ing;
static struct cnc_registry *reg; /* kept for the whole run */
static struct cnc_buf buf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    reg = cnc_registry_create(NULL, 0, err, sizeof err);
    static const char yaml[] =
        "ingest: {allow_nested: true}\n"
        "handlers:\n  p:\n    type: sensor_efficiency\n"
        "    rules: [{variable: temperature, above: 1}]\n"
        "  g: {type: generic}\n"
        "routes: [{match: \"P*\", handler: p}, {match: \"*\", handler: g}]\n";
    struct cnc_config *cfg = cnc_config_load_buffer("fuzz", yaml, strlen(yaml), err, sizeof err);
    if (reg == NULL || cfg == NULL ||
        (ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err)) == NULL) {
        abort();
    }
    return 0;
}

static int inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *q = p;
    return n == 0 || (q >= lo && q + n <= hi);
}

/* Decodes a record and walks all of it; every string must lie inside the bytes. */
static int walk(const uint8_t *data, size_t len, struct cnc_stored *s)
{
    if (cnc_stored_decode(data, len, s) != 0) {
        return -1;
    }
    const uint8_t *end = data + len;
    if (!inside(s->cnc_id.p, s->cnc_id.len, data, end) ||
        !inside(s->part_program.p, s->part_program.len, data, end) ||
        !inside(s->handler.p, s->handler.len, data, end) ||
        !inside(s->message, s->message_len, data, end)) {
        abort();
    }
    const uint8_t *c = s->readings;
    struct cnc_stored_reading r;
    for (uint16_t i = 0; i < s->n_readings; i++) {
        if (cnc_stored_next_reading(s, &c, &r) != 0) {
            break;
        }
        if (!inside(r.name.p, r.name.len, data, end) || !inside(r.text.p, r.text.len, data, end)) {
            abort();
        }
    }
    c = s->anomalies;
    struct cnc_stored_anomaly a;
    for (uint16_t i = 0; i < s->n_anomalies; i++) {
        if (cnc_stored_next_anomaly(s, &c, &a) != 0) {
            break;
        }
        if (!inside(a.rule.p, a.rule.len, data, end) ||
            !inside(a.variable.p, a.variable.len, data, end)) {
            abort();
        }
    }
    uint8_t key[16];
    cnc_msg_key(s, key);
    size_t ps, pe;
    if (cnc_payload_span(s->message, s->message_len, &ps, &pe) == 0 &&
        !(ps <= pe && pe <= s->message_len)) {
        abort();
    }
    return 0;
}

static void same_str(struct cnc_str a, const char *b)
{
    size_t n = b != NULL ? strlen(b) : 0;
    if (a.len != n || (n && memcmp(a.p, b, n) != 0)) {
        abort();
    }
}

static void round_trip(const char *msg, size_t len)
{
    struct cnc_topic_capture cap;
    if (!cnc_ingest_wants(ing, "cnc/PRESS-04/data", &cap)) {
        abort();
    }
    struct cnc_ingest_result res;
    if (cnc_ingest_process(ing, &cap, msg, len, INT64_C(1747400000000), NULL, &res) == 0) {
        struct cnc_stored s;
        if (cnc_stored_encode(&buf, &res.msg, &res.rec, msg, len, 7) != 0 ||
            walk(buf.p, buf.len, &s) != 0) {
            abort();
        }
        same_str(s.cnc_id, res.msg.cnc_id);
        same_str(s.part_program, res.msg.part_program);
        if (s.ts_ms != res.msg.ts_ms || s.received_ms != 7 || s.message_len != len ||
            memcmp(s.message, msg, len) != 0 || s.n_readings != res.rec.n_readings ||
            s.n_anomalies != res.rec.n_anomalies) {
            abort();
        }
        /* What the writer stores as the payload column, as sink_mysql.c finds it. */
        size_t ps, pe;
        cJSON *stored;
        if (cnc_payload_span(s.message, s.message_len, &ps, &pe) == 0) {
            stored = cJSON_ParseWithLength(s.message + ps, pe - ps);
        } else {
            cJSON *root = cJSON_ParseWithLength(s.message, s.message_len);
            stored = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "payload"), 1);
            cJSON_Delete(root);
        }
        if (!cJSON_Compare(stored, cJSON_GetObjectItemCaseSensitive(res.root, "payload"), 1)) {
            abort();
        }
        cJSON_Delete(stored);
    }
    cnc_ingest_result_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    /* A private copy without a terminator: parsers must respect the length. */
    size_t len = size - 1;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data + 1, len);
    if (data[0] & 1) {
        round_trip((const char *)copy, len);
    } else {
        struct cnc_stored s;
        walk(copy, len, &s);
    }
    free(copy);
    return 0;
}
