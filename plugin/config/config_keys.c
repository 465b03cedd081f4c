/*
 * config_keys.c - the key tables: the single statement of which keys the fixed-key sections
 * (ingest, mysql, writer, spool, analytics, metrics) have, their types, bounds, defaults and
 * help; the start-only comparison a reload makes with them; and the key listing
 * (cnc-ingest-check --keys, and as roff for cnc_ingest.yaml(5)). The loader is config.c.
 *
 * Read-only data and pure functions: any thread (the broker thread at reload, the checker).
 */
#include "config_keys.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

static const char *const unknown_fields_choices[] = {"reject", "ignore", NULL};
static const char *const on_invalid_choices[] = {"reject", "pass", NULL};
static const char *const fsync_choices[] = {"never", "batch", "always", NULL};
static const char *const readings_choices[] = {"rows", "json", NULL};
static const char *const forged_choices[] = {"refuse", "allow", NULL};
static const char *const insert_choices[] = {"auto", "bulk", "multi_row", NULL};

#define K(sec, field) offsetof(struct sec, field)

static const struct cfg_key ingest_keys[] = {
    {"topics", CFG_TOPIC_FILTERS, K(cnc_ingest_config, topics), "cnc/+/data", 0, 0, NULL,
     "topic filters whose messages are validated; the first + level must equal cnc_id"},
    {"max_message_bytes", CFG_SIZE, K(cnc_ingest_config, max_message_bytes), "65536", 2, 268435456,
     NULL, "larger messages are rejected with too_large"},
    {"max_payload_fields", CFG_INT, K(cnc_ingest_config, max_payload_fields), "256", 1, 65000, NULL,
     "more payload members are rejected with too_many_fields"},
    {"unknown_fields", CFG_ENUM, K(cnc_ingest_config, unknown_fields), "reject", 0, 0,
     unknown_fields_choices, "extra top-level members: reject (unknown_field) or ignore"},
    {"allow_nested", CFG_BOOL, K(cnc_ingest_config, allow_nested), "false", 0, 0, NULL,
     "allow objects and arrays as payload values"},
    {"max_future_skew_s", CFG_INT, K(cnc_ingest_config, max_future_skew_s), "300", 0, 315360000,
     NULL, "timestamps further ahead of the broker clock are out of range"},
    {"on_invalid", CFG_ENUM, K(cnc_ingest_config, on_invalid), "reject", 0, 0, on_invalid_choices,
     "reject: drop invalid messages; pass: deliver them but still report"},
    {"rejected_topic", CFG_PUB_TOPIC, K(cnc_ingest_config, rejected_topic), "cnc/rejected", 0, 0,
     NULL, "reject reports go to <rejected_topic>/<client_id>; \"\" turns them off"},
    {"max_tracked_machines", CFG_INT, K(cnc_ingest_config, max_tracked_machines), "65536", 1,
     10000000, NULL,
     "per handler instance, machines whose rule state (zscore, hampel, stuck) is kept"},
    {"reports_per_client_s", CFG_INT, K(cnc_ingest_config, reports_per_client_s), "10", 0, 1000000,
     NULL, "reject reports per client and second (0: no limit); the rest counted as suppressed"},
    {"forged_output", CFG_ENUM, K(cnc_ingest_config, forged_output), "refuse", 0, 0, forged_choices,
     "a client's PUBLISH on the plugin's output topics: refuse (0x87, counted) or allow"},
    {"bridge_client_ids", CFG_NAME_LIST, K(cnc_ingest_config, bridge_client_ids), "", 0, 0, NULL,
     "clients (a bridge's connection) that may publish on the output topics"},
    {"bridge_usernames", CFG_NAME_LIST, K(cnc_ingest_config, bridge_usernames), "", 0, 0, NULL,
     "authenticated users (a bridge's remote_username) that may publish on the output topics"},
};

