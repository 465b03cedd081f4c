// dashboard_load.js URL SECONDS - opens the dashboard in headless chromium (playwright-core from
// dashboard/node_modules) while bench/run_dashboard.sh loads the broker, and reports what the
// page received and how long its redraws and main-thread stalls took, and the page thread's JS
// heap after a forced collection at the start and every third of the run. One JSON line on stdout.
'use strict';
const path = require('path');
const { chromium } = require(require.resolve('playwright-core',
  { paths: [path.join(__dirname, '..', 'dashboard')] }));

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 30)];
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null; };

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--enable-precise-memory-info',
           '--js-flags=--expose-gc'],
  });
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(url);
  await page.waitForFunction(() => window.cncDashboard && window.cncDashboard.connected(), null, { timeout: 10000 });
  await page.waitForTimeout(3000); // settle: retained messages, first redraws
  // The page thread's JS heap after a full collection: what it keeps, not what awaits the GC.
  const heap = () => page.evaluate(() => { window.gc(); return performance.memory.usedJSHeapSize; });
  const a = await page.evaluate(() => window.cncDashboard.perf());
  const heaps = [await heap()];
  for (let i = 1; i <= 3; i++) {
    await page.waitForTimeout(seconds * 1000 / 3);
    heaps.push(await heap());
  }
  const b = await page.evaluate(() => window.cncDashboard.perf());
  const drawn = await page.evaluate(() => window.cncDashboard.drawn());
  const shot = process.env.SCREENSHOT;
  if (shot) await page.screenshot({ path: shot });
  await browser.close();
  const redraws = b.redrawMs.slice(-Math.min(b.redrawMs.length, seconds));
  console.log(JSON.stringify({
    seconds, analytics_per_s: Math.round((b.analytics - a.analytics) / seconds),
    redraw_ms_p50: q(redraws, 0.5), redraw_ms_max: Math.max(...redraws),
    lag_ms_p99: q(b.lagMs, 0.99), lag_ms_max: Math.max(...b.lagMs),
    heap_mib_after_gc: heaps.map((h) => +(h / 1048576).toFixed(1)),
    machines_drawn: drawn.scatter, efficiency_points: drawn.efficiency,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
