#!/usr/bin/env bash
# run_flood.sh [COUNT] - the broker's CPU for a flood of invalid messages from one client, with
# reject reports held to ingest.reports_per_client_s (10, the default) and without a limit (0),
# side by side in one run: two brokers with the plugin (no storage), a subscriber on the rejected
# topic of each (a dashboard), cnc-sim --invalid-ratio 1 --burst from one client. CPU per message
# of each broker, reports delivered. Three rounds. Markdown on stdout. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
. scripts/lib/bench.sh
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for limit in 10 0; do
  cat >"$work/l$limit.yaml" <<YAML
ingest: {reports_per_client_s: $limit}
handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
analytics: {topic: ""}
metrics: {interval_s: 1}
YAML
done
p10=$(start_broker l10 "$work/l10.yaml"); p0=$(start_broker l0 "$work/l0.yaml")
pid10=$(cat "$work/l10.pid") pid0=$(cat "$work/l0.pid")
pids+=("$pid10" "$pid0")
echo "### A flood of invalid messages from one client ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
echo '```'
echo "\$ bench/run_flood.sh $n    (cnc-sim --pipeline --burst --invalid-ratio 1, one client, 500 machine ids;"
echo "  a mosquitto_sub on cnc/rejected/# of each broker; CPU = the broker process per message)"
for round in 1 2 3; do
  line="round $round:"
  for limit in 10 0; do
    port_var=p$limit pid_var=pid$limit
    out="$work/sub$limit.$round"
    mosquitto_sub -p "${!port_var}" -t 'cnc/rejected/#' -q 1 >"$out" &
    subpid=$!
    sleep 0.5
    t0=$(ticks "${!pid_var}")
    rate=$(build/cnc-sim --pipeline --burst --port "${!port_var}" --machines 500 --count "$n" \
      --invalid-ratio 1 --seed "$round" --json | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate"]))')
    sleep 2
    t1=$(ticks "${!pid_var}")
    kill "$subpid" 2>/dev/null || true
    wait "$subpid" 2>/dev/null || true
    cpu=$(/usr/bin/python3 -c "print('%.1f' % (($t1 - $t0) * 10000 / $n))")
    line="$line limit $limit: $rate msg/s refused, $cpu us/msg, $(wc -l <"$out") reports;"
  done
  echo "$line"
done
echo '```'
