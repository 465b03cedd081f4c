#!/usr/bin/env bash
# run_latency.sh [RATE] [SECONDS] - publish->commit latency at a steady rate.
# Starts a private MariaDB and a broker with the plugin (default writer
# settings: batch_size 1000, flush_interval_ms 100), feeds mosquitto_pub -l at
# RATE msg/s (QoS 1) for SECONDS, then reads the plugin's own receive->commit
# histogram from the metrics topic and counts rows. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
seconds=${2:-20}
. scripts/lib/bench.sh
sock=$MARIADB_SOCK
cat >"$work/cnc.yaml" <<YAML
handlers: {lathe: {type: machine_tool, params: {spindle: [0, 12000]}}}
routes: [{match: "*", handler: lathe}]
mysql: {socket: "$sock", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true}
spool: {dir: "$work/spool"}
analytics: {topic: ""}
metrics: {interval_s: 1}
YAML
port=$(start_broker plugin "$work/cnc.yaml")
pids+=("$(cat "$work/plugin.pid")")
/usr/bin/python3 - "$rate" "$seconds" <<'PY' | mosquitto_pub -p "$port" -q 1 -t cnc/CNC001/data -l
import sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
t0, sent, out = time.monotonic(), 0, sys.stdout
while True:
    now = time.monotonic() - t0
    if now >= seconds:
        break
    due = int(now * rate)
    while sent < due:
        out.write('{"cnc_id":"CNC001","part_program":"P-1","timestamp":%d,"payload":{"status":"running","spin":%d,"X-Axis":%d,"Y-Axis":80,"Z-Axis":12.5,"feed":350}}\n'
                  % (1747379028000 + sent, 1000 + sent % 500, sent % 600))
        sent += 1
    out.flush()
    time.sleep(0.002)
print(sent, file=sys.stderr)
PY
sleep 3
stats=$(mosquitto_sub -p "$port" -t cnc/ingest/stats -C 1 -W 5)
rows=$(mariadb --no-defaults -S "$sock" -ucnc -pprivate cnc -N -e "SELECT COUNT(*) FROM cnc_message")
echo "### Publish->commit latency at $rate msg/s for $seconds s ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo '```'
echo "\$ bench/run_latency.sh $rate $seconds"
echo "rows in cnc_message: $rows"
echo "metrics: $stats"
echo '```'
