#!/usr/bin/env bash
# run_writer_cost.sh OTHER_BENCH_STORAGE [MESSAGES [MACHINES [states]]] - the writer's throughput into a private
# MariaDB, this build's build/bench_storage against another's (say, one built from the commit
# before issue #17: git worktree add /tmp/old <commit>; cmake ... --target bench_storage), in
# alternating rounds on one server, every table dropped before each round: what the machine
# state, rollup and state-time tables cost the writer. MACHINES (10000) and "states" as
# bench_storage takes them: with states every message starts an interval. Markdown on stdout.
# Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
other=$1
n=${2:-200000}
machines=${3:-10000}
states=${4:-}
. scripts/lib/bench.sh
drop_all() {
  mariadb --no-defaults -S "$MARIADB_SOCK" -uroot cnc -N -e "SELECT CONCAT('DROP TABLE ',
    GROUP_CONCAT(table_name), ';') FROM information_schema.tables WHERE table_schema = 'cnc'
    AND table_type = 'BASE TABLE'" | grep -v NULL | mariadb --no-defaults -S "$MARIADB_SOCK" -uroot cnc || true
}
echo "### The writer's throughput, this build against $other ($(date -u +%Y-%m-%d), $(nproc) cores, $n messages, $machines machines${states:+, states})"
echo
echo '```'
for round in 1 2 3; do
  for which in other this; do
    drop_all
    bin=$([ "$which" = this ] && echo build/bench_storage || echo "$other")
    printf 'round %d %-5s ' "$round" "$which"
    "$bin" writer "$MARIADB_SOCK" "$MARIADB_PWFILE" "$n" json 1000 auto "$machines" $states | grep -m1 -i 'msg/s\|messages/s' || true
  done
done
echo '```'
