#!/usr/bin/env bash
# run_dashboard.sh [RATE] [MACHINES] [SECONDS] - the dashboard under fleet load (issue #6: "usable
# with 500 machines and 10,000 msg/s"): a broker with the plugin, storage and the dashboard
# listener, cnc-sim at RATE msg/s from MACHINES machines, and headless chromium on the page for
# SECONDS (bench/dashboard_load.js): messages the page received per second, its redraw time,
# main-thread lag, the page thread's JS heap after forced collections. Markdown on stdout. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
machines=${2:-500}
seconds=${3:-60}
. scripts/lib/bench.sh
scripts/build-dashboard.sh >/dev/null
http=$(free_port)
{
  sed 's/^  interval_s: 10 /  interval_s: 1  /' config/cnc_ingest.yaml
  echo "mysql: {socket: \"$MARIADB_SOCK\", user: cnc, password_file: \"$MARIADB_PWFILE\", database: cnc, create_schema: true}"
  echo "spool: {dir: \"$work/spool\"}"
} >"$work/cnc.yaml"
port=$(free_port)
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  echo "listener $http 127.0.0.1"
  echo "protocol websockets"
  echo "http_dir $PWD/dashboard/www"
  [ "$(id -u)" -eq 0 ] && echo "user root"
  echo "plugin $PWD/build/cnc_ingest.so"
  echo "plugin_opt_config_file $work/cnc.yaml"
} >"$work/dash.conf"
mosquitto -c "$work/dash.conf" >"$work/dash.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do mosquitto_pub -p "$port" -t ping -m . 2>/dev/null && break; sleep 0.05; done
build/cnc-sim --port "$port" --machines "$machines" --rate "$rate" --duration $((seconds + 6)) \
  --invalid-ratio 0.001 --faults 0.0005 --seed 5 --json >"$work/sim.json" &
simpid=$!
pids+=($simpid)
sleep 2
out=$(SCREENSHOT=${SCREENSHOT:-} node bench/dashboard_load.js "http://127.0.0.1:$http/index.html" "$seconds")
wait $simpid || true
sim=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("cnc-sim: %d sent at %.0f msg/s, %d acknowledged" % (d["sent"], d["rate"], d["acknowledged"]))' "$work/sim.json")
echo "### Dashboard under load ($(date -u +%Y-%m-%d), $(nproc) cores, chromium $(chromium --version 2>/dev/null | awk '{print $2}'))"
echo
echo '```'
echo "\$ bench/run_dashboard.sh $rate $machines $seconds"
echo "$sim"
echo "page: $out"
echo '```'
