// feed.js - the dashboard's Web Worker: owns the MQTT-over-websockets connection and the model
// (model.js), so parsing 10,000 messages a second never blocks the page's drawing. Loaded by
// dashboard.js as one Blob with vendor/mqtt.min.js and model.js (mosquitto's http_dir sends no
// Content-Type; a Blob has its own). Every interval it posts one snapshot: what the charts
// show, already aggregated, bounded in size. The page's sign-in (signin.js) hands it the
// credentials ('credentials' message; null signs out); it tells the page when the broker asks
// for them or refuses them ('auth' message).
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

  var STATE_ROWS = 16; // strips of the machines that changed last, after the picked ones
  var PARETO_ROWS = 12;
  var STATE_BARS = 12;

  function snapshot() {
    var now = Date.now();
    // The picker lists lathes (a state, no efficiency) and presses; the efficiency chart draws
    // the picked machines that have efficiency (when none has: the first five), the state panel
    // pins every picked machine above the ones that changed last.
    var pick = model.pickList();
    var withEfficiency = pick.filter(function (p) { return p.efficiency; }).map(function (p) { return p.id; });
    var hasEfficiency = Object.create(null);
    withEfficiency.forEach(function (id) { hasEfficiency[id] = true; });
    var pinned = selected.filter(function (id) { return model.machines.has(id); });
    var effIds = pinned.filter(function (id) { return hasEfficiency[id]; });
    if (!effIds.length) effIds = withEfficiency.slice(0, 5);
    var efficiency = {};
    effIds.forEach(function (id) { efficiency[id] = model.efficiencySeries(id); });
    return {
      type: 'snapshot',
      now: now,
      status: status,
      machineCount: model.machines.size,
      machineList: pick.length > 2000 ? pick.slice(0, 2000) : pick,
      selected: pinned.length ? pinned : effIds, // shown as picked in the list
      efficiencyIds: effIds,
      efficiency: efficiency,
      stateCounts: model.stateCounts(STATE_BARS),
      states: model.states.view(now, pinned, STATE_ROWS, PARETO_ROWS),
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
      connections: { attempts: stats.attempts, open: stats.open },
    };
  }

  // CONNACK reasons: "who are you?" (MQTT 3.1.1 4 and 5, MQTT 5 0x86 and 0x87), and "not now"
  // (3.1.1 3; 5: server unavailable 0x88, busy 0x89, quota 0x97, connection rate 0x9F), which
  // is retried with a growing wait. mqtt.js retries no refused CONNACK by itself, so a page
  // left at the sign-in form never knocks on the broker again.
  var AUTH_REFUSED = { 4: true, 5: true, 134: true, 135: true };
  var BUSY = { 3: true, 136: true, 137: true, 151: true, 159: true };
  var credentials = null; // {username, password} from the page's sign-in, or none
  var seq = 0; // of the page's last 'credentials' message, echoed in every 'auth' message
  var SILENT_MS = 5000;
  var busyWaitMs = 0;
  var retryTimer = null;
  var stats = { attempts: 0, open: 0 }; // connections tried, and open now (for the test)

  function onMessage(topic, payload) {
    var msg;
    try {
      msg = JSON.parse(payload.toString());
    } catch (e) {
      return;
    }
    var now = Date.now();
    try {
      if (topic === cfg.metrics || topic.lastIndexOf(cfg.metrics + '/', 0) === 0) {
        model.metricsMessage(msg, now, topic);
      } else if (topic === cfg.analytics) {
        model.setLayout(msg); // the retained layout: handlers, params, rules
      } else if (topic.lastIndexOf(cfg.analytics + '/', 0) === 0) {
        model.analytics(msg, now);
      } else if (topic.lastIndexOf(cfg.rejected + '/', 0) === 0) {
        model.reject(msg, topic, now);
      }
    } catch (e) {
      // The model drops what has the wrong shape; anything it missed costs this one message.
    }
  }

  function auth(state, extra) {
    postMessage(Object.assign({ type: 'auth', state: state, seq: seq,
                                username: credentials && credentials.username }, extra || {}));
  }

  // One connection at a time: a new sign-in ends the old one, whose late events are ignored.
  function connect() {
    clearTimeout(retryTimer);
    if (client) client.end(true);
    var who = credentials ? ' as ' + credentials.username : '';
    var opts = {
      clientId: 'cnc-dashboard-' + Math.random().toString(16).slice(2, 10),
      protocolVersion: 5, clean: true, reconnectPeriod: 2000, connectTimeout: 5000,
    };
    if (credentials) {
      opts.username = credentials.username;
      opts.password = credentials.password;
    }
    stats.attempts++;
    var c = mqtt.connect(cfg.broker, opts);
    var heard = 0; // messages on this connection
    var refused = false; // the broker refused this connection: the status says why
    var isOpen = false;
    client = c;
    var mine = function (f) { return function () { if (c === client) f.apply(null, arguments); }; };
    // In, but shown nothing: the page offers the sign-in (another user, or one at all).
    var unreadable = function (why) {
      setStatus(false, 'connected' + who + ', but ' + why);
      auth('unreadable', { why: why });
    };
    // <metrics>/+: each broker's own counters when several are bridged (metrics.per_node).
    var topics = [cfg.analytics + '/#', cfg.rejected + '/#', cfg.metrics, cfg.metrics + '/+'];
    c.on('connect', function () {
      if (!isOpen) stats.open++;
      isOpen = true;
    });
    c.on('close', function () {
      if (isOpen) stats.open--;
      isOpen = false;
    });
    c.on('connect', mine(function () {
      busyWaitMs = 0;
      setStatus(true, 'connected to ' + cfg.broker + who);
      auth('accepted');
      c.subscribe(topics, { qos: 0 }, mine(function (err, subs, packet) {
        // A user the broker knows but who may not read the outputs would see an empty page.
        // The dynamic-security plugin refuses the SUBSCRIBE: say which topics (all refused:
        // offer the sign-in). An acl_file grants it and delivers nothing: a reader gets the
        // retained metrics and layout at once, so silence after SILENT_MS says the same.
        var codes = (packet && packet.granted) || [];
        var denied = topics.filter(function (t, i) { return (codes[i] & 0x80) !== 0; });
        if (denied.length === topics.length) {
          unreadable('may not read ' + denied.join(', '));
          return;
        }
        if (denied.length) {
          setStatus(true, 'connected to ' + cfg.broker + who + ' (may not read ' +
                    denied.join(', ') + ')');
        }
        setTimeout(mine(function () {
          if (heard === 0 && c.connected) {
            unreadable('nothing arrived in ' + SILENT_MS / 1000 + ' s: may ' +
                       (credentials ? 'this user' : 'an anonymous client') + ' read ' +
                       topics.join(', ') + '?');
          }
        }), SILENT_MS);
      }));
    }));
    c.on('reconnect', mine(function () {
      stats.attempts++;
      setStatus(false, 'reconnecting to ' + cfg.broker + '...');
    }));
    c.on('close', mine(function () {
      if (!refused) setStatus(false, 'disconnected from ' + cfg.broker); // else: says why
    }));
    c.on('error', mine(function (e) {
      var refusedCode = typeof e.code === 'number' && /^Connection refused/.test(e.message);
      if (!refusedCode) {
        setStatus(false, 'error: ' + e.message);
        return;
      }
      refused = true;
      if (AUTH_REFUSED[e.code]) {
        setStatus(false, credentials ? 'sign-in refused' : 'sign-in required');
        auth(credentials ? 'refused' : 'required');
      } else if (BUSY[e.code]) {
        busyWaitMs = Math.min(busyWaitMs ? busyWaitMs * 2 : 2000, 60000);
        setStatus(false, e.message + ': trying again in ' + busyWaitMs / 1000 + ' s');
        retryTimer = setTimeout(mine(connect), busyWaitMs);
      } else {
        // Banned, a client id or protocol it will not take...: a person must choose.
        setStatus(false, e.message);
        auth('rejected', { why: e.message });
      }
    }));
    c.on('message', mine(function (topic, payload) {
      if (heard++ === 0 && !status.connected) {
        setStatus(true, 'connected to ' + cfg.broker + who);
        auth('reading'); // the data came after all: no form
      }
      onMessage(topic, payload);
    }));
  }

  function start(c) {
    cfg = c;
    credentials = c.credentials || null;
    seq = c.seq || 0;
    delete cfg.credentials;
    connect();
    setInterval(function () {
      try {
        postMessage(snapshot());
      } catch (e) {
        setStatus(false, 'feed error: ' + e.message); // the next one may do better
      }
    }, cfg.redrawMs);
  }

  onmessage = function (e) {
    if (e.data.type === 'start') start(e.data.config);
    if (e.data.type === 'select') selected = e.data.ids;
    if (e.data.type === 'credentials') {
      credentials = e.data.credentials;
      seq = e.data.seq;
      connect();
    }
  };
})();
