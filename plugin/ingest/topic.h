/*
 * topic.h - the ingest topic filters, matched with the `+` level captured.
 *
 * Built once per config on the broker thread; matched on the broker thread
 * for every PUBLISH, so a non-matching topic costs a few byte compares.
 * mosquitto_topic_matches_sub() answers yes/no only; the envelope check needs
 * the text of the first `+` level (it must equal cnc_id).
 */
#ifndef CNC_TOPIC_H
#define CNC_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

struct cnc_topic_capture {
    const char *plus; /* first `+` level of the matched topic, NULL if none */
    size_t plus_len;
    int filter_index; /* which configured filter matched */
};

/*
 * True when topic matches filter (MQTT rules: `+` one level, `#` the rest
 * including the parent, wildcards never match a leading `$`). The filter must
 * be valid (cnc_topic_filter_valid() at config load).
 */
bool cnc_topic_match(const char *filter, const char *topic, struct cnc_topic_capture *cap);

/*
 * MQTT's rules for a subscription filter: 1-65535 bytes of UTF-8 without control
 * characters (which mosquitto refuses in topics), `+` and `#` only as whole levels, `#`
 * last. Pure: usable off the broker thread (config loads of a reload run on their own
 * thread), unlike mosquitto_sub_topic_check().
 */
bool cnc_topic_filter_valid(const char *filter);

/* The same for a topic to publish on: no wildcards at all. */
bool cnc_topic_name_valid(const char *topic);

#endif
