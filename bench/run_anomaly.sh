#!/usr/bin/env bash
# run_anomaly.sh [SECONDS] - anomaly quality: cnc-sim with --faults and --truth against a broker
# with the plugin and a private MariaDB, then precision/recall of the stored anomaly flags per
# fault kind (bench/anomaly_quality.py). The handlers and rules are the shipped ones
# (config/cnc_ingest.yaml), routed for cnc-sim's machine ids. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
. scripts/lib/bench.sh
{
  sed -n '/^handlers:/,/^routes:/p' config/cnc_ingest.yaml | sed '$d'
  echo "routes:"
  echo "  - {match: \"CNC*\", handler: cnc_type_a}"
  echo "  - {match: \"PRESS-*\", handler: press_line}"
  echo "mysql: {socket: \"$MARIADB_SOCK\", user: cnc, password_file: \"$MARIADB_PWFILE\", database: cnc, create_schema: true}"
  echo "spool: {dir: \"$work/spool\"}"
  echo "analytics: {topic: \"\"}"
} >"$work/cnc.yaml"
port=$(start_broker plugin "$work/cnc.yaml")
pids+=("$(cat "$work/plugin.pid")")
sim=$(build/cnc-sim --port "$port" --machines 60 --rate 2000 --duration "$seconds" --seed "${SEED:-21}" \
  --faults --truth "$work/truth.jsonl" --json)
sleep 3
echo "### Anomaly quality ($(date -u +%Y-%m-%d); cnc-sim 60 machines, 2,000 msg/s, $seconds s, seed ${SEED:-21})"
echo
echo '```'
echo "\$ bench/run_anomaly.sh $seconds"
echo "$sim" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("sent %d, acknowledged %d" % (d["sent"], d["acknowledged"]))'
/usr/bin/python3 bench/anomaly_quality.py "$work/truth.jsonl" "$MARIADB_SOCK" "$MARIADB_PWFILE"
echo '```'
