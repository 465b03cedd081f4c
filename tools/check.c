/*
 * check.c - cnc-ingest-check, the offline config checker and message tester.
 *
 *   cnc-ingest-check CONFIG                      check a config, exit 1 naming key and line
 *   cnc-ingest-check --connect CONFIG            also try the database as the writer would
 *                                                (db_probe.c): connection, schema, grants
 *   cnc-ingest-check CONFIG MESSAGES.jsonl|-     also run each line through the pipeline
 *   cnc-ingest-check --keys                      the config key reference
 *   cnc-ingest-check --types [CONFIG]            the handler types (with CONFIG's modules)
 *
 * Options: --topic T publishes every message on T (default: the first ingest
 * filter with `+` replaced by the message's cnc_id and `#` by "data");
 * --now MS fixes the clock for timestamp range checks; --identity NAME
 * publishes as a client whose user name and client id are NAME (without it,
 * an anonymous client), so an identity table can be tried offline. A line
 * may name its own publisher instead:
 *   {"publisher": "NAME" | {"username": U, "client_id": C}, "message": {...}}
 * (the message's bytes are checked as written, not re-serialized).
 *
 * Single-threaded command-line tool; the same code as the plugin, no broker.
 * Output: one JSON object per message line on stdout.
 */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "analytics.h"
#include "config.h"
#include "db_probe.h"
#include "ingest.h"
#include "registry.h"
#include "safe_file.h"
#include "sink_mysql.h"
#include "json_locate.h"
#include "json_number.h"

static void usage(void)
{
    fprintf(stderr, "usage: cnc-ingest-check [--connect] [--topic T] [--now MS] [--identity NAME] "
                    "CONFIG [MESSAGES.jsonl|-]\n"
                    "       cnc-ingest-check --keys\n"
                    "       cnc-ingest-check --types [CONFIG]\n");
}

static void print_type(const struct cnc_handler_type *t, const char *origin, void *arg)
{
    (void)arg;
    printf("%-20s %-10s %s\n", t->name, origin, t->description ? t->description : "");
}

/* The topic a collector would use for this message under filter. */
static void derive_topic(const char *filter, const char *line, char *out, size_t out_len)
{
    char id[65] = "unknown";
    cJSON *j = cJSON_Parse(line);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cnc_id");
    if (cJSON_IsString(c) && strlen(c->valuestring) < sizeof id && c->valuestring[0] != '\0' &&
        strpbrk(c->valuestring, "/+#") == NULL) {
        strcpy(id, c->valuestring);
    }
    cJSON_Delete(j);
    size_t o = 0;
    for (const char *f = filter; *f != '\0' && o + 1 < out_len; f++) {
        const char *rep = *f == '+' ? id : *f == '#' ? "data" : NULL;
        if (rep == NULL) {
            out[o++] = *f;
            continue;
        }
        for (; *rep != '\0' && o + 1 < out_len; rep++) {
            out[o++] = *rep;
        }
    }
    out[o] = '\0';
}

static void emit(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s != NULL) {
        puts(s);
        free(s);
    }
    cJSON_Delete(o);
}

/* Who publishes one line: the --identity default, or the line's own "publisher". */
struct line_publisher {
    struct cnc_publisher who;
    char client_id[256], username[256];
};

static void skip_ws(const char *s, size_t n, size_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' || s[*i] == '\n')) {
        (*i)++;
    }
}

/* Where the raw value of the root's member "message" is in line[0..n): [*from, *to). */
static bool message_span(const char *line, size_t n, size_t *from, size_t *to)
{
    size_t i = 0;
    skip_ws(line, n, &i);
    if (i >= n || line[i] != '{') {
        return false;
    }
    i++;
    for (;;) {
        skip_ws(line, n, &i);
        if (i >= n || line[i] != '"') {
            return false;
        }
        size_t key_end = cnc_json_string_end(line, n, i);
        bool is_message = key_end - i == 9 && memcmp(line + i, "\"message\"", 9) == 0;
        i = key_end;
        skip_ws(line, n, &i);
        if (i >= n || line[i] != ':') {
            return false;
        }
        i++;
        skip_ws(line, n, &i);
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(line + i, n - i, &end, 0);
        cJSON_Delete(v);
        if (v == NULL || end == NULL) {
            return false;
        }
        if (is_message) {
            *from = i;
            *to = (size_t)(end - line);
            return true;
        }
        i = (size_t)(end - line);
        skip_ws(line, n, &i);
        if (i >= n || line[i] != ',') {
            return false;
        }
        i++;
    }
}

