/*
 * reject.c - reject reasons: names, filling, and the JSON report.
 *
 * Broker thread. The report is built only on the reject path, so it may
 * allocate; the accept path never comes here.
 */
#include "reject.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "timestamp.h"
#include "utf8.h"
#include "json_number.h"

static const char *const reject_names[CNC_REJECT__COUNT] = {
    [CNC_REJECT_NONE] = "accepted",
    [CNC_REJECT_NOT_JSON] = "not_json",
    [CNC_REJECT_NOT_OBJECT] = "not_object",
    [CNC_REJECT_TOO_LARGE] = "too_large",
    [CNC_REJECT_MISSING_FIELD] = "missing_field",
    [CNC_REJECT_WRONG_TYPE] = "wrong_type",
    [CNC_REJECT_UNKNOWN_FIELD] = "unknown_field",
    [CNC_REJECT_DUPLICATE_KEY] = "duplicate_key",
    [CNC_REJECT_BAD_CNC_ID] = "bad_cnc_id",
    [CNC_REJECT_TOPIC_MISMATCH] = "topic_mismatch",
    [CNC_REJECT_BAD_PART_PROGRAM] = "bad_part_program",
    [CNC_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
    [CNC_REJECT_TIMESTAMP_OUT_OF_RANGE] = "timestamp_out_of_range",
    [CNC_REJECT_BAD_PAYLOAD_VALUE] = "bad_payload_value",
    [CNC_REJECT_TOO_MANY_FIELDS] = "too_many_fields",
    [CNC_REJECT_NO_ROUTE] = "no_route",
    [CNC_REJECT_HANDLER_REJECTED] = "handler_rejected",
    [CNC_REJECT_UNAUTHORIZED_CNC_ID] = "unauthorized_cnc_id",
    [CNC_REJECT_SPOOL_FULL] = "spool_full",
};

const char *cnc_reject_name(enum cnc_reject_code code)
{
    if ((unsigned)code >= CNC_REJECT__COUNT) {
        return "unknown";
    }
    return reject_names[code];
}

int cnc_reject_set(struct cnc_reject *rej, enum cnc_reject_code code, const char *field,
                   const char *fmt, ...)
{
    va_list ap;
    rej->code = code;
    snprintf(rej->field, sizeof rej->field, "%s", field != NULL ? field : "");
    va_start(ap, fmt);
    vsnprintf(rej->detail, sizeof rej->detail, fmt, ap);
    va_end(ap);
    /* Both may quote the message (member names, a handler's words) and be cut by their bound:
       what the plugin publishes is always valid UTF-8. */
    utf8_make_valid(rej->field, sizeof rej->field);
    utf8_make_valid(rej->detail, sizeof rej->detail);
    return CNC_EREJECT;
}

size_t cnc_reject_topic(const char *base, const char *client_id, char *out, size_t out_len)
{
    char level[CNC_REJECT_TOPIC_LEVEL_MAX + 1];
    if (client_id == NULL || client_id[0] == '\0') {
        client_id = "unknown";
    }
    utf8_copy_valid(client_id, strlen(client_id), level, CNC_REJECT_TOPIC_LEVEL_MAX, true, NULL);
    int n = snprintf(out, out_len, "%s/%s", base, level);
    return n > 0 && (size_t)n < out_len ? (size_t)n : 0;
}

/* The first `limit` bytes as valid UTF-8 (see utf8_copy_valid); *cut when something was left. */
static char *excerpt(const void *text, size_t len, size_t limit, bool *cut)
{
    char *out = malloc(limit + 1);
    if (out != NULL) {
        utf8_copy_valid(text, len, out, limit, false, cut);
    }
    return out;
}

char *cnc_reject_report(const struct cnc_reject *rej, const char *node, const char *topic,
                        const char *client_id, int64_t received_ms, const void *message, size_t len,
                        uint64_t suppressed)
{
    char when[25];
    bool id_cut = false, topic_cut = false, message_cut = false;
    cJSON *o = cJSON_CreateObject();
    char *text = excerpt(message, len, CNC_REJECT_EXCERPT_MAX, &message_cut);
    char *id = client_id != NULL
                   ? excerpt(client_id, strlen(client_id), CNC_REJECT_EXCERPT_MAX, &id_cut)
                   : NULL;
    char *where = excerpt(topic, strlen(topic), CNC_REJECT_EXCERPT_MAX, &topic_cut);
    char *out = NULL;

    cnc_timestamp_format(received_ms, when);
    if (o != NULL && text != NULL && where != NULL && (client_id == NULL || id != NULL) &&
        cJSON_AddStringToObject(o, "reason", cnc_reject_name(rej->code)) != NULL &&
        (rej->field[0] ? cJSON_AddStringToObject(o, "field", rej->field)
                       : cJSON_AddNullToObject(o, "field")) != NULL &&
        cJSON_AddStringToObject(o, "detail", rej->detail) != NULL &&
        cJSON_AddStringToObject(o, "topic", where) != NULL &&
        (id != NULL ? cJSON_AddStringToObject(o, "client_id", id)
                    : cJSON_AddNullToObject(o, "client_id")) != NULL &&
        (rej->cnc_id[0] ? cJSON_AddStringToObject(o, "cnc_id", rej->cnc_id)
                        : cJSON_AddNullToObject(o, "cnc_id")) != NULL &&
        cJSON_AddStringToObject(o, "received_at", when) != NULL &&
        (node == NULL || cJSON_AddStringToObject(o, "node", node) != NULL) &&
        cJSON_AddStringToObject(o, "message", text) != NULL) {
        if (suppressed > 0) {
            cnc_json_add_number(o, "suppressed", (double)suppressed);
        }
        /* Cut texts say so, with their whole length in bytes. */
        if (id_cut) {
            cnc_json_add_number(o, "client_id_bytes", (double)strlen(client_id));
        }
        if (topic_cut) {
            cnc_json_add_number(o, "topic_bytes", (double)strlen(topic));
        }
        if (message_cut) {
            cnc_json_add_number(o, "message_bytes", (double)len);
        }
        out = cJSON_PrintUnformatted(o);
    }
    free(text);
    free(id);
    free(where);
    cJSON_Delete(o);
    return out;
}
