"""test_dynsec_together.py - cnc_ingest and mosquitto's dynamic-security plugin (Debian's
mosquitto_dynamic_security.so) in one broker, in both orders: both share the process's cJSON,
whose allocation hooks cnc_ingest sets while it runs and must take out again before mosquitto
unloads it. Under load (valid and invalid messages: reports, analytics), dynsec still answers
$CONTROL/dynamic-security/v1 commands after cnc_ingest has handled the traffic, and the broker
ends cleanly on SIGTERM (under valgrind in one order: no invalid read or jump at unload).
"""
import re
import shutil
import signal
import subprocess

import pytest

from conftest import DYNSEC, MOSQUITTO, PLUGIN, free_port, wait_for
from mqtt_raw import RawPublisher

YAML = """
handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
metrics: {interval_s: 1}
"""


def ctrl(port, *args):
    r = subprocess.run(["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(port), "-u", "admin", "-P",
                        "admin-pw", "dynsec", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    return r.stdout


def start(tmp_path, order, valgrind=False):
    dynsec_json = tmp_path / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(dynsec_json), "admin", "admin-pw"],
                   check=True, capture_output=True, timeout=30)
    (tmp_path / "cnc.yaml").write_text(YAML)
    port = free_port()
    blocks = {"dynsec": f"plugin {DYNSEC}\nplugin_opt_config_file {dynsec_json}\n",
              "cnc": f"plugin {PLUGIN}\nplugin_opt_config_file {tmp_path / 'cnc.yaml'}\n"}
    log = tmp_path / "mosquitto.log"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nuser root\nlog_dest file {log}\n"
                    "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n" +
                    "".join(blocks[name] for name in order))
    cmd = [MOSQUITTO, "-c", str(conf)]
    vg_log = tmp_path / "valgrind.log"
    if valgrind:
        cmd = ["valgrind", "--error-exitcode=99", f"--log-file={vg_log}"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: re.search(r"mosquitto version 2\.\d+\.\d+ running",
                                   log.read_text() if log.exists() else ""),
                 timeout=60, what="the broker with both plugins")
    except AssertionError:
        proc.kill()  # never left running when the test fails here
        proc.wait()
        raise
    return proc, port, log, vg_log


@pytest.mark.parametrize("order", [("dynsec", "cnc"), ("cnc", "dynsec")], ids=["dynsec-first", "cnc-first"])
def test_dynsec_and_cnc_ingest_in_one_broker(tmp_path, order):
    valgrind = order == ("cnc", "dynsec")  # cnc_ingest is unloaded first: its hooks must be gone
    if valgrind:
        assert shutil.which("valgrind"), "valgrind is part of scripts/install-deps.sh"
    proc, port, log, vg_log = start(tmp_path, order, valgrind)
    try:
        # A collector with the right to publish and read the plugin's outputs, made through dynsec.
        ctrl(port, "createClient", "collector", "-p", "collector-pw")
        ctrl(port, "createRole", "collect")
        ctrl(port, "addRoleACL", "collect", "publishClientSend", "cnc/#", "allow")
        ctrl(port, "addRoleACL", "collect", "subscribePattern", "cnc/#", "allow")
        ctrl(port, "addClientRole", "collector", "collect")
        pub = RawPublisher(port, "collector-1", protocol=5, username="collector",
                           password="collector-pw")
        n = 300 if valgrind else 3000
        for i in range(n):
            msg = (f'{{"cnc_id":"CNC001","part_program":"p","timestamp":{1747379028000 + i},'
                   f'"payload":{{"spin":{i}}}}}')
            assert pub.publish("cnc/CNC001/data", msg if i % 10 else "{not json", qos=1) == (
                0 if i % 10 else 0x87)
        pub.close()
        wait_for(lambda: f"received={n} accepted={n - n // 10}" in log.read_text(), timeout=60,
                 what="cnc_ingest's counters for the traffic")
        # dynsec still answers after cnc_ingest has parsed and printed thousands of messages.
        listed = ctrl(port, "listClients")
        assert "collector" in listed and "admin" in listed
        details = ctrl(port, "getClient", "collector")
        assert "collect" in details
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
    assert rc == 0, (rc, log.read_text()[-2000:], vg_log.read_text() if valgrind else "")
    if valgrind:
        report = vg_log.read_text()
        assert "ERROR SUMMARY: 0 errors" in report, report