static const struct cfg_key mysql_keys[] = {
    {"host", CFG_STR, K(cnc_mysql_config, host), "127.0.0.1", 0, 0, NULL, "server address"},
    {"hosts", CFG_HOST_LIST, K(cnc_mysql_config, hosts), "", 0, 0, NULL,
     "servers of a cluster, [host:port, ...]: the writer uses one, and moves on when it fails"},
    {"port", CFG_INT, K(cnc_mysql_config, port), "3306", 1, 65535, NULL, "server TCP port"},
    {"socket", CFG_STR, K(cnc_mysql_config, socket), "", 0, 0, NULL,
     "Unix socket path; used instead of host/port when set"},
    {"user", CFG_STR, K(cnc_mysql_config, user), "cnc", 0, 0, NULL, "database user"},
    {"password_file", CFG_STR, K(cnc_mysql_config, password_file), "", 0, 0, NULL,
     "file holding the password (not world-readable)"},
    {"database", CFG_STR, K(cnc_mysql_config, database), "cnc", 0, 0, NULL, "schema name"},
    {"create_schema", CFG_BOOL, K(cnc_mysql_config, create_schema), "false", 0, 0, NULL,
     "apply sql/schema.sql at start"},
    {"readings", CFG_ENUM, K(cnc_mysql_config, readings), "json", 0, 0, readings_choices,
     "rows: a cnc_reading row per reading; json: the payload column, and rows only for readings "
     "it does not hold (views cnc_reading_json, cnc_reading_all)"},
    {"mes_tables", CFG_BOOL, K(cnc_mysql_config, mes_tables), "true", 0, 0, NULL,
     "keep the MES tables up to date (intervals, current states, part counts, rollups, shifts); "
     "false: the messages and their rows alone, at the writer's speed before them"},
    {"insert", CFG_ENUM, K(cnc_mysql_config, insert), "auto", 0, 0, insert_choices,
     "bulk: one COM_STMT_BULK_EXECUTE per table and batch (MariaDB); multi_row: INSERT ... "
     "VALUES (..),(..) (any server, proxies); auto: bulk where the server offers it"},
    {"tls", CFG_BOOL, K(cnc_mysql_config, tls), "false", 0, 0, NULL,
     "require TLS to the database (TCP connections)"},
    {"tls_ca", CFG_STR, K(cnc_mysql_config, tls_ca), "", 0, 0, NULL,
     "CA certificate file that signed the server's certificate"},
    {"tls_cert", CFG_STR, K(cnc_mysql_config, tls_cert), "", 0, 0, NULL,
     "client certificate file, for servers that require one"},
    {"tls_key", CFG_STR, K(cnc_mysql_config, tls_key), "", 0, 0, NULL, "client key file"},
    {"tls_verify_server", CFG_BOOL, K(cnc_mysql_config, tls_verify_server), "true", 0, 0, NULL,
     "check the server certificate's name against mysql.host"},
    {"read_timeout_s", CFG_INT, K(cnc_mysql_config, read_timeout_s), "30", 1, 3600, NULL,
     "a statement the server has not answered after this long is given up and retried"},
};

static const struct cfg_key writer_keys[] = {
    {"batch_size", CFG_INT, K(cnc_writer_config, batch_size), "1000", 1, 100000, NULL,
     "records per database transaction at most"},
    {"flush_interval_ms", CFG_INT, K(cnc_writer_config, flush_interval_ms), "100", 1, 60000, NULL,
     "a partial batch is written after this long"},
    {"retry_base_ms", CFG_INT, K(cnc_writer_config, retry_base_ms), "100", 1, 60000, NULL,
     "the first wait after the database failed (full jitter: uniform from 0)"},
    {"retry_max_ms", CFG_INT, K(cnc_writer_config, retry_max_ms), "10000", 1, 600000, NULL,
     "the waits double up to this"},
};

