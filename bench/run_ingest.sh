#!/usr/bin/env bash
# run_ingest.sh - the broker-thread cost per message (topic match, envelope
# validation, routing, handler, rules; and the analytics JSON side by side)
# on the sample messages and a 200-byte machine_tool-style message, replayed
# over 10,000 machine ids per handler kind. Prints a markdown block for
# bench/RESULTS.md. Not a test: asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build >/dev/null
samples=../shared/samples/valid.jsonl
[ -f "$samples" ] || samples=tests/integration/samples/valid.jsonl
echo "### Broker-thread cost per message ($(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'))"
echo
echo '```'
echo "\$ build/bench_ingest --generic --machines 10000 $samples bench/messages.jsonl"
build/bench_ingest --generic --machines 10000 "$samples" bench/messages.jsonl
echo
echo "\$ build/bench_ingest --analytics --machines 10000 $samples bench/messages.jsonl"
build/bench_ingest --analytics --machines 10000 "$samples" bench/messages.jsonl
echo
echo "\$ build/bench_ingest --generic --identity --machines 10000 bench/messages.jsonl"
build/bench_ingest --generic --identity --machines 10000 bench/messages.jsonl
echo '```'
echo
echo "Instructions per message (callgrind, deterministic; difference of two run lengths, 200-byte message):"
echo '```'
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench_ingest --machines 10000 \
    "$@" bench/messages.jsonl 2>&1 | sed -n 's/.*Collected : *//p'
}
g=$(( ($(ir --generic --iterations 40000) - $(ir --generic --iterations 20000)) / 20000 ))
h=$(( ($(ir --iterations 40000) - $(ir --iterations 20000)) / 20000 ))
# --analytics runs the pipeline twice per iteration (alone, then with the JSON).
a=$(( ($(ir --analytics --iterations 40000) - $(ir --analytics --iterations 20000)) / 20000 - 2 * h ))
echo "generic handler, no rules:                         $g instructions/msg"
echo "machine_tool + 2 rules, 10,000 machines:           $h instructions/msg"
# --identity runs the pipeline twice per iteration too (unchecked, then with the publisher checked).
i=$(( ($(ir --generic --identity --iterations 40000) - $(ir --generic --identity --iterations 20000)) / 20000 - 2 * g ))
echo "analytics JSON of the same message (on top):       $a instructions/msg"
echo "identity check, 20,000 publishers (on top):        $i instructions/msg"
echo '```'

echo
echo "Handler scripts: the shipped seed scripts beside the machine_tool instances they replace,"
echo "the same rules, round by round in one process (handlers/scripts/, README \"Writing a handler script\"):"
echo '```'
for s in cnc_type_a cnc_type_b; do
  echo "\$ build/bench_ingest --script $s --machines 10000 bench/messages.jsonl"
  build/bench_ingest --script $s --machines 10000 bench/messages.jsonl
done
echo '```'
echo
echo "Instructions per message a script adds (callgrind; --script runs the C pipeline and the script's"
echo "each iteration, --lathe the C one alone):"
echo '```'
for s in cnc_type_a cnc_type_b; do
  both=$(( ($(ir --script $s --iterations 40000) - $(ir --script $s --iterations 20000)) / 20000 ))
  c=$(( ($(ir --lathe $s --iterations 40000) - $(ir --lathe $s --iterations 20000)) / 20000 ))
  printf '%-11s machine_tool pipeline %6d, with the script instead %6d: +%d instructions/msg\n' \
    "$s" "$c" "$((both - c))" "$((both - 2 * c))"
done
echo '```'

echo
echo "The rules alone, one of each kind and the shipped press_line rules before and after issue #17,"
echo "round by round in one process (bench_ingest --rule-cost; the values change every message):"
echo '```'
echo "\$ build/bench_ingest --rule-cost --machines 10000 --iterations 2000000"
build/bench_ingest --rule-cost --machines 10000 --iterations 2000000
echo "\$ build/bench_ingest --rule-cost --machines 1000 --iterations 2000000"
build/bench_ingest --rule-cost --machines 1000 --iterations 2000000
echo '```'
echo
echo "Instructions per message of each rule set (callgrind; 1,000 machines, every window full):"
echo '```'
rir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null build/bench_ingest --rule-cost \
    --machines 1000 "$@" 2>&1 | sed -n 's/.*Collected : *//p'
}
none=$(( ($(rir --only none --iterations 200000) - $(rir --only none --iterations 100000)) / 100000 ))
for s in above zscore stuck hampel15 hampel63 press_before press_now; do
  n=$(( ($(rir --only $s --iterations 200000) - $(rir --only $s --iterations 100000)) / 100000 ))
  printf '%-13s %5d instructions/msg, %5d over the loop alone\n' "$s" "$n" "$((n - none))"
done
echo '```'
