/*
 * sim_pipeline.c - cnc-sim's pipelined publisher (see sim_pipeline.h): a
 * non-blocking socket, an output buffer flushed when it holds FLUSH_BYTES or
 * when the caller services it, PUBACKs parsed from whole reads. Main thread.
 */
#include "sim_pipeline.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim_wire.h"

#define OUT_CAP (1u << 20)
#define FLUSH_BYTES (32u << 10)
#define IN_CAP (64u << 10)

struct pipeline {
    int fd, protocol, qos;
    uint16_t next_mid;
    struct run *r;
    uint8_t *out;
    size_t out_len, out_off;
    uint8_t in[IN_CAP];
    size_t in_len;
    int64_t last_write_ns;
};

static int open_socket(const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "cnc-sim: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (fd >= 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "cnc-sim: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Writes as much of the output buffer as the socket takes. 0 or -1 (connection lost). */
static int flush_out(struct pipeline *p)
{
    while (p->out_off < p->out_len) {
        ssize_t n =
            send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            fprintf(stderr, "cnc-sim: write: %s\n", strerror(errno));
            return -1;
        }
        p->out_off += (size_t)n;
        p->last_write_ns = mono_ns();
    }
    if (p->out_off == p->out_len) {
        p->out_off = p->out_len = 0;
    } else if (p->out_off > OUT_CAP / 2) {
        memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
        p->out_len -= p->out_off;
        p->out_off = 0;
    }
    return 0;
}

/* Reads what has arrived and handles every complete packet. 0 or -1. */
static int read_in(struct pipeline *p)
{
    for (;;) {
        ssize_t n = recv(p->fd, p->in + p->in_len, IN_CAP - p->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n <= 0) {
            fprintf(stderr, "cnc-sim: the broker closed the connection%s%s\n", n < 0 ? ": " : "",
                    n < 0 ? strerror(errno) : "");
            return -1;
        }
        p->in_len += (size_t)n;
        size_t off = 0;
        for (;;) {
            struct wire_packet pk;
            long len = wire_parse(p->in + off, p->in_len - off, p->protocol, &pk);
            if (len < 0) {
                fprintf(stderr, "cnc-sim: malformed packet from the broker\n");
                return -1;
            }
            if (len == 0) {
                break;
            }
            off += (size_t)len;
            if (pk.type == WIRE_PUBACK) {
                run_acked(p->r, pk.mid, pk.reason);
            } else if (pk.type == WIRE_DISCONNECT) {
                fprintf(stderr, "cnc-sim: the broker disconnected us (reason 0x%02x)\n", pk.reason);
                return -1;
            }
        }
        memmove(p->in, p->in + off, p->in_len - off);
        p->in_len -= off;
    }
}

int pipeline_service(struct pipeline *p, int timeout_ms)
{
    if (flush_out(p) != 0) {
        return -1;
    }
    if (p->out_len == 0 && mono_ns() - p->last_write_ns > 20 * (int64_t)1000000000) {
        p->out_len = wire_pingreq(p->out, OUT_CAP); /* keep alive while paced slowly */
        if (flush_out(p) != 0) {
            return -1;
        }
    }
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN | (p->out_len ? POLLOUT : 0)};
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
        return -1;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        return read_in(p);
    }
    return 0;
}

int pipeline_publish(struct pipeline *p, const char *topic, const void *payload, size_t len,
                     int *mid)
{
    uint16_t id = 0;
    if (p->qos > 0) {
        id = p->next_mid;
        p->next_mid = p->next_mid == 65535 ? 1 : (uint16_t)(p->next_mid + 1);
    }
    size_t n;
    while ((n = wire_publish(p->out + p->out_len, OUT_CAP - p->out_len, p->protocol, p->qos, id,
                             topic, payload, len)) == 0) {
        if (p->out_len == 0) {
            return -1; /* larger than the whole buffer */
        }
        if (pipeline_service(p, 10) != 0) {
            return -1;
        }
    }
    atomic_store(&p->r->sent_at[id], mono_ns());
    p->out_len += n;
    *mid = id;
    if (p->out_len - p->out_off >= FLUSH_BYTES) {
        if (flush_out(p) != 0 || read_in(p) != 0) {
            return -1;
        }
    }
    return 0;
}

struct pipeline *pipeline_connect(const char *host, int port, int protocol, int qos,
                                  const char *client_id, long *window, struct run *r)
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (p == NULL || (p->out = malloc(OUT_CAP)) == NULL) {
        free(p);
        return NULL;
    }
    p->protocol = protocol;
    p->qos = qos;
    p->next_mid = 1;
    p->r = r;
    if ((p->fd = open_socket(host, port)) < 0) {
        free(p->out);
        free(p);
        return NULL;
    }
    size_t n = wire_connect(p->out, OUT_CAP, protocol, client_id, 60);
    struct wire_packet pk = {0};
    long got = 0;
    if (send(p->fd, p->out, n, MSG_NOSIGNAL) == (ssize_t)n) {
        struct timeval tv = {5, 0};
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while ((got = wire_parse(p->in, p->in_len, protocol, &pk)) == 0) {
            ssize_t k = recv(p->fd, p->in + p->in_len, IN_CAP - p->in_len, 0);
            if (k <= 0) {
                break;
            }
            p->in_len += (size_t)k;
        }
    }
    if (got <= 0 || pk.type != WIRE_CONNACK || pk.reason != 0) {
        fprintf(stderr, "cnc-sim: no CONNACK from %s:%d%s\n", host, port,
                got > 0 && pk.type == WIRE_CONNACK ? " (connection refused)" : "");
        pipeline_close(p);
        return NULL;
    }
    memmove(p->in, p->in + got, p->in_len - (size_t)got);
    p->in_len -= (size_t)got;
    if (pk.receive_maximum > 0 && *window > pk.receive_maximum) {
        *window = pk.receive_maximum;
    }
    struct timeval none = {0, 0};
    setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    int sndbuf = 1 << 20;
    setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    p->out_len = 0;
    p->last_write_ns = mono_ns();
    atomic_store(&r->connected, 1);
    return p;
}

void pipeline_close(struct pipeline *p)
{
    if (p == NULL) {
        return;
    }
    if (p->fd >= 0) {
        for (int i = 0; i < 100 && p->out_len > 0; i++) {
            if (pipeline_service(p, 10) != 0) {
                break;
            }
        }
        uint8_t d[2];
        size_t n = wire_disconnect(d, sizeof d);
        (void)!send(p->fd, d, n, MSG_NOSIGNAL);
        close(p->fd);
    }
    free(p->out);
    free(p);
}
