/*
 * reject.c - reject reasons: names, filling, and the JSON report.
 *
 * Broker thread. The report is built only on the reject path, so it may
 * allocate; the accept path never comes here.
 */
#include "reject.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "timestamp.h"
#include "utf8.h"

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
    return CNC_EREJECT;
}

/* The first `limit` bytes as valid UTF-8: bad bytes become U+FFFD, a character cut by the limit is
 * dropped. */
static char *excerpt(const void *message, size_t len, size_t limit)
{
    const char *s = message;
    size_t n = len < limit ? len : limit;
    char *out = malloc(n * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        size_t ok = utf8_invalid_at(s + i, n - i);
        memcpy(out + o, s + i, ok);
        o += ok;
        i += ok;
        if (i >= n) {
            break;
        }
        /* A sequence valid in the whole message but cut by the limit: drop it. */
        if (n < len && utf8_invalid_at(s + i, len - i > 4 ? 4 : len - i) > 0) {
            break;
        }
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i++;
    }
    out[o] = '\0';
    return out;
}

char *cnc_reject_report(const struct cnc_reject *rej, const char *topic, const char *client_id,
                        int64_t received_ms, const void *message, size_t len)
{
    char when[25];
    cJSON *o = cJSON_CreateObject();
    char *text = excerpt(message, len, 256);
    char *out = NULL;

    cnc_timestamp_format(received_ms, when);
    if (o != NULL && text != NULL &&
        cJSON_AddStringToObject(o, "reason", cnc_reject_name(rej->code)) != NULL &&
        (rej->field[0] ? cJSON_AddStringToObject(o, "field", rej->field)
                       : cJSON_AddNullToObject(o, "field")) != NULL &&
        cJSON_AddStringToObject(o, "detail", rej->detail) != NULL &&
        cJSON_AddStringToObject(o, "topic", topic) != NULL &&
        (client_id != NULL ? cJSON_AddStringToObject(o, "client_id", client_id)
                           : cJSON_AddNullToObject(o, "client_id")) != NULL &&
        (rej->cnc_id[0] ? cJSON_AddStringToObject(o, "cnc_id", rej->cnc_id)
                        : cJSON_AddNullToObject(o, "cnc_id")) != NULL &&
        cJSON_AddStringToObject(o, "received_at", when) != NULL &&
        cJSON_AddStringToObject(o, "message", text) != NULL) {
        out = cJSON_PrintUnformatted(o);
    }
    free(text);
    cJSON_Delete(o);
    return out;
}
