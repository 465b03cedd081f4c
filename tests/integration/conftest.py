"""conftest.py - fixtures that run a real mosquitto with the built plugin.

Each broker gets a private folder (config YAML, mosquitto.conf, log) and a
free port on 127.0.0.1; it is stopped at the end of the test. The build
folder comes from CNC_BUILD_DIR (default: build/ in the checkout).

The broker is Debian's mosquitto (2.0.11) unless CNC_MOSQUITTO names another binary:
scripts/test.sh runs the suite again on mosquitto 2.1.2 (build/mosquitto-2.1, built by
scripts/build-mosquitto21.sh) with the plugin built against its headers; CNC_MOSQUITTO_LIB is
that broker's folder of plugins (mosquitto_dynamic_security.so).
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("CNC_BUILD_DIR", ROOT / "build"))
PLUGIN = BUILD / "cnc_ingest.so"
MOSQUITTO = os.environ.get("CNC_MOSQUITTO", "mosquitto")
MOSQUITTO_LIB = pathlib.Path(os.environ.get("CNC_MOSQUITTO_LIB", "/usr/lib/x86_64-linux-gnu"))
DYNSEC = MOSQUITTO_LIB / "mosquitto_dynamic_security.so"


def mosquitto_version():
    """(major, minor) of the broker under test, from its own banner."""
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=30)
    m = re.search(r"mosquitto version (\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m.group(1)), int(m.group(2)))


MOSQUITTO_21 = mosquitto_version() >= (2, 1)
SAMPLES = ROOT.parent / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = ROOT / "tests" / "integration" / "samples"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Broker:
    def __init__(self, workdir, yaml_text, extra_conf=""):
        self.dir = pathlib.Path(workdir)
        self.port = free_port()
        self.yaml = self.dir / "cnc_ingest.yaml"
        self.yaml.write_text(yaml_text)
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "user root\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            f"plugin {PLUGIN}\n"
            f"plugin_opt_config_file {self.yaml}\n" + extra_conf
        )
        self.proc = None

    def start(self, expect_running=True):
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if expect_running:
            wait_for(self._listening, what=f"mosquitto on port {self.port}\n{self.log_text()}")
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited with {self.proc.returncode}:\n{self.log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def metrics_until(self, predicate, topic="cnc/ingest/stats", timeout=60):
        """The first metrics message (retained, then each new one) for which predicate holds."""
        import json
        sub = Collector(self.port, topics=(topic,))
        try:
            def found():
                for _, p in reversed(sub.topics(topic)):
                    m = json.loads(p)
                    if predicate(m):
                        return m
                return None
            wait_for(lambda: found() is not None, timeout=timeout, what=f"metrics on {topic}")
            return found()
        finally:
            sub.close()

    def kill(self):
        """SIGKILL: the broker dies as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def broker_factory(tmp_path):
    brokers = []

    def make(yaml_text, extra_conf="", start=True):
        sub = tmp_path / f"broker{len(brokers)}"
        sub.mkdir()
        b = Broker(sub, yaml_text, extra_conf)
        brokers.append(b)
        return b.start() if start else b

    yield make
    for b in brokers:
        b.stop()


class Collector:
    """A paho MQTT v5 subscriber that records every message it receives."""

    def __init__(self, port, topics=("#",)):
        self.messages = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(client_id=f"collector-{time.monotonic_ns()}", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(t, mqtt.SubscribeOptions(qos=2)) for t in topics])
        assert self.subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def topics(self, prefix=""):
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if t.startswith(prefix)]

    def wait_count(self, prefix, n, timeout=10):
        wait_for(lambda: len(self.topics(prefix)) >= n, timeout, what=f"{n} messages on {prefix}*")
        return self.topics(prefix)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def collector_factory():
    made = []

    def make(port, topics=("#",)):
        c = Collector(port, topics)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def mariadb(tmp_path):
    from mariadb import MariaDB

    db = MariaDB(tmp_path / "mariadb")
    yield db
    db.stop()


def sample_lines(name):
    return [l for l in (SAMPLES / name).read_text().splitlines() if l.strip()]
