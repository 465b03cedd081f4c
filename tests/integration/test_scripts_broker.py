"""test_scripts_broker.py - `lua` handler scripts in a real mosquitto with the built plugin.

What it proves:
- A script rewritten and reloaded (SIGHUP) while publishers keep sending loses nothing and
  stores nothing twice: each machine's messages go through version 1 up to one switch point
  and version 2 after it, the switch lies between the last message acknowledged before the
  SIGHUP and the first one sent after the reload's log line, and version 2 starts with fresh
  per-machine state (rows in a private MariaDB, mysql.readings: json, the default: the
  readings the script computed are cnc_reading rows beside the payload, and cnc_reading_all
  lists both).
- A reload with the same script text keeps the instance and its per-machine state; a script
  that fails to load refuses the whole reload, the log naming the YAML file and line, the key
  and the script's file and line, and the old version goes on with its state.
- A script that loops, allocates without end or raises is refused for that message alone
  (0x87 to an MQTT v5 publisher, a handler_rejected report saying which limit), the messages
  around it are accepted, and the broker answers the next one.
"""
import json
import threading
import time

import pytest

from conftest import wait_for
from mqtt_raw import RawPublisher

COUNTER = """\
-- counter, version {version}: the message's seq, the version, and a count per machine
return {{process = function(msg, state)
  state.n = (state.n or 0) + 1
  return {{readings = {{seq = msg.payload.seq, version = {version}, n = state.n}}}}
end}}
"""

# The script key is on line 5: the refusal of a broken script names it.
SCRIPT_YAML = """\
handlers:
  counter:
    type: lua
    params:
      script: counter.lua
routes:
  - {match: "*", handler: counter}
"""


def scripted_broker(broker_factory, yaml_text, scripts):
    """A broker whose YAML's folder holds scripts ({file name: text}) before it starts."""
    b = broker_factory(yaml_text, start=False)
    for name, text in scripts.items():
        (b.dir / name).write_text(text)
    return b.start()


def reload_and_wait(b, marker):
    """SIGHUP, then until the log holds one more line with marker than before; that line."""
    before = b.log_text().count(marker)
    b.reload()
    wait_for(lambda: b.log_text().count(marker) > before, what=f"'{marker}' in the log")
    return [line for line in b.log_text().splitlines() if marker in line][before]


def message(cnc_id, seq, **payload):
    payload.setdefault("seq", seq)
    return json.dumps({"cnc_id": cnc_id, "part_program": "P-1",
                       "timestamp": 1747379028000 + seq, "payload": payload})


# ---- a script reloaded under load ----

class Stream(threading.Thread):
    """One machine's publisher: seq 0, 1, 2, ... at QoS 1 until stopped, each PUBACK awaited.
    started: the seqs below it have been (or are being) sent, none from it on; acked: the
    highest seq whose PUBACK came back."""

    def __init__(self, port, cnc_id, pace_s=0.003):
        super().__init__(daemon=True)
        self.cnc_id, self.pace_s = cnc_id, pace_s
        self.pub = RawPublisher(port, f"stream-{cnc_id}", protocol=5)
        self.started, self.acked = 0, -1
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            seq = 0
            while not self.stop.is_set():
                self.started = seq + 1
                reason = self.pub.publish(f"cnc/{self.cnc_id}/data", message(self.cnc_id, seq), qos=1)
                assert reason == 0, f"{self.cnc_id} seq {seq} refused with {reason:#x}"
                self.acked = seq
                seq += 1
                time.sleep(self.pace_s)
        except Exception as e:  # reported by the test, not lost in the thread
            self.error = e
        finally:
            self.pub.close()


def stored_count(db):
    return db.scalar("SELECT COUNT(*) FROM cnc_message")


