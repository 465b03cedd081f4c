"""test_ingest_broker.py - the core ingest capability against a real mosquitto
running the built plugin: valid messages reach subscribers unchanged at every
QoS and protocol, invalid ones are refused with the right reason (and 0x87
for MQTT v5 publishers), reports land on the rejected topic, the publisher
stays connected, counters are published, a broken config stops the broker.
"""
import json
import time

import pytest

from conftest import sample_lines, wait_for
from mqtt_raw import RawPublisher

BASE_YAML = """
ingest:
  topics: ["cnc/+/data"]
  max_message_bytes: 4096
handlers:
  lathes: {type: generic}
  any: {type: generic}
routes:
  - {match: CNC001, handler: lathes}
  - {match: "*", handler: any}
metrics: {topic: cnc/ingest/stats, interval_s: 1}
"""

NOT_AUTHORIZED = 0x87


def cnc_id_of(line):
    try:
        value = json.loads(line).get("cnc_id")
        return value if isinstance(value, str) and value else "CNC001"
    except (ValueError, AttributeError):
        return "CNC001"


# (description, topic, message, reason, field) beyond ../shared/samples/invalid.jsonl
def env(cnc_id="CNC001", pp='"program_01"', ts='"1747379028"', payload='{"spin":200}'):
    return f'{{"cnc_id":"{cnc_id}","part_program":{pp},"timestamp":{ts},"payload":{payload}}}'


WIDER_INVALID = [
    ("empty", "cnc/CNC001/data", "", "not_json", None),
    ("array", "cnc/CNC001/data", "[1,2]", "not_object", None),
    ("oversize", "cnc/CNC001/data", env(payload='{"s":"' + "x" * 250 + '"' + ',"t":"' + "y" * 250 + '"' * 1 + "}" ) + " " * 4000, "too_large", None),
    ("bad utf-8", "cnc/CNC001/data", b'{"cnc_id":"CNC001\xff"}', "not_json", None),
    ("65-char id", "cnc/" + "A" * 65 + "/data", env(cnc_id="A" * 65), "bad_cnc_id", "cnc_id"),
    ("topic mismatch", "cnc/CNC002/data", env(), "topic_mismatch", "cnc_id"),
    ("empty program", "cnc/CNC001/data", env(pp='""'), "bad_part_program", "part_program"),
    ("1999", "cnc/CNC001/data", env(ts='"1999-12-31T23:59:59Z"'), "timestamp_out_of_range", "timestamp"),
    ("future", "cnc/CNC001/data", env(ts=str(int(time.time()) + 86400)), "timestamp_out_of_range", "timestamp"),
    ("no zone", "cnc/CNC001/data", env(ts='"2025-05-16T07:03:49"'), "bad_timestamp", "timestamp"),
    ("nested", "cnc/CNC001/data", env(payload='{"pos":{"x":1}}'), "bad_payload_value", "payload.pos"),
    ("infinite", "cnc/CNC001/data", env(payload='{"spin":1e999}'), "bad_payload_value", "payload.spin"),
    ("dup in payload", "cnc/CNC001/data", env(payload='{"spin":1,"spin":2}'), "duplicate_key", "payload.spin"),
    ("too many", "cnc/CNC001/data", env(payload="{" + ",".join(f'"m{i}":{i}' for i in range(257)) + "}"), "too_many_fields", "payload"),
]


@pytest.fixture
def broker(broker_factory):
    return broker_factory(BASE_YAML)


@pytest.mark.parametrize("protocol", [5, 4])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_valid_samples_reach_subscribers_unchanged(broker, collector_factory, protocol, qos):
    sub = collector_factory(broker.port)
    pub = RawPublisher(broker.port, f"valid-{protocol}-{qos}", protocol=5 if protocol == 5 else 4)
    lines = sample_lines("valid.jsonl")
    for line in lines:
        reason = pub.publish(f"cnc/{cnc_id_of(line)}/data", line, qos=qos)
        assert reason in (None, 0), f"valid message refused with {reason:#x}: {line}"
    wait_for(lambda: len([t for t, _ in sub.topics("cnc/") if t.endswith("/data")]) >= len(lines),
             what="the valid messages")
    data = [(t, p.decode()) for t, p in sub.topics("cnc/") if t.endswith("/data")]
    assert data == [(f"cnc/{cnc_id_of(l)}/data", l) for l in lines]
    assert pub.ping()
    pub.close()
    # No report for them: a sentinel refused after them is reported, and is the only report.
    sentinel = RawPublisher(broker.port, "sentinel", protocol=5)
    assert sentinel.publish("cnc/CNC001/data", "{}", qos=1) == NOT_AUTHORIZED
    sentinel.close()
    sub.wait_count("cnc/rejected/sentinel", 1)
    assert [t for t, _ in sub.topics("cnc/rejected")] == ["cnc/rejected/sentinel"]


