/*
 * config.h - the YAML configuration (DESIGN.md "Config"), loaded into a struct.
 *
 * Loaded on the broker thread at init and on MOSQ_EVT_RELOAD, and by the
 * offline checker. A loaded config is immutable; a reload builds a new one
 * and swaps it in only when it is valid.
 *
 * Every fixed-key section is described by a table (config_keys.c) of
 * {key, type, default, bounds, offset}: the same table fills the struct,
 * supplies defaults, refuses unknown and duplicate keys and prints the key
 * reference (cnc-ingest-check --keys). Errors name the file, line and key:
 * "cnc_ingest.yaml:12: ingest.max_message_bytes: must be an integer from 2 to 268435456".
 */
#ifndef CNC_CONFIG_H
#define CNC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "shift_calendar.h"

enum cnc_unknown_fields { CNC_UNKNOWN_FIELDS_REJECT = 0, CNC_UNKNOWN_FIELDS_IGNORE };
enum cnc_on_invalid { CNC_ON_INVALID_REJECT = 0, CNC_ON_INVALID_PASS };
enum cnc_fsync { CNC_FSYNC_NEVER = 0, CNC_FSYNC_BATCH, CNC_FSYNC_ALWAYS };
/* rows: one cnc_reading row per reading; json: only the payload column (view cnc_reading_json). */
enum cnc_readings_layout { CNC_READINGS_ROWS = 0, CNC_READINGS_JSON };
enum cnc_forged_output { CNC_FORGED_REFUSE = 0, CNC_FORGED_ALLOW };
/* mysql.insert: how a batch is sent (auto: bulk where the server and client library can). */
enum cnc_insert_mode { CNC_INSERT_AUTO = 0, CNC_INSERT_BULK, CNC_INSERT_MULTI_ROW };
/* (json is the default: 3x the messages/s of rows, bench/RESULTS.md) */

struct cnc_ingest_config {
    char **topics;
    size_t n_topics;
    long long max_message_bytes;
    long long max_payload_fields;
    int unknown_fields; /* enum cnc_unknown_fields */
    bool allow_nested;
    long long max_future_skew_s;
    int on_invalid; /* enum cnc_on_invalid */
    char *rejected_topic;
    long long max_tracked_machines;
    long long reports_per_client_s; /* reject reports a client may cause a second; 0: no limit */
    int forged_output;        /* enum cnc_forged_output: a client's PUBLISH on an output topic */
    char **bridge_client_ids; /* who may publish there anyway (a bridge), by client id */
    size_t n_bridge_client_ids;
    char **bridge_usernames; /* ... or by authenticated user name */
    size_t n_bridge_usernames;
};

/* mysql.hosts: each connect round tries every server (5 s at most each), so a short list. */
#define CNC_MYSQL_MAX_HOSTS 16
#define CNC_MYSQL_HOST_MAX 256 /* a host name's bytes, with the NUL */

struct cnc_mysql_config {
    char *host;
    char **hosts; /* mysql.hosts: "host:port" items of a cluster; n_hosts 0 when not given */
    size_t n_hosts;
    long long port;
    char *socket;
    char *user;
    char *password_file;
    char *database;
    bool create_schema;
    bool mes_tables; /* machine states, part counts, rollups, shifts (README "Machine states") */
    int readings;    /* enum cnc_readings_layout */
    int insert;      /* enum cnc_insert_mode */
    bool tls;
    char *tls_ca, *tls_cert, *tls_key;
    bool tls_verify_server;
    long long read_timeout_s;
};

struct cnc_writer_config {
    long long batch_size;
    long long flush_interval_ms;
    long long retry_base_ms, retry_max_ms; /* backoff: attempt k waits up to base * 2^k, capped */
};

struct cnc_spool_config {
    char *dir;
    long long max_bytes;
    long long segment_bytes;
    int fsync; /* enum cnc_fsync */
    long long dead_letter_max_bytes;
};

struct cnc_analytics_config {
    char *topic; /* "" turns analytics publishing off */
    bool values; /* numeric readings by name in each message ("values") */
};

struct cnc_metrics_config {
    char *topic; /* "" turns the retained metrics message off */
    long long interval_s;
    bool per_node; /* publish on <topic>/<node> (several brokers bridged together) */
};

