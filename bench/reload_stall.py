#!/usr/bin/python3
"""reload_stall.py PORT PID LOG CONFIG NEW_CONFIG [ROUNDS [TIMEOUT_S]] - how long a SIGHUP reload stalls the
broker thread: a client sends PINGREQs back to back and records each round trip, while the
broker is sent SIGHUP with NEW_CONFIG copied over CONFIG, ROUNDS times; for each, the time until
the plugin's log line ("reloaded" or "reload refused") and the longest ping round trip in that
window. Prints one JSON object. Used by bench/run_reload.sh."""
import json
import os
import shutil
import signal
import socket
import struct
import sys
import threading
import time

port, pid, log, config, new_config = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3
timeout_s = float(sys.argv[7]) if len(sys.argv) > 7 else 120

s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
cid = b"reload-probe"
var = struct.pack("!H", 4) + b"MQTT" + bytes([4, 2]) + struct.pack("!H", 600)
body = var + struct.pack("!H", len(cid)) + cid
s.sendall(bytes([0x10, len(body)]) + body)
assert s.recv(4)[0] == 0x20
pings = []  # (start, rtt)
stop = threading.Event()


def probe():
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            s.sendall(b"\xc0\x00")
            got = b""
            while len(got) < 2:
                chunk = s.recv(2 - len(got))
                if not chunk:
                    return
                got += chunk
            pings.append((t0, time.monotonic() - t0))
    except OSError:
        return  # the broker died


def alive():
    try:
        os.kill(pid, 0)
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


th = threading.Thread(target=probe, daemon=True)
th.start()
time.sleep(1.0)
baseline = max(r for _, r in pings)
results = []
for i in range(rounds):
    before = open(log, errors="replace").read().count("cnc_ingest: reload")
    shutil.copyfile(new_config, config)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    while open(log, errors="replace").read().count("cnc_ingest: reload") <= before:
        if not alive():
            print(json.dumps({"error": f"the broker died {time.monotonic() - t0:.1f} s after SIGHUP"}))
            sys.exit(0)
        if time.monotonic() - t0 > timeout_s:
            answered = [t + r for t, r in pings if t + r >= t0]
            last = max(answered) - t0 if answered else 0.0
            print(json.dumps({"error": f"no log line {timeout_s:.0f} s after SIGHUP; no ping answered "
                                       f"after the first {last:.1f} s (broker thread blocked), "
                                       f"broker RSS {rss_mib()} MiB"}))
            os._exit(0)
        time.sleep(0.002)
    done = time.monotonic() - t0
    time.sleep(0.3)
    stall = max(r for t, r in pings if t0 - 0.05 <= t <= t0 + done + 0.3)
    results.append({"to_log_line_ms": round(done * 1000, 1), "worst_ping_ms": round(stall * 1000, 1)})
stop.set()
th.join()
line = open(log, errors="replace").read().splitlines()
last = [l for l in line if "cnc_ingest: reload" in l][-1]
print(json.dumps({"baseline_worst_ping_ms": round(baseline * 1000, 2), "rounds": results,
                  "outcome": "refused" if "refused" in last else "reloaded",
                  "pings": len(pings)}))
