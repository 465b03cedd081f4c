// model_test.js - unit tests of the dashboard's aggregates (www/model.js) under node's own
// test runner: what each chart gets, and that nothing grows without bound at fleet scale.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const CncModel = require('../www/model.js');

function press(id, mode, score, t, v, anomalies) {
  return { cnc_id: id, handler: 'press_line', mode, efficiency_score: score,
           efficiency_level: 'High', readings: 3, values: { temperature: t, vibration: v },
           anomalies: anomalies || [] };
}

test('efficiency is averaged per machine and second', () => {
  const m = new CncModel.Model();
  m.analytics(press('P1', 'active', 90, 70, 1), 1000);
  m.analytics(press('P1', 'active', 70, 70, 1), 1500);
  m.analytics(press('P1', 'active', 50, 70, 1), 2100);
  assert.deepStrictEqual(m.efficiencySeries('P1'), [{ x: 1000, y: 80 }, { x: 2000, y: 50 }]);
  assert.deepStrictEqual(m.efficiencySeries('nobody'), []);
});

test('modes, efficiency by mode over the last minute, scatter and anomalies', () => {
  const m = new CncModel.Model();
  m.analytics(press('P1', 'active', 100, 70, 1), 0);
  m.analytics(press('P2', 'idle', 60, 50, 0.5), 0);
  assert.deepStrictEqual(m.modeEfficiency(30000), [100, 60, null, null]);
  m.analytics(press('P3', 'idle', 40, 95, 7, [{ rule: 'vibration_critical' }]), 70000);
  // a lathe has no mode and no temperature/vibration: counted as a machine, not in the press
  // charts (without a state, as from a broker before machine states, not in the state panel)
  m.analytics({ cnc_id: 'CNC1', handler: 'lathe', mode: null, efficiency_score: null,
                readings: 4, values: { spin: 1200 }, anomalies: [] }, 70000);
  assert.deepStrictEqual(m.stateCounts().map((b) => [b.state, b.n]), [['idle', 2], ['active', 1]]);
  // at 70 s only the last second's idle sample is inside the 60 s window
  assert.deepStrictEqual(m.modeEfficiency(70000), [null, 40, null, null]);
  assert.strictEqual(m.scatter().length, 3);
  const a = m.anomalies.toArray();
  assert.strictEqual(a.length, 1);
  assert.deepStrictEqual([a[0].x, a[0].y, a[0].id], [95, 7, 'P3']);
  assert.strictEqual(m.machines.size, 4);
});

test('rates come from the broker clock of two metrics snapshots', () => {
  const m = new CncModel.Model();
  const snap = (at, accepted, rejected) => ({ at, received: accepted + rejected, accepted, rejected });
  m.metricsMessage(snap('2026-11-22T10:00:00.000Z', 1000, 10), 999999);
  m.metricsMessage(snap('2026-11-22T10:00:02.000Z', 5000, 30), 1000000);
  const r = m.rates.toArray();
  assert.strictEqual(r.length, 1);
  assert.deepStrictEqual([r[0].accepted, r[0].rejected], [2000, 10]);
  // a snapshot that is not newer (a retained copy again) adds no rate
  m.metricsMessage(snap('2026-11-22T10:00:02.000Z', 5000, 30), 1000001);
  assert.strictEqual(m.rates.toArray().length, 1);
});