def stored_readings(db):
    """{cnc_id: {seq: {reading name: value}}}, seq from the stored payload, through
    cnc_reading_all: the payload's seq, and version and n, which the script computed and
    readings: json keeps as cnc_reading rows (seq, the payload's own, is no row)."""
    assert db.scalar("SELECT COUNT(*) FROM cnc_reading WHERE name = 'seq'") == 0
    out = {}
    for cnc_id, seq, handler, name, value in db.query(
            "SELECT m.cnc_id, CAST(JSON_VALUE(m.payload, '$.seq') AS UNSIGNED), m.handler, r.name, "
            "r.value FROM cnc_message m JOIN cnc_reading_all r USING (msg_key)"):
        assert handler == "counter"
        out.setdefault(cnc_id, {}).setdefault(int(seq), {})[name] = float(value)
    return out


def test_script_reloaded_under_load_loses_nothing(broker_factory, mariadb, tmp_path):
    b = scripted_broker(
        broker_factory,
        SCRIPT_YAML + mariadb.mysql_yaml(readings="json") +
        f'spool: {{dir: "{tmp_path / "spool"}"}}\n'
        "writer: {batch_size: 500, flush_interval_ms: 50}\n",
        {"counter.lua": COUNTER.format(version=1)})
    wait_for(lambda: "writer: connected to the database" in b.log_text(), timeout=30,
             what="the writer's first connection")
    machines = ["CNC001", "CNC002", "PRESS-04", "LASER-1"]
    streams = [Stream(b.port, m) for m in machines]
    for s in streams:
        s.start()
    try:
        def each_sent(n):
            return all(s.started >= n[s.cnc_id] for s in streams)

        wait_for(lambda: each_sent(dict.fromkeys(machines, 300)), what="300 messages each")
        (b.dir / "counter.lua").write_text(COUNTER.format(version=2))
        # Acknowledged before the SIGHUP: processed by version 1.
        last_v1 = {s.cnc_id: s.acked for s in streams}
        line = reload_and_wait(b, "cnc_ingest: reloaded")
        # Sent from here on: processed by version 2.
        first_v2 = {s.cnc_id: s.started for s in streams}
        wait_for(lambda: each_sent({m: first_v2[m] + 400 for m in machines}) and
                 sum(s.started for s in streams) >= 3200, what="400 more messages each")
    finally:
        for s in streams:
            s.stop.set()
        for s in streams:
            s.join(30)
    for s in streams:
        assert s.error is None, s.error
    sent = {s.cnc_id: s.started for s in streams}
    total = sum(sent.values())
    assert total >= 3200
    wait_for(lambda: stored_count(mariadb) >= total, timeout=60, interval=0.2,
             what=f"{total} rows (have {stored_count(mariadb)})")
    assert stored_count(mariadb) == total  # more would be a duplicate (msg_key is the key)

    got = stored_readings(mariadb)
    assert set(got) == set(machines)
    for m in machines:
        rows = got[m]
        # Every message stored once: seq 0 .. sent-1, no gap, each with its three readings.
        assert sorted(rows) == list(range(sent[m])), m
        assert all(set(r) == {"seq", "version", "n"} and r["seq"] == seq for seq, r in rows.items())
        versions = [rows[seq]["version"] for seq in range(sent[m])]
        assert 2 in versions, f"{m}: no message went through version 2"
        switch = versions.index(2)
        assert versions == [1] * switch + [2] * (sent[m] - switch), \
            f"{m}: version 1 after version 2 (switch at {switch})"
        assert last_v1[m] < switch <= first_v2[m], \
            f"{m}: switch at seq {switch}, outside ({last_v1[m]}, {first_v2[m]}]"
        # The count per machine: 1, 2, ... under version 1, and from 1 again under version 2.
        assert [rows[seq]["n"] for seq in range(switch)] == list(range(1, switch + 1))
        assert [rows[seq]["n"] for seq in range(switch, sent[m])] == \
            list(range(1, sent[m] - switch + 1)), f"{m}: the count did not restart at the switch"
    assert "1 handler instances (0 unchanged" in line, line  # new text: a new instance


# ---- computed readings in both storage modes ----

CONVERTER = """\
-- keeps temp as sent, changes spin (rpm to rps), adds cycle; drops note
return {process = function(msg)
  local p = msg.payload
  return {readings = {temp = p.temp, spin = p.spin / 60, cycle = 12.5}}
end}
"""


