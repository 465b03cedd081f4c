"""test_dashboard_browser.py - the live dashboard in a real browser: a broker with the plugin,
storage in a private MariaDB and the dashboard's websockets listener (http_dir), cnc-sim
publishing, a collector sending an invalid message now and then, and Debian's chromium driven
headless by playwright-core (dashboard/test/browser_check.js). The page must connect, draw
every chart, and list the injected reject with its reason. The screenshot is kept in
build/test-artifacts/dashboard.png.
"""
import json
import subprocess
import threading

from conftest import BUILD, ROOT, free_port
from mqtt_raw import RawPublisher

SHIPPED = (ROOT / "config" / "cnc_ingest.yaml").read_text()
WWW = ROOT / "dashboard" / "www"
ARTIFACTS = BUILD / "test-artifacts"


def test_dashboard_shows_live_data_and_rejects(broker_factory, mariadb, tmp_path):
    assert (WWW / "vendor" / "mqtt.min.js").exists(), "run scripts/build-dashboard.sh first"
    ws = free_port()
    yaml_text = (SHIPPED.replace("interval_s: 10", "interval_s: 1") +
                 mariadb.mysql_yaml(readings="json") +
                 f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n")
    b = broker_factory(yaml_text, extra_conf=(f"listener {ws} 127.0.0.1\n"
                                              "protocol websockets\n"
                                              f"http_dir {WWW}\n"))
    sim = subprocess.Popen([str(BUILD / "cnc-sim"), "--port", str(b.port), "--machines", "60",
                            "--rate", "600", "--duration", "60", "--invalid-ratio", "0.01",
                            "--faults", "0.01", "--seed", "4", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def inject():
        pub = RawPublisher(b.port, "dashboard-test", protocol=5)
        bad = ('{"cnc_id":"PRESS-0002","part_program":"P-1","timestamp":"yesterday",'
               '"payload":{"mode":"active","temperature":70,"vibration":1}}')
        while not stop.is_set():
            assert pub.publish("cnc/PRESS-0002/data", bad, qos=1) == 0x87
            stop.wait(0.5)
        pub.close()

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    try:
        r = subprocess.run(["node", str(ROOT / "dashboard" / "test" / "browser_check.js"),
                            f"http://127.0.0.1:{ws}/index.html", str(shot), "bad_timestamp",
                            "dashboard-test"],
                           capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        injector.join(timeout=5)
        sim.terminate()
        sim.wait(timeout=10)
    assert shot.exists()
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert r.returncode == 0 and lines, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    seen = json.loads(lines[-1])
    assert seen["ok"] and seen["connected"] and not seen["pageErrors"]
    assert all(n > 0 for n in seen["drawn"].values()), seen["drawn"]
    assert seen["rejectRow"][1] == "bad_timestamp" and seen["rejectRow"][2] == "timestamp"
    # The storage panel: database up, nothing waited for, no dead letters, rule state counted.
    st = seen["storage"]
    assert st["db"] == "connected" and st["waiting"] == "nothing", st
    assert st["host"] == f"{mariadb.socket} / 0", st
    # One broker, listed with its own storage state under its node name (the host name).
    from test_ingest_broker import default_node
    (node_row,) = st["nodes"]
    assert node_row[:4] == [default_node(), "connected", mariadb.socket, "0"], node_row
    assert st["dead"] == "0" and st["deadClass"] == "dead none", st
    machines, evicted = st["rules"].split(" / ")
    assert int(machines.replace(",", "")) > 0 and evicted == "0", st
