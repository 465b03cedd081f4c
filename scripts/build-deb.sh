#!/usr/bin/env bash
# build-deb.sh - builds the Debian package build/cnc-ingest_<version>_<arch>.deb from this
# tree: the dashboard's npm bundles first (they are not in git), then dpkg-buildpackage in a
# copy under build/deb/ so the source tree gets no debhelper leftovers. Needs the packages of
# debian/control's Build-Depends (scripts/install-deps.sh installs them) and node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-dashboard.sh >/dev/null
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
src=build/deb/cnc-ingest-$version
rm -rf build/deb
mkdir -p "$src"
# What git has (and new files it does not ignore), plus the built dashboard bundles.
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
cp -r dashboard/www/vendor "$src/dashboard/www/"
(cd "$src" && dpkg-buildpackage -us -uc -b >../build.log 2>&1) || {
  tail -40 build/deb/build.log >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is build/deb/build.log" >&2
  exit 1
}
cp "build/deb/cnc-ingest_${version}_${arch}.deb" build/
echo "build/cnc-ingest_${version}_${arch}.deb"
