/*
 * dead_letter.c - dead-letter lines, see dead_letter.h.
 *
 * Writer thread, and cnc-ingest-resubmit. Not on any hot path: a dead letter
 * is rare and loud.
 */
#include "dead_letter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cnc_error.h"
#include "payload_span.h"
#include "timestamp.h"

static char *hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    char *out = malloc(2 * len + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static cJSON *add_str(cJSON *o, const char *name, const struct cnc_str *s)
{
    char *copy = malloc((size_t)s->len + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, s->p, s->len);
    copy[s->len] = '\0';
    cJSON *item = cJSON_AddStringToObject(o, name, copy);
    free(copy);
    return item;
}

int cnc_dead_letter_format(struct cnc_buf *out, const struct cnc_stored *s, const void *record,
                           size_t len, const char *error, int64_t now_ms)
{
    char when[25], ts[25], received[25];
    uint8_t key[16];
    cnc_timestamp_format(now_ms, when);
    cnc_timestamp_format(s->ts_ms, ts);
    cnc_timestamp_format(s->received_ms, received);
    cnc_msg_key(s, key);
    char *key_hex = hex(key, sizeof key);
    char *rec_hex = hex(record, len);
    /* The message passed validation: one JSON object whose only raw control characters are
       whitespace between tokens. As a single line it is the same JSON value. */
    char *message = malloc((size_t)s->message_len + 1);
    cJSON *o = cJSON_CreateObject();
    int rc = CNC_ENOMEM;
    if (key_hex != NULL && rec_hex != NULL && message != NULL && o != NULL) {
        for (uint32_t i = 0; i < s->message_len; i++) {
            char c = s->message[i];
            message[i] = c == '\n' || c == '\r' ? ' ' : c;
        }
        message[s->message_len] = '\0';
        if (cJSON_AddStringToObject(o, "dead_at", when) != NULL &&
            cJSON_AddStringToObject(o, "error", error) != NULL &&
            add_str(o, "cnc_id", &s->cnc_id) != NULL && cJSON_AddStringToObject(o, "ts", ts) &&
            cJSON_AddStringToObject(o, "received_at", received) != NULL &&
            add_str(o, "handler", &s->handler) != NULL &&
            cJSON_AddStringToObject(o, "msg_key", key_hex) != NULL &&
            /* An offline interval found on TICK has no message. */
            cJSON_AddRawToObject(o, "message", s->message_len > 0 ? message : "null") != NULL &&
            cJSON_AddStringToObject(o, "record", rec_hex) != NULL) {
            char *text = cJSON_PrintUnformatted(o);
            if (text != NULL) {
                size_t n = strlen(text);
                uint8_t *p = realloc(out->p, n + 1);
                if (p != NULL) {
                    memcpy(p, text, n);
                    p[n] = '\n';
                    out->p = p;
                    out->len = n + 1;
                    out->cap = n + 1;
                    rc = 0;
                }
                cJSON_free(text);
            }
        }
    }
    cJSON_Delete(o);
    free(message);
    free(key_hex);
    free(rec_hex);
    return rc;
}

/*
 * Opens path for appending, locked (flock LOCK_EX): cnc-ingest-resubmit renames the file and
 * takes the same lock before it reads, so an append that opened the old name just before the
 * rename either lands before the tool reads it or, finding the name moved, goes to a new file.
 */
static int open_locked(const char *path, struct stat *st)
{
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0) {
            return -1;
        }
        struct stat named;
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, st) != 0) {
            close(fd);
            return -1;
        }
        if (!S_ISREG(st->st_mode)) {
            close(fd);
            errno = EINVAL;
            return -1;
        }
        if (stat(path, &named) == 0 && named.st_dev == st->st_dev && named.st_ino == st->st_ino) {
            return fd;
        }
        close(fd); /* renamed away meanwhile: open the name again */
    }
    errno = EAGAIN;
    return -1;
}

int cnc_dead_letter_append(const char *path, const void *line, size_t len, uint64_t max_bytes)
{
    struct stat st;
    int fd = open_locked(path, &st);
    if (fd < 0) {
        return CNC_EIO;
    }
    /* The bound holds back a file that has grown, never the first line: a record alone larger
       than the bound would otherwise block the writer for good, whatever the operator did. */
    if (st.st_size > 0 && (uint64_t)st.st_size + len > max_bytes) {
        close(fd);
        return CNC_EFULL;
    }
    ssize_t n = write(fd, line, len);
    int ok = n == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    if (!ok && ftruncate(fd, st.st_size) != 0) {
        /* the half line stays; the next record starts after it */
    }
    close(fd);
    errno = e;
    return ok ? 0 : CNC_EIO;
}

int cnc_dead_letter_parse(const char *line, size_t len, struct cnc_buf *out, char *err,
                          size_t err_len)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(o, "record");
    int rc = CNC_EINVAL;
    if (o == NULL) {
        snprintf(err, err_len, "not a JSON object");
    } else if (!cJSON_IsString(rec) || strlen(rec->valuestring) % 2 != 0) {
        snprintf(err, err_len, "no \"record\" member of hex digits");
    } else {
        size_t n = strlen(rec->valuestring) / 2;
        uint8_t *p = realloc(out->p, n ? n : 1);
        if (p == NULL) {
            snprintf(err, err_len, "out of memory");
            rc = CNC_ENOMEM;
        } else {
            out->p = p;
            out->cap = n ? n : 1;
            out->len = n;
            rc = 0;
            for (size_t i = 0; i < n && rc == 0; i++) {
                int hi = unhex(rec->valuestring[2 * i]), lo = unhex(rec->valuestring[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    snprintf(err, err_len, "\"record\" is not hex digits");
                    rc = CNC_EINVAL;
                } else {
                    p[i] = (uint8_t)(hi << 4 | lo);
                }
            }
            struct cnc_stored s;
            if (rc == 0 && cnc_stored_decode(out->p, out->len, &s) != 0) {
                snprintf(err, err_len,
                         "\"record\" is not a stored record of this version (written by another "
                         "cnc-ingest version or machine?)");
                rc = CNC_EINVAL;
            }
        }
    }
    cJSON_Delete(o);
    return rc;
}