@pytest.mark.parametrize("readings", ["json", "rows"])
def test_computed_readings_stored_in_both_modes(broker_factory, mariadb, tmp_path, readings):
    b = scripted_broker(
        broker_factory,
        SCRIPT_YAML + mariadb.mysql_yaml(readings=readings) +
        f'spool: {{dir: "{tmp_path / "spool"}"}}\nwriter: {{flush_interval_ms: 20}}\n',
        {"counter.lua": CONVERTER})
    pub = RawPublisher(b.port, "conv", protocol=5)
    assert pub.publish("cnc/M1/data", json.dumps(
        {"cnc_id": "M1", "part_program": "p", "timestamp": 1747379028000,
         "payload": {"temp": 70.5, "spin": 1200, "note": "ok"}}), qos=1) == 0
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 1, timeout=30,
             what="the message stored")
    rows = dict(mariadb.query("SELECT name, num_value FROM cnc_reading"))
    every = {n: v for n, v in mariadb.query("SELECT name, value FROM cnc_reading_all")}
    payload = dict(mariadb.query("SELECT name, value FROM cnc_reading_json"))
    if readings == "json":
        # Only what the payload does not hold as it stands: the changed spin and the new cycle.
        assert rows == {"spin": 20, "cycle": 12.5}
    else:
        assert rows == {"temp": 70.5, "spin": 20, "cycle": 12.5}
    # The payload's members as sent, whatever the mode.
    assert payload == {"temp": "70.5", "spin": "1200", "note": "ok"}
    # Every reading: a row stands in for the member of its name; note, left out by the script,
    # is still the payload's.
    assert {n: float(v) if n != "note" else v for n, v in every.items()} == \
        {"temp": 70.5, "spin": 20.0, "cycle": 12.5, "note": "ok"}
    pub.close()


# ---- state kept by an unchanged script, a broken one refused ----

def counts(sub, cnc_id):
    """The count (analytics "values": the numeric readings) of each of cnc_id's messages."""
    return [json.loads(p)["values"]["n"] for _, p in sub.topics(f"cnc/analytics/{cnc_id}")]


def test_unchanged_script_keeps_state_and_broken_script_keeps_old_version(broker_factory,
                                                                         collector_factory):
    v1 = COUNTER.format(version=1)
    b = scripted_broker(broker_factory, SCRIPT_YAML, {"counter.lua": v1})
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    pub = RawPublisher(b.port, "scripted", protocol=5)
    seq = iter(range(1000))

    def send(cnc_id, n_analytics):
        assert pub.publish(f"cnc/{cnc_id}/data", message(cnc_id, next(seq)), qos=1) == 0
        sub.wait_count("cnc/analytics/", n_analytics)

    for i in range(3):
        send("M1", i + 1)
    send("M2", 4)
    assert counts(sub, "M1") == [1, 2, 3] and counts(sub, "M2") == [1]

    # The same text written again: the instance and both machines' counts carry over.
    (b.dir / "counter.lua").write_text(v1)
    line = reload_and_wait(b, "cnc_ingest: reloaded")
    send("M1", 5)
    send("M2", 6)
    assert counts(sub, "M1") == [1, 2, 3, 4] and counts(sub, "M2") == [1, 2]
    assert "1 handler instances (1 unchanged, rule state kept)" in line, line

    # A syntax error on the script's line 3: the reload is refused, version 1 goes on.
    (b.dir / "counter.lua").write_text(v1.replace("state.n = (state.n or 0) + 1",
                                                  "state.n = = 1"))
    line = reload_and_wait(b, "reload refused, keeping the old config")
    assert (f"{b.yaml}:5: handlers.counter.params.script: "
            "counter.lua:3: unexpected symbol near '='") in line, line
    send("M1", 7)
    assert counts(sub, "M1") == [1, 2, 3, 4, 5]
    assert pub.ping()

    # The check above can fail: a changed text does restart the counts.
    (b.dir / "counter.lua").write_text(COUNTER.format(version=2))
    line = reload_and_wait(b, "cnc_ingest: reloaded")
    send("M1", 8)
    send("M2", 9)
    assert counts(sub, "M1")[-1] == 1 and counts(sub, "M2")[-1] == 1
    assert "(0 unchanged" in line, line
    last = json.loads(sub.topics("cnc/analytics/M1")[-1][1])["values"]
    assert last["version"] == 2
    pub.close()


