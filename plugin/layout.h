/*
 * layout.h - the retained "layout" message on <analytics.topic> itself:
 * what a dashboard needs to know about the running configuration before any
 * data arrives (handler instances with their type, params and rules, from
 * which it draws threshold lines, and the topics it should subscribe to).
 *
 * Main (broker) thread, published on the first TICK after start and after
 * each reload.
 */
#ifndef CNC_LAYOUT_H
#define CNC_LAYOUT_H

#include "config.h"
#include "route.h"

/*
 * {"node":N,"handlers":{NAME:{"type":T,"params":{..}|null,"rules":[..]}},
 *  "topics":{"analytics":..,"rejected":..,"metrics":..,"metrics_per_node":B}}
 * as a malloc'd string, or NULL when out of memory. node is the broker's name
 * (with metrics_per_node its metrics are on <metrics>/<node>, and a dashboard
 * subscribes to <metrics>/+ to hear every broker).
 */
char *cnc_layout_json(const struct cnc_config *cfg, const struct cnc_route_table *routes,
                      const char *node);

#endif
