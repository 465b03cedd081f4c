// model.js - the dashboard's bounded aggregates, fed message by message and read once per
// redraw. Runs in the feed worker (feed.js), never on the page's drawing thread; node's tests
// load it directly. Every structure here has a fixed bound, so 500
// machines at 10,000 msg/s cost O(1) per message and constant memory:
//   - machines: at most MAX_MACHINES tracked (the least recently heard is dropped);
//   - efficiency history: per machine, one averaged point per second for HISTORY_S seconds;
//   - efficiency by mode: per-second sums over the last MODE_WINDOW_S seconds;
//   - anomaly points: the last MAX_ANOMALY_POINTS; rejects: the last MAX_REJECTS.
/* exported CncModel */
'use strict';

var CncModel = (function () {
  var MAX_MACHINES = 1000;
  var HISTORY_S = 120;
  var MODE_WINDOW_S = 60;
  var MAX_ANOMALY_POINTS = 300;
  var MAX_REJECTS = 20;
  var MAX_NODES = 64; // brokers followed at once (metrics on <topic>/<node>)
  var MODES = ['active', 'idle', 'maintenance', 'offline'];

  function Ring(n) {
    this.buf = new Array(n);
    this.n = n;
    this.start = 0;
    this.len = 0;
  }
  Ring.prototype.push = function (x) {
    if (this.len < this.n) {
      this.buf[(this.start + this.len++) % this.n] = x;
    } else {
      this.buf[this.start] = x;
      this.start = (this.start + 1) % this.n;
    }
  };
  Ring.prototype.last = function () {
    return this.len ? this.buf[(this.start + this.len - 1) % this.n] : undefined;
  };
  Ring.prototype.toArray = function () {
    var out = new Array(this.len);
    for (var i = 0; i < this.len; i++) out[i] = this.buf[(this.start + i) % this.n];
    return out;
  };

  function Model() {
    this.machines = new Map(); // cnc_id -> machine; Map keeps insertion order (LRU by re-insert)
    this.modeBuckets = new Ring(MODE_WINDOW_S); // {sec, sum: {mode: s}, count: {mode: n}}
    this.anomalies = new Ring(MAX_ANOMALY_POINTS);
    this.rejects = new Ring(MAX_REJECTS);
    this.analyticsSeen = 0;
    this.rejectsSeen = 0;
    this.layout = null;
    this.metrics = null; // the plant: every node's counters summed (sumNodes)
    this.rates = new Ring(HISTORY_S); // {t, accepted, rejected} per metrics message
    this.nodes = new Map(); // node -> {s: its last snapshot, t: its clock, rate: its last rate}
    this.states = new StateBook(); // per machine: state intervals, today's sums; the Pareto
  }

  Model.prototype.machine = function (id) {
    var m = this.machines.get(id);
    if (m) {
      if (this.machines.size > MAX_MACHINES / 2) {
        // refresh recency only when eviction could matter
        this.machines.delete(id);
        this.machines.set(id, m);
      }
      return m;
    }
    if (this.machines.size >= MAX_MACHINES) {
      this.machines.delete(this.machines.keys().next().value);
    }
    m = { id: id, mode: null, handler: null, temperature: null, vibration: null,
          history: new Ring(HISTORY_S), sec: 0, sum: 0, count: 0, anomalous: false };
    this.machines.set(id, m);
    return m;
  };

  // What a broker publishes is data, never trusted to have the shape the plugin gives it: a
  // bridge, forged_output: allow or another topic prefix can deliver anything. Each entry point
  // takes what has the expected type and drops the rest, so no message can stop the page.
  function isObj(x) { return x !== null && typeof x === 'object' && !Array.isArray(x); }
  function str(x) { return typeof x === 'string' ? x : ''; }
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : null; }

  // One analytics message (DESIGN.md "Published topics", plus "values").
  Model.prototype.analytics = function (a, nowMs) {
    if (!isObj(a) || typeof a.cnc_id !== 'string' || !a.cnc_id) return;
    this.analyticsSeen++;
    var m = this.machine(a.cnc_id);
    m.handler = str(a.handler);
    this.states.observe(a, nowMs);
    if (typeof a.mode === 'string' && a.mode) m.mode = a.mode;
    var v = isObj(a.values) ? a.values : {};
    if (typeof v.temperature === 'number') m.temperature = v.temperature;
    if (typeof v.vibration === 'number') m.vibration = v.vibration;
    var sec = Math.floor(nowMs / 1000);
    if (num(a.efficiency_score) !== null) {
      if (m.sec !== sec) {
        if (m.count) m.history.push({ x: m.sec * 1000, y: m.sum / m.count });
        m.sec = sec;
        m.sum = 0;
        m.count = 0;
      }
      m.sum += a.efficiency_score;
      m.count++;
      if (typeof a.mode === 'string' && a.mode) {
        var b = this.modeBuckets.last();
        if (!b || b.sec !== sec) {
          b = { sec: sec, sum: Object.create(null), count: Object.create(null) };
          this.modeBuckets.push(b);
        }
        b.sum[a.mode] = (b.sum[a.mode] || 0) + a.efficiency_score;
        b.count[a.mode] = (b.count[a.mode] || 0) + 1;
      }
    }
    m.anomalous = Array.isArray(a.anomalies) && a.anomalies.length > 0;
    if (m.anomalous && m.temperature !== null && m.vibration !== null) {
      this.anomalies.push({ x: m.temperature, y: m.vibration, id: m.id, t: nowMs,
                            rule: isObj(a.anomalies[0]) ? str(a.anomalies[0].rule) : '' });
    }
  };

  Model.prototype.reject = function (r, topic, nowMs) {
    if (!isObj(r)) return;
    this.rejectsSeen++;
    this.rejects.push({ t: nowMs, reason: str(r.reason), field: str(r.field), detail: str(r.detail),
                        client: str(r.client_id), topic: str(r.topic) || str(topic) });
  };

  // The retained layout (handlers, params, rules): kept only when it is an object.
  Model.prototype.setLayout = function (l) {
    this.layout = isObj(l) ? l : null;
  };

  // Rates come from the difference of two counter snapshots over the broker's own clock
  // ("at"), so a retained snapshot delivered late does not distort the first rate. Each broker
  // (its "node", or the topic it came on) is followed on its own; the plant's rate is the sum of
  // every node's last rate, its counters the sum of their counters.
  Model.prototype.metricsMessage = function (s, nowMs, topic) {
    if (!isObj(s)) return;
    ['received', 'accepted', 'rejected'].forEach(function (k) {
      if (num(s[k]) === null) s[k] = 0;
    });
    var at = Date.parse(str(s.at));
    var t = isNaN(at) ? nowMs : at;
    var key = typeof s.node === 'string' && s.node ? s.node : topic || '';
    if (!this.nodes.has(key) && this.nodes.size >= MAX_NODES) return;
    var p = this.nodes.get(key);
    if (p && t <= p.t) return; // not newer: a retained copy again
    var rate = null;
    if (p && s.received >= p.s.received) {
      var dt = (t - p.t) / 1000;
      rate = { accepted: (s.accepted - p.s.accepted) / dt, rejected: (s.rejected - p.s.rejected) / dt };
    }
    this.nodes.set(key, { s: s, t: t, rate: rate, heard: nowMs });
    if (rate) {
      var sum = { t: t, accepted: 0, rejected: 0 };
      this.nodes.forEach(function (n) {
        if (n.rate) {
          sum.accepted += n.rate.accepted;
          sum.rejected += n.rate.rejected;
        }
      });
      this.rates.push(sum);
    }
    this.metrics = sumNodes(this.nodes);
  };

  var SUMMED = ['received', 'accepted', 'rejected', 'anomalies', 'retain_stripped', 'stored',
                'spooled_bytes', 'db_errors', 'dead_letters', 'spool_damaged_records', 'batches',
                'db_failovers'];
  var SUMMED_MAPS = ['rejected_by_reason', 'db_errors_by_cause', 'rule_state'];

  // The commit latency over the last minute (the plugin's commit_latency_recent: s, commits,
  // p50_ms, p99_ms; the percentiles only when something was committed), its members checked;
  // null when the node publishes none (a plugin before it, or no storage).
  function recentLatency(r) {
    if (!isObj(r) || num(r.s) === null || num(r.commits) === null) return null;
    var p50 = num(r.p50_ms), p99 = num(r.p99_ms);
    var some = r.commits > 0 && p50 !== null && p99 !== null;
    return { s: r.s, commits: r.commits, p50_ms: some ? p50 : null, p99_ms: some ? p99 : null };
  }

  // Several nodes' windows as one: the commits summed, the longest span, the worst percentiles.
  function worseRecent(a, b) {
    if (!a || !b) return a || b;
    var worst = function (x, y) { return x === null ? y : y === null ? x : Math.max(x, y); };
    return { s: Math.max(a.s, b.s), commits: a.commits + b.commits,
             p50_ms: worst(a.p50_ms, b.p50_ms), p99_ms: worst(a.p99_ms, b.p99_ms) };
  }

  // One snapshot for the plant: counters summed; the database connected only when every node's
  // writer is; what a node waits for, the worst latency and the last batch of any.
  function sumNodes(nodes) {
    var out = null;
    nodes.forEach(function (n) {
      var s = n.s;
      if (!out) {
        out = JSON.parse(JSON.stringify(s));
        out.node_count = 1;
        out.commit_latency_recent = recentLatency(s.commit_latency_recent);
        return;
      }
      out.commit_latency_recent = worseRecent(out.commit_latency_recent,
                                              recentLatency(s.commit_latency_recent));
      out.node_count++;
      SUMMED.forEach(function (k) {
        if (typeof s[k] === 'number') out[k] = (typeof out[k] === 'number' ? out[k] : 0) + s[k];
      });
      SUMMED_MAPS.forEach(function (k) {
        var from = s[k] || {};
        out[k] = out[k] || {};
        Object.keys(from).forEach(function (r) {
          if (typeof from[r] === 'number') out[k][r] = (out[k][r] || 0) + from[r];
        });
      });
      if (typeof s.db_connected === 'boolean') {
        out.db_connected = out.db_connected !== false && s.db_connected;
      }
      out.db_waiting_for = out.db_waiting_for || s.db_waiting_for || null;
      out.dead_letters_full = !!(out.dead_letters_full || s.dead_letters_full);
      ['commit_latency_p50_ms', 'commit_latency_p99_ms', 'last_batch_ms'].forEach(function (k) {
        if (typeof s[k] === 'number' && !(out[k] >= s[k])) out[k] = s[k];
      });
      if (typeof s.db_host === 'string' && s.db_host !== out.db_host) {
        out.db_host = (out.db_host ? out.db_host + ', ' : '') + s.db_host;
      }
    });
    return out;
  }

  // Each broker's storage state, for the dashboard's list of nodes (sorted by name).
  Model.prototype.nodeList = function (nowMs) {
    var list = [];
    this.nodes.forEach(function (n, key) {
      var s = n.s;
      list.push({ node: key, connected: s.db_connected, waiting: s.db_waiting_for || null,
                  host: s.db_host, failovers: s.db_failovers, stored: s.stored,
                  spooled: s.spooled_bytes, silentS: Math.max(0, Math.round((nowMs - n.heard) / 1000)),
                  at: s.at });
    });
    return list.sort(function (a, b) { return a.node < b.node ? -1 : a.node > b.node ? 1 : 0; });
  };

  // Efficiency series of one machine, including the second still being filled.
  Model.prototype.efficiencySeries = function (id) {
    var m = this.machines.get(id);
    if (!m) return [];
    var pts = m.history.toArray();
    if (m.count) pts.push({ x: m.sec * 1000, y: m.sum / m.count });
    return pts;
  };

  // Machines by current state, lathes (status) and presses (mode) alike: {state, category, look,
  // n}, most first. A machine whose broker publishes no state (a plugin before machine states,
  // or an instance with states turned off) is counted by its press mode, categorised as the
  // plugin's sensor_efficiency defaults do.
  var MODE_CATEGORY = Object.assign(Object.create(null), { // no 'hasOwnProperty' from a message
    active: 'productive', idle: 'idle', maintenance: 'planned_downtime', offline: 'unplanned_downtime' });
  Model.prototype.stateCounts = function (limit) {
    var list = this.states.stateCounts(0);
    var states = this.states;
    var byMode = Object.create(null);
    this.machines.forEach(function (m) {
      if (m.mode && MODE_CATEGORY[m.mode] && !states.machines.has(m.id)) {
        byMode[m.mode] = (byMode[m.mode] || 0) + 1;
      }
    });
    Object.keys(byMode).forEach(function (mode) {
      var k = { state: mode, category: MODE_CATEGORY[mode] };
      var b = list.find(function (x) { return x.state === k.state && x.category === k.category; });
      if (b) b.n += byMode[mode];
      else list.push({ state: mode, category: k.category, look: look(k), n: byMode[mode] });
    });
    list.sort(function (a, b) { return b.n - a.n || (a.state < b.state ? -1 : 1); });
    if (limit && list.length > limit) {
      var rest = list.slice(limit - 1).reduce(function (n, b) { return n + b.n; }, 0);
      list = list.slice(0, limit - 1);
      list.push({ state: '(other)', category: 'unknown', look: 'unknown', n: rest });
    }
    return list;
  };

  // The machine picker's list: every machine with an efficiency series or a state (lathes
  // have no efficiency), by id, with its current state (or press mode) to show beside it.
  Model.prototype.pickList = function () {
    var states = this.states, out = [];
    this.machines.forEach(function (m, id) {
      var cur = states.current(id);
      if (cur || m.history.len || m.count) {
        out.push({ id: id, state: cur ? cur.state : m.mode || '', efficiency: !!(m.history.len || m.count) });
      }
    });
    return out.sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
  };

  Model.prototype.modeEfficiency = function (nowMs) {
    var since = Math.floor(nowMs / 1000) - MODE_WINDOW_S;
    var sum = {}, count = {};
    this.modeBuckets.toArray().forEach(function (b) {
      if (b.sec <= since) return;
      MODES.forEach(function (mode) {
        if (b.count[mode]) {
          sum[mode] = (sum[mode] || 0) + b.sum[mode];
          count[mode] = (count[mode] || 0) + b.count[mode];
        }
      });
    });
    return MODES.map(function (mode) { return count[mode] ? sum[mode] / count[mode] : null; });
  };

  // Latest temperature/vibration of every machine that reports both.
  Model.prototype.scatter = function () {
    var pts = [];
    this.machines.forEach(function (m) {
      if (m.temperature !== null && m.vibration !== null) {
        pts.push({ x: m.temperature, y: m.vibration, id: m.id });
      }
    });
    return pts;
  };

  // Threshold lines from the layout: sensor_efficiency critical/optimal bands and the
  // above/below/outside rules on temperature and vibration.
  Model.prototype.thresholds = function () {
    var t = { temperature: [], vibration: [] };
    var handlers = this.layout && isObj(this.layout.handlers) ? this.layout.handlers : {};
    var second = function (x) { return Array.isArray(x) ? num(x[1]) : null; };
    Object.keys(handlers).forEach(function (name) {
      var h = handlers[name];
      if (!isObj(h)) return;
      var p = isObj(h.params) ? h.params : {};
      ['temperature', 'vibration'].forEach(function (v) {
        if (h.type === 'sensor_efficiency' && isObj(p[v])) {
          if (second(p[v].critical) !== null) {
            t[v].push({ value: second(p[v].critical), label: v + ' critical', kind: 'critical' });
          }
          if (second(p[v].optimal) !== null) {
            t[v].push({ value: second(p[v].optimal), label: v + ' optimal max', kind: 'optimal' });
          }
        }
      });
      (Array.isArray(h.rules) ? h.rules : []).forEach(function (r) {
        if (!isObj(r) || (r.variable !== 'temperature' && r.variable !== 'vibration')) return;
        if (num(r.above) !== null) {
          t[r.variable].push({ value: r.above, label: str(r.name), kind: 'rule' });
        }
        if (second(r.outside) !== null) {
          t[r.variable].push({ value: second(r.outside), label: str(r.name), kind: 'rule' });
        }
      });
    });
    ['temperature', 'vibration'].forEach(function (v) {
      var seen = {};
      t[v] = t[v].filter(function (x) {
        if (seen[x.value]) return false;
        seen[x.value] = true;
        return true;
      });
    });
    return t;
  };


  // ---- Machine states (README "Machine states and OEE"): timelines, availability, Pareto ----
  //
  // Every analytics message carries the machine's "state", its "category" and maybe a
  // "reason"; an offline machine gets one message with state "offline", reason "no_data". The
  // StateBook follows, per cnc_id, the intervals the plugin stores, from what this page saw:
  //   - an interval starts at the ts of a message whose state, category or reason differs from
  //     the machine's previous one and ends where the next starts (the open one: now);
  //   - a message older than the newest one heard from its machine changes nothing (the
  //     plugin's rule: it is late); a tie on ts is taken in arrival order, and two states at
  //     one instant leave the later one (no interval of zero length);
  //   - a message without a state (null: the instance tracks none) starts no interval.
  // Bounds: at most MAX_TIMELINES machines (the one that changed least recently gives way, its
  // open interval closed at its last message); per machine the intervals of the last hour, at
  // most MAX_INTERVALS each and INTERVAL_BUDGET over all (past that a machine keeps at least
  // MIN_INTERVALS and overwrites its oldest); at most MAX_STATE_KEYS distinct (state, category,
  // reason) triples (strings come from the broker: later triples share one "(other)" per
  // category). Today's availability and the Pareto are sums, updated when an interval closes;
  // the open intervals are added when read. Cost per message: a Map lookup, and a Date.parse
  // for a machine with a state; per change O(1).
  var CATEGORIES = ['productive', 'idle', 'planned_downtime', 'unplanned_downtime', 'unknown'];
  var DOWNTIME = Object.assign(Object.create(null), { planned_downtime: true, unplanned_downtime: true });
  var HOUR_MS = 3600000;
  var MAX_TIMELINES = 10000;
  var MAX_INTERVALS = 1440; // one change every 2.5 s for an hour
  var MIN_INTERVALS = 32;
  var INTERVAL_BUDGET = 400000; // 4 MB of typed arrays
  var MAX_STATE_KEYS = 4096;
  var MAX_TEXT = 256; // the plugin's longest state or reason (CNC_STATE_TEXT_MAX)

  // The message's (state, category, reason), or null when it has no state. The plugin sends
  // strings; anything else in "state" is no state, an unknown category is "unknown".
  function stateOf(a) {
    if (!isObj(a) || typeof a.state !== 'string' || !a.state) return null;
    var category = CATEGORIES.indexOf(a.category) >= 0 ? a.category : 'unknown';
    var reason = typeof a.reason === 'string' ? a.reason
      : num(a.reason) !== null ? String(a.reason) : '';
    return { state: a.state.slice(0, MAX_TEXT), category: category,
             reason: reason.slice(0, MAX_TEXT) };
  }

  // What the strip draws: the category's colour, or "offline" for a machine that went silent
  // (the plugin's offline interval) or says it is offline while counted as unplanned downtime.
  function look(k) {
    return k.state === 'offline' && k.category === 'unplanned_downtime' ? 'offline' : k.category;
  }

  // The local midnight at or before ms: "today" is the page's day.
  function dayStart(ms) {
    var d = new Date(ms);
    d.setHours(0, 0, 0, 0);
    return d.getTime();
  }

  // Adds [s, e) of one category to a day's sums ({start, from, seen, productive, planned}),
  // clipped to the day of e: a day that ended starts the sums again. Returns the day.
  function addToDay(day, s, e, category) {
    var ds = dayStart(e);
    if (ds > day.start) {
      day.start = ds;
      day.from = null;
      day.seen = day.productive = day.planned = 0;
    }
    s = Math.max(s, day.start);
    if (e <= s) return day;
    if (day.from === null || s < day.from) day.from = s;
    day.seen += e - s;
    if (category === 'productive') day.productive += e - s;
    if (category === 'planned_downtime') day.planned += e - s;
    return day;
  }

  // Today's availability: productive / (seen - planned downtime), over the closed intervals'
  // sums and the open interval [openStart, now). value is null when nothing but planned
  // downtime (or nothing) was seen. from: where the span seen today begins.
  function dayTotals(day, openStart, openCategory, nowMs) {
    var t = { start: dayStart(nowMs), from: null, seen: 0, productive: 0, planned: 0 };
    if (day && day.start === t.start) {
      t.from = day.from;
      t.seen = day.seen;
      t.productive = day.productive;
      t.planned = day.planned;
    }
    if (openStart !== null && openStart !== undefined) addToDay(t, openStart, nowMs, openCategory);
    var base = t.seen - t.planned;
    return { value: base > 0 ? t.productive / base : null, seenMs: t.seen,
             productiveMs: t.productive, plannedMs: t.planned, from: t.from };
  }

  // The intervals inside [from, to] as segments, flat: start, end, key, start, end, key, ...
  // (a Float64Array: posted to the page as one copy, not thousands of objects). starts
  // ascending, keys[i] the key of the interval starting at starts[i]; the last one open until
  // openEnd.
  function segments(starts, keys, openEnd, from, to) {
    var out = new Float64Array(starts.length * 3), n = 0;
    for (var i = 0; i < starts.length; i++) {
      var e = i + 1 < starts.length ? starts[i + 1] : openEnd;
      var s = Math.max(starts[i], from);
      e = Math.min(e, to);
      if (e > s) {
        out[n++] = s;
        out[n++] = e;
        out[n++] = keys[i];
      }
    }
    return out.subarray(0, n);
  }

  // The downtime Pareto: rows {state, category, reason, ms, count} of the downtime
  // categories, time descending (then count, then names: a stable order for equal rows).
  function paretoRows(rows, limit) {
    var out = rows.filter(function (r) { return DOWNTIME[r.category] && (r.ms > 0 || r.count > 0); });
    out.sort(function (a, b) {
      return b.ms - a.ms || b.count - a.count ||
        (a.category + a.state + a.reason < b.category + b.state + b.reason ? -1 : 1);
    });
    return limit ? out.slice(0, limit) : out;
  }

  function Timeline(id) {
    this.id = id;
    this.newest = -Infinity; // the newest ts heard (ms)
    this.starts = new Float64Array(8); // a ring of intervals: start and key index
    this.keys = new Uint16Array(8);
    this.head = 0;
    this.len = 0;
    this.day = { start: 0, from: null, seen: 0, productive: 0, planned: 0 };
    this.changedAt = 0; // the page's clock at its last change
  }
  Timeline.prototype.idx = function (i) { return (this.head + i) % this.starts.length; };
  Timeline.prototype.openStart = function () { return this.starts[this.idx(this.len - 1)]; };
  Timeline.prototype.openKey = function () { return this.keys[this.idx(this.len - 1)]; };

  function StateBook() {
    this.keys = []; // key index -> {state, category, reason, look}
    this.keyIndex = new Map(); // state \0 category \0 reason -> key index
    this.machines = new Map(); // cnc_id -> Timeline, in the order of their last change
    this.stored = 0; // intervals held over all machines
    this.sums = new Map(); // key index -> {ms, count}: closed downtime time, intervals started
    // Where what this page saw begins: the earliest start of an interval it saw (a collector
    // catching up sends older timestamps than the page's clock), and never after the page's
    // clock at its first state.
    this.since = null;
    this.late = 0;
    this.evicted = 0;
  }

  StateBook.prototype.intern = function (k) {
    var name = k.state + '\u0000' + k.category + '\u0000' + k.reason;
    var i = this.keyIndex.get(name);
    if (i !== undefined) return i;
    if (this.keys.length >= MAX_STATE_KEYS - CATEGORIES.length) {
      k = { state: '(other)', category: k.category, reason: '' };
      name = k.state + '\u0000' + k.category + '\u0000';
      i = this.keyIndex.get(name);
      if (i !== undefined) return i;
    }
    k.look = look(k);
    this.keys.push(k);
    this.keyIndex.set(name, this.keys.length - 1);
    return this.keys.length - 1;
  };

  StateBook.prototype.sum = function (ki) {
    var s = this.sums.get(ki);
    if (!s) {
      s = { ms: 0, count: 0 };
      this.sums.set(ki, s);
    }
    return s;
  };

  // The interval [s, e) of key ki ends: into the day's sums and the Pareto.
  StateBook.prototype.close = function (tl, s, e, ki) {
    var k = this.keys[ki];
    addToDay(tl.day, s, e, k.category);
    if (DOWNTIME[k.category] && e > s) this.sum(ki).ms += e - s;
  };

  StateBook.prototype.push = function (tl, start, ki) {
    var cap = tl.starts.length;
    // An interval that ended an hour before this start is no longer drawn.
    while (tl.len >= 2 && tl.starts[tl.idx(1)] <= start - HOUR_MS) {
      tl.head = (tl.head + 1) % cap;
      tl.len--;
      this.stored--;
    }
    if (tl.len === cap) {
      if (cap < MAX_INTERVALS && (this.stored < INTERVAL_BUDGET || cap < MIN_INTERVALS)) {
        var n = Math.min(cap * 2, MAX_INTERVALS);
        var starts = new Float64Array(n), keys = new Uint16Array(n);
        for (var i = 0; i < tl.len; i++) {
          starts[i] = tl.starts[tl.idx(i)];
          keys[i] = tl.keys[tl.idx(i)];
        }
        tl.starts = starts;
        tl.keys = keys;
        tl.head = 0;
        cap = n;
      } else {
        tl.head = (tl.head + 1) % cap; // the oldest gives way
        tl.len--;
        this.stored--;
      }
    }
    var j = tl.idx(tl.len);
    tl.starts[j] = start;
    tl.keys[j] = ki;
    tl.len++;
    this.stored++;
  };

  StateBook.prototype.timeline = function (id) {
    if (this.machines.size >= MAX_TIMELINES) {
      var old = this.machines.values().next().value; // changed least recently
      if (old.len) this.close(old, old.openStart(), old.newest, old.openKey());
      this.stored -= old.len;
      this.machines.delete(old.id);
      this.evicted++;
    }
    var tl = new Timeline(id);
    this.machines.set(id, tl);
    return tl;
  };

  // One analytics message: 'none' (no state, machine not followed), 'late', 'kept' (no
  // change) or 'changed'.
  StateBook.prototype.observe = function (a, nowMs) {
    var k = stateOf(a);
    var tl = this.machines.get(a.cnc_id);
    if (!k && !tl) return 'none';
    var ts = typeof a.ts === 'string' ? Date.parse(a.ts) : NaN;
    if (isNaN(ts)) return 'none';
    if (tl && ts < tl.newest) {
      this.late++;
      return 'late';
    }
    if (!k) {
      tl.newest = ts; // heard: a later message older than this one is late
      return 'kept';
    }
    var ki = this.intern(k);
    if (!tl) tl = this.timeline(a.cnc_id);
    tl.newest = ts;
    if (tl.len && tl.openKey() === ki) return 'kept';
    this.since = this.since === null ? Math.min(nowMs, ts) : Math.min(this.since, ts);
    if (tl.len && tl.openStart() === ts) {
      // Two states at one instant: the later one holds it.
      var was = this.sums.get(tl.openKey());
      if (was && was.count) was.count--;
      tl.keys[tl.idx(tl.len - 1)] = ki;
    } else {
      if (tl.len) this.close(tl, tl.openStart(), ts, tl.openKey());
      this.push(tl, ts, ki);
    }
    if (DOWNTIME[this.keys[ki].category]) this.sum(ki).count++;
    tl.changedAt = nowMs;
    this.machines.delete(tl.id); // the most recently changed last
    this.machines.set(tl.id, tl);
    return 'changed';
  };

  // A machine's current state: {state, category, reason, look} or null.
  StateBook.prototype.current = function (id) {
    var tl = this.machines.get(id);
    return tl && tl.len ? this.keys[tl.openKey()] : null;
  };

  // Where an open interval ends when read: now, or the machine's newest ts when its clock is
  // ahead of the page's.
  function openEnd(tl, nowMs) { return Math.max(nowMs, tl.newest); }

  // One machine's intervals inside [from, to], its current state and today's availability.
  StateBook.prototype.row = function (tl, from, nowMs) {
    var starts = [], keys = [];
    for (var i = 0; i < tl.len; i++) {
      starts.push(tl.starts[tl.idx(i)]);
      keys.push(tl.keys[tl.idx(i)]);
    }
    var cur = tl.len ? this.keys[tl.openKey()] : null;
    return { id: tl.id, current: cur, changedAt: tl.changedAt,
             segments: segments(starts, keys, openEnd(tl, nowMs), from, nowMs),
             availability: dayTotals(tl.day, tl.len ? tl.openStart() : null,
                                     cur ? cur.category : null, nowMs) };
  };

  // What the state panels draw: the window [from, now] (the last hour, or since this page saw
  // its first state), the rows of the pinned machines (in their order) and then of the `recent`
  // machines that changed last (by id), the key table, the Pareto and the current states.
  StateBook.prototype.view = function (nowMs, pinned, recent, paretoLimit) {
    var self = this;
    var from = this.since === null ? nowMs : Math.max(nowMs - HOUR_MS, Math.min(this.since, nowMs));
    var rows = [], shown = Object.create(null);
    (pinned || []).forEach(function (id) {
      var tl = self.machines.get(id);
      if (tl && !shown[id]) {
        shown[id] = true;
        rows.push(self.row(tl, from, nowMs));
      }
    });
    var last = [];
    var all = Array.from(this.machines.values()); // ordered by last change
    for (var i = all.length - 1; i >= 0 && last.length < recent; i--) {
      if (!shown[all[i].id]) last.push(all[i]);
    }
    last.sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
    last.forEach(function (tl) { rows.push(self.row(tl, from, nowMs)); });
    return { from: from, to: nowMs, since: this.since, hour: nowMs - from >= HOUR_MS,
             rows: rows, keys: this.keys.slice(), pareto: this.pareto(nowMs, paretoLimit),
             tracked: this.machines.size, late: this.late, evicted: this.evicted };
  };

  // The Pareto over what this page saw: closed sums plus every open downtime interval.
  StateBook.prototype.pareto = function (nowMs, limit) {
    var self = this;
    var ms = new Map();
    this.sums.forEach(function (s, ki) { ms.set(ki, s.ms); });
    this.machines.forEach(function (tl) {
      if (!tl.len) return;
      var ki = tl.openKey();
      if (!DOWNTIME[self.keys[ki].category]) return;
      ms.set(ki, (ms.get(ki) || 0) + Math.max(0, openEnd(tl, nowMs) - tl.openStart()));
    });
    var rows = [];
    ms.forEach(function (t, ki) {
      var k = self.keys[ki], s = self.sums.get(ki);
      rows.push({ state: k.state, category: k.category, reason: k.reason, ms: t,
                  count: s ? s.count : 0 });
    });
    return paretoRows(rows, limit);
  };

  // Machines by current state (bars of the state panel): each state value with its category
  // and count, most machines first; past `limit` values the rest are one "(other)" bar.
  StateBook.prototype.stateCounts = function (limit) {
    var by = new Map();
    this.machines.forEach(function (tl) {
      if (!tl.len) return;
      var ki = tl.openKey();
      by.set(ki, (by.get(ki) || 0) + 1);
    });
    var self = this, merged = new Map();
    by.forEach(function (n, ki) { // one bar per state value, whatever the reason
      var k = self.keys[ki], key = k.state + '\u0000' + k.category;
      var b = merged.get(key);
      if (!b) merged.set(key, { state: k.state, category: k.category, look: look(k), n: n });
      else b.n += n;
    });
    var list = Array.from(merged.values()).sort(function (a, b) {
      return b.n - a.n || (a.state < b.state ? -1 : 1);
    });
    if (limit && list.length > limit) {
      var rest = list.slice(limit - 1).reduce(function (n, b) { return n + b.n; }, 0);
      list = list.slice(0, limit - 1);
      list.push({ state: '(other)', category: 'unknown', look: 'unknown', n: rest });
    }
    return list;
  };

  return { Model: Model, Ring: Ring, MODES: MODES, MAX_MACHINES: MAX_MACHINES,
           MAX_REJECTS: MAX_REJECTS, MAX_NODES: MAX_NODES, CATEGORIES: CATEGORIES,
           StateBook: StateBook, stateOf: stateOf, look: look, segments: segments,
           addToDay: addToDay, dayTotals: dayTotals, dayStart: dayStart, paretoRows: paretoRows,
           HOUR_MS: HOUR_MS, MAX_TIMELINES: MAX_TIMELINES, MAX_INTERVALS: MAX_INTERVALS,
           MAX_STATE_KEYS: MAX_STATE_KEYS };
})();

if (typeof module !== 'undefined') module.exports = CncModel;
