/*
 * cnc_record.h - a validated message and the record a handler makes of it.
 *
 * Broker thread (and the offline checker / benchmarks, single-threaded).
 * Everything here is plain data so that out-of-tree handler modules can use
 * it without linking against the plugin (see cnc_handler.h).
 *
 * Lifetime: every pointer in a cnc_message or cnc_record is borrowed. Strings
 * point into the message's cJSON tree, into the handler instance, or at static
 * text; they stay valid until the caller has finished with the message (the
 * spool encoder copies what it keeps). A handler never frees them.
 */
#ifndef CNC_RECORD_H
#define CNC_RECORD_H

/* Widths of the database columns names end up in (sql/schema.sql), in bytes: handler instance,
   rule and variable names (VARCHAR(64)) and mode names (VARCHAR(32)). Longer names are
   config errors, never truncated rows. */
#define CNC_DB_NAME_MAX 64
#define CNC_DB_MODE_MAX 32

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A message that passed envelope validation. */
struct cnc_message {
    const char *cnc_id;       /* 1-64 chars of [A-Za-z0-9_.:-] */
    const char *part_program; /* 1-128 printable chars */
    int64_t ts_ms;            /* UTC milliseconds since the epoch */
    const cJSON *payload;     /* a JSON object; member values checked */
};

enum cnc_value_kind {
    CNC_VALUE_NULL = 0,
    CNC_VALUE_NUMBER,
    CNC_VALUE_BOOL, /* num is 0 or 1 */
    CNC_VALUE_STRING,
};

struct cnc_reading {
    const char *name;
    enum cnc_value_kind kind;
    double num;      /* NUMBER and BOOL */
    const char *str; /* STRING, NUL-terminated, at most 256 bytes */
};

enum cnc_severity {
    CNC_SEVERITY_INFO = 0,
    CNC_SEVERITY_WARNING,
    CNC_SEVERITY_CRITICAL,
};

struct cnc_anomaly {
    const char *rule;     /* rule name as configured, e.g. "temperature_high" */
    const char *variable; /* payload member it concerns */
    double value;         /* the value seen */
    double threshold;     /* the limit crossed (NaN when the rule has none) */
    enum cnc_severity severity;
};

struct cnc_efficiency {
    int present; /* 0: this handler computes no efficiency */
    const char *mode;
    double temperature;
    double vibration;
    double score;      /* 0..100 */
    const char *level; /* "Low", "Medium", "High", "Critical" */
    int is_anomaly;
};

/*
 * The caller owns the arrays and sets the max_* capacities; handlers append
 * with the helpers below, which refuse (return -1) when an array is full.
 */
struct cnc_record {
    const char *handler; /* the handler instance's name */
    struct cnc_reading *readings;
    size_t n_readings;
    size_t max_readings;
    struct cnc_anomaly *anomalies;
    size_t n_anomalies;
    size_t max_anomalies;
    struct cnc_efficiency efficiency;
};

static inline int cnc_record_add_reading(struct cnc_record *rec, const struct cnc_reading *r)
{
    if (rec->n_readings >= rec->max_readings) {
        return -1;
    }
    rec->readings[rec->n_readings++] = *r;
    return 0;
}

static inline int cnc_record_add_anomaly(struct cnc_record *rec, const struct cnc_anomaly *a)
{
    if (rec->n_anomalies >= rec->max_anomalies) {
        return -1;
    }
    rec->anomalies[rec->n_anomalies++] = *a;
    return 0;
}

/*
 * "info", "warning", "critical". Defined here, not in the plugin: the plugin exports only
 * mosquitto_plugin_*, so a module calling a function the plugin defines would fail to load
 * (dlopen RTLD_NOW: undefined symbol). Everything a module may call lives in these headers.
 */
static inline const char *cnc_severity_name(enum cnc_severity s)
{
    switch (s) {
    case CNC_SEVERITY_INFO:
        return "info";
    case CNC_SEVERITY_WARNING:
        return "warning";
    case CNC_SEVERITY_CRITICAL:
        return "critical";
    }
    return "unknown";
}

#endif
