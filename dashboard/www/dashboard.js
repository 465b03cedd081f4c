// dashboard.js - the page's main thread: starts the feed worker (feed.js: the MQTT-over-
// websockets connection back to the broker that served the page, and the model), and draws
// the worker's snapshot once a second. Messages never reach this thread, so a burst of them
// cannot delay drawing or input.
//
// URL parameters (all optional): broker=ws://host:port/, analytics=cnc/analytics,
// rejected=cnc/rejected, metrics=cnc/ingest/stats, redraw_ms=1000. Never credentials: when
// the broker asks for them, the sign-in (signin.js) does, and keeps them in the tab's session.
/* global Chart, CncLabels, CncModel, CncSignin */
'use strict';

(function () {
  var q = new URLSearchParams(location.search);
  var cfg = {
    // Where MQTT over websockets is: ?broker=, else found by resolveBroker() below.
    broker: q.get('broker') || (location.protocol === 'https:' ? 'wss://' : 'ws://') +
      (location.host || '127.0.0.1:8080') + '/',
    analytics: q.get('analytics') || 'cnc/analytics',
    rejected: q.get('rejected') || 'cnc/rejected',
    metrics: q.get('metrics') || 'cnc/ingest/stats',
    redrawMs: Number(q.get('redraw_ms')) || 1000,
  };
  var MODE_COLORS = { active: '#2e9d48', idle: '#e3c417', maintenance: '#f08c1a', offline: '#d8342c' };
  // One colour per state category (model.js look(): a category, or 'offline'); offline is
  // hatched grey in the strips. The CSS classes look-* are the same colours for the legend.
  var LOOK_COLORS = { productive: '#2e9d48', idle: '#e3c417', planned_downtime: '#f08c1a',
                      unplanned_downtime: '#d8342c', unknown: '#a78bfa', offline: '#7b8794' };
  var LOOKS = ['productive', 'idle', 'planned_downtime', 'unplanned_downtime', 'unknown', 'offline'];
  var LOOK_NAMES = { productive: 'productive', idle: 'idle', planned_downtime: 'planned downtime',
                     unplanned_downtime: 'unplanned downtime', unknown: 'unknown',
                     offline: 'offline (no data)' };
  var LINE_COLORS = ['#1f77b4', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22',
                     '#2ca02c', '#ff7f0e', '#d62728'];
  var MAX_LINES = 10;
  var latest = null; // the worker's last snapshot
  var status = { connected: false, text: 'connecting...' };
  var drawn = { efficiency: 0, modes: 0, scatter: 0, modeEfficiency: 0, rate: 0, reasons: 0, nodes: 0,
                states: 0, pareto: 0 };

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;

  function el(id) { return document.getElementById(id); }

  // The scatter's threshold lines (from the retained layout), drawn on its chart area, their
  // labels placed by chart_labels.js so that none overlaps another (the boxes of the last draw
  // are kept for the browser test).
  var LABEL_PX = 10;
  var labelBoxes = [];
  var thresholdPlugin = {
    id: 'thresholds',
    afterDatasetsDraw: function (chart) {
      labelBoxes = [];
      if (!latest) return;
      var t = latest.thresholds;
      var ctx = chart.ctx, area = chart.chartArea, xs = chart.scales.x, ys = chart.scales.y;
      ctx.save();
      ctx.font = LABEL_PX + 'px sans-serif';
      var lines = [];
      [['temperature', 'x', xs], ['vibration', 'y', ys]].forEach(function (v) {
        t[v[0]].forEach(function (l) {
          var px = v[2].getPixelForValue(l.value);
          var lo = v[1] === 'x' ? area.left : area.top, hi = v[1] === 'x' ? area.right : area.bottom;
          if (!(px >= lo && px <= hi)) return;
          var text = l.label + ' ' + l.value;
          lines.push({ axis: v[1], px: px, text: text, w: Math.ceil(ctx.measureText(text).width),
                       color: l.kind === 'optimal' ? '#2e9d48' : '#d8342c' });
        });
      });
      ctx.setLineDash([6, 4]);
      lines.forEach(function (l) {
        ctx.strokeStyle = l.color;
        ctx.beginPath();
        if (l.axis === 'x') { ctx.moveTo(l.px, area.top); ctx.lineTo(l.px, area.bottom); }
        else { ctx.moveTo(area.left, l.px); ctx.lineTo(area.right, l.px); }
        ctx.stroke();
      });
      ctx.textBaseline = 'top';
      CncLabels.layout(lines, LABEL_PX + 2, area).forEach(function (b) {
        if (!b) return;
        if (b.masked) { // another threshold line crosses it: keep the text legible
          ctx.fillStyle = 'rgba(255,255,255,0.85)';
          ctx.fillRect(b.x - 1, b.y, b.w + 2, b.h);
        }
        ctx.fillStyle = b.line.color;
        ctx.fillText(b.line.text, b.x, b.y + 1);
        labelBoxes.push({ text: b.line.text, axis: b.line.axis, linePx: b.line.px, x: b.x, y: b.y,
                          w: b.w, h: b.h, masked: b.masked });
      });
      ctx.restore();
    },
  };

  // An empty chart says so instead of drawing an axis of its own invention (a time axis with no
  // data read "12:00:00 AM" six times: the epoch's 0..1 ms).
  function hasData(chart) {
    return chart.data.datasets.some(function (d) {
      return (d.data || []).some(function (p) {
        return p !== null && p !== undefined && p !== 0 && !(typeof p === 'object' && p.y === null);
      });
    });
  }
  var emptyNotePlugin = {
    id: 'emptyNote',
    afterDraw: function (chart) {
      if (hasData(chart)) return;
      var area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      ctx.font = '12px sans-serif';
      ctx.fillStyle = '#7b8794';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no data yet', (area.left + area.right) / 2, (area.top + area.bottom) / 2);
      ctx.restore();
    },
  };
  Chart.register(emptyNotePlugin);
  // A time axis' tick label, none while the chart has no data (returning null hides the tick).
  function timeTick(v) {
    return hasData(this.chart) ? new Date(v).toLocaleTimeString() : null;
  }

  var charts = {
    efficiency: new Chart(el('chart-efficiency'), {
      type: 'line',
      data: { datasets: [] },
      options: {
        parsing: false, normalized: true, spanGaps: true,
        elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
        scales: {
          x: { type: 'linear', ticks: { callback: timeTick, maxTicksLimit: 8 } },
          y: { min: 0, max: 100, title: { display: true, text: 'efficiency %' } },
        },
        plugins: { legend: { position: 'right' } },
      },
    }),
    // Machines by current state: lathes' statuses and presses' modes, coloured by category.
    modes: new Chart(el('chart-modes'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'machines', data: [], backgroundColor: [] }] },
      options: { plugins: { legend: { display: false } },
                 scales: { x: { ticks: { autoSkip: false } },
                           y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }),
    scatter: new Chart(el('chart-scatter'), {
      type: 'scatter',
      data: { datasets: [
        { label: 'machines', data: [], backgroundColor: 'rgba(31,119,180,0.6)', pointRadius: 3 },
        { label: 'anomalies', data: [], backgroundColor: '#d8342c', pointRadius: 4, pointStyle: 'crossRot', borderColor: '#d8342c' },
      ] },
      options: {
        parsing: false,
        scales: {
          x: { title: { display: true, text: 'temperature' } },
          y: { title: { display: true, text: 'vibration' }, beginAtZero: true },
        },
        plugins: { legend: { position: 'bottom' } },
      },
      plugins: [thresholdPlugin],
    }),
    modeEfficiency: new Chart(el('chart-mode-eff'), {
      type: 'bar',
      data: {
        labels: CncModel.MODES,
        datasets: [{ label: 'average efficiency', data: [null, null, null, null],
                     backgroundColor: CncModel.MODES.map(function (m) { return MODE_COLORS[m]; }) }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { min: 0, max: 100 } } },
    }),
    rate: new Chart(el('chart-rate'), {
      type: 'line',
      data: { datasets: [
        { label: 'accepted/s', data: [], borderColor: '#2e9d48', backgroundColor: '#2e9d48' },
        { label: 'rejected/s', data: [], borderColor: '#d8342c', backgroundColor: '#d8342c' },
      ] },
      options: {
        parsing: false, elements: { point: { radius: 0 } },
        scales: { x: { type: 'linear', ticks: { callback: timeTick, maxTicksLimit: 6 } },
                  y: { beginAtZero: true } },
        plugins: { legend: { position: 'bottom' } },
      },
    }),
    reasons: new Chart(el('chart-reasons'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'rejected', data: [], backgroundColor: '#d8342c' }] },
      options: { indexAxis: 'y', plugins: { legend: { display: false } },
                 scales: { x: { beginAtZero: true, ticks: { precision: 0 } },
                           y: { ticks: { autoSkip: false } } } },
    }),
  };


  // Axis ranges that always show the threshold lines next to the data.
  function scatterRanges() {
    var t = latest.thresholds;
    var tx = t.temperature.map(function (l) { return l.value; });
    var vy = t.vibration.map(function (l) { return l.value; });
    var sx = charts.scatter.options.scales;
    sx.x.suggestedMax = tx.length ? Math.max.apply(null, tx) + 5 : undefined;
    sx.y.suggestedMax = vy.length ? Math.max.apply(null, vy) * 1.1 : undefined;
  }

  function setStatus(st) {
    status = st;
    var s = el('status');
    s.textContent = st.text;
    s.className = 'status ' + (st.connected ? 'on' : 'off');
  }

  function fmtBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }

  // The picker: presses and lathes, each with its current state (or mode) beside its id.
  function refreshMachineSelect(snap) {
    var sel = el('machine-select');
    var list = snap.machineList;
    var ids = list.map(function (p) { return p.id; }).join('\n'); // the list, not its length
    if (document.activeElement !== sel && sel.dataset.ids !== ids) { // ids come and go
      sel.dataset.ids = ids;
      sel.innerHTML = '';
      list.forEach(function (p) {
        var o = document.createElement('option');
        o.value = p.id;
        sel.appendChild(o);
      });
    }
    if (sel.dataset.ids === ids) {
      list.forEach(function (p, i) {
        var text = p.state ? p.id + ' \u2013 ' + p.state : p.id;
        if (sel.options[i].textContent !== text) sel.options[i].textContent = text;
      });
    }
    if (document.activeElement !== sel) {
      Array.prototype.forEach.call(sel.options, function (o) {
        o.selected = snap.selected.indexOf(o.value) >= 0;
      });
    }
  }

  // Self-measurement for bench/run_dashboard.sh: redraw times and main-thread lag, bounded.
  var perf = { redraws: new CncModel.Ring(120), lag: new CncModel.Ring(600) };
  var lagExpected = performance.now() + 100;
  setInterval(function () {
    var t = performance.now();
    perf.lag.push(Math.max(0, t - lagExpected));
    lagExpected = t + 100;
  }, 100);

  var snapshots = 0;
  function redraw(snap) {
    snapshots++;
    var t0 = performance.now();
    latest = snap;
    setStatus(snap.status);
    redrawCharts(snap);
    perf.redraws.push(performance.now() - t0);
  }

  function redrawCharts(snap) {
    var now = snap.now;
    refreshMachineSelect(snap);
    charts.efficiency.data.datasets = snap.efficiencyIds.map(function (id, i) {
      var c = LINE_COLORS[i % LINE_COLORS.length];
      return { label: id, data: snap.efficiency[id], borderColor: c, backgroundColor: c };
    });
    var first = charts.efficiency.data.datasets.reduce(function (m, d) {
      return d.data.length && d.data[0].x < m ? d.data[0].x : m;
    }, now - 10000);
    var lo = Math.max(now - 120000, first);
    charts.efficiency.options.scales.x.min = lo;
    charts.efficiency.options.scales.x.max = now;
    charts.efficiency.update('none');
    drawn.efficiency = charts.efficiency.data.datasets.reduce(function (n, d) { return n + d.data.length; }, 0);

    var sc = snap.stateCounts;
    charts.modes.data.labels = sc.map(function (b) { return b.state.length > 20 ? b.state.slice(0, 19) + '\u2026' : b.state; });
    charts.modes.data.datasets[0].data = sc.map(function (b) { return b.n; });
    charts.modes.data.datasets[0].backgroundColor = sc.map(function (b) {
      return b.look === 'offline' ? offlinePattern(charts.modes.ctx) : LOOK_COLORS[b.look];
    });
    charts.modes.update('none');
    drawn.modes = sc.reduce(function (n, b) { return n + b.n; }, 0);

    drawStates(snap.states, now);

    charts.scatter.data.datasets[0].data = snap.scatter;
    charts.scatter.data.datasets[1].data = snap.anomalies;
    scatterRanges();
    charts.scatter.update('none');
    drawn.scatter = charts.scatter.data.datasets[0].data.length;

    var me = snap.modeEfficiency;
    charts.modeEfficiency.data.datasets[0].data = me;
    charts.modeEfficiency.update('none');
    drawn.modeEfficiency = me.filter(function (x) { return x !== null; }).length;

    var rates = snap.rates;
    charts.rate.data.datasets[0].data = rates.map(function (r) { return { x: r.t, y: r.accepted }; });
    charts.rate.data.datasets[1].data = rates.map(function (r) { return { x: r.t, y: r.rejected }; });
    charts.rate.update('none');
    drawn.rate = rates.length;

    var s = snap.metrics;
    if (s) {
      var by = s.rejected_by_reason || {};
      var reasons = Object.keys(by).filter(function (k) { return by[k] > 0; })
        .sort(function (a, b) { return by[b] - by[a]; });
      charts.reasons.data.labels = reasons;
      charts.reasons.data.datasets[0].data = reasons.map(function (k) { return by[k]; });
      charts.reasons.update('none');
      drawn.reasons = reasons.length;
      var last = rates.length ? rates[rates.length - 1] : null;
      el('kpi-accepted').textContent = last ? Math.round(last.accepted).toLocaleString() : '0';
      el('kpi-rejected').textContent = last ? Math.round(last.rejected).toLocaleString() : '0';
      var db = el('kpi-db');
      if (typeof s.db_connected === 'boolean') {
        // Up but not taking writes (read-only, full, locked...): the writer waits, says why.
        var waiting = s.db_waiting_for;
        db.textContent = !s.db_connected ? 'DOWN' : waiting ? 'waiting: ' + waiting : 'connected';
        db.className = 'db ' + (!s.db_connected ? 'down' : waiting ? 'waiting' : 'up');
      } else {
        db.textContent = 'no storage';
        db.className = 'db unknown';
      }
      el('kpi-spool').textContent = typeof s.spooled_bytes === 'number' ? fmtBytes(s.spooled_bytes) : '-';
      var num = function (v) { return typeof v === 'number' ? v.toLocaleString() : '-'; };
      el('st-db').textContent = db.textContent;
      // The server in use (a cluster node of mysql.hosts) and how often the writer moved.
      el('st-host').textContent = typeof s.db_host === 'string'
        ? (s.db_host || '-') + ' / ' + num(s.db_failovers) : '-';
      el('st-stored').textContent = num(s.stored);
      el('st-spool').textContent = el('kpi-spool').textContent;
      // The last minute's percentiles (the plugin's commit_latency_recent); since start only
      // from a plugin that publishes no window, and said so.
      var recent = s.commit_latency_recent;
      el('st-latency').textContent = recent
        ? (recent.p50_ms !== null ? recent.p50_ms + ' ms / ' + recent.p99_ms + ' ms'
          : 'nothing committed') + (recent.s < 60 ? ' (since start, ' + recent.s + ' s)' : '')
        : typeof s.commit_latency_p50_ms === 'number'
          ? s.commit_latency_p50_ms + ' ms / ' + s.commit_latency_p99_ms + ' ms (since start)' : '-';
      el('st-batch').textContent = typeof s.last_batch_ms === 'number'
        ? s.last_batch_ms + ' ms (' + num(s.batches) + ' batches)' : '-';
      var causes = s.db_errors_by_cause || {};
      var named = Object.keys(causes).filter(function (k) { return causes[k] > 0; })
        .map(function (k) { return k + ' ' + num(causes[k]); });
      el('st-errors').textContent = num(s.db_errors) + (named.length ? ' (' + named.join(', ') + ')' : '');
      el('st-waiting').textContent = s.db_waiting_for || (typeof s.db_connected === 'boolean' ? 'nothing' : '-');
      el('st-dead').textContent = num(s.dead_letters) + ' / ' + num(s.spool_damaged_records) +
        (s.dead_letters_full ? ' - FULL: the writer is held up' : '');
      // Dead letters are records the database refused: never stored until re-submitted.
      var dead = el('kpi-dead');
      dead.textContent = typeof s.dead_letters === 'number' ? num(s.dead_letters) : '-';
      dead.className = 'dead ' + (s.dead_letters > 0 ? 'some' : 'none');
      var rs = s.rule_state;
      el('st-rules').textContent = rs ? num(rs.machines) + ' / ' + num(rs.evicted) : '-';
    }
    el('kpi-machines').textContent = snap.machineCount.toLocaleString();

    // Every broker heard on the metrics topics, each with its own storage state.
    var nodeBody = el('nodes').tBodies[0];
    nodeBody.innerHTML = '';
    (snap.nodes || []).forEach(function (n) {
      var tr = document.createElement('tr');
      var state = typeof n.connected !== 'boolean' ? 'no storage'
        : !n.connected ? 'DOWN' : n.waiting ? 'waiting: ' + n.waiting : 'connected';
      var count = function (v) { return typeof v === 'number' ? v.toLocaleString() : '-'; };
      [n.node, state, n.host || '-', count(n.failovers), count(n.stored),
       typeof n.spooled === 'number' ? fmtBytes(n.spooled) : '-', n.silentS + ' s ago']
        .forEach(function (text, i) {
          var td = document.createElement('td');
          td.textContent = text;
          if (i === 1) td.className = 'db ' + (state === 'connected' ? 'up' : state === 'DOWN' ? 'down' : 'waiting');
          tr.appendChild(td);
        });
      nodeBody.appendChild(tr);
    });
    drawn.nodes = (snap.nodes || []).length;

    var tbody = el('rejects').tBodies[0];
    var rows = snap.rejects;
    tbody.innerHTML = '';
    rows.forEach(function (r) {
      var tr = document.createElement('tr');
      [new Date(r.t).toLocaleTimeString(), r.reason, r.field || '', r.detail || '', r.client || '', r.topic || '']
        .forEach(function (text, i) {
          var td = document.createElement('td');
          td.textContent = text;
          if (i === 1) td.className = 'reason';
          tr.appendChild(td);
        });
      tbody.appendChild(tr);
    });
    el('footer').textContent = 'broker ' + cfg.broker + ' - ' + snap.analyticsSeen.toLocaleString() +
      ' analytics messages, ' + snap.rejectsSeen.toLocaleString() + ' rejects received by this page';
  }

  // ---- Machine states: strips, availability, the Pareto ----
  function hhmm(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  function fmtDur(ms) {
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.round(s / 60);
    if (m < 60) return m + ' min';
    return Math.floor(m / 60) + ' h ' + (m % 60 < 10 ? '0' : '') + (m % 60) + ' min';
  }
  function fmtPct(v) { return v === null ? '-' : (v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 1) + ' %'; }

  // Offline: grey with darker diagonal lines, one pattern per canvas context.
  var patterns = new WeakMap();
  function offlinePattern(ctx) {
    if (patterns.has(ctx)) return patterns.get(ctx);
    var c = document.createElement('canvas');
    c.width = c.height = 6;
    var g = c.getContext('2d');
    g.fillStyle = '#9aa5b1';
    g.fillRect(0, 0, 6, 6);
    g.strokeStyle = '#52606d';
    g.lineWidth = 1.5;
    g.beginPath();
    g.moveTo(-1, 7); g.lineTo(7, -1); g.moveTo(5, 7); g.lineTo(7, 5); g.moveTo(-1, 1); g.lineTo(1, -1);
    g.stroke();
    var p = ctx.createPattern(c, 'repeat');
    patterns.set(ctx, p);
    return p;
  }

  (function legend() {
    var box = el('states-legend');
    LOOKS.forEach(function (l) {
      var item = document.createElement('span');
      var sw = document.createElement('span');
      sw.className = 'swatch look-' + l;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(LOOK_NAMES[l]));
      box.appendChild(item);
    });
  })();

  // A canvas sized to its box in device pixels; returns its context or null when not laid out.
  function fitCanvas(c) {
    var w = c.clientWidth, h = c.clientHeight, r = window.devicePixelRatio || 1;
    if (!w || !h) return null;
    if (c.width !== Math.round(w * r) || c.height !== Math.round(h * r)) {
      c.width = Math.round(w * r);
      c.height = Math.round(h * r);
    }
    var ctx = c.getContext('2d');
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx: ctx, w: w, h: h };
  }

  // The segments as drawn, for the browser test: per row, [{start, end, state, category,
  // reason, look}] in time order.
  var statesDrawn = { rows: [], span: '', pareto: [] };

  function drawStrip(canvas, segs, keys, from, to) {
    var f = fitCanvas(canvas);
    if (!f) return;
    var ctx = f.ctx, span = Math.max(1, to - from);
    ctx.fillStyle = '#eef0f3'; // not seen: before the machine's first state on this page
    ctx.fillRect(0, 0, f.w, f.h);
    for (var i = 0; i < segs.length; i += 3) {
      var x0 = (segs[i] - from) / span * f.w, x1 = (segs[i + 1] - from) / span * f.w;
      var k = keys[segs[i + 2]];
      ctx.fillStyle = k.look === 'offline' ? offlinePattern(ctx) : LOOK_COLORS[k.look];
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), f.h); // at least a pixel: a short alarm shows
    }
  }

  function drawAxis(from, to) {
    var f = fitCanvas(el('states-axis'));
    if (!f) return;
    var ctx = f.ctx, span = Math.max(1, to - from);
    ctx.font = '10px sans-serif';
    ctx.fillStyle = '#52606d';
    ctx.textBaseline = 'middle';
    // a tick every 5, 10 or 15 minutes, whichever leaves room
    var step = [60000, 300000, 600000, 900000].find(function (s) { return span / s <= f.w / 80; }) || 900000;
    for (var t = Math.ceil(from / step) * step; t < to; t += step) {
      var x = (t - from) / span * f.w;
      if (x < 70 || x > f.w - 50) continue; // clear of the first label and of 'now'
      ctx.fillRect(x, 0, 1, 4);
      ctx.textAlign = 'center';
      ctx.fillText(hhmm(t), x, f.h / 2 + 2);
    }
    ctx.textAlign = 'left';
    ctx.fillText(hhmm(from), 0, f.h / 2 + 2);
    ctx.textAlign = 'right';
    ctx.fillText('now', f.w, f.h / 2 + 2);
  }

  function drawStates(v, now) {
    var body = el('states').tBodies[0];
    var span = v.since === null ? 'no state seen yet'
      : v.hour ? 'last hour' : 'since ' + hhmm(v.since) + ' (less than an hour seen by this page)';
    el('states-span').textContent = span;
    // Today's span: from midnight, or from the first state this page saw today.
    var day = new Date(now);
    day.setHours(0, 0, 0, 0);
    var availFrom = v.since === null ? null : Math.max(day.getTime(), v.since);
    el('states-avail-head').textContent = availFrom === null ? 'availability today'
      : 'availability today since ' + hhmm(availFrom);
    el('pareto-span').textContent = v.since === null ? 'planned and unplanned'
      : 'since ' + hhmm(v.since) + ', planned and unplanned';
    while (body.rows.length > v.rows.length) body.deleteRow(-1);
    while (body.rows.length < v.rows.length) {
      var tr = body.insertRow(-1);
      for (var c = 0; c < 4; c++) tr.insertCell(-1);
      tr.cells[1].appendChild(document.createElement('span'));
      tr.cells[1].appendChild(document.createTextNode(''));
      tr.cells[2].className = 'avail';
      tr.cells[3].appendChild(document.createElement('canvas'));
    }
    statesDrawn = { span: span, availabilityHead: el('states-avail-head').textContent, rows: [],
                    pareto: [], paretoSpan: el('pareto-span').textContent };
    drawAxis(v.from, v.to);
    v.rows.forEach(function (r, i) {
      var tr = body.rows[i], cur = r.current;
      tr.cells[0].textContent = r.id;
      tr.cells[0].title = r.id;
      tr.cells[1].firstChild.className = 'swatch look-' + (cur ? cur.look : 'unknown');
      var stateText = cur ? cur.state + (cur.reason ? ' \u00b7 ' + cur.reason : '') : '-';
      tr.cells[1].lastChild.textContent = stateText;
      tr.cells[1].title = cur ? cur.state + ' (' + cur.category + ')' + (cur.reason ? ', ' + cur.reason : '') +
        ' since ' + hhmm(r.segments.length ? r.segments[r.segments.length - 3] : now) : '';
      var a = r.availability;
      var availText = fmtPct(a.value) + (a.seenMs ? ' of ' + fmtDur(a.seenMs) : '');
      tr.cells[2].textContent = availText;
      tr.cells[2].title = a.from === null ? 'nothing seen today'
        : 'productive ' + fmtDur(a.productiveMs) + ' / (' + fmtDur(a.seenMs) + ' seen since ' +
          hhmm(a.from) + ' - planned downtime ' + fmtDur(a.plannedMs) + ')';
      drawStrip(tr.cells[3].firstChild, r.segments, v.keys, v.from, v.to);
      var segs = [];
      for (var j = 0; j < r.segments.length; j += 3) {
        var k = v.keys[r.segments[j + 2]];
        segs.push({ start: r.segments[j], end: r.segments[j + 1], state: k.state, category: k.category,
                    reason: k.reason, look: k.look, color: LOOK_COLORS[k.look] });
      }
      statesDrawn.rows.push({ id: r.id, state: stateText, availability: availText,
                              availabilityValue: a.value, segments: segs });
    });
    drawn.states = v.rows.length;
    el('states-note').textContent = v.tracked > v.rows.length
      ? 'showing ' + v.rows.length + ' of ' + v.tracked.toLocaleString() +
        ' machines: the picked ones, then those whose state changed last' : '';

    var pbody = el('pareto').tBodies[0];
    pbody.innerHTML = '';
    var top = v.pareto.length ? v.pareto[0].ms : 0;
    v.pareto.forEach(function (p) {
      var tr = document.createElement('tr');
      var cells = [p.category === 'planned_downtime' ? 'planned' : 'unplanned', p.state,
                   p.reason || '-', fmtDur(p.ms), String(p.count)];
      cells.forEach(function (text) {
        var td = document.createElement('td');
        td.textContent = text;
        td.title = text;
        tr.appendChild(td);
      });
      var bar = document.createElement('td');
      bar.className = 'bar';
      var d = document.createElement('div');
      d.className = 'look-' + CncModel.look(p);
      d.style.width = (top ? Math.max(2, Math.round(100 * p.ms / top)) : 0) + '%';
      bar.appendChild(d);
      tr.appendChild(bar);
      pbody.appendChild(tr);
      statesDrawn.pareto.push({ cells: cells, ms: p.ms, look: CncModel.look(p) });
    });
    drawn.pareto = v.pareto.length;
  }

  el('machine-select').addEventListener('change', function (e) {
    var ids = Array.prototype.filter.call(e.target.options, function (o) { return o.selected; })
      .map(function (o) { return o.value; }).slice(0, MAX_LINES);
    if (worker) worker.postMessage({ type: 'select', ids: ids });
  });

  // The broker's address: ws: or wss:, and never with credentials in it (mqtt.js would use
  // them over the sign-in, and the page would show them).
  function brokerProblem(b) {
    try {
      var u = new URL(b);
      if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return 'is not ws:// or wss://';
      if (u.username || u.password) return 'may not carry a user name or password: sign in instead';
      return null;
    } catch (e) {
      return 'is not an address';
    }
  }

  // mosquitto 2.0 serves this page from its websockets listener: MQTT is on the page's own port.
  // 2.1's websockets listener serves no files; its http_api listener does, on another port,
  // and lists the broker's listeners at api/v1/listeners: take a websockets one from there
  // (the TLS one for an https page). Without ?broker= only.
  function resolveBroker() {
    if (q.get('broker')) return Promise.resolve(cfg.broker);
    return fetch('api/v1/listeners').then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (j) {
      var ls = j && Array.isArray(j.listeners) ? j.listeners : [];
      var tls = location.protocol === 'https:';
      var ws = ls.filter(function (l) {
        return l && l.protocol === 'websockets' && typeof l.port === 'number' && !!l.tls === tls;
      });
      if (!ws.length) return cfg.broker;
      return (tls ? 'wss://' : 'ws://') + location.hostname + ':' + ws[0].port + '/';
    }).catch(function () { return cfg.broker; });
  }

  // The worker is one Blob of mqtt.js, the model and feed.js, fetched from this page's folder.
  var worker = null;
  var problem = brokerProblem(cfg.broker);
  if (problem) {
    cfg.broker = '(refused)';
    setStatus({ connected: false, text: 'the broker parameter ' + problem });
  } else resolveBroker().then(function (b) {
    cfg.broker = b;
    return Promise.all(['vendor/mqtt.min.js', 'model.js', 'feed.js'].map(function (f) {
      return fetch(f).then(function (r) {
        if (!r.ok) throw new Error(f + ': HTTP ' + r.status);
        return r.text();
      });
    }));
  }).then(function (texts) {
    var blob = new Blob([texts.join('\n;\n')], { type: 'text/javascript' });
    worker = new Worker(URL.createObjectURL(blob));
    worker.onmessage = function (e) {
      if (e.data.type === 'snapshot') redraw(e.data);
      else if (e.data.type === 'status') setStatus(e.data.status);
      else if (e.data.type === 'auth') onAuth(e.data);
    };
    worker.onerror = function (e) { setStatus({ connected: false, text: 'feed error: ' + e.message }); };
    pending = CncSignin.saved(cfg.broker);
    worker.postMessage({ type: 'start', config: Object.assign({ credentials: pending, seq: seq }, cfg) });
  }).catch(function (e) { setStatus({ connected: false, text: 'cannot start: ' + e.message }); });

  // The broker asked who we are, refused who we said, or took us in. Each sign-in has a number;
  // what the worker says about an earlier one is stale and ignored.
  var seq = 0;
  var pending = null; // the credentials in use, saved once the broker accepts them
  function sendCredentials(c) {
    pending = c;
    worker.postMessage({ type: 'credentials', credentials: c, seq: ++seq });
  }
  function onAuth(a) {
    if (a.seq !== seq) return;
    if (a.state === 'accepted' || a.state === 'reading') {
      CncSignin.hide();
      if (a.username && pending) {
        CncSignin.save(cfg.broker, pending);
        CncSignin.signedIn(a.username, function () { sendCredentials(null); }); // forgets too
      } else {
        CncSignin.signedOut();
      }
      return;
    }
    if (a.state === 'unreadable') {
      // Let in but shown nothing: anonymously (a broker that admits anonymous clients with no
      // rights), or as a user without the read role. Signed-in users keep "sign out".
      CncSignin.ask(a.username ? a.username + ' ' + a.why + ' Sign in as a user who may.'
        : 'The broker at ' + cfg.broker + ' lets this page in without a user name but ' +
          a.why + ' Sign in.', sendCredentials);
      return;
    }
    CncSignin.signedOut();
    CncSignin.forget();
    CncSignin.ask(a.state === 'refused' ? 'The broker refused this user name and password.'
      : a.state === 'rejected' ? 'The broker refused the connection (' + a.why + ').'
      : 'The broker at ' + cfg.broker + ' asks for a user name and password.', sendCredentials);
  }

  // For the browser test and the curious: what each chart drew at the last redraw.
  window.cncDashboard = {
    config: cfg,
    drawn: function () { return Object.assign({}, drawn); },
    // The scatter's threshold labels as last drawn, and each chart's x tick labels.
    thresholdLabels: function () { return labelBoxes.slice(); },
    // The state panels as last drawn: spans, rows (id, state, availability, segments), Pareto.
    states: function () { return JSON.parse(JSON.stringify(statesDrawn)); },
    stateBars: function () { return charts.modes.data.labels.slice(); },
    xTicks: function () {
      var out = {};
      Object.keys(charts).forEach(function (k) {
        out[k] = (charts[k].scales.x ? charts[k].scales.x.ticks : []).map(function (t) { return t.label; })
          .filter(function (l) { return l !== null && l !== undefined && l !== ''; });
      });
      return out;
    },
    empty: function () {
      var out = {};
      Object.keys(charts).forEach(function (k) { out[k] = !hasData(charts[k]); });
      return out;
    },
    connected: function () { return status.connected; },
    connections: function () { return latest ? latest.connections : null; },
    snapshots: function () { return snapshots; },
    perf: function () {
      return { redrawMs: perf.redraws.toArray(), lagMs: perf.lag.toArray(),
               analytics: latest ? latest.analyticsSeen : 0,
               rejects: latest ? latest.rejectsSeen : 0,
               heapBytes: performance.memory ? performance.memory.usedJSHeapSize : null };
    },
  };
})();
