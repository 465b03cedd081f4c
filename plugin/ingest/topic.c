/*
 * topic.c - MQTT topic filter matching with capture of the first `+` level.
 *
 * Broker thread; pure function, no allocation.
 */
#include "topic.h"

#include <string.h>

#include "utf8.h"

static bool topic_text_valid(const char *s, size_t len)
{
    size_t chars;
    return len > 0 && len <= 65535 && utf8_invalid_at(s, len) == len &&
           utf8_printable(s, len, &chars);
}

bool cnc_topic_filter_valid(const char *filter)
{
    size_t len = strlen(filter);
    if (!topic_text_valid(filter, len)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        bool starts_level = i == 0 || filter[i - 1] == '/';
        bool ends_level = i + 1 == len || filter[i + 1] == '/';
        if (filter[i] == '+' && (!starts_level || !ends_level)) {
            return false;
        }
        if (filter[i] == '#' && (!starts_level || i + 1 != len)) {
            return false;
        }
    }
    return true;
}

bool cnc_topic_name_valid(const char *topic)
{
    size_t len = strlen(topic);
    return topic_text_valid(topic, len) && strpbrk(topic, "+#") == NULL;
}

bool cnc_topic_match(const char *filter, const char *topic, struct cnc_topic_capture *cap)
{
    const char *f = filter;
    const char *t = topic;

    cap->plus = NULL;
    cap->plus_len = 0;
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#')) {
        return false;
    }
    for (;;) {
        if (f[0] == '#') {
            return true;
        }
        if (f[0] == '+') {
            const char *start = t;
            while (*t != '\0' && *t != '/') {
                t++;
            }
            if (cap->plus == NULL) {
                cap->plus = start;
                cap->plus_len = (size_t)(t - start);
            }
            f++;
        } else {
            while (*f != '\0' && *f != '/') {
                if (*f != *t) {
                    return false;
                }
                f++;
                t++;
            }
            if (*t != '\0' && *t != '/') {
                return false;
            }
        }
        /* Both at a level boundary. */
        if (*f == '\0') {
            return *t == '\0';
        }
        if (*t == '\0') {
            /* "a/#" matches "a". */
            return f[0] == '/' && f[1] == '#' && f[2] == '\0';
        }
        f++;
        t++;
    }
}