test('several brokers: counters summed, rates added, each node listed', () => {
  const m = new CncModel.Model();
  const snap = (node, at, accepted, extra) => Object.assign({ node, at, received: accepted,
    accepted, rejected: 0, stored: accepted, spooled_bytes: 10, db_connected: true,
    db_waiting_for: null, db_host: node === 'b1' ? 'db1:3306' : 'db2:3306', db_failovers: 0,
    rejected_by_reason: { not_json: 1 }, db_errors_by_cause: { lock: 2 },
    commit_latency_p99_ms: node === 'b1' ? 50 : 80 }, extra || {});
  m.metricsMessage(snap('b1', '2026-12-02T10:00:00.000Z', 1000), 1000, 'cnc/ingest/stats/b1');
  m.metricsMessage(snap('b2', '2026-12-02T10:00:00.500Z', 4000), 1000, 'cnc/ingest/stats/b2');
  m.metricsMessage(snap('b1', '2026-12-02T10:00:01.000Z', 2000), 2000, 'cnc/ingest/stats/b1');
  m.metricsMessage(snap('b2', '2026-12-02T10:00:01.500Z', 6000,
    { db_connected: false, db_waiting_for: 'unreachable', db_failovers: 1 }), 2000, 'x');
  const s = m.metrics;
  assert.strictEqual(s.node_count, 2);
  assert.deepStrictEqual([s.accepted, s.stored, s.spooled_bytes], [8000, 8000, 20]);
  assert.deepStrictEqual([s.rejected_by_reason.not_json, s.db_errors_by_cause.lock], [2, 4]);
  assert.deepStrictEqual([s.db_connected, s.db_waiting_for, s.db_failovers], [false, 'unreachable', 1]);
  assert.strictEqual(s.commit_latency_p99_ms, 80);
  assert.strictEqual(s.db_host, 'db1:3306, db2:3306');
  // the plant's rate: b1's 1000/s plus b2's 2000/s
  const r = m.rates.toArray();
  assert.deepStrictEqual(r.map((x) => x.accepted), [1000, 3000]);
  const list = m.nodeList(5000);
  assert.deepStrictEqual(list.map((n) => [n.node, n.connected, n.waiting, n.host, n.silentS]),
    [['b1', true, null, 'db1:3306', 3], ['b2', false, 'unreachable', 'db2:3306', 3]]);
  // one broker alone (no node member, as before) is keyed by its topic and shown as itself
  const one = new CncModel.Model();
  one.metricsMessage({ at: '2026-12-02T10:00:00.000Z', received: 5, accepted: 5, rejected: 0 }, 0,
                     'cnc/ingest/stats');
  assert.strictEqual(one.metrics.accepted, 5);
  assert.strictEqual(one.nodeList(0)[0].node, 'cnc/ingest/stats');
  // a bounded number of nodes: forged node names cannot grow the model
  for (let i = 0; i < CncModel.MAX_NODES + 10; i++) {
    one.metricsMessage({ node: 'n' + i, at: '2026-12-02T10:00:00.000Z', received: 1, accepted: 1, rejected: 0 }, 0);
  }
  assert.strictEqual(one.nodes.size, CncModel.MAX_NODES);
});

test('commit latency over the last minute: checked, and the worst of several brokers', () => {
  const m = new CncModel.Model();
  const snap = (node, at, recent) => ({ node, at, received: 1, accepted: 1, rejected: 0,
    commit_latency_p50_ms: 1600, commit_latency_p99_ms: 3000, commit_latency_recent: recent });
  m.metricsMessage(snap('b1', '2026-12-02T10:00:00.000Z',
                        { s: 62, commits: 1000, p50_ms: 61, p99_ms: 108 }), 0);
  assert.deepStrictEqual(m.metrics.commit_latency_recent, { s: 62, commits: 1000, p50_ms: 61, p99_ms: 108 });
  assert.strictEqual(m.metrics.commit_latency_p50_ms, 1600); // since start, kept as published
  m.metricsMessage(snap('b2', '2026-12-02T10:00:00.000Z',
                        { s: 60, commits: 500, p50_ms: 70, p99_ms: 90 }), 0);
  assert.deepStrictEqual(m.metrics.commit_latency_recent, { s: 62, commits: 1500, p50_ms: 70, p99_ms: 108 });
  // an idle minute: no percentiles; a node that commits nothing does not hide the other's
  m.metricsMessage(snap('b2', '2026-12-02T10:00:01.000Z', { s: 61, commits: 0 }), 0);
  assert.deepStrictEqual(m.metrics.commit_latency_recent, { s: 62, commits: 1000, p50_ms: 61, p99_ms: 108 });
  const idle = new CncModel.Model();
  idle.metricsMessage(snap('b1', '2026-12-02T10:00:00.000Z', { s: 61, commits: 0 }), 0);
  assert.deepStrictEqual(idle.metrics.commit_latency_recent, { s: 61, commits: 0, p50_ms: null, p99_ms: null });
  // the wrong shape, or a plugin that publishes no window: null, never thrown on
  for (const r of [undefined, null, 'x', [], { s: 'a', commits: 1 }, { s: 60, commits: 3, p50_ms: 'x' }]) {
    const one = new CncModel.Model();
    one.metricsMessage(snap('b1', '2026-12-02T10:00:00.000Z', r), 0);
    const got = one.metrics.commit_latency_recent;
    assert.ok(got === null || (got.p50_ms === null && got.p99_ms === null), JSON.stringify(r));
  }
});

