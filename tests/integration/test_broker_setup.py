"""test_broker_setup.py - the shipped files work as documented: the example
mosquitto.conf and the default YAML start a real broker with the plugin; the
plugin runs clean under valgrind (no invalid access, no leak) through valid,
invalid and other-topic traffic, a reload and a shutdown.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request


from conftest import MOSQUITTO, MOSQUITTO_21, PLUGIN, ROOT, Broker, free_port, sample_lines, wait_for
from mqtt_raw import RawPublisher


def test_example_conf_and_default_yaml_start_a_broker(tmp_path, collector_factory):
    port = free_port()
    conf = (ROOT / "mosquitto.conf.example").read_text()
    conf = conf.replace("/usr/lib/x86_64-linux-gnu/cnc_ingest.so", str(PLUGIN))
    conf = conf.replace("/etc/mosquitto/cnc_ingest.yaml", str(ROOT / "config" / "cnc_ingest.yaml"))
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    http = free_port()
    conf = conf.replace("listener 8080", f"listener {http} 127.0.0.1")
    conf = conf.replace("http_dir /usr/share/cnc-ingest/dashboard",
                        f"http_dir {ROOT / 'dashboard' / 'www'}")
    if MOSQUITTO_21:  # the example's commented 2.1 lines instead: the page from http_api
        conf = conf.replace(f"listener {http} 127.0.0.1\nprotocol websockets\n",
                            f"listener {http} 127.0.0.1\nprotocol http_api\n")
        conf = conf.replace("#listener 8081\n#protocol websockets\n",
                            f"listener {free_port()} 127.0.0.1\nprotocol websockets\n")
    assert str(PLUGIN) in conf and f"listener {port}" in conf and f"listener {http}" in conf
    conf += "\nuser root\n" if os.geteuid() == 0 else "\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        b = Broker.__new__(Broker)
        b.port, b.proc, b.log = port, proc, tmp_path / "none"
        wait_for(b._listening, what="the example broker")
        sub = collector_factory(port)
        pub = RawPublisher(port, "example", protocol=5)
        line = sample_lines("valid.jsonl")[0]
        assert pub.publish("cnc/CNC001/data", line, qos=1) == 0
        assert pub.publish("cnc/CNC001/data", "{}", qos=1) == 0x87
        wait_for(lambda: sub.topics("cnc/rejected/example"), what="reject report")
        assert sub.topics("cnc/CNC001/data") == [("cnc/CNC001/data", line.encode())]
        pub.close()
        # The dashboard listener serves the page.
        page = urllib.request.urlopen(f"http://127.0.0.1:{http}/index.html", timeout=5).read()
        assert b"dashboard.js" in page
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_plugin_clean_under_valgrind(tmp_path, collector_factory, mariadb):
    """The whole plugin, storage included, under memcheck: valid, invalid and other-topic
    traffic, the database killed and back, a reload, a batch larger than any before refused by
    the writer's check of the server (read-only), and a shutdown. valgrind is one of the
    packages scripts/install-deps.sh installs: without it this fails, never skips."""
    assert shutil.which("valgrind"), "valgrind is missing: scripts/install-deps.sh installs it"
    yaml_text = ("handlers: {any: {type: generic}, press: {type: sensor_efficiency, rules: "
                 "[{variable: temperature, zscore: {window: 5}}]}}\n"
                 "routes: [{match: \"PRESS-*\", handler: press}, {match: \"*\", handler: any}]\n"
                 "metrics: {interval_s: 1}\n" + mariadb.mysql_yaml() +
                 f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n"
                 "writer: {batch_size: 50, flush_interval_ms: 20}\n")
    b = Broker(tmp_path, yaml_text)
    vg_log = tmp_path / "valgrind.log"
    b.proc = subprocess.Popen(
        ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
         f"--log-file={vg_log}", MOSQUITTO, "-c", str(b.conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(b._listening, timeout=60, what="mosquitto under valgrind")
        sub = collector_factory(b.port)
        pub = RawPublisher(b.port, "vg", protocol=5)
        for line in sample_lines("valid.jsonl"):
            assert pub.publish(f"cnc/{json.loads(line)['cnc_id']}/data", line, qos=1) == 0
        for line in sample_lines("invalid.jsonl"):
            assert pub.publish("cnc/CNC001/data", line, qos=1) == 0x87
        assert pub.publish("other/topic", "x", qos=1) == 0
        # The writer makes the schema at its first connection, which valgrind may hold up past
        # the publishes: until then there is no table to count in.
        wait_for(lambda: "writer: connected to the database" in b.log_text(), timeout=60,
                 what="the writer's first connection")
        wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 4, timeout=60,
                 what="4 rows")
        mariadb.kill()
        assert pub.publish("cnc/CNC001/data", sample_lines("valid.jsonl")[0].replace(
            "1747379028", "1747379099"), qos=1) == 0
        wait_for(lambda: "records wait in the spool" in b.log_text(), timeout=60,
                 what="the writer noticing the outage")
        mariadb.start()
        b.reload()
        wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), timeout=30, what="reload")
        wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 5, timeout=60,
                 what="5 rows")
        wait_for(lambda: len(sub.topics("cnc/rejected/")) == 7, timeout=30, what="reports")
        # The server turned read-only while the writer idles: its once-a-second look at the
        # server refuses the next batch before it is bound. That batch (20 messages, more than
        # any before) must not make the writer free what it never set.
        mariadb.root("SET GLOBAL read_only = ON")
        time.sleep(1.5)  # past the writer's check interval (1 s), so the next write looks
        for i in range(20):
            assert pub.publish("cnc/CNC001/data", sample_lines("valid.jsonl")[0].replace(
                "1747379028", str(1747379100 + i)), qos=1) == 0
        wait_for(lambda: "is read-only (read_only=ON)" in b.log_text(), timeout=60,
                 what="the writer finding the server read-only")
        mariadb.root("SET GLOBAL read_only = OFF")
        wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 25, timeout=60,
                 what="25 rows")
        pub.close()
    finally:
        b.proc.send_signal(signal.SIGTERM)
        rc = b.proc.wait(timeout=60)
    report = vg_log.read_text()
    assert rc == 0, report
    assert "ERROR SUMMARY: 0 errors" in report, report
