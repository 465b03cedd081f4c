// labels_test.js - the scatter chart's threshold labels (www/chart_labels.js) under node's own
// test runner: no two overlap, each stays in the chart area next to its own line, and none is
// crossed by another threshold line while there is room elsewhere, however close the lines.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const CncLabels = require('../www/chart_labels.js');

const AREA = { left: 40, right: 500, top: 10, bottom: 200 };
const H = 12;

function check(lines, boxes) {
  boxes.forEach((b, i) => {
    assert.ok(b, `label ${lines[i].text} placed`);
    assert.ok(b.x >= AREA.left && b.x + b.w <= AREA.right && b.y >= AREA.top &&
              b.y + b.h <= AREA.bottom, `${b.line.text} inside the area`);
    const l = lines[i];
    const near = l.axis === 'x' ? Math.min(Math.abs(b.x - l.px), Math.abs(b.x + b.w - l.px))
      : Math.min(Math.abs(b.y - l.px), Math.abs(b.y + b.h - l.px));
    assert.ok(near <= CncLabels.GAP + AREA.bottom, `${l.text} near its line`);
    boxes.forEach((o, j) => {
      if (j > i) assert.ok(!CncLabels.intersects(b, o), `${b.line.text} / ${o.line.text} overlap`);
    });
  });
}

test('the shipped thresholds on a chart stretched by an impossible 400 degC', () => {
  // x: 0..420 over 460 px: 80, 90, 95 degC are 11 and 5 px apart; y: 0..50 mm/s over 190 px.
  const xpx = (v) => AREA.left + (v / 420) * 460, ypx = (v) => AREA.bottom - (v / 50) * 190;
  const lines = [
    { axis: 'x', px: xpx(95), text: 'temperature critical 95', w: 110 },
    { axis: 'x', px: xpx(80), text: 'temperature optimal max 80', w: 128 },
    { axis: 'x', px: xpx(90), text: 'temperature_high 90', w: 92 },
    { axis: 'y', px: ypx(6), text: 'vibration critical 6', w: 90 },
    { axis: 'y', px: ypx(2.5), text: 'vibration optimal max 2.5', w: 118 },
  ];
  const boxes = CncLabels.layout(lines, H, AREA);
  check(lines, boxes);
  // Right of 95 and at the right end of the vibration lines no other line crosses; 80's and 90's
  // labels cannot avoid the lines 5 and 11 px away, so they are drawn on a background.
  assert.deepStrictEqual(boxes.map((b) => b.masked), [false, true, true, false, false]);
});

test('the shipped thresholds on the usual range, and lines on top of each other', () => {
  const xpx = (v) => AREA.left + ((v - 40) / 60) * 460, ypx = (v) => AREA.bottom - (v / 6.6) * 190;
  const lines = [
    { axis: 'x', px: xpx(95), text: 'temperature critical 95', w: 110 },
    { axis: 'x', px: xpx(80), text: 'temperature optimal max 80', w: 128 },
    { axis: 'x', px: xpx(90), text: 'temperature_high 90', w: 92 },
    { axis: 'y', px: ypx(6), text: 'vibration critical 6', w: 90 },
    { axis: 'y', px: ypx(2.5), text: 'vibration optimal max 2.5', w: 118 },
  ];
  const boxes = CncLabels.layout(lines, H, AREA);
  check(lines, boxes);
  // 95's and 90's labels fit neither right of their lines (the edge) nor left of them without
  // crossing the next line; the vibration labels go to the left end, where no line is.
  assert.deepStrictEqual(boxes.map((b) => b.masked), [true, false, true, false, false]);
  assert.ok(boxes[3].x < 100 && boxes[4].x < 100);
  const same = [0, 1, 2, 3, 4, 5].map((i) => ({ axis: i % 2 ? 'x' : 'y', px: 300, text: 't' + i, w: 60 }));
  check(same, CncLabels.layout(same, H, AREA));
});

test('no room at all: nothing is drawn over another label', () => {
  const tiny = { left: 0, right: 50, top: 0, bottom: 20 }; // one row
  const lines = [{ axis: 'x', px: 10, text: 'a', w: 30 }, { axis: 'x', px: 12, text: 'b', w: 30 },
                 { axis: 'y', px: 7, text: 'c', w: 100 }];
  const boxes = CncLabels.layout(lines, H, tiny);
  assert.ok(boxes[0]);
  assert.strictEqual(boxes[1], null); // its row is taken, and left of its line is off the chart
  assert.strictEqual(boxes[2], null); // wider than the chart
  const drawn = boxes.filter(Boolean);
  drawn.forEach((b, i) => drawn.forEach((o, j) => {
    if (j > i) assert.ok(!CncLabels.intersects(b, o));
  }));
});
