#!/usr/bin/env bash
# run_anomaly.sh [SECONDS]         - anomaly quality across seeds and fault rates (the sweep)
# run_anomaly.sh --live [SECONDS]  - the same scoring of the rows a real broker stored
#
# The handlers and rules are the shipped ones (config/cnc_ingest.yaml), routed for cnc-sim's
# machine ids (lathes to cnc_type_a, presses to press_line); cnc-sim's 60 machines at 2,000 msg/s
# with --faults RATE, its labelled faults (spike, drift, stuck, impossible) the ground truth;
# bench/anomaly_quality.py scores recall per fault kind and precision by alarm event and by row.
#
# The sweep runs every seed of SEEDS (default 1-10) at every rate of FAULT_RATES (default 0.002,
# cnc-sim's default, and 0.006) through build/anomaly_replay: cnc-sim's generator and the
# plugin's message pipeline in one process, paced by a simulated clock (deterministic; a few
# seconds a run). --live sends cnc-sim into a broker with the plugin and a private MariaDB and
# scores the stored rows, for each seed of SEEDS (default 21) at FAULT_RATES (default 0.002): the
# same flags, with the transport and the database in the way. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
live=0
if [ "${1:-}" = "--live" ]; then
  live=1
  shift
fi
seconds=${1:-120}

# The shipped handlers and rules, routed for cnc-sim's ids; $1: what follows the routes.
config() {
  sed -n '/^handlers:/,/^routes:/p' "${CONFIG:-config/cnc_ingest.yaml}" | sed '$d'
  echo "routes:"
  echo "  - {match: \"CNC*\", handler: cnc_type_a}"
  echo "  - {match: \"PRESS-*\", handler: press_line}"
  printf '%s' "${1:-}"
}

if [ "$live" = 0 ]; then
  scripts/build.sh build >/dev/null
  seeds=${SEEDS:-1 2 3 4 5 6 7 8 9 10}
  rates=${FAULT_RATES:-0.002 0.006}
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  config "analytics: {topic: \"\"}"$'\n' >"$work/cnc.yaml"
  echo "### Anomaly quality across seeds ($(date -u +%Y-%m-%d); cnc-sim 60 machines, 2,000 msg/s, $seconds s each)"
  echo
  echo "\$ SEEDS=\"$seeds\" FAULT_RATES=\"$rates\" bench/run_anomaly.sh $seconds"
  echo
  dirs=()
  for rate in $rates; do
    for seed in $seeds; do
      d="$work/run-$rate-$seed"
      mkdir "$d"
      echo "seed $seed, faults $rate" >"$d/label.txt"
      build/anomaly_replay --config "$work/cnc.yaml" --seed "$seed" --faults "$rate" \
        --machines 60 --rate 2000 --duration "$seconds" \
        --truth "$d/truth.jsonl" --anomalies "$d/anomalies.jsonl" 2>/dev/null
      dirs+=("$d")
    done
  done
  /usr/bin/python3 bench/anomaly_quality.py --table ${MISSES:+--misses} "${dirs[@]}"
  exit 0
fi

. scripts/lib/bench.sh
config "mysql: {socket: \"$MARIADB_SOCK\", user: cnc, password_file: \"$MARIADB_PWFILE\", database: cnc, create_schema: true}
spool: {dir: \"$work/spool\"}
analytics: {topic: \"\"}
" >"$work/cnc.yaml"
for rate in ${FAULT_RATES:-0.002}; do
  for seed in ${SEEDS:-21}; do
    port=$(start_broker plugin "$work/cnc.yaml")
    pids+=("$(cat "$work/plugin.pid")")
    sim=$(build/cnc-sim --port "$port" --machines 60 --rate 2000 --duration "$seconds" --seed "$seed" \
      --faults "$rate" --truth "$work/truth.jsonl" --json)
    sleep 3
    echo "### Anomaly quality ($(date -u +%Y-%m-%d); cnc-sim 60 machines, 2,000 msg/s, $seconds s, seed $seed, faults $rate)"
    echo
    echo '```'
    echo "\$ SEEDS=$seed FAULT_RATES=$rate bench/run_anomaly.sh --live $seconds"
    echo "$sim" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("sent %d, acknowledged %d" % (d["sent"], d["acknowledged"]))'
    /usr/bin/python3 bench/anomaly_quality.py "$work/truth.jsonl" "$MARIADB_SOCK" "$MARIADB_PWFILE"
    echo '```'
    echo
    kill "$(cat "$work/plugin.pid")"
    while kill -0 "$(cat "$work/plugin.pid")" 2>/dev/null; do sleep 0.1; done
    /usr/bin/python3 - "$MARIADB_SOCK" "$MARIADB_PWFILE" <<'EOF'
import sys, pymysql
conn = pymysql.connect(unix_socket=sys.argv[1], user="cnc", password=open(sys.argv[2]).read().strip(), database="cnc", autocommit=True)
with conn.cursor() as cur:
    cur.execute("SET FOREIGN_KEY_CHECKS = 0")
    for t in ("cnc_anomaly", "cnc_reading", "cnc_efficiency", "cnc_message"):
        cur.execute("TRUNCATE TABLE " + t)
EOF
    rm -rf "$work/spool"
  done
done