test('threshold lines come from the layout', () => {
  const m = new CncModel.Model();
  m.layout = { handlers: {
    press_line: { type: 'sensor_efficiency',
                  params: { temperature: { optimal: [60, 80], critical: [10, 95] } },
                  rules: [{ name: 'temperature_high', variable: 'temperature', above: 90 },
                          { name: 'vib', variable: 'vibration', outside: [0, 4] },
                          { name: 'spin', variable: 'spin', above: 9000 }] },
    lathe: { type: 'machine_tool', params: null, rules: [] },
  } };
  const t = m.thresholds();
  assert.deepStrictEqual(t.temperature.map((l) => l.value).sort(), [80, 90, 95]);
  assert.deepStrictEqual(t.vibration.map((l) => l.value), [4]);
});

test('bounded: 5,000 machines, a day of seconds, 10,000 rejects', () => {
  const m = new CncModel.Model();
  for (let i = 0; i < 5000; i++) m.analytics(press('P' + i, 'active', 80, 70, 1), 0);
  assert.strictEqual(m.machines.size, CncModel.MAX_MACHINES);
  assert.ok(!m.machines.has('P0') && m.machines.has('P4999'));
  for (let s = 0; s < 86400; s += 7) m.analytics(press('P4999', 'active', 80, 70, 1, [{ rule: 'x' }]), s * 1000);
  assert.ok(m.efficiencySeries('P4999').length <= 121);
  assert.ok(m.anomalies.toArray().length <= 300);
  assert.ok(m.modeBuckets.toArray().length <= 60);
  for (let i = 0; i < 10000; i++) m.reject({ reason: 'not_json', client_id: 'c' }, 'cnc/rejected/c', i);
  assert.strictEqual(m.rejects.toArray().length, CncModel.MAX_REJECTS);
  assert.strictEqual(m.rejects.last().t, 9999);
});

test('what a broker publishes in the wrong shape is dropped, never thrown on', () => {
  const m = new CncModel.Model();
  const junk = [null, 0, 'x', [], true, {}, { cnc_id: 7 }, { cnc_id: '' },
                { cnc_id: 'P1', mode: {}, values: [], anomalies: [null], efficiency_score: 'high' },
                { cnc_id: 'P2', mode: 'hasOwnProperty', efficiency_score: 50, anomalies: 'many' },
                { cnc_id: 'P3', values: { temperature: 70, vibration: 1 }, anomalies: [null, 1] }];
  for (const a of junk) m.analytics(a, 1000);
  for (const r of [null, 1, 'x', [], { reason: {}, field: [1], detail: 5, client_id: null }]) {
    m.reject(r, 'cnc/rejected/c', 1000);
  }
  for (const s of [null, 'x', [], { at: 5, received: 'many', accepted: null }]) {
    m.metricsMessage(s, 1000, 'cnc/ingest/stats');
  }
  const layouts = [null, 'x', [], { handlers: null }, { handlers: { a: null } }, { rules: {} },
                   { handlers: { a: { type: 'sensor_efficiency', params: { temperature: { critical: 'x' } },
                                      rules: {} } } },
                   { handlers: { a: { rules: [null, { variable: 'temperature', outside: 'x' }] } } }];
  for (const l of layouts) {
    m.setLayout(l);
    assert.deepStrictEqual(m.thresholds(), { temperature: [], vibration: [] });
  }
  assert.strictEqual(m.analyticsSeen, 3); // P1, P2 and P3: the ones with a cnc_id
  assert.strictEqual(m.rejectsSeen, 1);
  assert.deepStrictEqual(m.rejects.last(), { t: 1000, reason: '', field: '', detail: '', client: '',
                                             topic: 'cnc/rejected/c' });
  assert.deepStrictEqual(m.stateCounts(), []);
  assert.deepStrictEqual(m.modeEfficiency(2000), [null, null, null, null]);
  const p3 = m.anomalies.last();
  assert.strictEqual(p3.id, 'P3');
  assert.strictEqual(p3.rule, '');
  assert.strictEqual(m.metrics.received, 0);
});

