#!/usr/bin/env bash
# run_storage.sh - storage benchmarks with a private MariaDB started here:
#   1. broker-thread cost of encode + spool append, for spool.fsync never / batch / always;
#   2. writer throughput into MariaDB for both reading layouts (mysql.readings: rows | json).
# Prints a markdown block for bench/RESULTS.md. Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build >/dev/null
work=$(mktemp -d)
sock="$work/mariadb.sock"
user_opt=()
[ "$(id -u)" -eq 0 ] && user_opt=(--user=root)
cleanup() {
  [ -f "$work/mariadb.pid" ] && kill "$(cat "$work/mariadb.pid")" 2>/dev/null || true
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT
mariadb-install-db --no-defaults --datadir="$work/data" --auth-root-authentication-method=normal \
  --skip-test-db "${user_opt[@]}" >/dev/null 2>&1
mariadbd --no-defaults --datadir="$work/data" --socket="$sock" --skip-networking \
  --pid-file="$work/mariadb.pid" --log-error="$work/mariadb.err" --skip-log-bin \
  --innodb-buffer-pool-size=1G --innodb-log-file-size=512M "${user_opt[@]}" &
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
mariadb --no-defaults -S "$sock" -uroot -e "CREATE DATABASE cnc; CREATE USER cnc@localhost IDENTIFIED BY 'bench'; GRANT ALL ON cnc.* TO cnc@localhost;"
printf 'bench\n' >"$work/pw"
chmod 600 "$work/pw"

echo "### Storage ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), MariaDB $(mariadbd --version | awk '{print $3}'))"
echo
echo '```'
echo "\$ build/bench_storage spool DIR"
build/bench_storage spool "$work"
echo
for layout in rows json; do
  for batch in 1000 5000; do
    mariadb --no-defaults -S "$sock" -ucnc -pbench cnc -e \
      "DROP TABLE IF EXISTS cnc_message, cnc_reading, cnc_efficiency, cnc_anomaly" 2>/dev/null || true
    echo "\$ build/bench_storage writer SOCKET PWFILE 100000 $layout $batch"
    build/bench_storage writer "$sock" "$work/pw" 100000 "$layout" "$batch"
  done
done
echo '```'
