"""test_brokers.py - one plugin, two brokers: the .so built against Debian's mosquitto 2.0.11
headers (build/) and the one built against 2.1.2's (build-mosq21/) each load into each broker,
refuse an invalid message, report their counters every second with no traffic, and say how a
full spool is answered (0x97 on 2.1, 0x87 on 2.0.11). And the ticks the plugin asks for: a 2.1
broker built without websockets sleeps until the next event something asked for (no 100 ms
poll): its waits, traced, show that both .so files ask 2.1 for their ticks (2.0.11 ignores
the field the 2.0-built one writes).

Needs scripts/build-mosquitto21.sh's two brokers (build/mosquitto-2.1 and, with
-DWITH_WEBSOCKETS=OFF, build/mosquitto-2.1-nows) and build-mosq21/: scripts/test.sh makes them
before the integration tests; missing, the test fails and says so.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT, Collector, free_port, wait_for
from mqtt_raw import RawPublisher

BUILD20 = ROOT / "build" / "cnc_ingest.so"
BUILD21 = ROOT / "build-mosq21" / "cnc_ingest.so"
BROKERS = {"2.0.11": "mosquitto",
           "2.1.2": str(ROOT / "build" / "mosquitto-2.1" / "sbin" / "mosquitto"),
           "2.1.2-nows": str(ROOT / "build" / "mosquitto-2.1-nows" / "sbin" / "mosquitto")}
YAML = """handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
metrics: {interval_s: 1}
"""
VALID = '{"cnc_id":"M-1","part_program":"p","timestamp":1747379028000,"payload":{"spin":1}}'


def start(tmp_path, broker, plugin):
    for need in (plugin, pathlib.Path(BROKERS[broker]) if broker != "2.0.11" else plugin):
        assert need.exists(), f"{need} is missing: scripts/test.sh builds it (build-mosquitto21.sh)"
    port = free_port()
    yaml = tmp_path / "cnc.yaml"
    yaml.write_text(YAML)
    log = tmp_path / "mosquitto.log"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                    f"log_dest file {log}\nlog_type all\n"
                    f"plugin {plugin}\nplugin_opt_config_file {yaml}\n")
    proc = subprocess.Popen([BROKERS[broker], "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    wait_for(lambda: "cnc_ingest: loaded" in (log.read_text() if log.exists() else "")
             or proc.poll() is not None, timeout=30, what="the plugin's start line")
    assert proc.poll() is None, (log.read_text() if log.exists() else "") + proc.stderr.read().decode()
    return proc, port, log, yaml


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize("plugin", [BUILD20, BUILD21], ids=["built-on-2.0", "built-on-2.1"])
@pytest.mark.parametrize("broker", ["2.0.11", "2.1.2"])
def test_each_build_runs_on_each_broker(tmp_path, broker, plugin):
    proc, port, log, _ = start(tmp_path, broker, plugin)
    try:
        assert f"mosquitto version {broker} running" in log.read_text()
        pub = RawPublisher(port, "collector", protocol=5)
        assert pub.publish("cnc/M-1/data", VALID) == 0
        assert pub.publish("cnc/M-1/data", "{not json") == 0x87
        pub.close()
        full = ("0x97 (quota exceeded: retry later)" if broker.startswith("2.1")
                else "0x87 (this broker has no quota code: mosquitto 2.0)")
        assert f"cnc_ingest: a full spool is answered with {full}" in log.read_text()
        sub = Collector(port, topics=("cnc/ingest/stats",))
        try:  # the retained one, then one a second with no traffic at all
            wait_for(lambda: len(sub.topics("cnc/ingest/stats")) >= 4, timeout=15,
                     what="metrics every second")
            m = json.loads(sub.topics("cnc/ingest/stats")[-1][1])
            assert (m["accepted"], m["rejected"]) == (1, 1), m
        finally:
            sub.close()
    finally:
        stop(proc)


@pytest.mark.parametrize("plugin", [BUILD20, BUILD21], ids=["built-on-2.0", "built-on-2.1"])
def test_ticks_asked_of_a_broker_that_sleeps(tmp_path, plugin):
    """2.1 without websockets polls nothing: its loop sleeps in epoll_wait for as long as the
    nearest event anyone asked for (a day when nobody asks). Traced with strace on an idle
    broker, every wait is the plugin's 100 ms (1 ms after a tick that published): both .so
    files ask 2.1 for their ticks. (Client traffic can still break the chain on 2.1.2: its
    loop re-arms a tick's wake-up only in a pass where the tick ran; README "Mosquitto 2.0
    and 2.1".)"""
    assert shutil.which("strace"), "strace is missing: scripts/install-deps.sh installs it"
    broker = pathlib.Path(BROKERS["2.1.2-nows"])
    assert broker.exists(), f"{broker} is missing: scripts/test.sh builds it"
    yaml = tmp_path / "cnc.yaml"
    yaml.write_text(YAML)
    log = tmp_path / "mosquitto.log"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {free_port()} 127.0.0.1\nuser root\nlog_dest file {log}\n"
                    f"plugin {plugin}\nplugin_opt_config_file {yaml}\n")
    trace = tmp_path / "trace"
    proc = subprocess.Popen(["strace", "-f", "-e", "trace=epoll_wait", "-o", str(trace),
                             str(broker), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        waits = lambda: [int(m) for m in re.findall(r"epoll_wait\(\d+, .*?, \d+, (-?\d+)\)",
                                                    trace.read_text() if trace.exists() else "")]
        wait_for(lambda: len(waits()) >= 25, timeout=10,
                 what=f"25 waits of the idle broker's loop: {waits()}")
    finally:  # the broker (strace's child) told to stop; strace ends with it
        for child in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                    text=True).stdout.split():
            os.kill(int(child), signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    seen = waits()[2:25]  # after start-up
    assert all(w in (1, 100) for w in seen), seen
    assert seen.count(100) >= 15, seen
    assert "cnc_ingest: loaded" in log.read_text()
