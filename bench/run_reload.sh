#!/usr/bin/env bash
# run_reload.sh [BEFORE_COMMIT] - the broker thread's stall during a SIGHUP reload, for the
# largest configs allowed (4 MiB: ~110,000 exact routes, or 55,000 handler instances with their
# routes) and the hostile files now refused (an alias bomb, an alias cycle, 50,000 levels of nesting), side by side with
# the plugin built from BEFORE_COMMIT (default 425bdc6, before the reload moved off the broker
# thread), which parsed on the broker thread and had no limits. A probe client pings back to
# back; the stall is its worst round trip while the reload runs. Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-425bdc6}
. scripts/lib/bench.sh
git worktree add -f --detach "$work/before" "$before" >/dev/null 2>&1
(cd "$work/before" && cmake -S . -B "$work/before-build" -DCNC_TESTS=OFF >/dev/null && cmake --build "$work/before-build" -j"$(nproc)" --target cnc_ingest >/dev/null)
trap 'git worktree remove --force "$work/before" >/dev/null 2>&1 || true; bench_cleanup' EXIT

/usr/bin/python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
base = 'handlers: {any: {type: generic}}\nmetrics: {interval_s: 3600}\nanalytics: {topic: ""}\n'
open(f"{w}/small.yaml", "w").write(base + 'routes: [{match: "*", handler: any}]\n')
lines, size, i = [base + "routes:"], 0, 0
while size < 4 * 2**20 - 200:
    l = f'  - {{match: "M{i:07d}", handler: any}}'
    lines.append(l); size += len(l) + 1; i += 1
open(f"{w}/routes4m.yaml", "w").write("\n".join(lines[:-1]) + "\n")
bomb = ["      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
for k in range(1, 9):  # a8: 10^9 values in ~600 bytes
    bomb.append(f"      a{k}: &a{k} [" + ", ".join([f"*a{k-1}"] * 10) + "]")
open(f"{w}/bomb.yaml", "w").write("handlers:\n  any:\n    type: generic\n    params:\n" + "\n".join(bomb) +
                                  '\nroutes: [{match: "*", handler: any}]\n')
h = ["handlers:"] + [f"  h{i}: {{type: machine_tool, params: {{spindle: [0, {i + 1}]}}}}" for i in range(20000)]
h += [f"  g{i}: {{type: generic}}" for i in range(35000)] + ["metrics: {interval_s: 3600}", "routes:"]
h += [f"  - {{match: M{i}, handler: h{i}}}" for i in range(20000)] + [f"  - {{match: G{i}, handler: g{i}}}" for i in range(35000)]
open(f"{w}/handlers55k.yaml", "w").write("\n".join(h) + "\n")
open(f"{w}/cycle.yaml", "w").write('handlers:\n  any:\n    type: generic\n    params: &p {a: *p}\nroutes: [{match: "*", handler: any}]\n')
open(f"{w}/deep.yaml", "w").write("handlers: {any: {type: generic, params: {a: " + "[" * 50000 + "]" * 50000 +
                                  '}}}\nroutes: [{match: "*", handler: any}]\n')
PY

run_case() { # PLUGIN_DIR NAME FILE ROUNDS TIMEOUT_S
  local dir=$1 name=$2 file=$3 rounds=$4 timeout_s=$5 port pid
  cp "$work/small.yaml" "$work/$name.cfg.yaml"
  port=$(free_port)
  cat >"$work/$name.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
log_dest file $work/$name.log
plugin $dir/cnc_ingest.so
plugin_opt_config_file $work/$name.cfg.yaml
CONF
  mosquitto -c "$work/$name.conf" >/dev/null 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do mosquitto_pub -p "$port" -t ping -m . 2>/dev/null && break; sleep 0.05; done
  timeout $((timeout_s + 60)) /usr/bin/python3 bench/reload_stall.py "$port" "$pid" \
    "$work/$name.log" "$work/$name.cfg.yaml" "$file" "$rounds" "$timeout_s" ||
    echo '{"error": "the probe failed"}'
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "## Reload stall ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
echo
echo "| config | plugin | outcome | SIGHUP -> log line (ms) | worst ping during it (ms) | baseline worst ping (ms) |"
echo "|---|---|---|---|---|---|"
for c in routes4m handlers55k bomb cycle deep; do
  for side in before after; do
    dir=$PWD/build; [ $side = before ] && dir=$work/before-build
    rounds=3
    [ $side = before ] && [ $c = handlers55k ] && rounds=1 # quadratic there: tens of seconds
    if [ $side = before ] && [ $c != routes4m ] && [ $c != handlers55k ]; then
      # The old plugin recursed without end on a cycle (the broker segfaults); one round of the
      # others, which it took seconds to refuse.
      [ $c = cycle ] && { echo "| $c | $side | segfault (not run) | | | |"; continue; }
      rounds=1
    fi
    json=$(run_case "$dir" "$c-$side" "$work/$c.yaml" $rounds 60)
    /usr/bin/python3 - "$c" "$side" "$json" <<'PY'
import json, sys
c, side, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if "error" in j:
    print(f"| {c} | {side} | {j['error']} | | | |")
else:
    r = j["rounds"]
    print(f"| {c} | {side} | {j['outcome']} | {' / '.join(str(x['to_log_line_ms']) for x in r)} | "
          f"{' / '.join(str(x['worst_ping_ms']) for x in r)} | {j['baseline_worst_ping_ms']} |")
PY
  done
done