// ---- machine states: intervals, today's availability, the downtime Pareto (issue #17) ----
// Days are the page's local days: the tests run in UTC so that midnight is where they say.
process.env.TZ = 'UTC';
const T0 = Date.parse('2026-12-02T10:00:00.000Z');
const MIN = 60000;
const iso = (ms) => new Date(ms).toISOString();
function lathe(id, ms, state, category, reason) {
  const a = { cnc_id: id, ts: iso(ms), handler: 'cnc_type_a', mode: null, efficiency_score: null,
              readings: 4, values: { spin: 1200 }, anomalies: [], state, category };
  if (reason !== undefined) a.reason = reason;
  return a;
}
// The plugin's offline message: 1 ms after the machine's last one, no readings, no values.
function offline(id, lastMs) {
  return { cnc_id: id, ts: iso(lastMs + 1), part_program: 'P-1', handler: 'cnc_type_a', mode: null,
           efficiency_score: null, efficiency_level: null, readings: 0, anomalies: [],
           state: 'offline', category: 'unplanned_downtime', reason: 'no_data' };
}
// A row's segments (flat start, end, key triples) as [start, end, state, category, reason, look].
function segs(view, id) {
  const f = view.rows.find((r) => r.id === id).segments, out = [];
  for (let i = 0; i < f.length; i += 3) {
    const k = view.keys[f[i + 2]];
    out.push([f[i] - T0, f[i + 1] - T0, k.state, k.category, k.reason, k.look]);
  }
  return out;
}

test('state intervals: a change starts one, a late message, a duplicate or a null state none', () => {
  const m = new CncModel.Model();
  const b = m.states;
  assert.strictEqual(b.observe(lathe('C1', T0, 'running', 'productive'), T0), 'changed');
  assert.strictEqual(b.observe(lathe('C1', T0 + MIN, 'running', 'productive'), T0 + MIN), 'kept');
  m.analytics(lathe('C1', T0 + 10 * MIN, 'alarm', 'unplanned_downtime', 'E42'), T0 + 10 * MIN);
  // the same message again (a second broker, a QoS 1 resend): nothing
  assert.strictEqual(b.observe(lathe('C1', T0 + 10 * MIN, 'alarm', 'unplanned_downtime', 'E42'),
                               T0 + 10 * MIN), 'kept');
  // older than the newest heard: changes no interval, as in the plugin
  assert.strictEqual(b.observe(lathe('C1', T0 + 5 * MIN, 'idle', 'idle'), T0 + 11 * MIN), 'late');
  // a message without a state starts none, and still counts as heard
  assert.strictEqual(b.observe(lathe('C1', T0 + 12 * MIN, null, null), T0 + 12 * MIN), 'kept');
  assert.strictEqual(b.observe(lathe('C1', T0 + 11 * MIN, 'running', 'productive'), T0 + 12 * MIN), 'late');
  m.analytics(offline('C1', T0 + 20 * MIN), T0 + 21 * MIN);
  m.analytics(lathe('C1', T0 + 30 * MIN, 'running', 'productive'), T0 + 30 * MIN);
  assert.strictEqual(b.late, 2);
  const v = b.view(T0 + 40 * MIN, [], 10);
  assert.deepStrictEqual(segs(v, 'C1'), [
    [0, 10 * MIN, 'running', 'productive', '', 'productive'],
    [10 * MIN, 20 * MIN + 1, 'alarm', 'unplanned_downtime', 'E42', 'unplanned_downtime'],
    [20 * MIN + 1, 30 * MIN, 'offline', 'unplanned_downtime', 'no_data', 'offline'],
    [30 * MIN, 40 * MIN, 'running', 'productive', '', 'productive']]);
  assert.strictEqual(v.since, T0);
  assert.strictEqual(v.from, T0); // less than an hour seen: the window starts at the first state
  assert.strictEqual(v.hour, false);
  assert.deepStrictEqual(v.rows[0].current, { state: 'running', category: 'productive', reason: '',
                                              look: 'productive' });
  // a machine whose instance tracks no state has no timeline, and costs nothing here
  m.analytics(lathe('G1', T0, null, null), T0);
  m.analytics({ cnc_id: 'G2', ts: iso(T0), values: {} }, T0);
  assert.ok(!b.machines.has('G1') && !b.machines.has('G2'));
  assert.strictEqual(b.view(T0, [], 10).rows.length, 1);
});