/* A broker's name (`node:`): 1-64 characters of A-Z a-z 0-9 _ . : - (a topic level, a column). */
#define CNC_NODE_MAX 64

/* A handler instance as written under `handlers:`. */
struct cnc_handler_config {
    char *name;
    char *type;
    cJSON *params; /* NULL when absent */
    cJSON *rules;  /* NULL when absent; a JSON array */
    cJSON *states; /* NULL when absent; a JSON object (state_map.h) */
    int line;
};

/* One entry of `routes:`. */
struct cnc_route_config {
    char *match;
    char *handler;
    int line;
};

/* identity.by: whose name binds a client to its machines (CNC_IDENTITY_OFF: no identity section).
 */
enum cnc_identity_by { CNC_IDENTITY_OFF = 0, CNC_IDENTITY_USERNAME, CNC_IDENTITY_CLIENT_ID };

/* One entry of identity.publishers: who (exact or glob) may publish which cnc_id patterns. */
struct cnc_publisher_config {
    char *match;    /* a user name or client id, or a glob of them */
    char **cnc_ids; /* fnmatch patterns with %u (user name) and %c (client id) */
    int *cnc_id_lines;
    size_t n_cnc_ids;
    int line;
};

struct cnc_identity_config {
    int by; /* enum cnc_identity_by */
    struct cnc_publisher_config *publishers;
    size_t n_publishers;
    int line; /* of the section */
};

/* Where each key under a handler's params/rules stood, for error messages. */
struct cnc_config_line {
    char *path; /* "handlers.type_a.params.spindle_max" */
    int line;
};

struct cnc_config {
    char *path;
    char node[CNC_NODE_MAX + 1]; /* `node:`, else the host name (see cnc_config_default_node) */
    unsigned sections_present;   /* bit per section, see cnc_config_has() */
    struct cnc_ingest_config ingest;
    struct cnc_mysql_config mysql;
    struct cnc_writer_config writer;
    struct cnc_spool_config spool;
    struct cnc_analytics_config analytics;
    struct cnc_metrics_config metrics;
    struct cnc_handler_config *handlers;
    size_t n_handlers;
    struct cnc_route_config *routes;
    size_t n_routes;
    struct cnc_identity_config identity;
    char **handler_modules;
    size_t n_handler_modules;
    int handler_modules_line;
    struct cnc_config_line *lines;
    size_t n_lines;
    struct cnc_shift_calendar *shifts; /* `shifts:`, NULL when absent; read at start only */
};

/*
 * Loads and checks a config file. Returns a new config (free with
 * cnc_config_destroy), or NULL with a one-line message naming the file, line
 * and key in err. On error nothing is allocated.
 */
struct cnc_config *cnc_config_load(const char *path, char *err, size_t err_len);

/* The same from a buffer; name is used in messages. */
struct cnc_config *cnc_config_load_buffer(const char *name, const char *text, size_t len, char *err,
                                          size_t err_len);

void cnc_config_destroy(struct cnc_config *cfg);

/* The host name as a node name: cut at 64 characters, others than the allowed ones made '-';
   "broker" when there is none. */
void cnc_config_default_node(char out[CNC_NODE_MAX + 1]);

/* True when the named top-level section ("mysql", ...) was written in the file. */
bool cnc_config_has(const struct cnc_config *cfg, const char *section);

/* Line of a key path recorded under handlers (see cnc_config_line); fallback if unknown. */
int cnc_config_line_of(const struct cnc_config *cfg, const char *path, int fallback);

/*
 * True when a and b agree on everything read at start only (the mysql, writer and spool
 * sections, from the key tables, and handler_modules); else false with the first key that
 * differs ("mysql.create_schema") in which.
 */
bool cnc_config_same_start_only(const struct cnc_config *a, const struct cnc_config *b, char *which,
                                size_t which_len);

/*
 * Splits a mysql.hosts item "host:port" or "[v6]:port". false when it is not one (or the host
 * does not fit host_len); host and port may be NULL (just checking).
 */
bool cnc_config_host_port(const char *item, char *host, size_t host_len, unsigned *port);

/* Writes the key reference (every section, key, type, default, meaning). */
void cnc_config_print_keys(FILE *out, bool roff); /* roff: as a man page's sections */

#endif
