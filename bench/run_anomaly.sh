#!/usr/bin/env bash
# run_anomaly.sh [SECONDS] - anomaly quality: cnc-sim with --faults and --truth against a broker
# with the plugin and a private MariaDB, then precision/recall of the stored anomaly flags per
# fault kind (bench/anomaly_quality.py). The rules are bench/anomaly_rules.yaml. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
scripts/build.sh build >/dev/null
work=$(mktemp -d)
. scripts/lib/mariadb.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_private_mariadb "$work"
  rm -rf "$work"
}
trap cleanup EXIT
start_private_mariadb "$work"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  cat bench/anomaly_rules.yaml
  echo "mysql: {socket: \"$MARIADB_SOCK\", user: cnc, password_file: \"$MARIADB_PWFILE\", database: cnc, create_schema: true}"
  echo "spool: {dir: \"$work/spool\"}"
  echo "analytics: {topic: \"\"}"
} >"$work/cnc.yaml"
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  [ "$(id -u)" -eq 0 ] && echo "user root"
  echo "plugin $PWD/build/cnc_ingest.so"
  echo "plugin_opt_config_file $work/cnc.yaml"
} >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
sleep 1
sim=$(build/cnc-sim --port "$port" --machines 60 --rate 2000 --duration "$seconds" --seed 21 \
  --faults --truth "$work/truth.jsonl" --json)
sleep 3
echo "### Anomaly quality ($(date -u +%Y-%m-%d); cnc-sim 60 machines, 2,000 msg/s, $seconds s, seed 21)"
echo
echo '```'
echo "\$ bench/run_anomaly.sh $seconds"
echo "$sim" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("sent %d, acknowledged %d" % (d["sent"], d["acknowledged"]))'
/usr/bin/python3 bench/anomaly_quality.py "$work/truth.jsonl" "$MARIADB_SOCK" "$MARIADB_PWFILE"
echo '```'