test('state intervals: ties in arrival order, reasons apart, the window is the last hour', () => {
  const b = new CncModel.StateBook();
  b.observe(lathe('C1', T0, 'running', 'productive'), T0);
  b.observe(lathe('C1', T0 + MIN, 'alarm', 'unplanned_downtime', 'E1'), T0 + MIN);
  b.observe(lathe('C1', T0 + 2 * MIN, 'alarm', 'unplanned_downtime', 'E2'), T0 + 2 * MIN);
  // two states at one instant: the later one holds it, no interval of zero length
  b.observe(lathe('C1', T0 + 3 * MIN, 'stopped', 'unplanned_downtime'), T0 + 3 * MIN);
  b.observe(lathe('C1', T0 + 3 * MIN, 'setup', 'planned_downtime'), T0 + 3 * MIN);
  const v = b.view(T0 + 90 * MIN, [], 10);
  assert.strictEqual(v.from, T0 + 30 * MIN);
  assert.strictEqual(v.hour, true);
  // only the last hour is drawn: the open setup interval
  assert.deepStrictEqual(segs(v, 'C1'), [[30 * MIN, 90 * MIN, 'setup', 'planned_downtime', '', 'planned_downtime']]);
  const early = b.view(T0 + 4 * MIN, [], 10);
  assert.deepStrictEqual(segs(early, 'C1').map((s) => [s[0], s[2], s[4]]),
                         [[0, 'running', ''], [MIN, 'alarm', 'E1'], [2 * MIN, 'alarm', 'E2'], [3 * MIN, 'setup', '']]);
  // the stopped that setup replaced is in the Pareto neither with time nor a count
  const p = b.pareto(T0 + 4 * MIN).map((r) => [r.state, r.reason, r.ms, r.count]);
  // (equal rows in the order of category, state, reason)
  assert.deepStrictEqual(p, [['setup', '', MIN, 1], ['alarm', 'E1', MIN, 1], ['alarm', 'E2', MIN, 1]]);
});

test("today's availability: productive / (seen - planned downtime), from the day's start", () => {
  const b = new CncModel.StateBook();
  b.observe(lathe('C1', T0, 'running', 'productive'), T0);
  b.observe(lathe('C1', T0 + 30 * MIN, 'setup', 'planned_downtime'), T0 + 30 * MIN);
  b.observe(lathe('C1', T0 + 40 * MIN, 'alarm', 'unplanned_downtime', 'E42'), T0 + 40 * MIN);
  b.observe(lathe('C1', T0 + 50 * MIN, 'idle', 'idle'), T0 + 50 * MIN);
  b.observe(lathe('C1', T0 + 60 * MIN, 'running', 'productive'), T0 + 60 * MIN);
  const a = b.view(T0 + 70 * MIN, [], 10).rows[0].availability;
  // productive 30 + 10 min; seen 70 min; planned 10 min: 40 / 60
  assert.deepStrictEqual([a.productiveMs, a.seenMs, a.plannedMs, a.from],
                         [40 * MIN, 70 * MIN, 10 * MIN, T0]);
  assert.ok(Math.abs(a.value - 40 / 60) < 1e-12);
  // only planned downtime seen: no figure rather than 0 % or a division by zero
  const p = new CncModel.StateBook();
  p.observe(lathe('C2', T0, 'setup', 'planned_downtime'), T0);
  assert.strictEqual(p.view(T0 + MIN, [], 10).rows[0].availability.value, null);
  // across midnight: today starts at 00:00, yesterday's time is not counted
  const midnight = Date.parse('2026-12-03T00:00:00.000Z');
  const n = new CncModel.StateBook();
  n.observe(lathe('C3', midnight - 60 * MIN, 'idle', 'idle'), midnight - 60 * MIN);
  n.observe(lathe('C3', midnight + 30 * MIN, 'running', 'productive'), midnight + 30 * MIN);
  const d = n.view(midnight + 60 * MIN, [], 10).rows[0].availability;
  assert.deepStrictEqual([d.seenMs, d.productiveMs, d.value, d.from], [60 * MIN, 30 * MIN, 0.5, midnight]);
  // read the next day with nothing new: only the open interval from midnight
  const e = n.view(midnight + 24 * 60 * MIN + MIN, [], 10).rows[0].availability;
  assert.deepStrictEqual([e.seenMs, e.productiveMs, e.from], [MIN, MIN, midnight + 24 * 60 * MIN]);
  // the pure helpers
  assert.deepStrictEqual(CncModel.dayTotals(null, null, null, T0),
                         { value: null, seenMs: 0, productiveMs: 0, plannedMs: 0, from: null });
});

