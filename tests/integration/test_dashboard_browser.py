"""test_dashboard_browser.py - the live dashboard in a real browser: a broker with the plugin,
storage in a private MariaDB and the dashboard's websockets listener (http_dir), cnc-sim
publishing, a collector sending an invalid message now and then, and Debian's chromium driven
headless by playwright-core (dashboard/test/browser_check.js). The page must connect, draw
every chart, and list the injected reject with its reason. The screenshot is kept in
build/test-artifacts/dashboard.png. While the page listens, a lathe of a machine_tool instance
with an alarm reason and a 2 s offline_after_s plays a scripted run (running, an alarm with its
code, silence that the plugin reports as offline, running again): the page's strip for it, its
availability and the downtime Pareto must say what happened (issue #17).

The second test runs the same page against a broker that requires a password (allow_anonymous
false, a password file, the read-only dashboard user of config/dashboard.acl): the page asks,
refuses a wrong password, shows the data once signed in, never puts the password in the URL, a
request, localStorage or a cookie, signs in again on reload from the tab's session, forgets on
sign-out, and tells a user who may not read the outputs so. The dashboard user cannot publish.
"""
import json
import os
import shlex
import subprocess
import threading
import time

from conftest import BUILD, MOSQUITTO_21, ROOT, free_port
from mqtt_raw import RawPublisher

SHIPPED = (ROOT / "config" / "cnc_ingest.yaml").read_text()
WWW = ROOT / "dashboard" / "www"
ARTIFACTS = BUILD / "test-artifacts"


BAD = ('{"cnc_id":"PRESS-0002","part_program":"P-1","timestamp":"yesterday",'
       '"payload":{"mode":"active","temperature":70,"vibration":1}}')
# The longest reject reason, which the rejects panel's reason column must show whole.
FUTURE = ('{"cnc_id":"PRESS-0002","part_program":"P-1","timestamp":"2099-01-01T00:00:00Z",'
          '"payload":{"mode":"active","temperature":70,"vibration":1}}')


def dashboard_listeners(http, ws, files_to_anyone=False):
    """mosquitto 2.0: one websockets listener serves the page (http_dir) and MQTT. 2.1: its
    websockets listener serves no files; an http_api listener serves the page, which finds the
    websockets listener in api/v1/listeners. On a broker that requires a password, 2.1's
    http_api would ask for one (HTTP basic auth) before the page could: files_to_anyone lets
    anonymous requests fetch the files there, as 2.0 does (README "Securing the dashboard")."""
    if MOSQUITTO_21:
        anyone = "listener_allow_anonymous true\n" if files_to_anyone else ""
        return (f"listener {http} 127.0.0.1\nprotocol http_api\nhttp_dir {WWW}\n{anyone}"
                f"listener {ws} 127.0.0.1\nprotocol websockets\n")
    return f"listener {ws} 127.0.0.1\nprotocol websockets\nhttp_dir {WWW}\n"


# A lathe for the state panels: its alarm code is the interval's reason, and 2 s of silence make
# it offline (the shipped lathes' instance has neither).
STATES_HANDLER = """  dash_lathe:
    type: machine_tool
    states: {reason_variable: alarm_code, offline_after_s: 2}
"""
STATES_MACHINE = "LATHE-T1"


def with_states_lathe(yaml_text):
    yaml_text = yaml_text.replace("  any:\n    type: generic\n", STATES_HANDLER + "  any:\n    type: generic\n")
    route = '  - {match: "*", handler: any}\n'
    assert STATES_HANDLER in yaml_text and route in yaml_text
    return yaml_text.replace(route, f'  - {{match: "{STATES_MACHINE}", handler: dash_lathe}}\n' + route)