/* false when the name does not fit (a publisher line is then refused, never cut). */
static bool copy_name(char *dst, size_t cap, const cJSON *v)
{
    return (size_t)snprintf(dst, cap, "%s", v->valuestring) < cap;
}

/*
 * A line {"publisher": ..., "message": ...}: the publisher into lp and the message's span.
 * 0: it is one; 1: an ordinary message line; -1: a publisher line that is malformed.
 */
static int publisher_line(const char *line, size_t n, struct line_publisher *lp, size_t *from,
                          size_t *to)
{
    cJSON *j = cJSON_ParseWithLength(line, n);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "publisher");
    if (p == NULL) {
        cJSON_Delete(j);
        return 1;
    }
    int rc = -1;
    if (cJSON_GetArraySize(j) == 2 &&
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "message")) &&
        message_span(line, n, from, to)) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "username");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "client_id");
        if (cJSON_IsString(p) && p->valuestring[0] != '\0') {
            if (copy_name(lp->username, sizeof lp->username, p) &&
                copy_name(lp->client_id, sizeof lp->client_id, p)) {
                lp->who = (struct cnc_publisher){lp->client_id, lp->username};
                rc = 0;
            }
        } else if (cJSON_IsObject(p) && (u == NULL || cJSON_IsString(u)) &&
                   (c == NULL || cJSON_IsString(c))) {
            snprintf(lp->client_id, sizeof lp->client_id, "%s", "cnc-ingest-check");
            lp->who.client_id = lp->client_id;
            lp->who.username = u != NULL ? lp->username : NULL;
            if ((c == NULL || copy_name(lp->client_id, sizeof lp->client_id, c)) &&
                (u == NULL || copy_name(lp->username, sizeof lp->username, u))) {
                rc = 0;
            }
        }
    }
    cJSON_Delete(j);
    return rc;
}

static void add_publisher(cJSON *o, const struct cnc_publisher *who)
{
    cJSON *p = cJSON_AddObjectToObject(o, "publisher");
    cJSON_AddStringToObject(p, "client_id", who->client_id);
    if (who->username != NULL) {
        cJSON_AddStringToObject(p, "username", who->username);
    } else {
        cJSON_AddNullToObject(p, "username");
    }
}

