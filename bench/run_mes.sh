#!/usr/bin/env bash
# run_mes.sh [MESSAGES] [MACHINES] - the MES queries at scale (issue #17): a broker with the
# plugin and a private MariaDB (time zone tables loaded), MACHINES (500) of cnc-sim's machines
# with states (alarms, part counters, silences) backfilled over the last 7 days, MESSAGES
# (10,000,000) in all, at full speed; then the queries of README "Queries for an MES"
# (bench/mes_queries.py) right after the load, with their EXPLAIN, and again while cnc-sim sends
# 5,000 msg/s live. Load rate and the rollups' cost are printed too. Markdown on stdout for
# bench/RESULTS.md. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-10000000}
machines=${2:-500}
. scripts/lib/bench.sh
root() { mariadb --no-defaults -S "$MARIADB_SOCK" -uroot "$@"; }
mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | root mysql
zone=Europe/Berlin
period=$((machines * 7 * 86400000 / messages))
offline_after=$(( (3 * period / 1000) > 60 ? 3 * period / 1000 : 60 )) # silence: 3 missed samples
ideal=$(for p in $(seq 0 19); do printf 'program_%02d: %d, ' "$p" $((20 + 2 * p)); done)
cat >"$work/cnc.yaml" <<YAML
handlers:
  lathe:
    type: machine_tool
    states: {reason_variable: alarm_code, part_count_variable: parts,
             reject_count_variable: rejects, count_wrap: 65536, max_count_step: 100,
             ideal_cycle_s: {${ideal%, }}, offline_after_s: $offline_after}
  press:
    type: sensor_efficiency
    states: {offline_after_s: $offline_after}
routes:
  - {match: "CNC*", handler: lathe}
  - {match: "PRESS-*", handler: press}
shifts:
  time_zone: $zone
  history_days: 8
  calendar:
    - {name: early, days: [mon, tue, wed, thu, fri, sat, sun], start: "06:00", end: "14:00"}
    - {name: late, days: [mon, tue, wed, thu, fri, sat, sun], start: "14:00", end: "22:00"}
    - {name: night, days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", end: "06:00"}
mysql: {socket: "$MARIADB_SOCK", user: cnc, password_file: "$MARIADB_PWFILE", database: cnc,
        create_schema: true}
spool: {dir: "$work/spool", max_bytes: 8GiB}
analytics: {topic: ""}
metrics: {interval_s: 1}
YAML
port=$(start_broker mes "$work/cnc.yaml")
pids+=("$(cat "$work/mes.pid")")
stored() { mosquitto_sub -p "$port" -t cnc/ingest/stats -C 1 | json_field stored; }
echo "### MES queries at scale ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
echo "\`bench/run_mes.sh $messages $machines\`: cnc-sim --states --backfill 7 --period-ms $period (offline_after_s $offline_after)"
echo "--machines $machines --pipeline (every lathe and press state, alarms with reasons, part"
echo "counters, silences), through the broker into MariaDB $(root -N -e 'SELECT VERSION()')."
echo
t0=$(date +%s.%N)
out=$(build/cnc-sim --port "$port" --machines "$machines" --seed 7 --states \
  --offline-after "$offline_after" --backfill 7 \
  --period-ms "$period" --pipeline --window 2000 --json)
sent=$(echo "$out" | json_field sent)
while [ "$(stored)" -lt "$sent" ]; do sleep 1; done
t1=$(date +%s.%N)
db() { root -N cnc -e "$1"; }
printf -- '- load: %s messages sent, all stored in %.0f s (%.0f msg/s end to end, rollups, intervals and shifts included)\n' \
  "$sent" "$(echo "$t1 - $t0" | bc)" "$(echo "$sent / ($t1 - $t0)" | bc)"
echo "- rows: $(db "SELECT CONCAT(
  (SELECT COUNT(*) FROM cnc_state_interval), ' intervals, ',
  (SELECT COUNT(*) FROM cnc_part_count), ' part counts, ',
  (SELECT COUNT(*) FROM cnc_rollup_minute), ' minute and ',
  (SELECT COUNT(*) FROM cnc_rollup_hour), ' hour rollups, ',
  (SELECT COUNT(*) FROM cnc_state_hour), ' state-hour and ',
  (SELECT COUNT(*) FROM cnc_state_shift), ' state-shift rows, ',
  (SELECT COUNT(*) FROM cnc_downtime_hour), ' downtime-hour rows, ',
  (SELECT COUNT(*) FROM cnc_shift), ' shifts')")"
echo "- on disk: $(db "SELECT CONCAT(ROUND(SUM(data_length + index_length) / 1048576), ' MiB, ',
  ROUND(SUM(data_length + index_length) / $sent), ' bytes per message') FROM information_schema.tables
  WHERE table_schema = 'cnc'")"
echo
/usr/bin/python3 bench/mes_queries.py "$MARIADB_SOCK" "$MARIADB_PWFILE" "$zone" \
  "Right after the load (no ANALYZE TABLE)" --explain
build/cnc-sim --port "$port" --machines "$machines" --first-machine "$machines" --seed 8 \
  --states --offline-after "$offline_after" --rate 5000 --duration 90 --json >"$work/live.json" &
live=$!
pids+=("$live")
sleep 20
/usr/bin/python3 bench/mes_queries.py "$MARIADB_SOCK" "$MARIADB_PWFILE" "$zone" \
  "While cnc-sim sends 5,000 msg/s live (another $machines machines)"
wait "$live"
echo "- live: $(json_field rate <"$work/live.json") msg/s sent and acknowledged"
# Retention (README "Retention"): the purge of the oldest day's per-message rows, 10,000 rows a
# statement, timed; then the MES queries again (they read no purged row).
purge() {
  local t=$1 total=0 n
  while :; do
    n=$(root -N cnc -e "SET time_zone = '+00:00';
      SET @cut = UNHEX(CONCAT(LPAD(HEX(CAST(UNIX_TIMESTAMP(UTC_TIMESTAMP() - INTERVAL 6 DAY) AS UNSIGNED) * 1000), 12, '0'), REPEAT('00', 10)));
      DELETE FROM $t WHERE msg_key < @cut LIMIT 10000; SELECT ROW_COUNT();")
    total=$((total + n))
    [ "$n" -eq 0 ] && break
  done
  echo "$total"
}
t0=$(date +%s.%N)
line="- purge of the messages older than 6 days:"
for t in cnc_reading cnc_efficiency cnc_anomaly cnc_part_count cnc_message; do
  line="$line $t $(purge $t),"
done
t1=$(date +%s.%N)
printf '%s rows deleted in %.0f s\n' "${line%,}" "$(echo "$t1 - $t0" | bc)"
echo
/usr/bin/python3 bench/mes_queries.py "$MARIADB_SOCK" "$MARIADB_PWFILE" "$zone" \
  "After the purge"
