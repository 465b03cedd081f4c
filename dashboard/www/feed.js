// feed.js - the dashboard's Web Worker: owns the MQTT-over-websockets connection and the model
// (model.js), so parsing 10,000 messages a second never blocks the page's drawing. Loaded by
// dashboard.js as one Blob with vendor/mqtt.min.js and model.js (mosquitto's http_dir sends no
// Content-Type; a Blob has its own). Every interval it posts one snapshot: what the charts
// show, already aggregated, bounded in size.
/* global mqtt, CncModel */
'use strict';

(function () {
  var model = new CncModel.Model();
  var cfg = null;
  var client = null;
  var selected = [];
  var status = { connected: false, text: 'connecting...' };

  function setStatus(connected, text) {
    status = { connected: connected, text: text };
    postMessage({ type: 'status', status: status });
  }

  function snapshot() {
    var now = Date.now();
    var ids = [];
    model.machines.forEach(function (m, id) {
      if (m.history.len || m.count) ids.push(id);
    });
    ids.sort();
    var sel = selected.filter(function (id) { return model.machines.has(id); });
    if (!sel.length) sel = ids.slice(0, 5);
    var efficiency = {};
    sel.forEach(function (id) { efficiency[id] = model.efficiencySeries(id); });
    return {
      type: 'snapshot',
      now: now,
      status: status,
      machineCount: model.machines.size,
      efficiencyIds: ids.length > 2000 ? ids.slice(0, 2000) : ids,
      selected: sel,
      efficiency: efficiency,
      modeCounts: model.modeCounts(),
      modeEfficiency: model.modeEfficiency(now),
      scatter: model.scatter(),
      anomalies: model.anomalies.toArray().filter(function (a) { return now - a.t < 60000; }),
      thresholds: model.thresholds(),
      rates: model.rates.toArray(),
      metrics: model.metrics,
      nodes: model.nodeList(now),
      rejects: model.rejects.toArray().reverse(),
      analyticsSeen: model.analyticsSeen,
      rejectsSeen: model.rejectsSeen,
    };
  }

  function start(c) {
    cfg = c;
    var analyticsPrefix = cfg.analytics + '/';
    var rejectedPrefix = cfg.rejected + '/';
    var metricsPrefix = cfg.metrics + '/';
    client = mqtt.connect(cfg.broker, {
      clientId: 'cnc-dashboard-' + Math.random().toString(16).slice(2, 10),
      protocolVersion: 5, clean: true, reconnectPeriod: 2000, connectTimeout: 5000,
    });
    client.on('connect', function () {
      setStatus(true, 'connected to ' + cfg.broker);
      // <metrics>/+: each broker's own counters when several are bridged (metrics.per_node).
      client.subscribe([cfg.analytics + '/#', cfg.rejected + '/#', cfg.metrics, cfg.metrics + '/+'],
                       { qos: 0 });
    });
    client.on('reconnect', function () { setStatus(false, 'reconnecting to ' + cfg.broker + '...'); });
    client.on('close', function () { setStatus(false, 'disconnected from ' + cfg.broker); });
    client.on('error', function (e) { setStatus(false, 'error: ' + e.message); });
    client.on('message', function (topic, payload) {
      var now = Date.now();
      var msg;
      try {
        msg = JSON.parse(payload.toString());
      } catch (e) {
        return;
      }
      if (topic === cfg.metrics || topic.lastIndexOf(metricsPrefix, 0) === 0) {
        if (msg && typeof msg === 'object') model.metricsMessage(msg, now, topic);
      } else if (topic === cfg.analytics) {
        model.layout = msg; // the retained layout: handlers, params, rules
      } else if (topic.lastIndexOf(analyticsPrefix, 0) === 0) {
        model.analytics(msg, now);
      } else if (topic.lastIndexOf(rejectedPrefix, 0) === 0) {
        model.reject(msg, topic, now);
      }
    });
    setInterval(function () { postMessage(snapshot()); }, cfg.redrawMs);
  }

  onmessage = function (e) {
    if (e.data.type === 'start') start(e.data.config);
    if (e.data.type === 'select') selected = e.data.ids;
  };
})();