def play_states(port, collector="dashboard-states"):
    """The scripted run of STATES_MACHINE, its timestamps 10 minutes back from now (a collector
    catching up), a message a second (offline_after_s is 2: a longer gap between timestamps is
    an offline interval of its own): running 5 min, alarm E42 2 min, then silence: the plugin
    publishes offline 1 ms after the last alarm message (the interval runs until the next
    message, 1 min later), then running until now. Returns the first timestamp (ms)."""
    base = int(time.time() * 1000) - 600_000

    def msg(offset_s, status, **extra):
        payload = {"status": status, "spin": 1200 if status == "running" else 0, **extra}
        return json.dumps({"cnc_id": STATES_MACHINE, "part_program": "P-7",
                           "timestamp": base + offset_s * 1000, "payload": payload})

    topic = f"cnc/{STATES_MACHINE}/data"
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", f"cnc/analytics/{STATES_MACHINE}"],
                           stdout=subprocess.PIPE, text=True)
    try:
        pub = RawPublisher(port, collector, protocol=5)
        steps = [msg(t, "running") for t in range(300)]
        steps += [msg(t, "alarm", alarm_code="E42") for t in range(300, 421)]
        for step in steps:
            assert pub.publish(topic, step, qos=1) in (0, 0x10)
        # The plugin's offline message, 2 s (its offline_after_s) to 3 s later.
        timer = threading.Timer(15, sub.terminate)
        timer.start()
        offline = any(json.loads(line).get("state") == "offline" for line in sub.stdout)
        timer.cancel()
        assert offline, "no offline message in 15 s"
        assert pub.publish(topic, msg(480, "running"), qos=1) in (0, 0x10)
        pub.close()
    finally:
        sub.terminate()
        sub.wait(timeout=10)
    return base


