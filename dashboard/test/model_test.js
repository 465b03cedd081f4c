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
