#!/usr/bin/env bash
# run_db_cost.sh [MESSAGES] [ROUNDS] - what MariaDB spends per stored message, for each statement
# shape and payload column, side by side in one run with a private MariaDB (scripts/lib/bench.sh):
#   multi_row + CHECK   the statement shape before issue #13 (INSERT ... VALUES (..),(..), up to
#                       256 rows each) into a JSON column (MariaDB checks json_valid on each row)
#   multi_row           the same without the check (the payload column since schema.sql v2)
#   bulk + CHECK        one COM_STMT_BULK_EXECUTE per table and batch (mysql.insert: bulk)
#   bulk                what mysql.insert: auto does on MariaDB now, into the plain column
# Each variant drains a spool prefilled with MESSAGES machine_tool messages (build/bench_storage
# writer, readings: json, batch 5000) into empty tables; MariaDB's CPU (user+system) is read
# from /proc around the drain, the writer's rate from bench_storage. Rounds alternate the
# variants so a noisy neighbour hits all alike; medians, min in brackets. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
rounds=${2:-5}
. scripts/lib/bench.sh
sock=$MARIADB_SOCK
maria_pid=$(cat "$work/mariadb.pid")
sql() { mariadb --no-defaults -S "$sock" -ucnc -pprivate cnc -N -e "$1" 2>/dev/null; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The schema as create_schema makes it (one message), then the payload column as the variant has it.
prepare() {
  sql "DROP TABLE IF EXISTS cnc_message, cnc_reading, cnc_efficiency, cnc_anomaly, cnc_schema_version" || true
  build/bench_storage writer "$sock" "$MARIADB_PWFILE" 1 json 5000 >/dev/null
  sql "TRUNCATE cnc_message"
  if [ "$1" = check ]; then
    sql "ALTER TABLE cnc_message MODIFY payload JSON NOT NULL"
  fi
}
variants=("multi_row check" "multi_row plain" "bulk check" "bulk plain")
declare -A rates cpus
for r in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    read -r shape column <<<"$v"
    prepare "$column"
    t0=$(ticks "$maria_pid")
    out=$(build/bench_storage writer "$sock" "$MARIADB_PWFILE" "$n" json 5000 "$shape")
    t1=$(ticks "$maria_pid")
    rows=$(sql "SELECT COUNT(*) FROM cnc_message")
    [ "$rows" = "$n" ] || { echo "$v: $rows rows of $n" >&2; exit 1; }
    rate=$(sed -n 's/.* = \([0-9]*\) msg\/s.*/\1/p' <<<"$out")
    rates[$v]+="$rate "
    cpus[$v]+="$(/usr/bin/python3 -c "print('%.2f' % (($t1 - $t0) * 10000 / $n))") "
  done
done
med() { /usr/bin/python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print('%s (%s)' % (('%.0f' if v[0] > 100 else '%.2f') % statistics.median(v), ('%.0f' if v[0] > 100 else '%.2f') % (max(v) if v[0] > 100 else min(v))))" $1; }
echo "### MariaDB's cost per stored message ($(date -u +%Y-%m-%d), $(nproc) cores, MariaDB $(mariadbd --version | awk '{print $3}'))"
echo
echo '```'
echo "\$ bench/run_db_cost.sh $n $rounds    (readings: json, batch_size 5000; median of $rounds rounds, best in brackets)"
printf '%-20s %22s %26s\n' variant "writer msg/s" "MariaDB us/msg (CPU)"
for v in "${variants[@]}"; do
  label=${v/ check/ + CHECK}
  label=${label/ plain/}
  printf '%-20s %22s %26s\n' "$label" "$(med "${rates[$v]}")" "$(med "${cpus[$v]}")"
done
echo '```'
