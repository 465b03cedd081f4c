#!/usr/bin/env bash
# run_ingest.sh - the broker-thread cost per message (topic match, envelope
# validation, routing, handler) on the sample messages and a 200-byte
# machine_tool-style message, with 10,000 configured exact routes.
# Prints a markdown block for bench/RESULTS.md. Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build >/dev/null
samples=../shared/samples/valid.jsonl
[ -f "$samples" ] || samples=tests/integration/samples/valid.jsonl
echo "### Validation + routing + handler per message ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'))"
echo
echo '```'
echo "\$ build/bench_ingest --machines 10000 $samples bench/messages.jsonl"
for f in "$samples" bench/messages.jsonl; do
  build/bench_ingest --machines 10000 --iterations 500000 "$f"
done
echo '```'
echo
echo "Instructions per message (callgrind, deterministic; difference of two run lengths):"
echo '```'
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench_ingest --machines 10000 \
    --iterations "$1" bench/messages.jsonl 2>&1 | sed -n 's/.*Collected : *//p'
}
a=$(ir 20000)
b=$(ir 40000)
echo "200-byte message: $(( (b - a) / 20000 )) instructions/msg (validation + routing + handler + topic match)"
echo '```'
