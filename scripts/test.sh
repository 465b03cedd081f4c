#!/usr/bin/env bash
# test.sh - installs what is missing, builds, and runs every test of cnc-ingest:
#   1. unit tests (cmocka via ctest)
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the threaded unit tests (spool appender vs reader) under ThreadSanitizer
#   4. the fuzz harnesses: corpus replay plus a short fuzzing run (FUZZ_SECONDS, default 10)
#   5. the dashboard: npm ci + bundle copy, its model's and label layout's unit tests (node --test)
#   6. integration tests: a real mosquitto with the built plugin and a private MariaDB (pytest),
#      the dashboard among them in Debian's chromium (screenshot: build/test-artifacts/), and the
#      Debian package built, installed, used as the README says and purged (test_package.py)
#   7. the integration tests again on mosquitto 2.1.2 (built once from ../shared/vendor into
#      build/mosquitto-2.1), with the plugin built against its headers (build-mosq21/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== build"
scripts/build.sh build
echo "== unit tests"
(cd build && ctest --output-on-failure)

echo "== unit tests under ASan+UBSan"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCNC_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure)

echo "== threaded unit tests under ThreadSanitizer"
CC=clang scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=Debug -DCNC_TSAN=ON
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R 'spool|json_arena|reload|writer')

echo "== fuzz harnesses"
CC=clang cmake -S . -B build-fuzz -DCNC_FUZZ=ON -DCNC_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_envelope fuzz_config fuzz_identity fuzz_spool_record fuzz_sim_wire fuzz_reject fuzz_script
for f in envelope config identity spool_record sim_wire reject script; do
  ./build-fuzz/fuzz_$f tests/fuzz/corpus/$f -runs=0
  work=$(mktemp -d)
  if ! ./build-fuzz/fuzz_$f "$work" tests/fuzz/corpus/$f -max_total_time="${FUZZ_SECONDS:-10}" \
      -print_final_stats=1 -artifact_prefix="$work/" >"$work/log" 2>&1; then
    tail -40 "$work/log"
    echo "fuzz_$f found a crash; the input is in $work" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$work/log" | sed "s/^/fuzz_$f: /"
  rm -rf "$work"
done

echo "== dashboard (npm ci, bundles, model and label layout unit tests)"
scripts/build-dashboard.sh
node --test dashboard/test/model_test.js dashboard/test/labels_test.js

echo "== mosquitto 2.1.2 (built once into build/mosquitto-2.1) and the plugin against it"
mosq21=$(scripts/build-mosquitto21.sh)
scripts/build-mosquitto21.sh build/mosquitto-2.1-nows -DWITH_WEBSOCKETS=OFF >/dev/null
scripts/build.sh build-mosq21 -DCNC_MOSQUITTO_PREFIX="$mosq21" -DCNC_TESTS=OFF

echo "== integration tests (real mosquitto 2.0.11 + plugin)"
CNC_BUILD_DIR="$PWD/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

echo "== integration tests on mosquitto 2.1.2"
# All but the package (Debian's broker by design), test_brokers.py (it runs both brokers
# itself) and the Galera cluster (the writer's, the same on both brokers; its three minutes
# keep the whole run under twenty): ingest, handlers, storage, identity, dashboard, valgrind.
CNC_BUILD_DIR="$PWD/build-mosq21" CNC_MOSQUITTO="$mosq21/sbin/mosquitto" \
  CNC_MOSQUITTO_LIB="$mosq21/lib" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  tests/integration --ignore=tests/integration/test_package.py \
  --ignore=tests/integration/test_brokers.py --ignore=tests/integration/test_cluster.py
