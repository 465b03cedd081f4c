#!/usr/bin/env bash
# run_views.sh - the two reading views side by side on a private MariaDB: cnc_reading_json (the
# payload's members) and cnc_reading_all (those and the readings a handler computed), over 200,000
# messages with one computed reading each (as a script's cycle_time_s), a day's range grouped by
# name, three rounds. Markdown-ready lines on stdout for bench/RESULTS.md. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
. scripts/lib/mariadb.sh
start_private_mariadb "$work" >/dev/null 2>&1
trap 'stop_private_mariadb "$work"; rm -rf "$work"' EXIT
db() { mariadb --no-defaults -S "$MARIADB_SOCK" -uroot cnc -N -e "$1"; }
db "$(cat sql/schema.sql)"
db "INSERT INTO cnc_message (msg_key, cnc_id, part_program, ts, received_at, handler, payload)
    SELECT UNHEX(LPAD(HEX(seq), 32, '0')), CONCAT('CNC', seq % 500), 'p',
           TIMESTAMP('2026-12-01') + INTERVAL seq SECOND, TIMESTAMP('2026-12-01') + INTERVAL seq SECOND, 's',
           CONCAT('{\"status\":\"running\",\"spin\":', seq % 6000, ',\"X-Axis\":1.5,\"Y-Axis\":2.5}')
    FROM seq_1_to_200000;
    INSERT INTO cnc_reading SELECT msg_key, 'cycle_time_s', 30.5, NULL FROM cnc_message;
    ANALYZE TABLE cnc_message, cnc_reading;" >/dev/null
q="SELECT name, COUNT(*), AVG(value) FROM %s WHERE ts >= '2026-12-01 12:00:00' AND ts < '2026-12-02 12:00:00' GROUP BY name"
for round in 1 2 3; do
  for v in cnc_reading_json cnc_reading_all; do
    t0=$(date +%s.%N); db "$(printf "$q" $v)" >/dev/null; t1=$(date +%s.%N)
    printf 'round %d %-17s %.2f s\n' $round $v "$(echo "$t1 - $t0" | bc)"
  done
done
db "$(printf "$q" cnc_reading_all)"
