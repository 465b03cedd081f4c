/*
 * topic.c - MQTT topic filter matching with capture of the first `+` level.
 *
 * Broker thread; pure function, no allocation.
 */
#include "topic.h"

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