static const struct cfg_key spool_keys[] = {
    {"dir", CFG_STR, K(cnc_spool_config, dir), "/var/lib/mosquitto/cnc_spool", 0, 0, NULL,
     "spool folder, writable by the broker's user"},
    {"max_bytes", CFG_SIZE, K(cnc_spool_config, max_bytes), "1GiB", 1048576, (long long)1 << 50,
     NULL, "when full, new messages are rejected with spool_full"},
    {"segment_bytes", CFG_SIZE, K(cnc_spool_config, segment_bytes), "64MiB", 65536,
     (long long)1 << 36, NULL, "size of one spool file (capped at max_bytes / 2)"},
    {"fsync", CFG_ENUM, K(cnc_spool_config, fsync), "never", 0, 0, fsync_choices,
     "never (survives a broker crash), batch or always (survive power loss)"},
    {"dead_letter_max_bytes", CFG_SIZE, K(cnc_spool_config, dead_letter_max_bytes), "64MiB", 4096,
     (long long)1 << 40, NULL,
     "dead-letter.jsonl grows to this at most; then refused records wait in the spool"},
};

static const struct cfg_key analytics_keys[] = {
    {"topic", CFG_PUB_TOPIC, K(cnc_analytics_config, topic), "cnc/analytics", 0, 0, NULL,
     "analytics go to <topic>/<cnc_id>; \"\" turns them off"},
    {"values", CFG_BOOL, K(cnc_analytics_config, values), "true", 0, 0, NULL,
     "each analytics message carries the numeric readings (\"values\"), for the dashboard"},
};

static const struct cfg_key metrics_keys[] = {
    {"topic", CFG_PUB_TOPIC, K(cnc_metrics_config, topic), "cnc/ingest/stats", 0, 0, NULL,
     "retained counters are published here; \"\" turns that off"},
    {"interval_s", CFG_INT, K(cnc_metrics_config, interval_s), "10", 1, 86400, NULL,
     "how often counters are logged and published"},
    {"per_node", CFG_BOOL, K(cnc_metrics_config, per_node), "false", 0, 0, NULL,
     "publish on <topic>/<node>, so that bridged brokers do not overwrite each other"},
};

#define SECTION(name, keys, field, start_only)                                                     \
    {                                                                                              \
        name, keys, sizeof(keys) / sizeof(keys[0]), offsetof(struct cnc_config, field), start_only \
    }

/* The storage sections take effect at start only: the spool and the writer thread run on. */
const struct cfg_section cnc_cfg_sections[] = {
    SECTION("ingest", ingest_keys, ingest, false),
    SECTION("mysql", mysql_keys, mysql, true),
    SECTION("writer", writer_keys, writer, true),
    SECTION("spool", spool_keys, spool, true),
    SECTION("analytics", analytics_keys, analytics, false),
    SECTION("metrics", metrics_keys, metrics, false),
};
const size_t cnc_cfg_n_sections = sizeof cnc_cfg_sections / sizeof cnc_cfg_sections[0];

/* Top-level keys that are not fixed-key sections; their bits follow the sections'. */
const char *const cnc_cfg_special_keys[] = {"handlers", "routes",   "handler_modules",
                                            "node",     "identity", "shifts"};
const size_t cnc_cfg_n_special = sizeof cnc_cfg_special_keys / sizeof cnc_cfg_special_keys[0];

