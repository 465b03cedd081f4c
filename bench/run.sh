#!/usr/bin/env bash
# run.sh [SECONDS] - the end-to-end benchmark (issue #5), side by side in one run, with a
# private MariaDB and real brokers started here, and cnc-sim as the load generator:
#   1. broker throughput at QoS 1 without the plugin and with it (storage attached): the ratio;
#   2. a sustained burst for SECONDS with storage: publish rate, rows stored, time to drain;
#   3. broker RSS at rest and under that load.
# Markdown on stdout for bench/RESULTS.md. Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
. scripts/lib/bench.sh

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

cat >"$work/cnc.yaml" <<YAML
handlers:
  lathe:
    type: machine_tool
    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600], Y-Axis: [0, 400]}}
    rules:
      - {name: spindle_drift, variable: spin, zscore: {window: 200, smooth: 5, limit: 6}}
  press:
    type: sensor_efficiency
    rules:
      - {name: temperature_high, variable: temperature, above: 90}
      - {name: temperature_drift, variable: temperature, zscore: {window: 300, smooth: 10, limit: 6}}
      - {name: vibration_stuck, variable: vibration, stuck: {samples: 30}}
routes:
  - {match: "CNC*", handler: lathe}
  - {match: "PRESS-*", handler: press}
mysql: {socket: "$MARIADB_SOCK", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true}
spool: {dir: "$work/spool", max_bytes: 8GiB}
writer: {batch_size: 5000, flush_interval_ms: 100}
analytics: {topic: ""}
metrics: {interval_s: 1}
YAML

plain=$(start_broker plain)
with=$(start_broker with "$work/cnc.yaml")
pids+=("$(cat "$work/plain.pid")" "$(cat "$work/with.pid")")
sleep 1
rest_kb=$(rss_kb "$(cat "$work/with.pid")")

echo "### End to end ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'))"
echo
echo '```'
echo "1. QoS 1 throughput, 300,000 messages over 500 machines, burst (window 1000), side by side:"
for round in 1 2; do
  a=$(build/cnc-sim --pipeline --port "$plain" --machines 500 --count 300000 --burst --seed $round --json)
  b=$(build/cnc-sim --pipeline --port "$with" --machines 500 --count 300000 --burst --seed $round --json)
  ra=$(echo "$a" | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate"]))')
  rb=$(echo "$b" | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate"]))')
  echo "   round $round: without plugin $ra msg/s, with plugin + storage $rb msg/s, ratio $(/usr/bin/python3 -c "print(round($rb/$ra, 2))")"
done
# Let the writer finish the throughput rounds before counting afresh.
count_rows() { mariadb --no-defaults -S "$MARIADB_SOCK" -ucnc -pprivate cnc -N -e "SELECT COUNT(*) FROM cnc_message" 2>/dev/null; }
prev=-1
for _ in $(seq 120); do
  now=$(count_rows)
  [ "$now" = "$prev" ] && break
  prev=$now
  sleep 1
done
mariadb --no-defaults -S "$MARIADB_SOCK" -ucnc -pprivate cnc -e "TRUNCATE cnc_message; TRUNCATE cnc_anomaly; TRUNCATE cnc_efficiency" 2>/dev/null
echo
echo "2. Sustained burst for $seconds s with storage (500 machines):"
build/cnc-sim --pipeline --port "$with" --machines 500 --duration "$seconds" --burst --seed 9 --json >"$work/sim.json" &
simpid=$!
sleep $((seconds / 3))
rss_kb "$(cat "$work/with.pid")" >"$work/load_rss"
perf record -q -o "$work/perf.data" -p "$(cat "$work/with.pid")" -- sleep 5 >/dev/null 2>&1 || true
wait $simpid
sim=$(cat "$work/sim.json")
sent=$(echo "$sim" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["acknowledged"])')
rate=$(echo "$sim" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["rate"]), d["ack_latency_p50_ms"], d["ack_latency_p99_ms"])')
t0=$(date +%s.%N)
rows=0
for _ in $(seq 240); do
  rows=$(mariadb --no-defaults -S "$MARIADB_SOCK" -ucnc -pprivate cnc -N -e "SELECT COUNT(*) FROM cnc_message" 2>/dev/null)
  [ "$rows" -ge "$sent" ] && break
  sleep 0.5
done
drain=$(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))")
echo "   published and acknowledged: $sent at $(echo $rate | cut -d' ' -f1) msg/s (ack latency p50/p99 ms: $(echo $rate | cut -d' ' -f2-))"
stats=$(mosquitto_sub -p "$with" -t cnc/ingest/stats -C 1 -W 5 | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("plugin counters: accepted %d (since start, all rounds), stored %d, db_errors %d, commit p50/p99 %s/%s ms" % (d["accepted"], d["stored"], d["db_errors"], d.get("commit_latency_p50_ms"), d.get("commit_latency_p99_ms")))')
echo "   rows in cnc_message: $rows; all stored ${drain} s after the last publish"
echo "   $stats"
echo "   stored rate over the whole run: $(/usr/bin/python3 -c "print(round($rows / ($seconds + $drain)))") msg/s"
echo
echo "3. Broker RSS with the plugin: at rest $((rest_kb / 1024)) MiB, under load $(( $(cat "$work/load_rss") / 1024 )) MiB"
echo
echo "4. Where the broker process spends its time under that load (perf, 5 s, top 12 symbols):"
perf report -q -i "$work/perf.data" --no-children --sort symbol 2>/dev/null | grep -v '^$' | head -12 | sed 's/^/   /' 
echo '```'
