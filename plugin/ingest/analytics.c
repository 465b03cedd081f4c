/*
 * analytics.c - the analytics JSON object of a record, see analytics.h.
 *
 * Broker thread and the checker.
 */
#include "analytics.h"

#include <math.h>
#include <string.h>

#include "timestamp.h"
#include "json_number.h"

static cJSON *reading_value(const struct cnc_reading *r)
{
    switch (r->kind) {
    case CNC_VALUE_NUMBER:
        return cnc_json_number_item(r->num);
    case CNC_VALUE_BOOL:
        return cJSON_CreateBool(r->num != 0.0);
    case CNC_VALUE_STRING:
        return cJSON_CreateString(r->str);
    case CNC_VALUE_NULL:
        break;
    }
    return cJSON_CreateNull();
}

static cJSON *number_or_null(double v)
{
    return isfinite(v) ? cnc_json_number_item(v) : cJSON_CreateNull();
}

cJSON *cnc_analytics_object(const struct cnc_message *msg, const struct cnc_record *rec,
                            enum cnc_analytics_form form)
{
    char ts[25];
    cnc_timestamp_format(msg->ts_ms, ts);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    const struct cnc_efficiency *e = &rec->efficiency;
    cJSON_AddStringToObject(o, "cnc_id", msg->cnc_id);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "part_program", msg->part_program);
    cJSON_AddStringToObject(o, "handler", rec->handler);
    if (e->present) {
        cJSON_AddItemToObject(o, "mode",
                              e->mode ? cJSON_CreateString(e->mode) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "efficiency_score", number_or_null(e->score));
        cJSON_AddItemToObject(o, "efficiency_level",
                              e->level ? cJSON_CreateString(e->level) : cJSON_CreateNull());
    } else {
        cJSON_AddNullToObject(o, "mode");
        cJSON_AddNullToObject(o, "efficiency_score");
        cJSON_AddNullToObject(o, "efficiency_level");
    }
    if (form == CNC_ANALYTICS_READINGS) {
        cJSON *rd = cJSON_AddObjectToObject(o, "readings");
        for (size_t i = 0; rd != NULL && i < rec->n_readings; i++) {
            cJSON_AddItemToObject(rd, rec->readings[i].name, reading_value(&rec->readings[i]));
        }
    } else {
        cnc_json_add_number(o, "readings", (double)rec->n_readings);
    }
    if (form == CNC_ANALYTICS_VALUES) {
        cJSON *v = cJSON_AddObjectToObject(o, "values");
        for (size_t i = 0; v != NULL && i < rec->n_readings; i++) {
            const struct cnc_reading *r = &rec->readings[i];
            if (r->kind == CNC_VALUE_NUMBER && isfinite(r->num)) {
                cnc_json_add_number(v, r->name, r->num);
            }
        }
    }
    cJSON *an = cJSON_AddArrayToObject(o, "anomalies");
    for (size_t i = 0; an != NULL && i < rec->n_anomalies; i++) {
        const struct cnc_anomaly *a = &rec->anomalies[i];
        cJSON *x = cJSON_CreateObject();
        if (x == NULL) {
            break;
        }
        cJSON_AddStringToObject(x, "rule", a->rule);
        cJSON_AddStringToObject(x, "variable", a->variable);
        cJSON_AddItemToObject(x, "value", number_or_null(a->value));
        cJSON_AddItemToObject(x, "threshold", number_or_null(a->threshold));
        cJSON_AddStringToObject(x, "severity", cnc_severity_name(a->severity));
        cJSON_AddItemToArray(an, x);
    }
    return o;
}

/* A state text (a payload string: valid UTF-8 of at most 256 bytes, any character) as JSON. */
static cJSON *text_item(const char *p, size_t len)
{
    char buf[CNC_STATE_TEXT_MAX + 1];
    if (len > CNC_STATE_TEXT_MAX) {
        len = CNC_STATE_TEXT_MAX;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return cJSON_CreateString(buf);
}

void cnc_analytics_add_state(cJSON *o, const struct cnc_state_reading *st)
{
    if (st == NULL || !st->present) {
        cJSON_AddNullToObject(o, "state");
        cJSON_AddNullToObject(o, "category");
        return;
    }
    cJSON_AddItemToObject(o, "state", text_item(st->state, st->state_len));
    cJSON_AddStringToObject(o, "category", cnc_state_category_name(st->category));
    if (st->reason != NULL) {
        cJSON_AddItemToObject(o, "reason", text_item(st->reason, st->reason_len));
    }
}

cJSON *cnc_analytics_offline(const struct cnc_offline_machine *m)
{
    char ts[25];
    cnc_timestamp_format(m->event.started_ms, ts);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "cnc_id", m->cnc_id);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "part_program", m->part_program);
    cJSON_AddStringToObject(o, "handler", m->handler);
    cJSON_AddNullToObject(o, "mode");
    cJSON_AddNullToObject(o, "efficiency_score");
    cJSON_AddNullToObject(o, "efficiency_level");
    cnc_json_add_number(o, "readings", 0);
    cJSON_AddArrayToObject(o, "anomalies");
    cJSON_AddStringToObject(o, "state", CNC_OFFLINE_STATE);
    cJSON_AddStringToObject(o, "category", cnc_state_category_name(m->event.category));
    cJSON_AddStringToObject(o, "reason", CNC_OFFLINE_REASON);
    return o;
}
