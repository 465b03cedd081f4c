#!/usr/bin/env bash
# run_storage.sh - storage benchmarks with a private MariaDB started here:
#   1. broker-thread cost of encode + spool append, for spool.fsync never / batch / always;
#   2. writer throughput into MariaDB for both reading layouts (mysql.readings: rows | json).
# Prints a markdown block for bench/RESULTS.md. Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
sock=$MARIADB_SOCK

echo "### Storage ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), MariaDB $(mariadbd --version | awk '{print $3}'))"
echo
echo '```'
echo "\$ build/bench_storage spool DIR"
build/bench_storage spool "$work"
echo
for layout in rows json; do
  for batch in 1000 5000; do
    mariadb --no-defaults -S "$sock" -ucnc -pprivate cnc -e \
      "DROP TABLE IF EXISTS cnc_message, cnc_reading, cnc_efficiency, cnc_anomaly" 2>/dev/null || true
    echo "\$ build/bench_storage writer SOCKET PWFILE 100000 $layout $batch"
    build/bench_storage writer "$sock" "$MARIADB_PWFILE" 100000 "$layout" "$batch"
  done
done
echo '```'
