// browser_check.js URL SCREENSHOT [EXPECT_REASON EXPECT_CLIENT] - opens the dashboard in
// Debian's chromium (headless, through playwright-core; no browser download) and checks what a
// person at the screen would: the page connects, every chart draws data within the timeout,
// and a reject with EXPECT_REASON from client EXPECT_CLIENT shows in the rejects panel. Saves
// a screenshot either way; prints one JSON line with what it saw; exit 0 only if all passed.
// Driven by tests/integration/test_dashboard_browser.py, which runs the broker and cnc-sim.
//
// Before that, the same page against a broker address where nothing listens: every chart is
// empty, says "no data yet" and its time axes (efficiency, ingest rate) have no ticks (no
// "12:00:00 AM" from an axis without data).
// Once the data is drawn: the scatter's threshold labels overlap neither each other nor, unless
// drawn on a background, another threshold line; every reject reason fits its column; the
// storage panel's commit latency is the last minute's. What it saw goes in "empty", "labels",
// "reasonsCut" and "latency".
//
// With DASHBOARD_STATES_MACHINE=ID (issue #17's state panels) it prints the line READY once the
// page draws analytics (so the test publishes ID's scripted states while the page listens),
// picks ID in the machine picker as a person would (it lists lathes with their state: ID's
// strip is then pinned at the top), and waits until ID's strip has its four segments and the
// Pareto a row for its alarm. What the state panels drew goes in "states".
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
const STATES_MACHINE = process.env.DASHBOARD_STATES_MACHINE || null;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run'],
  });
  const result = { url: url, connected: false, drawn: null, rejectRow: null, pageErrors: [] };
  let ok = false;
  try {
    result.empty = await emptyCharts(browser);
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
    let deadline = Date.now() + TIMEOUT_MS;
    let ready = false;
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => {
        const d = window.cncDashboard;
        if (!d) return null;
        const rows = Array.from(document.querySelectorAll('#rejects tbody tr'))
          .map((tr) => Array.from(tr.cells).map((td) => td.textContent));
        const text = (id) => document.getElementById(id).textContent;
        const cut = Array.from(document.querySelectorAll('#rejects td.reason'))
          .filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.textContent);
        const options = Array.from(document.querySelectorAll('#machine-select option'))
          .map((o) => [o.value, o.textContent, o.selected]);
        return { connected: d.connected(), drawn: d.drawn(), rows, status: text('status'),
                 states: d.states(), options, stateBars: d.stateBars(),
                 labels: d.thresholdLabels(), reasonsCut: cut,
                 latency: [document.querySelector('#st-latency').previousElementSibling.textContent,
                           text('st-latency')],
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
        result.labels = s.labels;
        result.reasonsCut = s.reasonsCut;
        result.latency = s.latency;
        result.rejectRow = s.rows.find((r) => r[1] === expectReason && (!expectClient || r[4] === expectClient)) || null;
        const allDrawn = CHARTS.every((c) => s.drawn[c] > 0);
        let statesOk = true;
        if (STATES_MACHINE) {
          if (!ready && s.connected && s.drawn.efficiency > 0) {
            ready = true;
            console.log('READY'); // the test publishes the scripted states now
            deadline = Date.now() + TIMEOUT_MS;
          }
          const opt = s.options.find((o) => o[0] === STATES_MACHINE);
          if (opt && !opt[2]) await page.selectOption('#machine-select', STATES_MACHINE);
          const row = s.states.rows.find((r) => r.id === STATES_MACHINE);
          result.states = Object.assign({ options: s.options.filter((o) => o[1] !== o[0]).slice(0, 50),
                                          picked: opt || null, stateBars: s.stateBars }, s.states);
          statesOk = !!row && row.segments.length >= 4 &&
            row.segments[row.segments.length - 1].category === 'productive' &&
            s.states.pareto.some((p) => p.cells[2] === 'E42');
        }
        const storageShown = s.storage.dead !== '-' && s.storage.rules !== '-' &&
          /^\d+ ms \/ \d+ ms/.test(s.latency[1]);
        const labelsOk = s.labels.length > 0 && labelProblems(s.labels).length === 0;
        const reasonsOk = s.reasonsCut.length === 0 &&
          (!process.env.DASHBOARD_LONGEST_REASON ||
           s.rows.some((r) => r[1] === process.env.DASHBOARD_LONGEST_REASON));
        if (s.connected && allDrawn && storageShown && labelsOk && reasonsOk && statesOk &&
            (!expectReason || result.rejectRow)) {
          ok = true;
          break;
        }
      }
      await page.waitForTimeout(500);
    }
    await page.waitForTimeout(1200); // one more redraw so the screenshot shows settled charts
    await page.screenshot({ path: screenshot, fullPage: true });
    result.missing = result.drawn ? CHARTS.filter((c) => !(result.drawn[c] > 0)) : CHARTS;
    result.labelProblems = labelProblems(result.labels || []);
    if (SIGNIN && ok) {
      await signin.afterData(page, TIMEOUT_MS, SIGNIN, result.signin, url, seen);
      ok = signin.ok(result.signin);
    }
  } finally {
    await browser.close();
  }
  const e = result.empty;
  if (!e || !CHARTS.every((c) => e.empty[c]) || e.ticks.efficiency.length || e.ticks.rate.length ||
      e.errors.length) {
    ok = false;
  }
  if (result.pageErrors.length) ok = false;
  result.ok = ok;
  console.log(JSON.stringify(result));
  process.exit(ok ? 0 : 1);
}

// Threshold labels that overlap one another, or that another threshold line crosses while not
// drawn on a background (a label's own line runs beside it, never through it).
function labelProblems(labels) {
  const out = [];
  const hit = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  labels.forEach((a, i) => {
    labels.forEach((b, j) => {
      if (j > i && hit(a, b)) out.push(`${a.text} overlaps ${b.text}`);
      if (j === i || a.masked) return;
      const crosses = b.axis === 'x' ? b.linePx > a.x && b.linePx < a.x + a.w
        : b.linePx > a.y && b.linePx < a.y + a.h;
      if (crosses) out.push(`${b.text}'s line crosses ${a.text}`);
    });
    const own = a.axis === 'x' ? a.linePx > a.x && a.linePx < a.x + a.w
      : a.linePx > a.y && a.linePx < a.y + a.h;
    if (own) out.push(`${a.text} lies on its own line`);
  });
  return out;
}

// The page with a broker where nothing listens, after two redraws: whether each chart is empty
// and the x tick labels it shows.
async function emptyCharts(browser) {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  try {
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const u = new URL(url);
    u.searchParams.set('broker', 'ws://127.0.0.1:9/');
    await page.goto(u.href, { waitUntil: 'load' });
    await page.waitForFunction(() => window.cncDashboard && window.cncDashboard.snapshots() >= 2,
                               null, { timeout: TIMEOUT_MS });
    const seen = await page.evaluate(() => ({ empty: window.cncDashboard.empty(),
                                              ticks: window.cncDashboard.xTicks() }));
    seen.errors = errors;
    return seen;
  } finally {
    await page.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
