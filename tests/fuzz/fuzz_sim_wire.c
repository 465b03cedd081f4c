/*
 * fuzz_sim_wire.c - libFuzzer harness for the one parser in cnc-sim: the MQTT
 * packets its pipelined publisher reads from the broker (tools/sim_wire.c).
 * The input is a byte stream as a broker (or anything listening on that port)
 * could send it, read packet by packet as sim_pipeline.c does: every length
 * returned must lie inside the bytes, and a packet that parsed must parse to
 * the same result when it arrives alone.
 *
 * Replay in CI: fuzz_sim_wire tests/fuzz/corpus/sim_wire -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int protocol = (data[0] & 1) ? 5 : 4;
    size_t len = size - 1;
    uint8_t *in = malloc(len ? len : 1);
    memcpy(in, data + 1, len);
    size_t off = 0;
    while (off < len) {
        struct wire_packet p;
        long n = wire_parse(in + off, len - off, protocol, &p);
        if (n <= 0) {
            break; /* incomplete (wait for more) or malformed (the publisher disconnects) */
        }
        if ((size_t)n > len - off) {
            abort();
        }
        uint8_t *alone = malloc((size_t)n);
        memcpy(alone, in + off, (size_t)n);
        struct wire_packet q;
        if (wire_parse(alone, (size_t)n, protocol, &q) != n || q.type != p.type || q.mid != p.mid ||
            q.reason != p.reason || q.receive_maximum != p.receive_maximum) {
            abort();
        }
        free(alone);
        off += (size_t)n;
    }
    free(in);
    return 0;
}
