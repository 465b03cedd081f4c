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

  Model.prototype.modeCounts = function () {
    var c = { active: 0, idle: 0, maintenance: 0, offline: 0 };
    this.machines.forEach(function (m) {
      if (m.mode && c.hasOwnProperty(m.mode)) c[m.mode]++;
    });
    return c;
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

  return { Model: Model, Ring: Ring, MODES: MODES, MAX_MACHINES: MAX_MACHINES,
           MAX_REJECTS: MAX_REJECTS, MAX_NODES: MAX_NODES };
})();

if (typeof module !== 'undefined') module.exports = CncModel;
