#!/usr/bin/env bash
# run.sh [SECONDS] - the end-to-end benchmark (issue #5), side by side in one run, with a
# private MariaDB and real brokers started here, and cnc-sim --pipeline as the load generator:
#   1. QoS 1 throughput: broker without the plugin, with the plugin (no storage), with the
#      plugin and storage; the ratio; CPU per message of each broker;
#   2. a sustained burst for SECONDS with storage: rate, rows stored, time to drain, and the
#      CPU each part spent per message (broker thread, writer thread, MariaDB, cnc-sim);
#   3. publish->commit latency at 10,000 msg/s (cnc-sim paced, the plugin's histogram);
#   4. broker RSS at rest and under the load of 2;
#   5. where the broker thread's time goes: perf of that thread under load, and callgrind of
#      the plugin's per-message pipeline (build/bench_ingest), top functions;
#   6. a handler script: the lathes on handlers/scripts/cnc_type_a.lua (type lua) beside the
#      machine_tool instance it replaces, with storage, round by round: rate, CPU per message,
#      and every acknowledged message stored.
# Anomaly quality (6) is bench/run_anomaly.sh. Markdown on stdout for bench/RESULTS.md.
# Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
. scripts/lib/bench.sh

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# "VmRSS N MiB (heap and stacks A MiB, mapped spool pages F MiB)" of a process.
rss_parts() {
  awk '/^VmRSS/ {t=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2}
       END {printf "%d MiB (heap and stacks %d MiB, mapped file pages %d MiB)", t/1024, a/1024, f/1024}' \
    "/proc/$1/status"
}
# CPU ticks (user + system, 1/100 s) of a process or one of its threads.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
thread_of() { for t in /proc/"$1"/task/*; do [ "$(cat "$t/comm")" = "$2" ] && basename "$t"; done; }
per_msg_us() { /usr/bin/python3 -c "print('%.1f' % ($1 * 10000 / max($2, 1)))"; }
db() { mariadb --no-defaults -S "$MARIADB_SOCK" -ucnc -pprivate cnc -N -e "$1" 2>/dev/null; }

# handlers [LATHE]: the lathe instance's type and params (default: a machine_tool).
handlers() {
  cat <<YAML
handlers:
  lathe:
    ${1:-"type: machine_tool
    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600], Y-Axis: [0, 400]}}"}
    rules:
      - {name: spindle_drift, variable: spin, zscore: {window: 200, smooth: 5, limit: 6}}
  press:
    type: sensor_efficiency
    rules:
      - {name: temperature_high, variable: temperature, above: 90}
      - {name: temperature_drift, variable: temperature, zscore: {window: 300, smooth: 10, limit: 6}}
      - {name: vibration_stuck, variable: vibration, stuck: {samples: 30}}
routes:
  - {match: "CNC*", handler: lathe}
  - {match: "PRESS-*", handler: press}
analytics: {topic: ""}
metrics: {interval_s: 1}
YAML
}
storage() {
  cat <<YAML
mysql: {socket: "$MARIADB_SOCK", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc, create_schema: true}
spool: {dir: "$work/spool-$1", max_bytes: 8GiB}
writer: {batch_size: 5000, flush_interval_ms: $2}
YAML
}
handlers >"$work/nodb.yaml"
{ handlers; storage with 100; } >"$work/with.yaml"
plain=$(start_broker plain)
nodb=$(start_broker nodb "$work/nodb.yaml")
with=$(start_broker with "$work/with.yaml")
plain_pid=$(cat "$work/plain.pid") nodb_pid=$(cat "$work/nodb.pid") with_pid=$(cat "$work/with.pid")
pids+=("$plain_pid" "$nodb_pid" "$with_pid")
sleep 1
rest_rss=$(rss_parts "$with_pid")
maria_pid=$(cat "$work/mariadb.pid")

# Waits until the row count stops moving (the writer has caught up).
settle() {
  local prev=-1 now
  for _ in $(seq 120); do
    now=$(db "SELECT COUNT(*) FROM cnc_message")
    [ "$now" = "$prev" ] && return
    prev=$now
    sleep 1
  done
}

echo "### End to end ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'))"
echo
echo '```'
echo "1. QoS 1 throughput, 300,000 messages over 500 machines, cnc-sim --pipeline --burst"
echo "   (window 1000), the three brokers side by side; CPU = the broker process per message:"
for round in 1 2 3; do
  line="   round $round:"
  for b in plain nodb with; do
    port_var=$b pid_var=${b}_pid
    t0=$(ticks "${!pid_var}")
    rate=$(build/cnc-sim --pipeline --port "${!port_var}" --machines 500 --count 300000 --burst \
      --seed "$round" --json | json_field rate)
    [ "$b" = with ] && settle
    cpu=$(per_msg_us $(($(ticks "${!pid_var}") - t0)) 300000)
    eval "rate_$b=${rate%.*}"
    line="$line $b $(printf %.0f "$rate") msg/s ($cpu us),"
  done
  echo "$line ratio with/plain $(/usr/bin/python3 -c "print(round($rate_with/$rate_plain, 2))"), nodb/plain $(/usr/bin/python3 -c "print(round($rate_nodb/$rate_plain, 2))")"
done
db "TRUNCATE cnc_message; TRUNCATE cnc_anomaly; TRUNCATE cnc_efficiency"
echo
echo "2. Sustained burst for $seconds s with storage (500 machines):"
writer_tid=$(thread_of "$with_pid" cnc-writer)
c_broker=$(ticks "$with_pid/task/$with_pid") c_writer=$(ticks "$with_pid/task/$writer_tid")
c_maria=$(ticks "$maria_pid")
t_sim=$work/sim.time
/usr/bin/time -f '%U %S' -o "$t_sim" build/cnc-sim --pipeline --port "$with" --machines 500 \
  --duration "$seconds" --burst --seed 9 --json >"$work/sim.json" &
simpid=$!
sleep $((seconds / 3))
rss_parts "$with_pid" >"$work/load_rss"
perf record -q -o "$work/perf.data" -t "$with_pid" -- sleep 5 >/dev/null 2>&1 || true
wait $simpid
sent=$(json_field acknowledged <"$work/sim.json")
rate=$(json_field rate <"$work/sim.json")
t0=$(date +%s.%N)
rows=0
for _ in $(seq 240); do
  rows=$(db "SELECT COUNT(*) FROM cnc_message")
  [ "$rows" -ge "$sent" ] && break
  sleep 0.5
done
drain=$(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))")
sleep 2
c_broker=$(($(ticks "$with_pid/task/$with_pid") - c_broker))
c_writer=$(($(ticks "$with_pid/task/$writer_tid") - c_writer))
c_maria=$(($(ticks "$maria_pid") - c_maria))
c_sim=$(awk '{printf "%d", ($1 + $2) * 100}' "$t_sim")
echo "   published and acknowledged: $sent at $(printf %.0f "$rate") msg/s (ack latency p50/p99 ms: $(json_field ack_latency_p50_ms <"$work/sim.json")/$(json_field ack_latency_p99_ms <"$work/sim.json"))"
echo "   rows in cnc_message: $rows; all stored ${drain} s after the last publish"
echo "   stored rate over the whole run: $(/usr/bin/python3 -c "print(round($rows / ($seconds + $drain)))") msg/s"
echo "   CPU per message (us, user+system, kernel TCP included): broker thread $(per_msg_us "$c_broker" "$sent"), writer thread $(per_msg_us "$c_writer" "$sent"), MariaDB $(per_msg_us "$c_maria" "$sent"), cnc-sim $(per_msg_us "$c_sim" "$sent")"
echo
echo "3. Publish->commit latency at 10,000 msg/s for 20 s (500 machines; batch_size 5000, flush_interval_ms 100):"
{ handlers; storage lat 100; } >"$work/lat.yaml"
lat=$(start_broker lat "$work/lat.yaml")
pids+=("$(cat "$work/lat.pid")")
before=$(db "SELECT COUNT(*) FROM cnc_message")
build/cnc-sim --pipeline --port "$lat" --machines 500 --rate 10000 --duration 20 --seed 12 --json >"$work/lat.json"
lsent=$(json_field acknowledged <"$work/lat.json")
sleep 3
stats=$(mosquitto_sub -p "$lat" -t cnc/ingest/stats -C 1 -W 5)
echo "   sent and acknowledged $lsent at $(printf %.0f "$(json_field rate <"$work/lat.json")") msg/s; rows stored $(($(db "SELECT COUNT(*) FROM cnc_message") - before))"
echo "   receive->commit (plugin histogram): p50 $(echo "$stats" | json_field commit_latency_p50_ms) ms, p99 $(echo "$stats" | json_field commit_latency_p99_ms) ms; publish->ack p50/p99 $(json_field ack_latency_p50_ms <"$work/lat.json")/$(json_field ack_latency_p99_ms <"$work/lat.json") ms"
echo
echo "4. Broker RSS with the plugin: at rest $rest_rss"
echo "   under the load of 2: $(cat "$work/load_rss")"
# A growing backlog: MariaDB stopped (SIGSTOP) while 3 x 400,000 messages arrive at 50,000 msg/s.
lat_pid=$(cat "$work/lat.pid")
before=$(db "SELECT COUNT(*) FROM cnc_message")
kill -STOP "$maria_pid"
backlog=0
for step in 1 2 3; do
  build/cnc-sim --pipeline --port "$lat" --machines 500 --rate 50000 --count 400000 --seed "$((20 + step))" \
    --json >"$work/backlog.json"
  backlog=$((backlog + $(json_field acknowledged <"$work/backlog.json")))
  sleep 1.5
  stats=$(mosquitto_sub -p "$lat" -t cnc/ingest/stats -C 1 -W 5)
  echo "   MariaDB stopped, backlog of $backlog acknowledged messages ($(($(echo "$stats" | json_field spooled_bytes) / 1048576)) MiB in the spool): $(rss_parts "$lat_pid")"
done
kill -CONT "$maria_pid"
t0=$(date +%s.%N)
want=$((before + backlog))
for _ in $(seq 600); do
  [ "$(db "SELECT COUNT(*) FROM cnc_message")" -ge "$want" ] && break
  sleep 0.5
done
echo "   after MariaDB resumed: $(($(db "SELECT COUNT(*) FROM cnc_message") - before)) rows stored in $(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
echo
echo "5. The broker thread under the load of 2 (perf, 5 s, top 10 symbols):"
{ perf report -q -i "$work/perf.data" --no-children --sort dso,symbol 2>/dev/null || true; } |
  grep -v '^$' | sed 's/ *$//; s/^/   /' | sed -n 1,10p
echo
echo "   The plugin's per-message work on that thread (callgrind of build/bench_ingest, collecting"
echo "   only inside cnc_ingest_process; 200-byte machine_tool message with 2 rules,"
echo "   10,000 machines; instructions per message, top 8 functions by own cost):"
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
  --toggle-collect=cnc_ingest_process build/bench_ingest --machines 10000 --iterations 20000 \
  bench/messages.jsonl >/dev/null 2>&1
{ callgrind_annotate "$work/cg.out" 2>/dev/null || true; } |
  awk '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "   total %d instructions/msg\n", $1 / 20000}
       /file:function/ {go = 1; next}
       go && NF >= 3 && n < 8 {gsub(",", "", $1); r = $0; sub(/^[^)]*\) +/, "", r)
         split(r, w, " "); f = w[1]; o = w[2]; sub(/.*\//, "", o); sub(/\]$/, "", o)
         if (f ~ /^\?\?\?/) f = f " in " o
         sub(/^.*\//, "", f); printf "   %6d  %s\n", $1 / 20000, f; n++}'

echo
echo "6. A handler script, with storage: cnc-sim's lathes on handlers/scripts/cnc_type_a.lua"
echo "   (type lua) beside the shipped cnc_type_a (machine_tool) it replaces, the same rules;"
echo "   300,000 messages over 500 machines (--pipeline --burst, QoS 1), rounds alternating:"
{ handlers "type: machine_tool
    params: {statuses: [running, idle, stopped, setup, alarm, maintenance], required: [status, spin], spindle: [0, 12000], axes: {X-Axis: [0, 600], Y-Axis: [0, 400]}}"
  storage seed_c 100; } >"$work/seed_c.yaml"
{ handlers "type: lua
    params: {script: $PWD/handlers/scripts/cnc_type_a.lua}"
  storage seed_lua 100; } >"$work/seed_lua.yaml"
seed_c=$(start_broker seed_c "$work/seed_c.yaml")
seed_lua=$(start_broker seed_lua "$work/seed_lua.yaml")
seed_c_pid=$(cat "$work/seed_c.pid") seed_lua_pid=$(cat "$work/seed_lua.pid")
pids+=("$seed_c_pid" "$seed_lua_pid")
for round in 1 2 3; do
  line="   round $round:"
  for b in seed_c seed_lua; do
    db "TRUNCATE cnc_message; TRUNCATE cnc_anomaly; TRUNCATE cnc_efficiency; TRUNCATE cnc_reading"
    port_var=$b pid_var=${b}_pid
    t0=$(ticks "${!pid_var}")
    build/cnc-sim --pipeline --port "${!port_var}" --machines 500 --count 300000 --burst \
      --seed "$((30 + round))" --json >"$work/seed.json"
    acked=$(json_field acknowledged <"$work/seed.json")
    settle
    stored=$(db "SELECT COUNT(*) FROM cnc_message")
    cpu=$(per_msg_us $(($(ticks "${!pid_var}") - t0)) "$acked")
    label=$([ "$b" = seed_c ] && echo machine_tool || echo "lua script")
    line="$line $label $(printf %.0f "$(json_field rate <"$work/seed.json")") msg/s ($cpu us), $stored of $acked stored;"
  done
  echo "$line"
done
echo '```'
