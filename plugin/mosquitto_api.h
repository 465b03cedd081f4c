/*
 * mosquitto_api.h - the broker's plugin API as mosquitto 2.0 and 2.1 spell it, so plugin.c is
 * written once and one .so, built against either, runs on both (tests/integration runs the
 * suite on Debian's 2.0.11 and on 2.1.2 built from ../shared/vendor).
 *
 * Broker thread (included by plugin.c only). What differs:
 *  - headers: 2.1's mosquitto_broker.h and mosquitto_plugin.h only #warning (fatal with
 *    -Werror) and include <mosquitto/broker.h>; 2.1's <mosquitto.h> is the whole API.
 *  - the message event: MOSQ_EVT_MESSAGE_IN in 2.1, the same value (7) as 2.0's MOSQ_EVT_MESSAGE.
 *  - ticks: 2.0.11 calls TICK on every pass of its loop (about every 100 ms when idle) and reads
 *    nothing back; 2.1 sleeps until the next event a plugin asks for (next_s/next_ms, zeroed
 *    before each call). 2.0's next_ns is the slot 2.1 reads as next_ms, so a 2.0-built .so
 *    writing a millisecond count there asks 2.1 for its ticks as well; 2.0.11 ignores it.
 *  - a full spool: 2.1 answers MOSQ_ERR_QUOTA_EXCEEDED (-6) from a message callback with
 *    0x97 (Quota exceeded), "retry later"; 2.0.11 knows no such code and would disconnect the
 *    publisher, so there it stays 0x87. Which broker runs is seen at init, not at build time
 *    (cnc_broker_has_quota): 2.1 exports mosquitto_plugin_set_info, 2.0.11 does not.
 */
#ifndef CNC_MOSQUITTO_API_H
#define CNC_MOSQUITTO_API_H

#include <stdbool.h>

#if defined(__has_include)
#if __has_include(<mosquitto/broker_plugin.h>)
#define CNC_MOSQUITTO_HEADERS_21 1
#endif
#endif

#ifdef CNC_MOSQUITTO_HEADERS_21
#include <mosquitto.h>
#define CNC_EVT_MESSAGE MOSQ_EVT_MESSAGE_IN
#define CNC_TICK_ASK_MS(ev, ms) ((ev)->next_s = 0, (ev)->next_ms = (ms))
#else
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#define CNC_EVT_MESSAGE MOSQ_EVT_MESSAGE
#define CNC_TICK_ASK_MS(ev, ms) ((ev)->next_s = 0, (ev)->next_ns = (ms))
/* 2.1's; undefined in a 2.0.11 broker, so weak: NULL there. */
int mosquitto_plugin_set_info(mosquitto_plugin_id_t *identifier, const char *plugin_name,
                              const char *plugin_version);
#endif
#pragma weak mosquitto_plugin_set_info

#define CNC_MOSQ_ERR_QUOTA_EXCEEDED (-6) /* 2.1's MOSQ_ERR_QUOTA_EXCEEDED */

/* True in a broker that answers CNC_MOSQ_ERR_QUOTA_EXCEEDED with 0x97 (2.1 on). */
static inline bool cnc_broker_has_quota(void)
{
    return &mosquitto_plugin_set_info != NULL;
}

#endif
