#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages cnc-ingest needs to build,
# test and run, skipping what is already installed. Used by test.sh and demo.sh.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients
  libcjson-dev libyaml-dev libxxhash-dev liblua5.4-dev libmariadb-dev mariadb-server mariadb-client
  libcmocka-dev python3 python3-paho-mqtt python3-pytest python3-pymysql openssl valgrind
  galera-4 rsync haproxy
  debhelper dpkg-dev lintian libmicrohttpd-dev strace
  chromium
)
# The dashboard's build and browser test need node and npm. A machine that already has node
# from elsewhere (nodesource bundles npm) keeps it: Debian's npm would conflict with it.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
