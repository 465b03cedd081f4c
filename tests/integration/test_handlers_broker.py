"""test_handlers_broker.py - handler types, rules, analytics, reload and
handler modules in a real mosquitto with the built plugin.
"""
import json


from conftest import BUILD, ROOT, sample_lines, wait_for
from mqtt_raw import RawPublisher

LASER = BUILD / "handlers" / "cnc_handler_laser.so"
LASER_BADABI = BUILD / "handlers" / "cnc_handler_laser_badabi.so"

SHIPPED = (ROOT / "config" / "cnc_ingest.yaml").read_text()


def publish_samples(port, client_id="analytics-pub"):
    pub = RawPublisher(port, client_id, protocol=5)
    for line in sample_lines("valid.jsonl"):
        assert pub.publish(f"cnc/{json.loads(line)['cnc_id']}/data", line, qos=1) == 0
    return pub


def test_analytics_topic_for_every_accepted_message(broker_factory, collector_factory):
    b = broker_factory(SHIPPED)
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    pub = publish_samples(b.port)
    got = sub.wait_count("cnc/analytics/", 4)
    assert [t for t, _ in got] == ["cnc/analytics/CNC001", "cnc/analytics/CNC000",
                                   "cnc/analytics/PRESS-04", "cnc/analytics/PRESS-04"]
    a = [json.loads(p) for _, p in got]
    # "values": the numeric readings by name (analytics.values, on by default), for the dashboard.
    assert set(a[0].pop("values")) == {"spin", "X-Axis", "Y-Axis"}
    assert set(a[2]["values"]) == {"temperature", "vibration"}
    assert a[0] == {"cnc_id": "CNC001", "ts": "2025-05-16T07:03:48.000Z", "part_program": "program_01",
                    "handler": "cnc_type_a", "mode": None, "efficiency_score": None,
                    "efficiency_level": None, "readings": 4, "anomalies": [],
                    "state": "running", "category": "productive"}
    assert a[2]["handler"] == "press_line"
    assert (a[2]["mode"], a[2]["efficiency_score"], a[2]["efficiency_level"]) == ("active", 100, "High")
    assert (a[3]["mode"], a[3]["efficiency_level"]) == ("maintenance", "Low")
    assert abs(a[3]["efficiency_score"] - 24.3) < 1e-9
    # An anomaly: CNC001's spindle beyond its range and overspeed rule.
    msg = ('{"cnc_id":"CNC001","part_program":"p","timestamp":1747379028,'
           '"payload":{"status":"running","spin":12500,"X-Axis":30,"Y-Axis":80}}')
    assert pub.publish("cnc/CNC001/data", msg, qos=1) == 0
    got = sub.wait_count("cnc/analytics/", 5)
    anomalies = json.loads(got[4][1])["anomalies"]
    assert {(x["rule"], x["variable"], x["threshold"], x["severity"]) for x in anomalies} == {
        ("spindle_range", "spin", 12000, "critical"), ("spindle_overspeed", "spin", 10000, "warning")}
    # handler_rejected reaches the publisher as 0x87 and the rejected topic.
    assert pub.publish("cnc/CNC001/data", msg.replace('"status":"running",', ""), qos=1) == 0x87
    pub.close()


def test_analytics_off_with_empty_topic(broker_factory, collector_factory):
    b = broker_factory(SHIPPED.replace("topic: cnc/analytics ", 'topic: "" '))
    sub = collector_factory(b.port)
    pub = publish_samples(b.port)
    sub.wait_count("cnc/PRESS-04/data", 2)
    # A sentinel refused after them: once its report is here, any analytics would be too.
    assert pub.publish("cnc/CNC001/data", "{}", qos=1) == 0x87
    pub.close()
    sub.wait_count("cnc/rejected/analytics-pub", 1)
    assert sub.topics("cnc/analytics") == []


RELOAD_A = """
handlers:
  lathes: {type: generic}
routes:
  - {match: CNC001, handler: lathes}
"""
RELOAD_B = """
handlers:
  lathes: {type: generic}
  presses: {type: sensor_efficiency}
routes:
  - {match: CNC001, handler: lathes}
  - {match: "PRESS-*", handler: presses}
"""


def test_sighup_reload_switches_routes_and_refuses_a_bad_file(broker_factory, collector_factory):
    b = broker_factory(RELOAD_A)
    sub = collector_factory(b.port, topics=("cnc/analytics/#", "cnc/rejected/#"))
    pub = RawPublisher(b.port, "reloader", protocol=5)
    press = sample_lines("valid.jsonl")[2]
    assert pub.publish("cnc/PRESS-04/data", press, qos=1) == 0x87  # no_route yet

    b.yaml.write_text(RELOAD_B)
    b.reload()
    wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), what="reload log line")
    assert "1 unchanged, rule state kept" in b.log_text()
    assert pub.publish("cnc/PRESS-04/data", press, qos=1) == 0
    (_, body), = sub.wait_count("cnc/analytics/PRESS-04", 1)
    assert json.loads(body)["handler"] == "presses"

    # A broken file is refused with the key and line; the running table stays.
    b.yaml.write_text(RELOAD_B.replace("type: sensor_efficiency", "type: sensor_efficency"))
    b.reload()
    wait_for(lambda: "reload refused, keeping the old config" in b.log_text(), what="refusal")
    assert ':4: handlers.presses.type: unknown handler type "sensor_efficency"' in b.log_text()
    assert pub.publish("cnc/PRESS-04/data", press, qos=1) == 0
    assert pub.ping()
    sub.wait_count("cnc/analytics/PRESS-04", 2)
    pub.close()


