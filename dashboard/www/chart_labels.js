// chart_labels.js - where the scatter chart's threshold labels go, so that no two overlap and,
// wherever there is room, none is crossed by another threshold line. Pure geometry: the page
// (dashboard.js) measures the texts and draws; node's tests (test/labels_test.js) load it too.
//
// A temperature threshold is a vertical line: its label sits in a row along the top of the
// chart area, just right of the line (left of it near the right edge), one row lower each time
// the row is taken. A vibration threshold is a horizontal line: its label sits just above the
// line at the right end (below it, or further away, when that place is taken). A place that
// would cross another threshold line is taken only when no place free of lines is left; the
// page then draws the label on a background so the line does not run through the text.
/* exported CncLabels */
'use strict';

var CncLabels = (function () {
  var GAP = 3; // px between a line and its label, and between labels
  var ROW = 13; // px from one row of labels to the next (10 px text)

  function intersects(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }

  function inside(box, area) {
    return box.x >= area.left && box.x + box.w <= area.right &&
      box.y >= area.top && box.y + box.h <= area.bottom;
  }

  // Whether box is crossed by a threshold line other than its own.
  function crossed(box, own, lines) {
    return lines.some(function (l) {
      if (l === own) return false;
      return l.axis === 'x' ? l.px > box.x && l.px < box.x + box.w
        : l.px > box.y && l.px < box.y + box.h;
    });
  }

  // Places to try for a label of width w and height h on line l, best first.
  function candidates(l, w, h, area) {
    var out = [];
    var rows = Math.max(1, Math.floor((area.bottom - area.top) / ROW));
    if (l.axis === 'x') {
      for (var r = 0; r < rows; r++) {
        var y = area.top + GAP + r * ROW;
        out.push({ x: l.px + GAP, y: y }, { x: l.px - GAP - w, y: y });
      }
    } else {
      for (var k = 0; k < rows; k++) {
        var right = area.right - GAP - w, left = area.left + GAP;
        var above = l.px - GAP - h - k * ROW, below = l.px + GAP + k * ROW;
        out.push({ x: right, y: above }, { x: right, y: below },
                 { x: left, y: above }, { x: left, y: below });
      }
    }
    return out.map(function (p) { return { x: p.x, y: p.y, w: w, h: h }; });
  }

  // lines: [{axis: 'x' (a vertical line at x = px) | 'y' (horizontal, y = px), px, text, w}],
  // only those inside the area; h: the text's height; area: {left, right, top, bottom}.
  // Returns one box per line, in order: {x, y, w, h, line, masked} (masked: another threshold
  // line crosses it, so draw it on a background), or null where the area has no room at all.
  function layout(lines, h, area) {
    var placed = [];
    return lines.map(function (l) {
      var cands = candidates(l, l.w, h, area).filter(function (b) {
        return inside(b, area) && !placed.some(function (p) { return intersects(b, p); });
      });
      var best = cands.filter(function (b) { return !crossed(b, l, lines); })[0] || cands[0];
      if (!best) return null;
      best.line = l;
      best.masked = crossed(best, l, lines);
      placed.push(best);
      return best;
    });
  }

  return { layout: layout, intersects: intersects, GAP: GAP, ROW: ROW };
})();

if (typeof module !== 'undefined') module.exports = CncLabels;