@pytest.mark.parametrize("qos", [1, 2])
def test_invalid_samples_refused_with_0x87_and_reported(broker, collector_factory, qos):
    sub = collector_factory(broker.port)
    pub = RawPublisher(broker.port, "bad-collector", protocol=5)
    lines = sample_lines("invalid.jsonl")
    expected = ["missing_field", "wrong_type", "bad_timestamp", "wrong_type", "unknown_field",
                "duplicate_key", "not_json"]
    assert len(lines) == len(expected)
    for line in lines:
        assert pub.publish(f"cnc/{cnc_id_of(line)}/data", line, qos=qos) == NOT_AUTHORIZED, line
    # The connection survives the run of bad messages: a good one still goes through.
    assert pub.ping()
    good = sample_lines("valid.jsonl")[0]
    assert pub.publish("cnc/CNC001/data", good, qos=qos) == 0
    reports = sub.wait_count("cnc/rejected/", len(lines))
    assert [t for t, _ in reports] == ["cnc/rejected/bad-collector"] * len(lines)
    bodies = [json.loads(p) for _, p in reports]
    assert [b["reason"] for b in bodies] == expected
    assert [b["field"] for b in bodies] == ["timestamp", "cnc_id", "timestamp", "payload", "note",
                                            "cnc_id", None]
    for body, line in zip(bodies, lines):
        assert body["client_id"] == "bad-collector"
        assert body["message"] == line[:256]
        assert body["detail"]
        assert body["received_at"].endswith("Z")
    # None of the invalid messages reached the subscriber on '#'.
    wait_for(lambda: len(sub.topics("cnc/CNC001/data")) == 1, what="the good message")
    assert [p.decode() for _, p in sub.topics("cnc/CNC001/data")] == [good]
    pub.close()


@pytest.mark.parametrize("case", WIDER_INVALID, ids=[c[0] for c in WIDER_INVALID])
def test_wider_invalid_set(broker, collector_factory, case):
    _, topic, message, reason, field = case
    sub = collector_factory(broker.port, topics=("cnc/rejected/#", "cnc/+/data"))
    pub = RawPublisher(broker.port, "wide", protocol=5)
    assert pub.publish(topic, message, qos=1) == NOT_AUTHORIZED
    (report_topic, body), = sub.wait_count("cnc/rejected/", 1)
    report = json.loads(body)
    assert (report["reason"], report["field"]) == (reason, field), report
    assert report["topic"] == topic
    assert pub.ping()
    assert sub.topics("cnc/") == [(report_topic, body)]
    pub.close()


def test_v311_publisher_is_acked_and_stays_connected(broker, collector_factory):
    """MQTT 3.1.1 has no reason codes: the publisher gets a plain PUBACK, the
    message is still dropped, counted and reported (reports held to
    ingest.reports_per_client_s, 10 a second by default: the rest are counted)."""
    sub = collector_factory(broker.port)
    pub = RawPublisher(broker.port, "old-collector", protocol=4)
    for _ in range(50):
        assert pub.publish("cnc/CNC001/data", "not json at all", qos=1) == 0
    assert pub.ping()
    m = broker.metrics_until(lambda m: m["rejected_by_reason"]["not_json"] == 50 and
                             m["reports_suppressed"] +
                             len(sub.topics("cnc/rejected/old-collector")) == 50)
    reports = sub.topics("cnc/rejected/old-collector")
    assert 10 <= len(reports) <= 50 and m["reports_suppressed"] == 50 - len(reports)
    assert all(json.loads(p)["reason"] == "not_json" for _, p in reports)
    assert sub.topics("cnc/CNC001") == []
    pub.close()


def test_qos0_invalid_dropped_silently_but_reported(broker, collector_factory):
    sub = collector_factory(broker.port)
    pub = RawPublisher(broker.port, "q0", protocol=5)
    pub.publish("cnc/CNC001/data", "{}", qos=0)
    assert pub.ping()
    (_, body), = sub.wait_count("cnc/rejected/q0", 1)
    assert json.loads(body)["reason"] == "missing_field"
    assert sub.topics("cnc/CNC001") == []
    pub.close()