def test_reload_keeps_rule_state(broker_factory, collector_factory):
    yaml_text = """
handlers:
  h:
    type: generic
    rules: [{name: stuck, variable: v, stuck: {samples: 4}}]
routes: [{match: "*", handler: h}]
"""
    b = broker_factory(yaml_text)
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    pub = RawPublisher(b.port, "stateful", protocol=5)
    msg = '{"cnc_id":"M1","part_program":"p","timestamp":1747379028,"payload":{"v":3}}'
    for _ in range(3):
        assert pub.publish("cnc/M1/data", msg, qos=1) == 0
    b.yaml.write_text(yaml_text + "\n# comment only: same instances\n")
    b.reload()
    wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), what="reload")
    assert pub.publish("cnc/M1/data", msg, qos=1) == 0
    got = sub.wait_count("cnc/analytics/M1", 4)
    assert [len(json.loads(p)["anomalies"]) for _, p in got] == [0, 0, 0, 1]
    pub.close()


def test_handler_module_in_a_real_broker(broker_factory, collector_factory):
    b = broker_factory(f"""
handler_modules: ["{LASER}"]
handlers:
  lasers: {{type: laser_cutter, params: {{min_gas_bar: 10}}}}
routes: [{{match: "LASER-*", handler: lasers}}]
""")
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    pub = RawPublisher(b.port, "laser", protocol=5)
    msg = ('{"cnc_id":"LASER-1","part_program":"sheet-7","timestamp":1747379028,'
           '"payload":{"state":"cutting","power_w":4200,"speed_mm_s":35,"gas_bar":9}}')
    assert pub.publish("cnc/LASER-1/data", msg, qos=1) == 0
    (_, body), = sub.wait_count("cnc/analytics/LASER-1", 1)
    a = json.loads(body)
    assert a["handler"] == "lasers" and a["readings"] == 5  # worst_severity from the module
    assert [x["rule"] for x in a["anomalies"]] == ["assist_gas_low"]
    assert pub.publish("cnc/LASER-1/data", msg.replace('"power_w":4200,', ""), qos=1) == 0x87
    pub.close()


def test_module_for_another_interface_version_is_refused(broker_factory):
    b = broker_factory(f"""
handler_modules: ["{LASER_BADABI}"]
handlers: {{any: {{type: generic}}}}
routes: [{{match: "*", handler: any}}]
""", start=False)
    b.start(expect_running=False)
    assert b.proc.wait(timeout=10) != 0
    log = b.log_text() + b.proc.stderr.read().decode(errors="replace")
    assert "was built for handler interface version 999, this plugin has version 1" in log, log
    assert f"{b.yaml}:2: handler_modules:" in log


def layouts(sub, topic="cnc/analytics"):
    return [json.loads(p) for t, p in sub.topics(topic) if t == topic and p]


def test_layout_is_retained_and_renewed_on_reload(broker_factory, collector_factory):
    """The retained layout on <analytics.topic> itself tells a dashboard the handlers, their
    params and rules (threshold lines) and the topics, before any data flows."""
    b = broker_factory(SHIPPED)
    # Published on the first tick (not at the first metrics report, interval_s: 10 in the
    # shipped file): once an early subscriber has it, a later one gets it retained.
    early = collector_factory(b.port, topics=("cnc/analytics/#",))
    wait_for(lambda: layouts(early), timeout=30, what="the layout at start")
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    wait_for(lambda: layouts(sub), timeout=30, what="the retained layout")
    lay = layouts(sub)[0]
    press = lay["handlers"]["press_line"]
    assert press["type"] == "sensor_efficiency"
    assert press["params"]["temperature"] == {"optimal": [60, 80], "critical": [10, 95]}
    assert {"name": "temperature_high", "variable": "temperature", "above": 90,
            "severity": "warning"} in press["rules"]
    assert lay["topics"] == {"analytics": "cnc/analytics", "rejected": "cnc/rejected",
                             "metrics": "cnc/ingest/stats", "metrics_per_node": False}
    b.yaml.write_text(SHIPPED.replace("above: 90,", "above: 88,"))
    b.reload()
    wait_for(lambda: len(layouts(sub)) >= 2, what="a new layout after the reload")
    rules = layouts(sub)[-1]["handlers"]["press_line"]["rules"]
    assert any(r.get("above") == 88 for r in rules)
    # The analytics move to another topic: the layout goes with them, none stays on the old one.
    b.yaml.write_text(SHIPPED.replace("topic: cnc/analytics ", "topic: plant/analytics "))
    b.reload()
    moved = collector_factory(b.port, topics=("plant/analytics/#",))
    wait_for(lambda: layouts(moved, "plant/analytics"), timeout=30,
             what="the layout on the new topic")
    assert layouts(moved, "plant/analytics")[-1]["topics"]["analytics"] == "plant/analytics"
    # A retained sentinel, then a subscriber to the old topic first and the sentinel's second:
    # retained messages come with each subscription, in order, so once the sentinel is here
    # nothing stale is coming on the old topic.
    sentinel = RawPublisher(b.port, "layout-sentinel", protocol=5)
    assert sentinel.publish("sentinel/layout", "here", qos=1, retain=True) == 0
    sentinel.close()
    late = collector_factory(b.port, topics=("cnc/analytics/#", "sentinel/#"))
    late.wait_count("sentinel/", 1)
    assert layouts(late) == [], "a stale layout stayed retained on the old analytics topic"