test('the downtime Pareto: time and count by category, state and reason, descending', () => {
  const m = new CncModel.Model();
  const seq = [['C1', 0, 'running', 'productive'], ['C1', 10, 'alarm', 'unplanned_downtime', 'E42'],
               ['C1', 15, 'running', 'productive'], ['C1', 20, 'alarm', 'unplanned_downtime', 'E42'],
               ['C1', 22, 'setup', 'planned_downtime'], ['C1', 40, 'idle', 'idle'],
               ['C2', 0, 'stopped', 'unplanned_downtime'], ['C2', 1, 'alarm', 'unplanned_downtime', 'E7'],
               ['C2', 4, 'running', 'productive']];
  for (const [id, min, state, cat, reason] of seq) {
    m.analytics(lathe(id, T0 + min * MIN, state, cat, reason), T0 + min * MIN);
  }
  m.analytics(offline('C2', T0 + 44 * MIN), T0 + 45 * MIN); // open: counted up to now
  const rows = m.states.pareto(T0 + 50 * MIN).map((r) => [r.category, r.state, r.reason, r.ms / MIN, r.count]);
  assert.deepStrictEqual(rows, [
    ['planned_downtime', 'setup', '', 18, 1],
    ['unplanned_downtime', 'alarm', 'E42', 7, 2],
    ['unplanned_downtime', 'offline', 'no_data', 50 - 44 - 1 / MIN, 1],
    ['unplanned_downtime', 'alarm', 'E7', 3, 1],
    ['unplanned_downtime', 'stopped', '', 1, 1]]);
  assert.strictEqual(m.states.pareto(T0 + 50 * MIN, 2).length, 2);
  // the pure sort: downtime only, time then count
  assert.deepStrictEqual(CncModel.paretoRows([
    { state: 'a', category: 'idle', reason: '', ms: 99, count: 1 },
    { state: 'b', category: 'unplanned_downtime', reason: '', ms: 5, count: 1 },
    { state: 'c', category: 'planned_downtime', reason: '', ms: 5, count: 3 },
    { state: 'd', category: 'productive', reason: '', ms: 50, count: 1 }]).map((r) => r.state), ['c', 'b']);
});

test('current states: lathes by status and presses by mode, in the panel and the picker', () => {
  const m = new CncModel.Model();
  m.analytics(lathe('CNC0000', T0, 'running', 'productive'), T0);
  m.analytics(lathe('CNC0001', T0, 'running', 'productive'), T0);
  m.analytics(lathe('CNC0002', T0, 'alarm', 'unplanned_downtime', 'E1'), T0);
  m.analytics(lathe('CNC0003', T0, 'alarm', 'unplanned_downtime', 'E2'), T0);
  m.analytics(Object.assign(press('PRESS-0000', 'active', 90, 70, 1),
                            { ts: iso(T0), state: 'active', category: 'productive' }), T0);
  m.analytics(offline('PRESS-0000', T0 + 1), T0 + 60001);
  // a press from a broker without machine states: counted by its mode
  m.analytics(press('PRESS-0001', 'idle', 60, 70, 1), T0);
  assert.deepStrictEqual(m.stateCounts().map((b) => [b.state, b.category, b.look, b.n]), [
    ['alarm', 'unplanned_downtime', 'unplanned_downtime', 2], ['running', 'productive', 'productive', 2],
    ['idle', 'idle', 'idle', 1], ['offline', 'unplanned_downtime', 'offline', 1]]);
  assert.deepStrictEqual(m.stateCounts(2).map((b) => [b.state, b.n]), [['alarm', 2], ['(other)', 4]]);
  assert.deepStrictEqual(m.pickList().map((p) => [p.id, p.state, p.efficiency]), [
    ['CNC0000', 'running', false], ['CNC0001', 'running', false], ['CNC0002', 'alarm', false],
    ['CNC0003', 'alarm', false], ['PRESS-0000', 'offline', true], ['PRESS-0001', 'idle', true]]);
});