def broker_with_dashboard(broker_factory, mariadb, tmp_path, conf="", files_to_anyone=False):
    """A broker with storage and the dashboard: (broker, the page's port, the MQTT port)."""
    ws = free_port()
    http = free_port() if MOSQUITTO_21 else ws
    yaml_text = (with_states_lathe(SHIPPED.replace("interval_s: 10", "interval_s: 1")) +
                 mariadb.mysql_yaml(readings="json") +
                 f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n")
    b = broker_factory(yaml_text,
                       extra_conf=dashboard_listeners(http, ws, files_to_anyone) + conf)
    return b, http, ws


def run_browser_check(b, http, shot, user=None, password=None, signin=None, states=False):
    """cnc-sim and an invalid message every 0.5 s while browser_check.js looks at the page:
    the JSON line it printed. states: play_states() once the page says READY."""
    env = dict(os.environ)
    auth = []
    if user:
        auth = ["--username", user]
        env["CNC_SIM_PASSWORD"] = password
    if signin:
        env["DASHBOARD_SIGNIN"] = json.dumps(signin)
    env["DASHBOARD_LONGEST_REASON"] = "timestamp_out_of_range"
    if states:
        env["DASHBOARD_STATES_MACHINE"] = STATES_MACHINE
    sim = subprocess.Popen([str(BUILD / "cnc-sim"), "--port", str(b.port), "--machines", "60",
                            "--rate", "600", "--duration", "60", "--invalid-ratio", "0.01",
                            "--faults", "0.01", "--seed", "4", "--json", *auth], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def inject():
        pub = RawPublisher(b.port, "dashboard-test", protocol=5, username=user, password=password)
        while not stop.is_set():
            assert pub.publish("cnc/PRESS-0002/data", BAD, qos=1) == 0x87
            assert pub.publish("cnc/PRESS-0002/data", FUTURE, qos=1) == 0x87
            stop.wait(0.5)
        pub.close()

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    played = []
    player = None
    try:
        check = subprocess.Popen(["node", str(ROOT / "dashboard" / "test" / "browser_check.js"),
                                  f"http://127.0.0.1:{http}/index.html", str(shot), "bad_timestamp",
                                  "dashboard-test"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = []
        for line in check.stdout:  # READY: the page listens; the scripted states play meanwhile
            out.append(line)
            if line.strip() == "READY" and states and player is None:
                player = threading.Thread(target=lambda: played.append(play_states(b.port)),
                                          daemon=True)
                player.start()
        err = check.stderr.read()
        rc = check.wait(timeout=180)
    finally:
        stop.set()
        injector.join(timeout=5)
        if player is not None:
            player.join(timeout=30)
        sim.terminate()
        _, sim_err = sim.communicate(timeout=10)
    assert shot.exists()
    lines = [l for l in out if l.startswith("{")]
    assert lines, f"rc {rc}\n{''.join(out)}\n{err}\ncnc-sim: {sim_err}"
    seen = json.loads(lines[-1])
    assert rc == 0, f"{json.dumps(seen, indent=1)}\n{err}\ncnc-sim: {sim_err}"
    if states:
        assert played, "the scripted states did not play"
        seen["states_base"] = played[0]
    return seen


def test_dashboard_shows_live_data_and_rejects(broker_factory, mariadb, tmp_path):
    assert (WWW / "vendor" / "mqtt.min.js").exists(), "run scripts/build-dashboard.sh first"
    b, http, ws = broker_with_dashboard(broker_factory, mariadb, tmp_path)
    seen = run_browser_check(b, http, ARTIFACTS / "dashboard.png", states=True)
    assert seen["status"] == f"connected to ws://127.0.0.1:{ws}/", seen["status"]
    assert seen["ok"] and seen["connected"] and not seen["pageErrors"]
    assert all(n > 0 for n in seen["drawn"].values()), seen["drawn"]
    assert seen["rejectRow"][1] == "bad_timestamp" and seen["rejectRow"][2] == "timestamp"
    # Issue #17: empty charts say so and show no time ticks; threshold labels do not overlap;
    # the longest reason is not cut; the commit latency is the last minute's.
    assert all(seen["empty"]["empty"].values()), seen["empty"]
    assert seen["empty"]["ticks"]["efficiency"] == seen["empty"]["ticks"]["rate"] == [], seen["empty"]
    assert len(seen["labels"]) >= 4 and seen["labelProblems"] == [], seen["labels"]
    assert seen["reasonsCut"] == [], seen["reasonsCut"]
    assert seen["latency"][0] == "receive \u2192 commit p50 / p99, last 60 s", seen["latency"]
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
    check_state_panels(seen["states"], seen["states_base"])


MIN_MS = 60_000


def check_state_panels(sp, base):
    """What the state panels drew after play_states(): LATHE-T1's strip, availability, the
    Pareto; the picker and the state bars list lathes by status."""
    (row,) = [r for r in sp["rows"] if r["id"] == STATES_MACHINE]
    assert sp["rows"][0]["id"] == STATES_MACHINE, "a picked machine is pinned first"
    segs = row["segments"]
    # The page opened less than an hour ago and saw this machine's states from 10 minutes back.
    assert sp["span"].startswith("since ") and "less than an hour" in sp["span"], sp["span"]
    assert [(s["state"], s["category"], s["reason"], s["look"], s["color"]) for s in segs] == [
        ("running", "productive", "", "productive", "#2e9d48"),
        ("alarm", "unplanned_downtime", "E42", "unplanned_downtime", "#d8342c"),
        ("offline", "unplanned_downtime", "no_data", "offline", "#7b8794"),
        ("running", "productive", "", "productive", "#2e9d48")], segs
    assert [s["start"] - base for s in segs] == [0, 300_000, 420_001, 480_000], segs
    assert [s["end"] - base for s in segs[:3]] == [300_000, 420_001, 480_000], segs
    assert row["state"] == "running", row
    # Availability: productive / (seen - planned), all of it today and seen by this page.
    seen_ms = segs[-1]["end"] - base
    productive = 300_000 + segs[-1]["end"] - segs[-1]["start"]
    assert abs(row["availabilityValue"] - productive / seen_ms) < 1e-9, (row, seen_ms)
    minutes = int(int(seen_ms / 1000 + 0.5) / 60 + 0.5)  # as the page rounds: s, then min
    assert row["availability"] == f"{productive / seen_ms * 100:.1f} % of {minutes} min", row
    assert sp["availabilityHead"].startswith("availability today since "), sp
    # The Pareto: downtime only, time descending; the alarm's 2 min once, the offline minute.
    pareto = sp["pareto"]
    assert pareto and sp["paretoSpan"].startswith("since "), sp
    assert [p["ms"] for p in pareto] == sorted((p["ms"] for p in pareto), reverse=True), pareto
    assert all(p["cells"][0] in ("planned", "unplanned") for p in pareto), pareto
    (alarm,) = [p["cells"] for p in pareto if p["cells"][2] == "E42"]
    assert alarm == ["unplanned", "alarm", "E42", "2 min", "1"], alarm
    offline = [p for p in pareto if p["cells"][1:3] == ["offline", "no_data"]]
    assert offline and offline[0]["ms"] >= MIN_MS - 1 and offline[0]["look"] == "offline", pareto
    # The picker lists lathes with their status (the scripted one picked), the state bars too.
    assert sp["picked"][1] == f"{STATES_MACHINE} \u2013 running" and sp["picked"][2], sp["picked"]
    assert any(o[0].startswith("CNC") for o in sp["options"]), sp["options"]
    assert {"running", "active"} <= set(sp["stateBars"]), sp["stateBars"]


def test_dashboard_signs_in_to_a_password_broker(broker_factory, mariadb, tmp_path):
    assert (WWW / "vendor" / "mqtt.min.js").exists(), "run scripts/build-dashboard.sh first"
    passwords = tmp_path / "passwords"
    users = {"collector": "collector-pw", "dashboard": "screen-pw-7", "visitor": "visitor-pw"}
    for i, (user, pw) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwords),
                        user, pw], check=True, capture_output=True, timeout=30)
    passwords.chmod(0o600)
    acl = tmp_path / "acl"
    # The collectors' line, then the shipped dashboard lines as they are; visitor has none.
    # On 2.1 the page's files are read by anonymous HTTP requests (the ACL's anonymous part).
    acl.write_text(("topic read /#\n\n" if MOSQUITTO_21 else "") +
                   "user collector\ntopic write cnc/+/data\n\n" +
                   (ROOT / "config" / "dashboard.acl").read_text())
    acl.chmod(0o600)
    b, http, ws = broker_with_dashboard(broker_factory, mariadb, tmp_path,
                                        conf=(f"allow_anonymous false\npassword_file {passwords}\n"
                                              f"acl_file {acl}\n"), files_to_anyone=True)
    seen = run_browser_check(b, http, ARTIFACTS / "dashboard-signin.png", "collector",
                             users["collector"],
                             signin={"asks": "asks for a user name and password",
                                     "asksStatus": "sign-in required",
                                     "username": "dashboard", "password": users["dashboard"],
                                     "wrong": "not-the-password",
                                     "visitor": ["visitor", users["visitor"]]})
    assert seen["ok"] and seen["connected"] and not seen["pageErrors"], seen
    si = seen["signin"]
    assert si["leaks"] == [], si
    assert json.loads(si["stored"]) == {"broker": f"ws://127.0.0.1:{ws}/", "username": "dashboard",
                                        "password": users["dashboard"]}
    assert si["afterReload"] == "sign out dashboard" and si["storedAfterSignOut"] is None, si
    # acl_file grants the SUBSCRIBE and delivers nothing: the page says so (dynsec refuses the
    # SUBSCRIBE itself, which the page names: "may not read cnc/analytics/#, ...").
    assert "as visitor, but nothing arrived in 5 s: may this user read cnc/analytics/#" in \
        si["visitor"], si
    assert si["visitorForm"].endswith("Sign in as a user who may."), si
    assert seen["rejectRow"][1] == "bad_timestamp", seen
    # Each refused connection was tried once (mqtt.js retries no refused CONNACK; the page
    # counted 2 attempts over 3 snapshots at the form, see signin_flow.js): anonymous at the
    # start, the wrong password, anonymous after each of the two sign-outs and at the other
    # broker address. mosquitto 2.1 logs each as "disconnected: not authorised"; 2.0.11 as
    # "Client <unknown> closed", with one more for the fixture's port probe.
    mark, want = ("disconnected: not authorised", 5) if MOSQUITTO_21 else \
        ("Client <unknown> closed", 6)
    refused = [l for l in b.log_text().splitlines() if mark in l]
    assert len(refused) == want, refused

    # The dashboard user reads and publishes nothing: machine topics and output topics alike.
    screen = RawPublisher(b.port, "screen-1", username="dashboard", password=users["dashboard"])
    assert screen.publish("cnc/PRESS-0002/data", BAD) == 0x87
    assert screen.publish("cnc/analytics/PRESS-0002", "{}") == 0x87
    assert screen.publish("cnc/ingest/stats", "{}", retain=True) == 0x87
    screen.close()


def test_dashboard_with_dynsec_roles(broker_factory, mariadb, tmp_path):
    """The dynsec role of README "Securing the dashboard", made with mosquitto_ctrl as written
    there, on a broker that admits anonymous clients with no rights: the page is let in, shown
    nothing, and offers the sign-in; the dashboard user sees the data; a user without the role
    is told which SUBSCRIBEs dynsec refused."""
    from conftest import DYNSEC
    from test_identity_broker import ctrl
    assert (WWW / "vendor" / "mqtt.min.js").exists(), "run scripts/build-dashboard.sh first"
    dynsec_json = tmp_path / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(dynsec_json), "admin", "admin-pw"],
                   check=True, capture_output=True, timeout=30)
    b, http, ws = broker_with_dashboard(broker_factory, mariadb, tmp_path,
                                        conf=f"plugin {DYNSEC}\nplugin_opt_config_file {dynsec_json}\n")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Securing the dashboard"):]
    role = [shlex.split(l, comments=True)[4:] for l in section.splitlines()
            if l.startswith("mosquitto_ctrl -u admin dynsec ")]
    assert len(role) == 7, role
    for args in role:
        if args[0] == "createClient":
            args += ["-p", "screen-pw"]
        ctrl(b.port, *args)
    ctrl(b.port, "createRole", "collect")
    ctrl(b.port, "addRoleACL", "collect", "publishClientSend", "cnc/+/data", "allow")
    for user in ("collector", "visitor"):
        ctrl(b.port, "createClient", user, "-p", f"{user}-pw")
    ctrl(b.port, "addClientRole", "collector", "collect")
    seen = run_browser_check(b, http, ARTIFACTS / "dashboard-dynsec.png", "collector",
                             "collector-pw",
                             signin={"asks": "lets this page in without a user name but may not "
                                             "read cnc/analytics/#",
                                     "asksStatus": "connected, but may not read",
                                     "username": "screen1", "password": "screen-pw",
                                     "wrong": "not-the-password",
                                     "visitor": ["visitor", "visitor-pw"]})
    assert seen["ok"] and seen["connected"] and not seen["pageErrors"], seen
    si = seen["signin"]
    assert si["leaks"] == [] and si["afterReload"] == "sign out screen1", si
    assert si["visitor"].endswith("as visitor, but may not read cnc/analytics/#, cnc/rejected/#, "
                                  "cnc/ingest/stats, cnc/ingest/stats/+"), si
    # The dashboard role publishes nothing, on machine and output topics.
    screen = RawPublisher(b.port, "screen-1", username="screen1", password="screen-pw")
    assert screen.publish("cnc/PRESS-0002/data", BAD) == 0x87
    assert screen.publish("cnc/analytics/PRESS-0002", "{}") == 0x87
    screen.close()