def test_other_topics_untouched(broker, collector_factory):
    sub = collector_factory(broker.port)
    pub = RawPublisher(broker.port, "other", protocol=5)
    assert pub.publish("factory/line1/temperature", "not json", qos=1) == 0
    assert pub.publish("cnc/CNC001/status", "offline", qos=1) == 0
    # (The plugin's own output topics are only the plugin's: see
    # test_clients_cannot_publish_on_the_plugins_output_topics.)
    # Everything but the retained layout the plugin publishes on its analytics topic at start.
    def others():
        return [(t, p) for t, p in sub.topics() if t != "cnc/analytics"]

    wait_for(lambda: len(others()) >= 2, what="the two messages")
    assert others() == [("factory/line1/temperature", b"not json"),
                        ("cnc/CNC001/status", b"offline")]
    pub.close()


def test_no_route(broker_factory, collector_factory):
    b = broker_factory(BASE_YAML.replace('  - {match: "*", handler: any}\n', ""))
    sub = collector_factory(b.port)
    pub = RawPublisher(b.port, "router", protocol=5)
    assert pub.publish("cnc/CNC001/data", env(), qos=1) == 0
    assert pub.publish("cnc/CNC999/data", env(cnc_id="CNC999"), qos=1) == NOT_AUTHORIZED
    (_, body), = sub.wait_count("cnc/rejected/", 1)
    report = json.loads(body)
    assert (report["reason"], report["field"], report["cnc_id"]) == ("no_route", "cnc_id", "CNC999")
    pub.close()


def test_on_invalid_pass_delivers_and_reports(broker_factory, collector_factory):
    b = broker_factory(BASE_YAML.replace("max_message_bytes: 4096", "on_invalid: pass"))
    sub = collector_factory(b.port)
    pub = RawPublisher(b.port, "migrating", protocol=5)
    assert pub.publish("cnc/CNC001/data", "not json at all", qos=1) == 0
    (_, body), = sub.wait_count("cnc/rejected/", 1)
    assert json.loads(body)["reason"] == "not_json"
    wait_for(lambda: sub.topics("cnc/CNC001/data"), what="the passed message")
    assert sub.topics("cnc/CNC001/data") == [("cnc/CNC001/data", b"not json at all")]
    pub.close()


def test_metrics_published_retained(broker, collector_factory):
    pub = RawPublisher(broker.port, "counted", protocol=5)
    for line in sample_lines("valid.jsonl"):
        pub.publish(f"cnc/{cnc_id_of(line)}/data", line, qos=1)
    for line in sample_lines("invalid.jsonl"):
        pub.publish(f"cnc/{cnc_id_of(line)}/data", line, qos=1)
    pub.close()

    # Retained, every second: the subscriber gets the last one at once, then each new one.
    sub = collector_factory(broker.port, topics=("cnc/ingest/stats",))

    def counted():
        got = [json.loads(p) for _, p in sub.topics("cnc/ingest/stats")]
        return next((m for m in reversed(got) if m["received"] == 11), None)

    wait_for(lambda: counted() is not None, timeout=30, what="metrics with 11 received")
    stats = counted()
    assert (stats["accepted"], stats["rejected"]) == (4, 7)
    by = stats["rejected_by_reason"]
    assert (by["wrong_type"], by["missing_field"], by["not_json"], by["duplicate_key"]) == (2, 1, 1, 1)
    assert stats["retain_stripped"] == 0
    assert stats["rule_state"] == {"machines": 0, "evicted": 0, "untracked": 0}
    # Named by the node, which defaults to the host name.
    assert stats["node"] == default_node()
    wait_for(lambda: f"cnc_ingest: node={default_node()} received=11 accepted=4 rejected=7"
             in broker.log_text(), what="the summary log line")


def default_node():
    """The host name as the plugin makes it a node name (config.c cnc_config_default_node)."""
    import re
    import socket
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", socket.gethostname()[:64]) or "broker"


