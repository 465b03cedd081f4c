#!/usr/bin/env bash
# run_cluster.sh - one broker into one MariaDB vs one broker into a three-node Galera cluster vs
# two brokers into the cluster, side by side in one run (bench/cluster_bench.py): the highest
# rate at which every message is stored (a paced ladder), CPU per message of each part, and
# publish->commit p50/p99 at 10,000 msg/s. Everything runs on this machine: on 2 shared cores
# the cluster's three servers compete with the broker and the simulator. Markdown on stdout.
# CLUSTER_LADDER=10000,20000,... and CLUSTER_STEP_SECONDS=8 change the ladder. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
exec /usr/bin/python3 bench/cluster_bench.py
