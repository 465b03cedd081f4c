#!/usr/bin/env bash
# run_brokers.sh [RATE] [SECONDS] [ROUNDS] - the plugin on mosquitto 2.0.11 (Debian) and 2.1.2
# (scripts/build-mosquitto21.sh, the plugin built against its headers) side by side: cnc-sim
# at RATE msg/s (QoS 1, 500 machines) for SECONDS into each broker with storage in one private
# MariaDB, ROUNDS times in turn (A B A B: the machine is shared and noisy), and for each run the
# plugin's own receive->commit p50/p99 (its histogram on the metrics topic), the publish->ack
# p50/p99 cnc-sim saw, rows stored and the broker's CPU seconds. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
seconds=${2:-20}
rounds=${3:-2}
prefix=$(scripts/build-mosquitto21.sh)
scripts/build.sh build-mosq21 -DCNC_MOSQUITTO_PREFIX="$prefix" -DCNC_TESTS=OFF >/dev/null
. scripts/lib/bench.sh
sock=$MARIADB_SOCK

one() { # NAME BROKER PLUGIN
  local name=$1 port pid before after stats rows cpu0 cpu1
  mariadb --no-defaults -S "$sock" -uroot -e "DROP DATABASE IF EXISTS cnc; CREATE DATABASE cnc"
  rm -rf "$work/spool"
  cat >"$work/cnc.yaml" <<YAML
handlers: {lathe: {type: machine_tool}, press: {type: sensor_efficiency}}
routes: [{match: "PRESS-*", handler: press}, {match: "*", handler: lathe}]
mysql: {socket: "$sock", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true}
spool: {dir: "$work/spool"}
metrics: {interval_s: 1}
YAML
  port=$(CNC_MOSQUITTO=$2 CNC_PLUGIN=$3 start_broker "$name" "$work/cnc.yaml")
  pid=$(cat "$work/$name.pid")
  pids+=("$pid")
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  build/cnc-sim --port "$port" --machines 500 --rate "$rate" --duration "$seconds" --qos 1 \
                --seed 7 --json >"$work/sim.json"
  for _ in $(seq 100); do
    rows=$(mariadb --no-defaults -S "$sock" -uroot cnc -N -e "SELECT COUNT(*) FROM cnc_message")
    [ "$rows" -ge "$(json_field acknowledged <"$work/sim.json")" ] && break
    sleep 0.2
  done
  sleep 1.5 # one more metrics interval: the histogram includes the last batches
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  stats=$(mosquitto_sub -p "$port" -t cnc/ingest/stats -C 1 -W 5)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  printf '| %s | %s | %s / %s ms | %s / %s ms | %s | %.2f s |\n' "$name" \
    "$(json_field acknowledged <"$work/sim.json")" \
    "$(echo "$stats" | json_field commit_latency_p50_ms)" \
    "$(echo "$stats" | json_field commit_latency_p99_ms)" \
    "$(json_field ack_latency_p50_ms <"$work/sim.json")" \
    "$(json_field ack_latency_p99_ms <"$work/sim.json")" "$rows" \
    "$(echo "($cpu1 - $cpu0) / $(getconf CLK_TCK)" | bc -l)"
}

echo "### The plugin on mosquitto 2.0.11 and 2.1.2 at $rate msg/s for $seconds s ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo "\$ bench/run_brokers.sh $rate $seconds $rounds"
echo
echo "| broker | acknowledged | receive->commit p50 / p99 | publish->ack p50 / p99 | rows | broker CPU |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
  one "2.0.11" mosquitto "$PWD/build/cnc_ingest.so"
  one "2.1.2" "$prefix/sbin/mosquitto" "$PWD/build-mosq21/cnc_ingest.so"
done
