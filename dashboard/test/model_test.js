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
  // a lathe has no mode and no temperature/vibration: counted as a machine, not in the charts
  m.analytics({ cnc_id: 'CNC1', handler: 'lathe', mode: null, efficiency_score: null,
                readings: 4, values: { spin: 1200 }, anomalies: [] }, 70000);
  assert.deepStrictEqual(m.modeCounts(), { active: 1, idle: 2, maintenance: 0, offline: 0 });
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
  assert.deepStrictEqual(m.modeCounts(), { active: 0, idle: 0, maintenance: 0, offline: 0 });
  assert.deepStrictEqual(m.modeEfficiency(2000), [null, null, null, null]);
  const p3 = m.anomalies.last();
  assert.strictEqual(p3.id, 'P3');
  assert.strictEqual(p3.rule, '');
  assert.strictEqual(m.metrics.received, 0);
});
