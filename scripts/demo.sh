#!/usr/bin/env bash
# demo.sh - installs what is missing, builds the plugin, starts a private
# mosquitto with it on a free local port, publishes the sample messages
# (../shared/samples) as a CNC collector would, and shows what subscribers
# received, what each publisher was told, and why each reject was refused.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null

samples=../shared/samples
[ -d "$samples" ] || samples=tests/integration/samples
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$work/cnc_ingest.yaml" <<YAML
ingest:
  topics: ["cnc/+/data"]
handlers:
  any: {type: generic}
routes:
  - {match: "*", handler: any}
metrics: {topic: cnc/ingest/stats, interval_s: 1}
YAML
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  [ "$(id -u)" -eq 0 ] && echo "user root"
  echo "log_dest file $work/mosquitto.log"
  echo "plugin $PWD/build/cnc_ingest.so"
  echo "plugin_opt_config_file $work/cnc_ingest.yaml"
} >"$work/mosquitto.conf"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mosquitto -c "$work/mosquitto.conf" 2>>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 100); do
  mosquitto_pub -p "$port" -t demo/ping -m . 2>/dev/null && break
  sleep 0.05
done
mosquitto_sub -V 5 -p "$port" -t 'cnc/#' -v >"$work/seen.txt" &
pids+=($!)
sleep 0.3

echo "cnc-ingest demo: mosquitto $(mosquitto -h | head -1 | awk '{print $3}') with build/cnc_ingest.so on 127.0.0.1:$port"
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
      printf '  REFUSED   %-18s %.90s\n            publisher was told: %s\n' "$topic" "$line" \
        "$(printf '%s' "$out" | sed 's/^Warning: //' | head -1)"
    fi
  done <"$file"
}
echo "Publishing $samples/valid.jsonl (QoS 1, MQTT v5):"
publish_file "$samples/valid.jsonl"
echo
echo "Publishing $samples/invalid.jsonl:"
publish_file "$samples/invalid.jsonl"
sleep 1.5

echo
echo "What a subscriber on cnc/# received on the data topics (valid messages only, unchanged):"
grep -E '^cnc/[^/]+/data ' "$work/seen.txt" | sed 's/^/  /' || true
echo
echo "Reject reports on cnc/rejected/<client_id> (reason, field, detail):"
grep '^cnc/rejected/' "$work/seen.txt" | cut -d' ' -f2- |
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("  %-16s field=%-13s %s" % (r["reason"], r["field"], r["detail"]))
'
echo
echo "Counters (retained on cnc/ingest/stats):"
mosquitto_sub -p "$port" -t cnc/ingest/stats -C 1 -W 5 | sed 's/^/  /'
echo
echo "Check a config and messages offline, without a broker:"
echo "  build/cnc-ingest-check config/cnc_ingest.yaml $samples/invalid.jsonl"
