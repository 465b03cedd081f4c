// signin_flow.js - the sign-in steps of browser_check.js, as a person at a factory screen
// would take them against a broker that requires a password (or admits anonymous clients but
// shows them nothing). S is DASHBOARD_SIGNIN: {asks, asksStatus, username, password, wrong,
// visitor: [name, password]}. Each step records what it saw in `si`; ok(si) says whether every
// step saw what it must.
'use strict';

const KEY = 'cnc-ingest.credentials';

// Polls fn in the page until it returns something truthy; that value, or null at the timeout.
async function until(page, timeoutMs, fn, arg) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    await page.waitForTimeout(200);
  }
  return null;
}

// The form's reason once it is shown saying `why` while the status line says `status`.
function formSays(page, timeoutMs, why, status) {
  return until(page, timeoutMs, ([w, st]) => {
    const box = document.getElementById('signin');
    const text = document.getElementById('signin-why').textContent;
    const line = document.getElementById('status').textContent;
    return !box.hidden && text.includes(w) && line.includes(st) ? text : null;
  }, [why, status]);
}

async function signIn(page, username, password) {
  await page.fill('#signin-user', username);
  await page.fill('#signin-password', password);
  await page.click('#signin-form button[type=submit]');
}

const connections = (page) => page.evaluate(() => window.cncDashboard.connections());
const stored = (page) => page.evaluate((k) => sessionStorage.getItem(k), KEY);

// After `n` more snapshots from the worker (one per redraw_ms): time for a retry to show.
async function snapshotsLater(page, timeoutMs, n) {
  const first = await page.evaluate(() => window.cncDashboard.snapshots());
  return until(page, timeoutMs, (want) => window.cncDashboard.snapshots() >= want, first + n);
}

// Where the secret could have gone: the URL and history, cookies, localStorage, any request
// (URL or body), anything written to the console, the page's title and text.
async function leaks(page, seen, secret) {
  const kept = await page.evaluate(() => ({
    url: location.href, history: history.length, cookie: document.cookie,
    local: JSON.stringify(localStorage), title: document.title, text: document.body.innerText,
    inputs: Array.from(document.querySelectorAll('input')).map((i) => i.value).join(' '),
  }));
  const found = [];
  if (page.url().includes(secret) || kept.url.includes(secret)) found.push('url');
  if (kept.history !== seen.history) found.push('history ' + kept.history); // a navigation
  for (const k of ['cookie', 'local', 'title', 'text', 'inputs']) {
    if (kept[k].includes(secret)) found.push(k);
  }
  if (seen.requests.some((r) => r.includes(secret))) found.push('request');
  if (seen.console.some((c) => c.includes(secret))) found.push('console');
  return found;
}

// Before the data: asked, a wrong password refused (not saved, not retried), the right one.
async function beforeData(page, t, S, si) {
  si.asked = await formSays(page, t, S.asks, S.asksStatus);
  await signIn(page, S.username, S.wrong);
  si.refused = await formSays(page, t, 'refused this user name and password', 'sign-in refused');
  si.storedAfterRefusal = await stored(page);
  si.retriedWhileRefused = (await snapshotsLater(page, t, 3)) ? (await connections(page)).attempts : null;
  await signIn(page, S.username, S.password);
}

// With the data on screen: the tab's session, reload, sign-out, a user who may not read, a
// broker address with credentials in it, and the saved credentials kept from another broker.
async function afterData(page, t, S, si, url, seen) {
  si.leaks = await leaks(page, seen, S.password);
  si.stored = await stored(page);
  await page.reload({ waitUntil: 'load' });
  si.afterReload = await until(page, t, () => {
    const d = window.cncDashboard;
    const b = document.getElementById('signout');
    return d && d.connected() && document.getElementById('signin').hidden && !b.hidden
      ? b.textContent : null;
  });
  await page.click('#signout');
  si.signedOut = await formSays(page, t, S.asks, S.asksStatus);
  si.storedAfterSignOut = await stored(page);
  await signIn(page, S.visitor[0], S.visitor[1]);
  si.visitor = await until(page, t, (name) => {
    const line = document.getElementById('status').textContent;
    return line.includes(' as ' + name + ', but ') &&
      (line.includes('may not read') || line.includes('nothing arrived')) ? line : null;
  }, S.visitor[0]);
  si.visitorForm = await formSays(page, t, S.visitor[0] + ' ', ' as ' + S.visitor[0] + ', but ');
  // One connection open at a time (each sign-in ends the last), three tried on this page (as of
  // a snapshot taken after this step).
  si.connections = (await snapshotsLater(page, t, 2)) ? await connections(page) : null;
  // The overlay leaves the header usable: "sign out" still takes a click.
  await page.click('#signout', { timeout: 5000 });
  si.signedOutOverForm = await formSays(page, t, S.asks, S.asksStatus);
  si.leaks = si.leaks.concat(await leaks(page, seen, S.password));
  // Signed in again, then the page pointed at another broker address (the same server under
  // another name, as a link to an impostor would be): the saved credentials stay behind.
  await signIn(page, S.username, S.password);
  await until(page, t, () => window.cncDashboard.connected());
  // The broker the page found (its own port on mosquitto 2.0, the websockets listener on 2.1).
  const other = new URL(await page.evaluate(() => window.cncDashboard.config.broker));
  const brokerUrl = 'ws://localhost:' + other.port + '/';
  await page.goto(url + '?broker=' + encodeURIComponent(brokerUrl), { waitUntil: 'load' });
  si.otherBroker = await formSays(page, t, 'The broker at ' + brokerUrl, '');
  // A broker address carrying credentials is refused outright, and never shown.
  const withCreds = 'ws://' + S.username + ':' + S.password + '@127.0.0.1:' + other.port + '/';
  await page.goto(url + '?broker=' + encodeURIComponent(withCreds), { waitUntil: 'load' });
  si.credsInUrl = await until(page, t, () => {
    const line = document.getElementById('status').textContent;
    return line.includes('may not carry a user name or password') ? line : null;
  });
  si.credsInUrlShown = await page.evaluate((p) => document.body.innerText.includes(p), S.password);
}

function ok(si) {
  return !!(si.asked && si.refused && si.afterReload && si.signedOut && si.visitor &&
            si.visitorForm && si.signedOutOverForm && si.otherBroker && si.credsInUrl) &&
    si.storedAfterRefusal === null && si.retriedWhileRefused === 2 && si.leaks.length === 0 &&
    si.storedAfterSignOut === null && !!si.connections && si.connections.open === 1 &&
    si.connections.attempts === 3 && !si.credsInUrlShown;
}

module.exports = { until, beforeData, afterData, ok };