static bool same_value(const struct cfg_key *k, const char *a, const char *b)
{
    switch (k->type) {
    case CFG_STR:
    case CFG_PUB_TOPIC:
        return strcmp(*(char *const *)a, *(char *const *)b) == 0;
    case CFG_INT:
    case CFG_SIZE:
        return *(const long long *)a == *(const long long *)b;
    case CFG_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case CFG_ENUM:
        return *(const int *)a == *(const int *)b;
    case CFG_TOPIC_FILTERS:
    case CFG_HOST_LIST:
    case CFG_NAME_LIST: {
        size_t n = *(const size_t *)(a + sizeof(char **));
        if (n != *(const size_t *)(b + sizeof(char **))) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp((*(char *const *const *)a)[i], (*(char *const *const *)b)[i]) != 0) {
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

bool cnc_config_same_start_only(const struct cnc_config *a, const struct cnc_config *b, char *which,
                                size_t which_len)
{
    for (size_t s = 0; s < cnc_cfg_n_sections; s++) {
        const struct cfg_section *sec = &cnc_cfg_sections[s];
        if (!sec->start_only) {
            continue;
        }
        /* The mysql section's presence turns storage on or off; an absent writer or spool
           section is just its defaults. */
        if (strcmp(sec->name, "mysql") == 0 &&
            cnc_config_has(a, sec->name) != cnc_config_has(b, sec->name)) {
            snprintf(which, which_len, "the %s section", sec->name);
            return false;
        }
        for (size_t i = 0; i < sec->n_keys; i++) {
            const struct cfg_key *k = &sec->keys[i];
            if (!same_value(k, (const char *)a + sec->offset + k->offset,
                            (const char *)b + sec->offset + k->offset)) {
                snprintf(which, which_len, "%s.%s", sec->name, k->key);
                return false;
            }
        }
    }
    if (strcmp(a->node, b->node) != 0) { /* the writer stores it with every message */
        snprintf(which, which_len, "node");
        return false;
    }
    bool modules = a->n_handler_modules == b->n_handler_modules;
    for (size_t i = 0; modules && i < a->n_handler_modules; i++) {
        modules = strcmp(a->handler_modules[i], b->handler_modules[i]) == 0;
    }
    if (!modules) {
        snprintf(which, which_len, "handler_modules");
        return false;
    }
    return true;
}

/* Text for a roff line: backslashes doubled as \e, a leading dot or quote made literal. */
static void roff_text(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'') {
        fputs("\\&", out);
    }
    for (; *s; s++) {
        if (*s == '\\') {
            fputs("\\e", out);
        } else if (*s == '-') {
            fputs("\\-", out);
        } else {
            fputc(*s, out);
        }
    }
}

static void print_key(FILE *out, bool roff, const char *key, const char *type, const char *dflt,
                      const char *help)
{
    if (!roff) {
        fprintf(out, "  %-20s %-14s default %-28s %s\n", key, type, dflt, help);
        return;
    }
    fputs(".TP\n.B ", out);
    roff_text(out, key);
    fputs("\n(", out);
    roff_text(out, type);
    fputs("; default ", out);
    roff_text(out, dflt);
    fputs(")\n", out);
    roff_text(out, help);
    fputc('\n', out);
}

void cnc_config_print_keys(FILE *out, bool roff)
{
    static const char *const type_names[] = {"string",  "integer",        "size",
                                             "boolean", "choice",         "topic filters",
                                             "topic",   "host:port list", "names"};
    for (size_t s = 0; s < cnc_cfg_n_sections; s++) {
        const struct cfg_section *sec = &cnc_cfg_sections[s];
        fprintf(out, roff ? ".SS %s\n" : "%s:\n", sec->name);
        for (size_t i = 0; i < sec->n_keys; i++) {
            const struct cfg_key *k = &sec->keys[i];
            print_key(out, roff, k->key, type_names[k->type], k->dflt[0] ? k->dflt : "\"\"",
                      k->help);
        }
    }
    fputs(roff ? ".SS identity\nOptional; without it any client may publish any cnc_id.\n"
               : "identity: (optional; without it any client may publish any cnc_id)\n",
          out);
    print_key(out, roff, "by", "choice", "(required)",
              "username (with use_identity_as_username: the certificate's CN) or client_id");
    print_key(out, roff, "publishers", "list", "(required)",
              "[{match: IDENTITY or glob, cnc_ids: [pattern, ...]}]; %u user name, %c client id");
}
