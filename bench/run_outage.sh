#!/usr/bin/env bash
# run_outage.sh [OUTAGE_S] - what a publisher notices of a database outage: a QoS 1 publisher
# at ~200 msg/s (one message in flight), the private MariaDB SIGKILLed for OUTAGE_S (default
# 30) and restarted; publish->PUBACK latency before, during and after, and the rows at the end
# (every acknowledged message stored once). The figure test_storage.py used to assert (worst
# under 250 ms) lives here: on a shared 2-core machine a timing is a measurement, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
outage=${1:-30}
. scripts/lib/bench.sh
cat >"$work/cnc.yaml" <<YAML
handlers: {lathe: {type: machine_tool}}
routes: [{match: "*", handler: lathe}]
mysql: {socket: "$MARIADB_SOCK", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true, readings: json}
spool: {dir: "$work/spool"}
writer: {batch_size: 500, flush_interval_ms: 50}
YAML
port=$(start_broker plugin "$work/cnc.yaml")
pids+=("$(cat "$work/plugin.pid")")
/usr/bin/python3 - "$port" "$outage" "$work" "$MARIADB_SOCK" <<'PY'
import os, signal, socket, statistics, struct, subprocess, sys, threading, time
port, outage, work, sock = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, "tests/integration")
from mqtt_raw import RawPublisher
pub = RawPublisher(port, "outage-bench", protocol=5)
lat, phase, stop = {"before": [], "during": [], "after": []}, ["before"], threading.Event()
sent = [0]
def run():
    i = 0
    while not stop.is_set():
        msg = ('{"cnc_id":"CNC001","part_program":"p","timestamp":%d,"payload":{"status":"running","spin":%d}}'
               % (1747379028000 + i, i % 500))
        t0 = time.monotonic()
        assert pub.publish("cnc/CNC001/data", msg, qos=1) == 0
        lat[phase[0]].append((time.monotonic() - t0) * 1000)
        i += 1
        sent[0] = i
        time.sleep(0.005)
th = threading.Thread(target=run); th.start()
time.sleep(5)
pid = int(open(f"{work}/mariadb.pid").read())
phase[0] = "during"; os.kill(pid, signal.SIGKILL)
time.sleep(outage)
phase[0] = "after"
subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={work}/data", f"--socket={sock}", "--skip-networking",
                  f"--pid-file={work}/mariadb.pid", f"--log-error={work}/mariadb.err", "--skip-log-bin",
                  "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M"] + (["--user=root"] if os.geteuid() == 0 else []),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(5)
stop.set(); th.join(); pub.close()
def rows():
    r = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-uroot", "-N", "-e", "SELECT COUNT(*) FROM cnc.cnc_message"],
                       capture_output=True, text=True)
    return int(r.stdout.strip() or 0)
deadline = time.monotonic() + 120
while rows() < sent[0] and time.monotonic() < deadline:
    time.sleep(0.5)
print(f"### Publish latency through a {outage:.0f} s database outage ({time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores)")
print()
print("| phase | messages | p50 ms | p99 ms | worst ms |")
print("|---|---|---|---|---|")
for k, v in lat.items():
    v = sorted(v)
    print(f"| {k} | {len(v)} | {statistics.median(v):.2f} | {v[int(len(v) * 0.99) - 1]:.2f} | {v[-1]:.2f} |")
print()
print(f"acknowledged {sent[0]}, rows {rows()}")
PY