def test_node_names_metrics_reports_layout_and_log(broker_factory, collector_factory):
    """node: names this broker everywhere it speaks; with metrics.per_node the counters go to
    <metrics.topic>/<node>, so bridged brokers do not overwrite each other's retained message."""
    yaml_text = ("node: edge-7\nanalytics: {topic: cnc/analytics}\n" +
                 BASE_YAML.replace("interval_s: 1}", "interval_s: 1, per_node: true}"))
    b = broker_factory(yaml_text)
    sub = collector_factory(b.port, topics=("cnc/ingest/stats/#", "cnc/rejected/#", "cnc/analytics"))
    pub = RawPublisher(b.port, "named", protocol=5)
    pub.publish("cnc/CNC001/data", env(), qos=1)
    pub.publish("cnc/CNC001/data", "not json", qos=1)
    pub.close()
    wait_for(lambda: any(json.loads(p).get("received") == 2
                         for _, p in sub.topics("cnc/ingest/stats/edge-7")),
             timeout=30, what="metrics on cnc/ingest/stats/edge-7")
    # The same report goes to the node's topic instead of the shared one, not to both.
    assert [t for t, _ in sub.topics("cnc/ingest/stats") if t == "cnc/ingest/stats"] == []
    stats = json.loads(sub.topics("cnc/ingest/stats/edge-7")[-1][1])
    assert stats["node"] == "edge-7"
    wait_for(lambda: sub.topics("cnc/rejected/"), what="the reject report")
    report = json.loads(sub.topics("cnc/rejected/")[0][1])
    assert (report["reason"], report["node"]) == ("not_json", "edge-7")
    wait_for(lambda: sub.topics("cnc/analytics"), what="the retained layout")
    layout = json.loads(sub.topics("cnc/analytics")[-1][1])
    assert layout["node"] == "edge-7"
    assert layout["topics"]["metrics_per_node"] is True
    wait_for(lambda: "cnc_ingest: node=edge-7 received=2 accepted=1 rejected=1" in b.log_text(),
             what="the summary log line")
    assert "as node edge-7:" in b.log_text()


BROKEN_CONFIGS = [
    ("ingest:\n  max_message_bytez: 10\n" + BASE_YAML.split("\n", 4)[-1], "ingest.max_message_bytez: unknown key"),
    ("handlers: {a: {type: generic}}\nroutes:\n  - {match: X, handler: b}\n", ":3: routes[0]: handler \"b\" is not defined"),
    ("ingest: {topics: [\"cnc/#/x\"]}\nhandlers: {a: {type: generic}}\nroutes: [{match: X, handler: a}]\n", ":1: ingest.topics: \"cnc/#/x\" is not a valid topic filter"),
    ("handlers:\n  a: {type: lathe}\nroutes: [{match: X, handler: a}]\n", ":2: handlers.a.type: unknown handler type \"lathe\""),
    ("ingest:\n  allow_nested: sometimes\nhandlers: {a: {type: generic}}\nroutes: [{match: X, handler: a}]\n", ":2: ingest.allow_nested: must be true or false"),
]


@pytest.mark.parametrize("yaml_text,expected", BROKEN_CONFIGS, ids=["unknown-key", "missing-handler", "bad-filter", "bad-type", "bad-bool"])
def test_broken_config_stops_broker(broker_factory, yaml_text, expected):
    b = broker_factory(yaml_text, start=False)
    b.start(expect_running=False)
    rc = b.proc.wait(timeout=10)
    assert rc != 0
    log = b.log_text() + b.proc.stderr.read().decode(errors="replace")
    assert expected in log, log
    assert str(b.yaml) in log


