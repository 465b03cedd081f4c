#!/usr/bin/env bash
# demo.sh - the whole thing on one machine: installs what is missing, builds the plugin, cnc-sim
# and the dashboard, then starts a private MariaDB, mosquitto with the plugin (config/
# cnc_ingest.yaml + storage) and the dashboard's websockets listener, publishes the sample
# messages (../shared/samples) to show what is accepted and why the rest is refused, and runs
# cnc-sim (machines with faults and a sprinkle of invalid messages) until Ctrl-C, which stops
# everything. Prints the dashboard URL.
#   DEMO_BIND=0.0.0.0     listen on every interface (default 127.0.0.1: this machine only)
#   DEMO_MACHINES=200 DEMO_RATE=2000   cnc-sim's fleet size and messages per second
#   DEMO_SECONDS=N        stop by itself after N seconds (default: run until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
scripts/build-dashboard.sh >/dev/null

bind=${DEMO_BIND:-127.0.0.1}
samples=../shared/samples
[ -d "$samples" ] || samples=tests/integration/samples
work=$(mktemp -d)
chmod 755 "$work" # the broker reads the dashboard and config from here
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
http=$(free_port)

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping cnc-sim, mosquitto and MariaDB"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A few seconds' grace, then SIGKILL: mosquitto_sub 2.0.11 can deadlock in its own signal
  # handler when Ctrl-C and our SIGTERM arrive together, and would hang the demo's exit.
  for _ in $(seq 50); do
    running=0
    for p in "${pids[@]}"; do
      [ -r "/proc/$p/stat" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && running=1
    done
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  stop_private_mariadb "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

. scripts/lib/mariadb.sh
echo "demo: starting a private MariaDB in $work"
start_private_mariadb "$work"
# The shift views convert the plant's local shifts through the server's time zone tables.
mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null |
  mariadb --no-defaults -S "$MARIADB_SOCK" -uroot mysql 2>/dev/null || true
zone=$(cat /etc/timezone 2>/dev/null || echo UTC)
[ -f "/usr/share/zoneinfo/$zone" ] || zone=UTC

{
  # cnc-sim's lathes' ideal cycle times (tools/sim.h: 20 s + 2 s per program number)
  ideal=$(for p in $(seq 0 19); do printf 'program_%02d: %d, ' "$p" $((20 + 2 * p)); done)
  sed -e 's/^  interval_s: 10 /  interval_s: 1  /' \
    -e "s/^      # ideal_cycle_s: .*/      ideal_cycle_s: {${ideal%, }}/" config/cnc_ingest.yaml
  echo "shifts:"
  echo "  time_zone: $zone"
  echo "  calendar:"
  echo "    - {name: early, days: [mon, tue, wed, thu, fri, sat, sun], start: \"06:00\", end: \"14:00\"}"
  echo "    - {name: late, days: [mon, tue, wed, thu, fri, sat, sun], start: \"14:00\", end: \"22:00\"}"
  echo "    - {name: night, days: [mon, tue, wed, thu, fri, sat, sun], start: \"22:00\", end: \"06:00\"}"
  echo "mysql: {socket: \"$MARIADB_SOCK\", user: cnc, password_file: \"$MARIADB_PWFILE\", database: cnc, create_schema: true}"
  echo "spool: {dir: \"$work/spool\"}"
} >"$work/cnc_ingest.yaml"
{
  echo "per_listener_settings false"
  echo "listener $port $bind"
  echo "allow_anonymous true"
  echo "listener $http $bind"
  echo "protocol websockets"
  echo "http_dir $PWD/dashboard/www"
  [ "$(id -u)" -eq 0 ] && echo "user root"
  echo "log_dest file $work/mosquitto.log"
  echo "plugin $PWD/build/cnc_ingest.so"
  echo "plugin_opt_config_file $work/cnc_ingest.yaml"
} >"$work/mosquitto.conf"

mosquitto -c "$work/mosquitto.conf" 2>>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 100); do
  mosquitto_pub -p "$port" -t demo/ping -m . 2>/dev/null && break
  sleep 0.05
done
mosquitto_sub -V 5 -p "$port" -t 'cnc/rejected/#' >"$work/rejects.txt" &
pids+=($!)
sleep 0.3
echo "demo: mosquitto $(mosquitto -h | head -1 | awk '{print $3}') with build/cnc_ingest.so, MQTT on $bind:$port"
echo

publish_file() {
  local file=$1
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    id=$(printf '%s' "$line" | grep -o '"cnc_id": *"[^"]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/' || true)
    topic="cnc/${id:-CNC001}/data"
    if out=$(mosquitto_pub -V 5 -q 1 -p "$port" -i collector-demo -t "$topic" -m "$line" 2>&1) &&
       [ -z "$out" ]; then
      printf '  accepted  %-18s %.90s\n' "$topic" "$line"
    else
      printf '  REFUSED   %-18s %.90s\n' "$topic" "$line"
    fi
  done <"$file"
}
echo "Publishing $samples/valid.jsonl and invalid.jsonl as a collector would (QoS 1, MQTT v5):"
publish_file "$samples/valid.jsonl"
publish_file "$samples/invalid.jsonl"
sleep 1
echo
echo "Why each refused message was refused (reports on cnc/rejected/<client_id>):"
/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("  %-22s field=%-13s %s" % (r["reason"], r["field"], r["detail"]))
' "$work/rejects.txt"
echo

machines=${DEMO_MACHINES:-200}
rate=${DEMO_RATE:-2000}
build/cnc-sim --port "$port" --machines "$machines" --rate "$rate" --duration 31536000 \
  --invalid-ratio 0.002 --faults 0.0005 --states --seed "$RANDOM" >"$work/sim.txt" 2>&1 &
pids+=($!)
host=$bind
[ "$bind" = 0.0.0.0 ] && host=$(hostname -I 2>/dev/null | awk '{print $1}')
echo "demo: cnc-sim is publishing $rate msg/s from $machines machines (with faults, alarms, part counts, silences and a few invalid messages)"
echo
echo "    Dashboard:  http://${host:-127.0.0.1}:$http/"
echo
# One line, to paste as it is; tests/integration/test_demo.py runs it against the demo's database.
# cnc_latest (sql/schema.sql) is each machine's last message; the efficiency is in cnc_efficiency
# (presses only: a lathe's row has NULL there).
echo "    Stored rows:  mariadb --no-defaults -S $MARIADB_SOCK -ucnc -p\$(cat $MARIADB_PWFILE) cnc -e 'SELECT l.cnc_id, l.ts, l.handler, e.efficiency_score, e.efficiency_level FROM cnc_latest l LEFT JOIN cnc_efficiency e USING (msg_key) ORDER BY l.ts DESC LIMIT 10'"
echo "    Counters:     mosquitto_sub -p $port -t cnc/ingest/stats -C 1"
echo
echo "Ctrl-C stops cnc-sim, mosquitto and MariaDB."
count() { mariadb --no-defaults -S "$MARIADB_SOCK" -ucnc -p"$(cat "$MARIADB_PWFILE")" cnc -N -e "$1" 2>/dev/null || echo "?"; }
start=$SECONDS
while [ -z "${DEMO_SECONDS:-}" ] || [ $((SECONDS - start)) -lt "${DEMO_SECONDS}" ]; do
  sleep 5
  printf 'demo: %s messages stored, %s anomaly flags, %s machines\n' \
    "$(count 'SELECT COUNT(*) FROM cnc_message')" "$(count 'SELECT COUNT(*) FROM cnc_anomaly')" \
    "$(count 'SELECT COUNT(DISTINCT cnc_id) FROM cnc_message')"
done
