#!/usr/bin/env bash
# build-mosquitto21.sh [PREFIX [CMAKE_ARGS...]] - builds mosquitto 2.1.2 from ../shared/vendor/
# (the upstream release tag, no network) into a private prefix, default build/mosquitto-2.1,
# once: a stamp holding the tarball's checksum and the arguments skips the build while they
# match. With libmicrohttpd-dev installed (scripts/install-deps.sh) the broker has the http_api
# listener that serves the dashboard's files on 2.1. CMAKE_ARGS make variants, such as the
# broker without websockets (-DWITH_WEBSOCKETS=OFF) whose loop sleeps until a plugin's tick is
# due (tests/integration/test_brokers.py). Prints the prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=$(cd .. && pwd)/shared/vendor/mosquitto-2.1.2.tar.gz
prefix=$(realpath -m "${1:-build/mosquitto-2.1}")
shift || true
src=$prefix.src
sum="$(sha256sum "$tarball" | cut -d' ' -f1) http_api $*"
stamp="$prefix/.built-from"
if [ -x "$prefix/sbin/mosquitto" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
  echo "$prefix"
  exit 0
fi
rm -rf "$src" "$prefix"
mkdir -p "$src"
tar xzf "$tarball" -C "$src" --strip-components=1
cmake -S "$src" -B "$src/build" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DWITH_DOCS=OFF -DWITH_TESTS=OFF -DWITH_APPS=OFF -DWITH_CTRL_SHELL=OFF \
      -DWITH_HTTP_API=ON "$@" >"$src.log" 2>&1 || { tail -30 "$src.log" >&2; exit 1; }
grep -q "MICROHTTPD_LIBRARY:FILEPATH=/" "$src/build/CMakeCache.txt" || {
  echo "build-mosquitto21: libmicrohttpd not found (apt install libmicrohttpd-dev): no http_api" >&2
  exit 1
}
cmake --build "$src/build" -j"$(nproc)" >>"$src.log" 2>&1 || { tail -30 "$src.log" >&2; exit 1; }
cmake --install "$src/build" >>"$src.log" 2>&1
echo "$sum" >"$stamp"
echo "$prefix"
