// browser_check.js URL SCREENSHOT [EXPECT_REASON EXPECT_CLIENT] - opens the dashboard in
// Debian's chromium (headless, through playwright-core; no browser download) and checks what a
// person at the screen would: the page connects, every chart draws data within the timeout,
// and a reject with EXPECT_REASON from client EXPECT_CLIENT shows in the rejects panel. Saves
// a screenshot either way; prints one JSON line with what it saw; exit 0 only if all passed.
// Driven by tests/integration/test_dashboard_browser.py, which runs the broker and cnc-sim.
//
// With DASHBOARD_SIGNIN='{"asks", "username", "password", "wrong", "visitor": [name, password]}'
// in the environment the broker requires a password (or admits anonymous clients but shows them
// nothing), and the check signs in as a person would: the form must appear saying `asks`, a
// wrong password must be refused, the right one must show the data, and the
// credentials must never reach the URL, a request, localStorage or a cookie; a reload of the tab
// signs in again from its session, "sign out" forgets, and a user who may not read the output
// topics is told so and offered the form. What it saw goes in the JSON line's "signin".
'use strict';
const { chromium } = require('playwright-core');
const signin = require('./signin_flow.js');

const [url, screenshot, expectReason, expectClient] = process.argv.slice(2);
const TIMEOUT_MS = Number(process.env.DASHBOARD_TIMEOUT_MS || 20000);
const CHARTS = ['efficiency', 'modes', 'scatter', 'modeEfficiency', 'rate', 'reasons'];
const SIGNIN = process.env.DASHBOARD_SIGNIN ? JSON.parse(process.env.DASHBOARD_SIGNIN) : null;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run'],
  });
  const result = { url: url, connected: false, drawn: null, rejectRow: null, pageErrors: [] };
  let ok = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    const seen = { requests: [], console: [] };
    page.on('console', (m) => {
      seen.console.push(m.text());
      if (m.type() === 'error') result.pageErrors.push(m.text());
    });
    page.on('request', (r) => seen.requests.push(r.url() + ' ' + (r.postData() || '')));
    await page.goto(url, { waitUntil: 'load' });
    seen.history = await page.evaluate(() => history.length);
    if (SIGNIN) {
      result.signin = {};
      await signin.beforeData(page, TIMEOUT_MS, SIGNIN, result.signin);
    }
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => {
        const d = window.cncDashboard;
        if (!d) return null;
        const rows = Array.from(document.querySelectorAll('#rejects tbody tr'))
          .map((tr) => Array.from(tr.cells).map((td) => td.textContent));
        const text = (id) => document.getElementById(id).textContent;
        return { connected: d.connected(), drawn: d.drawn(), rows, status: text('status'),
                 storage: { db: text('kpi-db'), dead: text('kpi-dead'),
                            deadClass: document.getElementById('kpi-dead').className,
                            waiting: text('st-waiting'), errors: text('st-errors'),
                            rules: text('st-rules'), host: text('st-host'),
                            nodes: Array.from(document.querySelectorAll('#nodes tbody tr'))
                              .map((tr) => Array.from(tr.cells).map((td) => td.textContent)) } };
      });
      if (s) {
        result.connected = s.connected;
        result.status = s.status;
        result.drawn = s.drawn;
        result.storage = s.storage;
        result.rejectRow = s.rows.find((r) => r[1] === expectReason && (!expectClient || r[4] === expectClient)) || null;
        const allDrawn = CHARTS.every((c) => s.drawn[c] > 0);
        const storageShown = s.storage.dead !== '-' && s.storage.rules !== '-';
        if (s.connected && allDrawn && storageShown && (!expectReason || result.rejectRow)) {
          ok = true;
          break;
        }
      }
      await page.waitForTimeout(500);
    }
    await page.waitForTimeout(1200); // one more redraw so the screenshot shows settled charts
    await page.screenshot({ path: screenshot, fullPage: true });
    result.missing = result.drawn ? CHARTS.filter((c) => !(result.drawn[c] > 0)) : CHARTS;
    if (SIGNIN && ok) {
      await signin.afterData(page, TIMEOUT_MS, SIGNIN, result.signin, url, seen);
      ok = signin.ok(result.signin);
    }
  } finally {
    await browser.close();
  }
  if (result.pageErrors.length) ok = false;
  result.ok = ok;
  console.log(JSON.stringify(result));
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
