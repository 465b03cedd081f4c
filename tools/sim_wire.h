/*
 * sim_wire.h - the few MQTT packets cnc-sim's pipelined publisher writes and
 * reads itself (CONNECT, PUBLISH, PINGREQ, DISCONNECT out; CONNACK, PUBACK,
 * PINGRESP, DISCONNECT in), MQTT 3.1.1 and 5.
 *
 * Why not libmosquitto here: libmosquitto writes one packet per send() and
 * wakes its network thread per publish; measured, cnc-sim then spent 15.8 µs
 * of CPU per message (80% in the kernel) against the broker's 10.5 µs, so the
 * load generator, not the broker, was the limit. The pipelined publisher packs
 * many PUBLISH packets into one write. Pure functions, no I/O; any thread.
 */
#ifndef CNC_SIM_WIRE_H
#define CNC_SIM_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum wire_type {
    WIRE_CONNACK = 2,
    WIRE_PUBACK = 4,
    WIRE_PUBREC = 5,
    WIRE_PINGRESP = 13,
    WIRE_DISCONNECT = 14
};

struct wire_packet {
    int type;                 /* enum wire_type, or another MQTT packet type */
    uint16_t mid;             /* PUBACK/PUBREC packet identifier */
    uint8_t reason;           /* CONNACK return code, PUBACK/DISCONNECT reason (0: success) */
    uint16_t receive_maximum; /* CONNACK (v5): the broker's Receive Maximum, 0 if absent */
};

/* Each returns the packet's length, 0 if it does not fit in cap. */
size_t wire_connect(uint8_t *out, size_t cap, int protocol, const char *client_id,
                    uint16_t keepalive);
size_t wire_publish(uint8_t *out, size_t cap, int protocol, int qos, uint16_t mid,
                    const char *topic, const void *payload, size_t len);
size_t wire_pingreq(uint8_t *out, size_t cap);
size_t wire_disconnect(uint8_t *out, size_t cap);

/*
 * Parses the packet at the start of in[0..len): returns its length and fills
 * *p, 0 if the packet is not complete yet, -1 if it is malformed.
 */
long wire_parse(const uint8_t *in, size_t len, int protocol, struct wire_packet *p);

#endif
