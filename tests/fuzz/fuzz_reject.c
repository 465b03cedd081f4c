/*
 * fuzz_reject.c - libFuzzer harness for what the plugin publishes about a refused message:
 * the reject topic built from an arbitrary client id, and the JSON report with an arbitrary
 * topic, client id, message, field and detail. Whatever goes in, the topic must be valid
 * UTF-8 without control characters or wildcards and exactly one level below the base, and
 * the report valid UTF-8 JSON whose texts are bounded (a subscriber must never choke on it).
 *
 * Replay in CI: fuzz_reject tests/fuzz/corpus/reject -runs=0
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "reject.h"
#include "utf8.h"

/* The next piece of the input up to a 0xFF byte (or the end), as a C string (no NUL inside). */
static char *piece(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *start = *p;
    while (*p < end && **p != 0xFF) {
        (*p)++;
    }
    size_t n = (size_t)(*p - start);
    if (*p < end) {
        (*p)++;
    }
    char *s = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (start[i] != 0) {
            s[o++] = (char)start[i];
        }
    }
    s[o] = '\0';
    return s;
}

static void check_valid(const char *s, size_t len)
{
    if (utf8_invalid_at(s, len) != len) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *client_id = piece(&p, end);
    char *topic = piece(&p, end);
    char *field = piece(&p, end);
    char *detail = piece(&p, end);
    const void *message = p;
    size_t message_len = (size_t)(end - p);

    char out[CNC_REJECT_TOPIC_LEVEL_MAX + 64];
    size_t n = cnc_reject_topic("cnc/rejected", client_id, out, sizeof out);
    if (n == 0 || strncmp(out, "cnc/rejected/", 13) != 0 || n - 13 > CNC_REJECT_TOPIC_LEVEL_MAX) {
        abort();
    }
    check_valid(out, n);
    size_t chars;
    if (!utf8_printable(out, n, &chars) || strpbrk(out, "+#") != NULL ||
        strchr(out + 13, '/') != NULL || out[13] == '\0') {
        abort();
    }

    struct cnc_reject rej = {0};
    cnc_reject_set(&rej, CNC_REJECT_HANDLER_REJECTED, field[0] ? field : NULL, "%s", detail);
    char *report = cnc_reject_report(&rej, "node", topic, client_id[0] ? client_id : NULL, 0,
                                     message, message_len, 0);
    if (report != NULL) {
        check_valid(report, strlen(report));
        if (strlen(report) > 8192) {
            abort(); /* every text in it is bounded */
        }
        cJSON *o = cJSON_Parse(report);
        if (o == NULL) {
            abort();
        }
        for (const cJSON *c = o->child; c != NULL; c = c->next) {
            if (cJSON_IsString(c)) {
                check_valid(c->valuestring, strlen(c->valuestring));
            }
        }
        cJSON_Delete(o);
        free(report);
    }
    free(client_id);
    free(topic);
    free(field);
    free(detail);
    return 0;
}
