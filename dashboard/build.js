// build.js - copies the browser bundles of the npm dependencies (package.json, locked by
// package-lock.json) into www/vendor/, the folder mosquitto serves with http_dir. Nothing
// third-party is committed: run `npm ci && npm run build` (scripts/build-dashboard.sh does).
'use strict';
const fs = require('fs');
const path = require('path');

const here = __dirname;
const vendor = path.join(here, 'www', 'vendor');
const files = [
  ['mqtt/dist/mqtt.min.js', 'mqtt.min.js'],
  ['mqtt/LICENSE.md', 'mqtt.LICENSE.md'],
  ['chart.js/dist/chart.umd.min.js', 'chart.umd.min.js'],
  ['chart.js/LICENSE.md', 'chart.js.LICENSE.md'],
];
fs.mkdirSync(vendor, { recursive: true });
for (const [from, to] of files) {
  const src = path.join(here, 'node_modules', from);
  if (!fs.existsSync(src)) {
    console.error(`build.js: ${src} is missing; run npm ci first`);
    process.exit(1);
  }
  fs.copyFileSync(src, path.join(vendor, to));
}
const v = (p) => require(path.join(here, 'node_modules', p, 'package.json')).version;
fs.writeFileSync(path.join(vendor, 'VERSIONS.txt'), `mqtt ${v('mqtt')}\nchart.js ${v('chart.js')}\n`);
console.log(`dashboard: www/vendor/ has mqtt ${v('mqtt')} and chart.js ${v('chart.js')}`);