def test_clients_cannot_publish_on_the_plugins_output_topics(broker_factory, collector_factory):
    """Only the plugin publishes on its output topics: a client's PUBLISH on the analytics,
    rejected or metrics topic (or below) is refused with 0x87, counted as forged_output, logged,
    and never reaches a subscriber or the retained store; a bridge named in the config may.
    Subscribing stays open to all."""
    yaml_text = "analytics: {topic: cnc/analytics}\n" + BASE_YAML.replace(
        "  max_message_bytes: 4096\n",
        "  max_message_bytes: 4096\n  bridge_client_ids: [bridge-b2]\n  bridge_usernames: [bridge-user]\n")
    b = broker_factory(yaml_text)
    sub = collector_factory(b.port, topics=("cnc/analytics/#", "cnc/rejected/#", "cnc/ingest/stats/#"))
    forger = RawPublisher(b.port, "forger", protocol=5)
    fake = '{"cnc_id":"PRESS-04","efficiency_score":100,"forged":true}'
    assert forger.publish("cnc/analytics/PRESS-04", fake, qos=1) == NOT_AUTHORIZED
    assert forger.publish("cnc/ingest/stats", '{"forged":true}', qos=1, retain=True) == NOT_AUTHORIZED
    assert forger.publish("cnc/rejected/someone", '{"forged":true}', qos=1) == NOT_AUTHORIZED
    assert forger.publish("cnc/analytics", '{"forged":true}', qos=1, retain=True) == NOT_AUTHORIZED
    # Next to them, not under them: untouched.
    assert forger.publish("cnc/analyticsX/1", "x", qos=1) == 0
    # A bridge forwarding another broker's output, by client id or by user name: delivered.
    bridge = RawPublisher(b.port, "bridge-b2", protocol=5)
    assert bridge.publish("cnc/analytics/FAR-1", '{"cnc_id":"FAR-1","bridged":1}', qos=1) == 0
    bridge.close()
    by_user = RawPublisher(b.port, "anything", protocol=5, username="bridge-user")
    assert by_user.publish("cnc/analytics/FAR-2", '{"cnc_id":"FAR-2","bridged":2}', qos=1) == 0
    by_user.close()
    # A sentinel: a valid message's analytics arrive after everything above was handled.
    assert forger.publish("cnc/CNC001/data", env(), qos=1) == 0
    forger.close()
    wait_for(lambda: sub.topics("cnc/analytics/CNC001"), what="the sentinel's analytics")
    assert not any(b'"forged"' in p for _, p in sub.topics("cnc/")), sub.topics("cnc/")
    assert [t for t, _ in sub.topics("cnc/analytics/FAR")] == ["cnc/analytics/FAR-1", "cnc/analytics/FAR-2"]
    m = b.metrics_until(lambda m: m.get("forged_output") == 4)
    assert m["accepted"] == 1
    # The retained metrics are the plugin's, not the forged ones.
    late = collector_factory(b.port, topics=("cnc/ingest/stats", "cnc/analytics"))
    wait_for(lambda: late.topics("cnc/ingest/stats") and late.topics("cnc/analytics"),
             what="the retained metrics and layout")
    assert "received" in json.loads(late.topics("cnc/ingest/stats")[0][1])
    assert "handlers" in json.loads(late.topics("cnc/analytics")[0][1])
    # One log line for the burst (at most one each 10 s), naming the topic and the client.
    log = b.log_text()
    assert log.count("refused a PUBLISH on") == 1, log
    assert "refused a PUBLISH on cnc/analytics/PRESS-04 from client forger (user -)" in log
    wait_for(lambda: "forged_output=4" in b.log_text(), what="the summary line's count")


def test_forged_output_allow_turns_the_protection_off(broker_factory, collector_factory):
    b = broker_factory(BASE_YAML.replace("  max_message_bytes: 4096\n",
                                         "  max_message_bytes: 4096\n  forged_output: allow\n"))
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    pub = RawPublisher(b.port, "relay", protocol=5)
    assert pub.publish("cnc/rejected/x", '{"relayed":1}', qos=1) == 0
    pub.close()
    wait_for(lambda: sub.topics("cnc/rejected/x"), what="the relayed message")


def test_metrics_moved_by_a_reload_leave_no_stale_retained_copy(broker_factory, collector_factory):
    """metrics.per_node turned on by a reload: the counters move to <topic>/<node> and the copy
    retained on the old topic is cleared, so no dashboard reads a frozen broker."""
    yaml_text = "node: edge-9\n" + BASE_YAML
    b = broker_factory(yaml_text)
    first = collector_factory(b.port, topics=("cnc/ingest/stats",))
    wait_for(lambda: first.topics("cnc/ingest/stats"), what="metrics on the shared topic")
    b.yaml.write_text(yaml_text.replace("interval_s: 1}", "interval_s: 1, per_node: true}"))
    b.reload()
    wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), what="the reload")
    late = collector_factory(b.port, topics=("cnc/ingest/stats", "cnc/ingest/stats/edge-9"))
    # Retained copies come at the subscription, the shared topic's first: once the node's is
    # here, a stale one would have been too.
    wait_for(lambda: late.topics("cnc/ingest/stats/edge-9"), what="metrics on the node's topic")
    assert [t for t, _ in late.topics("cnc/ingest/stats") if t == "cnc/ingest/stats"] == []
