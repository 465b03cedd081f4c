/*
 * layout.c - the retained layout message for dashboards, see layout.h.
 * Main (broker) thread, at start and reload; not on the per-message path.
 */
#include "layout.h"

#include "json_number.h"

#include <cjson/cJSON.h>

char *cnc_layout_json(const struct cnc_config *cfg, const struct cnc_route_table *routes,
                      const char *node)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "node", node);
    cJSON *hs = cJSON_AddObjectToObject(o, "handlers");
    for (size_t i = 0; hs != NULL && i < cfg->n_handlers; i++) {
        const struct cnc_handler_config *h = &cfg->handlers[i];
        cJSON *x = cJSON_AddObjectToObject(hs, h->name);
        if (x == NULL) {
            break;
        }
        cJSON_AddStringToObject(x, "type", h->type);
        cJSON_AddItemToObject(x, "params",
                              h->params ? cJSON_Duplicate(h->params, 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(x, "rules",
                              h->rules ? cJSON_Duplicate(h->rules, 1) : cJSON_CreateArray());
        /* The state mapping in force, the type's defaults included (null: none tracked). */
        const struct cnc_handler_instance *inst =
            routes != NULL && i < cnc_route_table_instance_count(routes)
                ? cnc_route_table_instance(routes, i)
                : NULL;
        cJSON *states =
            inst != NULL && inst->states != NULL ? cnc_state_map_describe(inst->states) : NULL;
        cJSON_AddItemToObject(x, "states", states != NULL ? states : cJSON_CreateNull());
    }
    cJSON *t = cJSON_AddObjectToObject(o, "topics");
    if (t != NULL) {
        cJSON_AddStringToObject(t, "analytics", cfg->analytics.topic);
        cJSON_AddStringToObject(t, "rejected", cfg->ingest.rejected_topic);
        cJSON_AddStringToObject(t, "metrics", cfg->metrics.topic);
        cJSON_AddBoolToObject(t, "metrics_per_node", cfg->metrics.per_node);
    }
    cnc_json_exact_numbers(o); /* thresholds as written: a dashboard draws them */
    char *text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}
