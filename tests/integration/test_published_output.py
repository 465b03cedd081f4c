"""test_published_output.py - what the plugin publishes never breaks a subscriber, and what a
collector publishes cannot slip past the envelope, against a real broker: a client id with a
multi-byte character where the reject topic used to be cut (invalid UTF-8 in a topic made
mosquitto_sub disconnect and paho's network thread die), a 65,535-byte client id, numbers that
must parse back exactly (1.7976931348623157e308 used to come out as Infinity), a retained
PUBLISH on an ingest topic (stored and delivered, not kept by the broker), an escaped NUL.
"""
import json
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from conftest import wait_for
from mqtt_raw import RawPublisher

YAML = """
handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
metrics: {interval_s: 1}
"""


def msg(cnc_id="CNC001", ts=1747379028, payload='{"spin":1}'):
    return f'{{"cnc_id":"{cnc_id}","part_program":"p","timestamp":{ts},"payload":{payload}}}'


class PahoSubscriber:
    """A persistent MQTT 3.1.1 session at QoS 1, as a dashboard or MES bridge keeps one."""

    def __init__(self, port, topic):
        self.got, self.disconnects = [], 0
        self.ready = threading.Event()
        self.client = mqtt.Client(client_id=f"persistent-{time.monotonic_ns()}",
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_disconnect = lambda *a: setattr(self, "disconnects", self.disconnects + 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        assert self.ready.wait(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_client_id_with_a_character_across_the_old_cut(broker_factory):
    b = broker_factory(YAML, extra_conf="log_type subscribe\n")
    paho_sub = PahoSubscriber(b.port, "cnc/rejected/#")
    cli = subprocess.Popen(["mosquitto_sub", "-p", str(b.port), "-t", "cnc/rejected/#", "-v",
                            "-C", "2", "-W", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: b.log_text().count(" cnc/rejected/#") >= 2, what="both subscriptions")
    # é across byte 128 (the topic level's bound) and again across 255/256 (where the topic used
    # to be cut, and the report's bound).
    client_id = "x" * 127 + "\u00e9" + "y" * 126 + "\u00e9" + "z" * 60
    pub = RawPublisher(b.port, client_id, protocol=5)
    assert pub.publish("cnc/CNC001/data", "{}") == 0x87
    pub.close()
    sentinel = RawPublisher(b.port, "sentinel", protocol=5)
    assert sentinel.publish("cnc/CNC001/data", "{}") == 0x87
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err  # it received both reports and was not disconnected
    lines = out.decode("utf-8").splitlines()
    assert lines[0].startswith("cnc/rejected/" + "x" * 127 + " ")
    assert lines[1].startswith("cnc/rejected/sentinel ")
    wait_for(lambda: len(paho_sub.got) == 2, what="both reports at the persistent subscriber")
    (topic, body), (topic2, _) = paho_sub.got
    assert topic == "cnc/rejected/" + "x" * 127 and topic2 == "cnc/rejected/sentinel"
    report = json.loads(body)
    assert report["client_id"] == "x" * 127 + "\u00e9" + "y" * 126  # whole characters only
    assert report["client_id_bytes"] == len(client_id.encode())
    assert paho_sub.disconnects == 0 and paho_sub.client.is_connected()
    sentinel.close()
    paho_sub.close()


def test_a_65535_byte_client_id_is_not_copied_into_every_report(broker_factory, collector_factory):
    b = broker_factory(YAML)
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    pub = RawPublisher(b.port, "c" * 65535, protocol=5)
    assert pub.publish("cnc/CNC001/data", "{}") == 0x87
    ((topic, body),) = sub.wait_count("cnc/rejected/", 1)
    assert topic == "cnc/rejected/" + "c" * 128
    report = json.loads(body)
    assert len(body) < 2000 and report["client_id"] == "c" * 256
    assert report["client_id_bytes"] == 65535
    pub.close()


def test_numbers_parse_back_exactly(broker_factory, collector_factory):
    b = broker_factory(YAML)
    sub = collector_factory(b.port, topics=("cnc/analytics/#",))
    pub = RawPublisher(b.port, "numbers", protocol=5)
    payload = '{"big":1.7976931348623157e308,"tiny":5e-324,"sum":0.30000000000000004,"t":72.4}'
    assert pub.publish("cnc/CNC001/data", msg(payload=payload)) == 0
    ((_, body),) = sub.wait_count("cnc/analytics/CNC001", 1)
    values = json.loads(body)["values"]
    assert values == {"big": 1.7976931348623157e308, "tiny": 5e-324, "sum": 0.1 + 0.2, "t": 72.4}
    assert b'"big":1.7976931348623157e+308' in body and b'"t":72.4' in body
    pub.close()


def test_retained_publish_is_stored_and_delivered_but_not_kept(broker_factory, collector_factory):
    b = broker_factory(YAML)
    live = collector_factory(b.port, topics=("cnc/CNC001/data", "cnc/analytics/#"))
    pub = RawPublisher(b.port, "retaining", protocol=5)
    assert pub.publish("cnc/CNC001/data", msg(), retain=True) == 0
    # A retained sentinel on another topic, published after it.
    assert pub.publish("sentinel/retained", "here", retain=True) == 0
    live.wait_count("cnc/analytics/CNC001", 1)  # accepted, handled, like any message
    wait_for(lambda: live.topics("cnc/CNC001/data"), what="the live delivery")
    assert [r for t, _, r in live.messages if t == "cnc/CNC001/data"] == [False]
    # A new subscriber: the ingest topic first, then the sentinel's. Retained messages are sent
    # with each SUBACK, in order: once the sentinel is here, no retained data message is coming.
    late = collector_factory(b.port, topics=("cnc/CNC001/data", "sentinel/#"))
    late.wait_count("sentinel/", 1)
    assert late.topics("cnc/CNC001/data") == []
    wait_for(lambda: "retain_stripped=1" in b.log_text(), what="the count in the log line")
    pub.close()


def test_escaped_nul_refused_through_the_broker(broker_factory, collector_factory):
    b = broker_factory(YAML)
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    pub = RawPublisher(b.port, "nul", protocol=5)
    assert pub.publish("cnc/ANY1/data", msg(cnc_id="ANY1\\u0000evil")) == 0x87
    ((_, body),) = sub.wait_count("cnc/rejected/nul", 1)
    report = json.loads(body)
    assert (report["reason"], report["field"]) == ("bad_cnc_id", "cnc_id")
    pub.close()
