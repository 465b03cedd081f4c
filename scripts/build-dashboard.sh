#!/usr/bin/env bash
# build-dashboard.sh - installs the dashboard's npm dependencies exactly as locked
# (dashboard/package-lock.json) and copies their browser bundles into dashboard/www/vendor/,
# the folder mosquitto's websockets listener serves (http_dir). Needs node and npm
# (scripts/install-deps.sh installs them). Nothing third-party is committed.
set -euo pipefail
cd "$(dirname "$0")/../dashboard"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node build.js
