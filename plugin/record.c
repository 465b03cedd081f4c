/*
 * record.c - small helpers over struct cnc_record (include/cnc_record.h).
 *
 * Any thread; pure functions.
 */
#include "cnc_record.h"

const char *cnc_severity_name(enum cnc_severity s)
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