test('state rows: pinned machines first, then the ones that changed last, by id', () => {
  const b = new CncModel.StateBook();
  for (let i = 0; i < 6; i++) b.observe(lathe('M' + i, T0 + i, 'running', 'productive'), T0 + i);
  b.observe(lathe('M0', T0 + 100, 'idle', 'idle'), T0 + 100);
  const v = b.view(T0 + 200, ['M2', 'nobody', 'M2'], 3);
  assert.deepStrictEqual(v.rows.map((r) => r.id), ['M2', 'M0', 'M4', 'M5']);
});

test('states are bounded: machines, intervals per machine, distinct texts', () => {
  const b = new CncModel.StateBook();
  for (let i = 0; i < CncModel.MAX_TIMELINES + 50; i++) {
    b.observe(lathe('M' + i, T0, 'alarm', 'unplanned_downtime', 'E' + (i % 7)), T0);
  }
  assert.strictEqual(b.machines.size, CncModel.MAX_TIMELINES);
  assert.ok(!b.machines.has('M0') && b.machines.has('M' + (CncModel.MAX_TIMELINES + 49)));
  assert.strictEqual(b.evicted, 50);
  // an evicted machine's open interval went into the Pareto up to its last message
  assert.strictEqual(b.pareto(T0).reduce((n, r) => n + r.count, 0), CncModel.MAX_TIMELINES + 50);
  // a machine changing every second for two hours keeps at most MAX_INTERVALS, the last hour's
  const f = new CncModel.StateBook();
  for (let s = 0; s < 7200; s++) {
    f.observe(lathe('F', T0 + s * 1000, s % 2 ? 'idle' : 'running', s % 2 ? 'idle' : 'productive'), T0 + s * 1000);
  }
  const tl = f.machines.get('F');
  assert.ok(tl.len <= CncModel.MAX_INTERVALS && tl.starts.length <= CncModel.MAX_INTERVALS, tl.len);
  assert.strictEqual(f.stored, tl.len);
  const fs = f.view(T0 + 7200 * 1000, [], 5).rows[0].segments;
  assert.strictEqual(fs[fs.length - 2], T0 + 7200 * 1000); // the open one ends now
  assert.ok(fs[0] >= T0 + 7200 * 1000 - CncModel.MAX_INTERVALS * 1000, fs[0]);
  // every text unique (a reason with a timestamp in it): the table stops growing
  const u = new CncModel.StateBook();
  for (let i = 0; i < CncModel.MAX_STATE_KEYS + 500; i++) {
    u.observe(lathe('U', T0 + i, 'alarm', 'unplanned_downtime', 'code ' + i), T0 + i);
  }
  assert.ok(u.keys.length <= CncModel.MAX_STATE_KEYS);
  assert.strictEqual(u.current('U').state, '(other)');
});

test('states in the wrong shape are no state, never thrown on', () => {
  const m = new CncModel.Model();
  const junk = [{ cnc_id: 'J1', ts: iso(T0), state: {}, category: 'productive' },
                { cnc_id: 'J2', ts: iso(T0), state: 7, category: 'productive' },
                { cnc_id: 'J3', ts: 'yesterday', state: 'running', category: 'productive' },
                { cnc_id: 'J4', state: 'running', category: 'productive' },
                { cnc_id: 'J5', ts: iso(T0), state: '', category: 'productive' }];
  for (const a of junk) m.analytics(a, T0);
  assert.strictEqual(m.states.machines.size, 0);
  m.analytics({ cnc_id: 'J6', ts: iso(T0), state: 'x'.repeat(5000), category: 'hasOwnProperty',
                reason: { code: 1 } }, T0);
  m.analytics({ cnc_id: 'J7', ts: iso(T0), state: 'alarm', category: 'unplanned_downtime', reason: 42 }, T0);
  assert.deepStrictEqual([m.states.current('J6').state.length, m.states.current('J6').category,
                          m.states.current('J6').reason], [256, 'unknown', '']);
  assert.strictEqual(m.states.current('J7').reason, '42');
});
