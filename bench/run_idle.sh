#!/usr/bin/env bash
# run_idle.sh [SECONDS] - the broker's CPU while nothing happens: a broker with the plugin and
# storage in a private MariaDB, connected, after a few messages were stored, side by side with a
# broker without the plugin (mosquitto's own idle cost); then SECONDS (default 60) of silence,
# each process's user+system CPU read from /proc before and after, per thread (the writer
# thread is named cnc-writer). Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
. scripts/lib/bench.sh
cat >"$work/cnc.yaml" <<YAML
handlers: {lathe: {type: machine_tool}}
routes: [{match: "*", handler: lathe}]
mysql: {socket: "$MARIADB_SOCK", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true}
spool: {dir: "$work/spool"}
metrics: {interval_s: 10}
YAML
port=$(start_broker plugin "$work/cnc.yaml")
pid=$(cat "$work/plugin.pid")
pids+=("$pid")
start_broker plain >/dev/null
plain=$(cat "$work/plain.pid")
pids+=("$plain")
for i in $(seq 10); do
  mosquitto_pub -p "$port" -q 1 -t cnc/CNC001/data \
    -m "{\"cnc_id\":\"CNC001\",\"part_program\":\"p\",\"timestamp\":$((1747379028000 + i)),\"payload\":{\"spin\":$i}}"
done
sleep 3 # the batch committed, the writer idle
ticks() { # PID TID: utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/task/$2/stat"
}
declare -A before
for p in $pid $plain; do
  for t in /proc/$p/task/*; do before[${t##*/}]=$(ticks "$p" "${t##*/}"); done
done
t0=$(date +%s.%N)
sleep "$seconds"
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
echo "### Idle broker with the plugin and storage ($(date -u +%Y-%m-%d), $(nproc) cores), $seconds s"
echo
echo "| broker | thread | CPU ticks (1/$hz s) | CPU % of one core |"
echo "|---|---|---|---|"
pct() { awk -v d="$1" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", 100*d/hz/(b-a)}'; }
for p in $pid $plain; do
  label="with the plugin and storage"; [ "$p" = "$plain" ] && label="without the plugin"
  total=0
  for t in /proc/$p/task/*; do
    id=${t##*/}
    d=$(( $(ticks "$p" "$id") - ${before[$id]:-0} ))
    total=$((total + d))
    echo "| $label | $(cat "$t/comm") | $d | $(pct "$d") |"
  done
  echo "| $label | all | $total | $(pct "$total") |"
done