# ---- limits ----

LIMITS = """\
-- guarded: counts per machine; payload.mode loop / alloc / error misbehave
return {process = function(msg, state)
  local mode = msg.payload.mode
  if mode == "loop" then while true do end end
  if mode == "alloc" then
    local s, t = string.rep("x", 60000), {}
    while true do t[#t + 1] = s .. #t end
  end
  if mode == "error" then local t = nil; return t.field end
  state.n = (state.n or 0) + 1
  return {readings = {n = state.n}}
end}
"""

# max_time_ms well above what the instruction budget allows: the budget (not the clock, which
# a busy test machine could trip) is what stops the loop.
LIMITS_YAML = """\
handlers:
  guarded:
    type: lua
    params: {script: limits.lua, max_memory_kb: 4096, max_time_ms: 1000}
routes:
  - {match: "*", handler: guarded}
metrics: {interval_s: 1}
"""


def test_script_limits_in_the_broker(broker_factory, collector_factory):
    b = scripted_broker(broker_factory, LIMITS_YAML, {"limits.lua": LIMITS})
    sub = collector_factory(b.port, topics=("cnc/analytics/#", "cnc/rejected/#"))
    pub = RawPublisher(b.port, "limits", protocol=5)
    seq = iter(range(1000))
    accepted = []

    def normal(cnc_id):
        # Its PUBACK is the broker answering after whatever came before.
        assert pub.publish(f"cnc/{cnc_id}/data", message(cnc_id, next(seq)), qos=1) == 0
        accepted.append(cnc_id)
        (_, body) = sub.wait_count("cnc/analytics/", len(accepted))[-1]
        a = json.loads(body)
        assert a["cnc_id"] == cnc_id and a["handler"] == "guarded"
        return a["values"]["n"]

    def bad(mode):
        assert pub.publish("cnc/M1/data", message("M1", next(seq), mode=mode), qos=1) == 0x87

    assert normal("M1") == 1
    assert normal("M2") == 1
    bad("loop")
    assert normal("M1") == 2  # a spent budget leaves the state as it was
    bad("alloc")
    assert normal("M1") == 1  # a memory refusal starts that machine's state afresh ...
    assert normal("M2") == 2  # ... not the others'
    bad("error")
    assert normal("M1") == 2
    assert pub.ping()

    reports = [json.loads(p) for _, p in sub.wait_count("cnc/rejected/limits", 3)]
    assert [(r["reason"], r["cnc_id"], r["client_id"]) for r in reports] == \
        [("handler_rejected", "M1", "limits")] * 3
    assert [r["detail"] for r in reports] == [
        "guarded: script exceeded its instruction budget (max_instructions 100000)",
        "guarded: script exceeded its memory limit (max_memory_kb 4096)",
        "guarded: script error: limits.lua:9: attempt to index a nil value (local 't')",
    ]
    assert [json.loads(r["message"])["payload"]["mode"] for r in reports] == ["loop", "alloc", "error"]
    # Each refusal counted by its kind in the metrics.
    m = b.metrics_until(lambda m: m.get("scripts", {}).get("errors") == 1)
    assert {k: m["scripts"][k] for k in ("instances", "machines", "over_budget", "over_memory",
                                         "errors", "over_time", "refused")} == \
        {"instances": 1, "machines": 2, "over_budget": 1, "over_memory": 1, "errors": 1,
         "over_time": 0, "refused": 0}
    assert m["rejected_by_reason"]["handler_rejected"] == 3
    # And in the summary log line, for an administrator without a subscriber.
    wait_for(lambda: "script_over_budget=1 script_over_time=0 script_over_memory=1 "
                     "script_errors=1" in b.log_text(), what="the script counters in the log line")
    assert len(sub.topics("cnc/analytics/")) == len(accepted)  # no refused one had analytics
    pub.close()
