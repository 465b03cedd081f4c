/*
 * sim_wire.c - encodes and decodes the MQTT packets of cnc-sim's pipelined
 * publisher (see sim_wire.h). Pure functions; any thread.
 */
#include "sim_wire.h"

#include <string.h>

/* Writes the fixed header (type byte + remaining length); returns its length. */
static size_t fixed_header(uint8_t *out, uint8_t first, size_t remaining)
{
    size_t n = 0;
    out[n++] = first;
    do {
        uint8_t b = remaining % 128;
        remaining /= 128;
        out[n++] = remaining ? (uint8_t)(b | 0x80) : b;
    } while (remaining);
    return n;
}

static size_t put_u16(uint8_t *out, size_t v)
{
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)v;
    return 2;
}

static size_t put_string(uint8_t *out, const char *s, size_t len)
{
    put_u16(out, len);
    memcpy(out + 2, s, len);
    return 2 + len;
}

size_t wire_connect(uint8_t *out, size_t cap, int protocol, const char *client_id,
                    uint16_t keepalive)
{
    size_t id = strlen(client_id);
    size_t remaining = 6 + 1 + 1 + 2 + (protocol == 5 ? 1 : 0) + 2 + id;
    if (id > 65535 || remaining + 5 > cap) {
        return 0;
    }
    size_t n = fixed_header(out, 0x10, remaining);
    n += put_string(out + n, "MQTT", 4);
    out[n++] = protocol == 5 ? 5 : 4;
    out[n++] = 0x02; /* clean start, no will, no credentials */
    n += put_u16(out + n, keepalive);
    if (protocol == 5) {
        out[n++] = 0; /* no properties */
    }
    n += put_string(out + n, client_id, id);
    return n;
}

size_t wire_publish(uint8_t *out, size_t cap, int protocol, int qos, uint16_t mid,
                    const char *topic, const void *payload, size_t len)
{
    size_t tlen = strlen(topic);
    size_t remaining = 2 + tlen + (qos > 0 ? 2 : 0) + (protocol == 5 ? 1 : 0) + len;
    if (tlen > 65535 || remaining > 268435455 || remaining + 5 > cap) {
        return 0;
    }
    size_t n = fixed_header(out, (uint8_t)(0x30 | (qos << 1)), remaining);
    n += put_string(out + n, topic, tlen);
    if (qos > 0) {
        n += put_u16(out + n, mid);
    }
    if (protocol == 5) {
        out[n++] = 0; /* no properties */
    }
    memcpy(out + n, payload, len);
    return n + len;
}

size_t wire_pingreq(uint8_t *out, size_t cap)
{
    if (cap < 2) {
        return 0;
    }
    out[0] = 0xC0;
    out[1] = 0;
    return 2;
}

size_t wire_disconnect(uint8_t *out, size_t cap)
{
    if (cap < 2) {
        return 0;
    }
    out[0] = 0xE0;
    out[1] = 0;
    return 2;
}

/* Reads a variable byte integer; returns its length, 0 if incomplete, -1 if malformed. */
static int varint(const uint8_t *in, size_t len, size_t *value)
{
    size_t v = 0;
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= len) {
            return 0;
        }
        v |= (size_t)(in[i] & 0x7F) << (7 * i);
        if (!(in[i] & 0x80)) {
            *value = v;
            return i + 1;
        }
    }
    return -1;
}

/* Finds Receive Maximum (0x21) in a CONNACK's property block. */
static uint16_t receive_maximum(const uint8_t *props, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t id = props[i++];
        size_t skip;
        switch (id) {
        case 0x21: /* receive maximum */
            return i + 2 <= len ? (uint16_t)(props[i] << 8 | props[i + 1]) : 0;
        case 0x24: /* maximum qos */
        case 0x25: /* retain available */
        case 0x28: /* wildcard subscription available */
        case 0x29: /* subscription identifiers available */
        case 0x2A: /* shared subscription available */
        case 0x01: /* payload format indicator */
            skip = 1;
            break;
        case 0x13: /* server keep alive */
        case 0x22: /* topic alias maximum */
            skip = 2;
            break;
        case 0x11: /* session expiry interval */
        case 0x27: /* maximum packet size */
        case 0x02: /* message expiry */
            skip = 4;
            break;
        case 0x12: /* assigned client identifier */
        case 0x1A: /* response information */
        case 0x1C: /* server reference */
        case 0x1F: /* reason string */
        case 0x15: /* authentication method */
        case 0x16: /* authentication data */
            if (i + 2 > len) {
                return 0;
            }
            skip = 2 + ((size_t)props[i] << 8 | props[i + 1]);
            break;
        case 0x26: /* user property: two strings */
            if (i + 2 > len) {
                return 0;
            }
            skip = 2 + ((size_t)props[i] << 8 | props[i + 1]);
            if (i + skip + 2 > len) {
                return 0;
            }
            skip += 2 + ((size_t)props[i + skip] << 8 | props[i + skip + 1]);
            break;
        default:
            return 0;
        }
        i += skip;
    }
    return 0;
}

long wire_parse(const uint8_t *in, size_t len, int protocol, struct wire_packet *p)
{
    if (len < 2) {
        return 0;
    }
    size_t remaining;
    int vl = varint(in + 1, len - 1, &remaining);
    if (vl <= 0) {
        return vl;
    }
    size_t total = 1 + (size_t)vl + remaining;
    if (total > len) {
        return 0;
    }
    const uint8_t *b = in + 1 + vl;
    memset(p, 0, sizeof *p);
    p->type = in[0] >> 4;
    switch (p->type) {
    case WIRE_CONNACK:
        if (remaining < 2) {
            return -1;
        }
        p->reason = b[1];
        if (protocol == 5 && remaining > 2) {
            size_t plen;
            int pl = varint(b + 2, remaining - 2, &plen);
            if (pl <= 0 || 2 + (size_t)pl + plen > remaining) {
                return -1;
            }
            p->receive_maximum = receive_maximum(b + 2 + pl, plen);
        }
        break;
    case WIRE_PUBACK:
    case WIRE_PUBREC:
        if (remaining < 2) {
            return -1;
        }
        p->mid = (uint16_t)(b[0] << 8 | b[1]);
        p->reason = remaining > 2 ? b[2] : 0;
        break;
    case WIRE_DISCONNECT:
        p->reason = remaining > 0 ? b[0] : 0;
        break;
    default:
        break;
    }
    return (long)total;
}