static int run_messages(struct cnc_ingest *ing, FILE *in, const char *fixed_topic,
                        const struct cnc_publisher *dflt, int64_t now)
{
    const struct cnc_config *cfg = cnc_ingest_config(ing);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    long accepted = 0, rejected = 0, skipped = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        struct line_publisher lp = {.who = *dflt};
        size_t from = 0, to = (size_t)n;
        int kind = publisher_line(line, (size_t)n, &lp, &from, &to);
        cJSON *o = cJSON_CreateObject();
        cnc_json_add_number(o, "line", (double)lineno);
        if (kind < 0) {
            cJSON_AddStringToObject(o, "verdict", "bad_line");
            cJSON_AddStringToObject(o, "detail",
                                    "a line with \"publisher\" must be {\"publisher\": NAME or "
                                    "{\"username\": U, \"client_id\": C}, \"message\": {...}}, "
                                    "names of at most 255 bytes");
            skipped++;
            emit(o);
            continue;
        }
        char *msg = line + from;
        n = (ssize_t)(to - from);
        char saved = msg[n];
        msg[n] = '\0';
        char topic[512];
        if (fixed_topic != NULL) {
            snprintf(topic, sizeof topic, "%s", fixed_topic);
        } else {
            derive_topic(cfg->ingest.topics[0], msg, topic, sizeof topic);
        }
        msg[n] = saved;
        cJSON_AddStringToObject(o, "topic", topic);
        if (cnc_ingest_identity(ing) != NULL) {
            add_publisher(o, &lp.who);
        }
        struct cnc_topic_capture cap_;
        if (!cnc_ingest_wants(ing, topic, &cap_)) {
            cJSON_AddStringToObject(o, "verdict", "not_inspected");
            skipped++;
            emit(o);
            continue;
        }
        struct cnc_ingest_result res;
        int rc = cnc_ingest_process(ing, &cap_, msg, (size_t)n, now, &lp.who, &res);
        if (rc == 0) {
            accepted++;
            cJSON_AddStringToObject(o, "verdict", "accepted");
            cJSON_AddStringToObject(o, "handler", res.instance->name);
            cJSON_AddStringToObject(o, "handler_type", res.instance->type->name);
            cJSON *record = cnc_analytics_object(&res.msg, &res.rec, CNC_ANALYTICS_READINGS);
            if (record != NULL) {
                cnc_analytics_add_state(record, &res.state);
            }
            cJSON_AddItemToObject(o, "record", record);
        } else {
            rejected++;
            cJSON_AddStringToObject(o, "verdict",
                                    cnc_ingest_delivers_refused(ing, &res.rej) ? "passed_invalid"
                                                                               : "rejected");
            cJSON_AddStringToObject(o, "reason", cnc_reject_name(res.rej.code));
            if (res.rej.field[0]) {
                cJSON_AddStringToObject(o, "field", res.rej.field);
            } else {
                cJSON_AddNullToObject(o, "field");
            }
            cJSON_AddStringToObject(o, "detail", res.rej.detail);
            if (res.instance != NULL) {
                cJSON_AddStringToObject(o, "handler", res.instance->name);
            }
        }
        cnc_ingest_result_release(&res);
        emit(o);
    }
    free(line);
    fprintf(stderr, "%ld messages: %ld accepted, %ld rejected, %ld not inspected or bad lines\n",
            lineno, accepted, rejected, skipped);
    return 0;
}

/*
 * The broker's checks on the files it opens at start (password, TLS), as far as this user can
 * tell: the checker may run as another user than the broker, so a sound file it may not read
 * is a warning, and the broker's user (mosquitto) may own the password file.
 */
static int check_storage_files(const struct cnc_config *cfg, const char *config_path, bool connect)
{
    char err[1024];
    if (!cnc_config_has(cfg, "mysql")) {
        if (connect) {
            fprintf(stderr,
                    "%s: --connect: no mysql section, so the plugin would store nothing "
                    "(uncomment mysql: and fill it in)\n",
                    config_path);
            return 1;
        }
        return 0;
    }
    /* A socket path that names nothing: the writer would wait forever for a server there. */
    const char *sock = cfg->mysql.socket;
    struct stat st;
    if (cfg->mysql.n_hosts == 0 && sock[0] != '\0') {
        int found = stat(sock, &st);
        if (found != 0 && errno != EACCES) {
            fprintf(stderr,
                    "%s: mysql.socket: %s: %s (is the database server running on this host? "
                    "its own config names the path: socket= under [mysqld])\n",
                    config_path, sock, strerror(errno));
            return 1;
        }
        if (found == 0 && !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "%s: mysql.socket: %s is not a socket\n", config_path, sock);
            return 1;
        }
    }
    const char *tls_files[] = {cfg->mysql.tls_ca, cfg->mysql.tls_cert, cfg->mysql.tls_key};
    static const char *const tls_keys[] = {"mysql.tls_ca", "mysql.tls_cert", "mysql.tls_key"};
    if (cnc_file_check_each(tls_files, tls_keys, 3, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", config_path, err);
        return 1;
    }
    const struct passwd *broker = getpwnam("mosquitto");
    char *password = NULL;
    if (cnc_password_read(cfg->mysql.password_file,
                          broker != NULL ? broker->pw_uid : CNC_FILE_NO_OWNER, &password, err,
                          sizeof err) != 0) {
        if (errno != EACCES) {
            fprintf(stderr, "%s: %s\n", config_path, err);
            return 1;
        }
        fprintf(stderr, "%s: warning: %s (this user may not read it: the broker's user must)\n",
                config_path, err);
    }
    int rc = 0;
    if (connect) {
        cnc_mysql_library_init();
        rc = cnc_db_probe(&cfg->mysql, password, stderr);
        cnc_mysql_library_end();
    }
    if (password != NULL) {
        memset(password, 0, strlen(password));
        free(password);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *topic = NULL;
    struct cnc_publisher who = {"cnc-ingest-check", NULL};
    int64_t now = cnc_now_ms();
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    int want_types = 0;
    bool want_connect = false;
    char err[1024];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0) {
            cnc_config_print_keys(stdout, false);
            return 0;
        } else if (strcmp(argv[i], "--keys-roff") == 0) { /* for cnc_ingest.yaml(5) */
            cnc_config_print_keys(stdout, true);
            return 0;
        } else if (strcmp(argv[i], "--types") == 0) {
            want_types = 1;
        } else if (strcmp(argv[i], "--connect") == 0) {
            want_connect = true;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            topic = argv[++i];
        } else if (strcmp(argv[i], "--identity") == 0 && i + 1 < argc) {
            who.client_id = who.username = argv[++i];
        } else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            now = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (npos < 2 && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            pos[npos++] = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (want_types && npos == 0) {
        struct cnc_registry *reg = cnc_registry_create(NULL, 0, err, sizeof err);
        if (reg == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        cnc_registry_each(reg, print_type, NULL);
        cnc_registry_destroy(reg);
        return 0;
    }
    if (npos == 0) {
        usage();
        return 2;
    }
    struct cnc_config *cfg = cnc_config_load(pos[0], err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check_storage_files(cfg, pos[0], want_connect) != 0) {
        cnc_config_destroy(cfg);
        return 1;
    }
    struct cnc_registry *reg =
        cnc_registry_create(cfg->handler_modules, cfg->n_handler_modules, err, sizeof err);
    if (reg == NULL) {
        fprintf(stderr, "%s:%d: %s\n", pos[0], cfg->handler_modules_line, err);
        cnc_config_destroy(cfg);
        return 1;
    }
    if (want_types) {
        cnc_registry_each(reg, print_type, NULL);
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    if (ing == NULL) {
        fprintf(stderr, "%s\n", err);
        cnc_registry_destroy(reg);
        return 1;
    }
    const struct cnc_config *c = cnc_ingest_config(ing);
    fprintf(
        stderr,
        "%s: OK: %zu topic filters, %zu handler instances, %zu exact routes, %zu glob routes%s\n",
        pos[0], c->ingest.n_topics, c->n_handlers,
        cnc_route_table_exact_count(cnc_ingest_routes(ing)),
        cnc_route_table_glob_count(cnc_ingest_routes(ing)),
        cnc_config_has(c, "mysql") ? "" : "; no mysql section: nothing would be stored");
    if (cnc_ingest_identity(ing) != NULL) {
        fprintf(stderr, "%s: identity by %s: %zu exact publishers, %zu glob publishers\n", pos[0],
                cnc_identity_kind(cnc_ingest_identity(ing)),
                cnc_identity_exact_count(cnc_ingest_identity(ing)),
                cnc_identity_glob_count(cnc_ingest_identity(ing)));
    }
    int rc = 0;
    if (npos == 2) {
        FILE *in = strcmp(pos[1], "-") == 0 ? stdin : fopen(pos[1], "r");
        if (in == NULL) {
            perror(pos[1]);
            rc = 1;
        } else {
            rc = run_messages(ing, in, topic, &who, now);
            if (in != stdin) {
                fclose(in);
            }
        }
    }
    cnc_ingest_destroy(ing);
    cnc_registry_destroy(reg);
    return rc;
}
