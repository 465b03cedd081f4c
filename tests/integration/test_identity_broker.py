"""test_identity_broker.py - the identity table in a real broker, behind mosquitto's own
authentication: dynamic security (users made through $CONTROL/dynamic-security/v1), TLS client
certificates with use_identity_as_username (made here with openssl), and a password file with
anonymous clients allowed. Each collector publishes its own machine's id, another machine's, and
a line's pattern-matched ids; each refusal is 0x87 with an unauthorized_cnc_id report naming the
publisher, counted, the connection kept; a SIGHUP reload changes who may publish what; a
read-only dashboard user may subscribe to the outputs and publish nothing.
"""
import json
import ssl
import subprocess
import threading

import paho.mqtt.client as mqtt

import pytest

from conftest import free_port, wait_for
from mqtt_raw import RawPublisher
from conftest import DYNSEC

TAIL = """
handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
metrics: {interval_s: 1}
"""

TABLE = """
identity:
  by: username
  publishers:
    - {match: "PRESS-*", cnc_ids: ["%u"]}
    - {match: line3, cnc_ids: ["LINE3-*"]}
""" + TAIL


def msg(cnc_id, i=0):
    return (f'{{"cnc_id":"{cnc_id}","part_program":"p","timestamp":{1747379028000 + i},'
            f'"payload":{{"spin":{i}}}}}')


def by_reason(b, reason, count):
    return b.metrics_until(lambda m: m["rejected_by_reason"].get(reason, 0) >= count)


def ctrl(port, *args):
    r = subprocess.run(["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(port), "-u", "admin", "-P",
                        "admin-pw", "dynsec", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    return r.stdout


def test_dynsec_authenticates_cnc_ingest_binds(tmp_path, broker_factory):
    dynsec_json = tmp_path / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(dynsec_json), "admin", "admin-pw"],
                   check=True, capture_output=True, timeout=30)
    b = broker_factory(TABLE, extra_conf=f"plugin {DYNSEC}\nplugin_opt_config_file {dynsec_json}\n")
    wait_for(lambda: "identity by username: 1 exact publishers, 1 glob publishers" in b.log_text(),
             what="the identity line at start")
    # Collectors may publish machine data and read everything; the dashboard role only reads.
    ctrl(b.port, "createRole", "collect")
    ctrl(b.port, "addRoleACL", "collect", "publishClientSend", "cnc/+/data", "allow")
    ctrl(b.port, "addRoleACL", "collect", "subscribePattern", "cnc/#", "allow")
    ctrl(b.port, "createRole", "dashboard")
    for t in ("cnc/analytics/#", "cnc/rejected/#", "cnc/ingest/stats", "cnc/ingest/stats/+"):
        ctrl(b.port, "addRoleACL", "dashboard", "subscribePattern", t, "allow")
    for user in ("PRESS-04", "line3", "intruder"):
        ctrl(b.port, "createClient", user, "-p", f"{user}-pw")
        ctrl(b.port, "addClientRole", user, "collect")
    ctrl(b.port, "createClient", "screen", "-p", "screen-pw")
    ctrl(b.port, "addClientRole", "screen", "dashboard")
    # dynsec lets an anonymous client subscribe to nothing: the reports are read as line3.
    got = []
    lock = threading.Lock()
    ready = threading.Event()
    c = mqtt.Client(client_id="reader", protocol=mqtt.MQTTv5)
    c.username_pw_set("line3", "line3-pw")

    def on_message(client, userdata, m):
        with lock:
            got.append((m.topic, m.payload))

    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    c.connect("127.0.0.1", b.port)
    c.loop_start()
    c.subscribe([("cnc/rejected/#", 1), ("cnc/analytics/#", 1), ("cnc/ingest/stats", 1)])
    assert ready.wait(10)

    def reports(client_id, n):
        def have():
            with lock:
                return [json.loads(p) for t, p in got if t == f"cnc/rejected/{client_id}"]
        wait_for(lambda: len(have()) >= n, what=f"{n} reports for {client_id}")
        return have()

    def metrics_until(pred):
        def found():
            with lock:
                ms = [json.loads(p) for t, p in got if t == "cnc/ingest/stats"]
            return next((m for m in reversed(ms) if pred(m)), None)
        wait_for(lambda: found() is not None, timeout=60, what="metrics")
        return found()

    try:
        press = RawPublisher(b.port, "press-collector", username="PRESS-04", password="PRESS-04-pw")
        assert press.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0
        assert press.publish("cnc/PRESS-05/data", msg("PRESS-05")) == 0x87
        r = reports("press-collector", 1)[0]
        assert (r["reason"], r["field"]) == ("unauthorized_cnc_id", "cnc_id")
        assert r["detail"] == 'username "PRESS-04" may not publish cnc_id "PRESS-05"'
        assert "PRESS-*" not in json.dumps(r)  # the table is never shown
        press.ping()  # still connected

        line = RawPublisher(b.port, "line3-gw", username="line3", password="line3-pw")
        assert line.publish("cnc/LINE3-07/data", msg("LINE3-07")) == 0
        assert line.publish("cnc/LINE3-08/data", msg("LINE3-08")) == 0
        assert line.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0x87

        # Authenticated by dynsec, allowed to publish by its ACL, but in no entry of the table.
        intruder = RawPublisher(b.port, "intruder-1", username="intruder", password="intruder-pw")
        assert intruder.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0x87
        r = reports("intruder-1", 1)[0]
        assert r["detail"] == 'username "intruder" may publish no cnc_id'
        intruder.ping()

        # The dashboard user: dynsec refuses its PUBLISH, on machine topics and output topics.
        screen = RawPublisher(b.port, "screen-1", username="screen", password="screen-pw")
        assert screen.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0x87
        assert screen.publish("cnc/analytics/PRESS-04", "{}") == 0x87
        m = metrics_until(lambda m: m["rejected_by_reason"].get("unauthorized_cnc_id", 0) >= 3)
        assert m["accepted"] == 3 and m["rejected"] == 3, m
        assert m["forged_output"] == 0  # dynsec refused before cnc_ingest saw it

        # A reload gives line3 a press as well; PRESS-04 keeps only its own.
        b.yaml.write_text(TABLE.replace('["LINE3-*"]', '["LINE3-*", PRESS-05]'))
        b.reload()
        wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), what="the reload")
        assert line.publish("cnc/PRESS-05/data", msg("PRESS-05", 1)) == 0
        assert press.publish("cnc/PRESS-05/data", msg("PRESS-05", 2)) == 0x87
        # A broken table is refused with its key and line; the running one stays.
        b.yaml.write_text(TABLE.replace('["LINE3-*"]', '["LINE 3-*"]'))
        b.reload()
        wait_for(lambda: "reload refused" in b.log_text(), what="the refusal")
        assert "identity.publishers[1].cnc_ids[0]" in b.log_text()
        assert line.publish("cnc/PRESS-05/data", msg("PRESS-05", 3)) == 0
        for p in (press, line, intruder, screen):
            p.close()
        m = metrics_until(lambda m: m["accepted"] >= 5)
        assert m["rejected_by_reason"]["unauthorized_cnc_id"] == 4, m
    finally:
        c.loop_stop()
        c.disconnect()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and client certificates named by their CN."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "san.cnf"]), ("PRESS-04", []), ("line3", []),
                      ("PRESS-*", [])):
        f = name.replace("*", "star")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                f"{f}.key", "-out", f"{f}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{f}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{f}.crt", *ext, cwd=d)


def tls(d, name):
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    ctx.load_cert_chain(str(d / f"{name}.crt"), str(d / f"{name}.key"))
    return ctx


def test_client_certificates_name_the_publisher(tmp_path, broker_factory):
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(certs)
    b = broker_factory(TABLE, start=False)
    # The fixture's listener becomes a TLS one that requires a certificate and takes its CN as the
    # user name (the listener options follow the listener line in the file).
    text = b.conf.read_text().replace(
        f"listener {b.port} 127.0.0.1\n",
        f"listener {b.port} 127.0.0.1\ncafile {certs}/ca.crt\ncertfile {certs}/server.crt\n"
        f"keyfile {certs}/server.key\nrequire_certificate true\nuse_identity_as_username true\n")
    plain = free_port()  # a plain listener for the metrics reader, after the TLS one
    b.conf.write_text(text + f"listener {plain} 127.0.0.1\n")
    b.start()
    wait_for(lambda: "identity by username" in b.log_text(), what="start")
    press = RawPublisher(b.port, "any-client-id", ssl_context=tls(certs, "PRESS-04"))
    assert press.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0
    assert press.publish("cnc/PRESS-07/data", msg("PRESS-07")) == 0x87
    # A user name in CONNECT is not the identity: the certificate's CN is.
    liar = RawPublisher(b.port, "liar", username="line3", ssl_context=tls(certs, "PRESS-04"))
    assert liar.publish("cnc/LINE3-01/data", msg("LINE3-01")) == 0x87
    line = RawPublisher(b.port, "gw", ssl_context=tls(certs, "line3"))
    assert line.publish("cnc/LINE3-01/data", msg("LINE3-01")) == 0
    assert line.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0x87
    # A certificate whose CN is a glob gains nothing: "%u" is taken literally.
    star = RawPublisher(b.port, "star", ssl_context=tls(certs, "PRESS-star"))
    assert star.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0x87
    from conftest import Collector
    sub = Collector(plain, topics=("cnc/ingest/stats",))
    try:
        wait_for(lambda: any(json.loads(p)["rejected_by_reason"].get("unauthorized_cnc_id") == 4
                             for _, p in sub.topics("cnc/ingest/stats")), timeout=60,
                 what="4 refusals counted")
        m = json.loads(sub.topics("cnc/ingest/stats")[-1][1])
        assert m["accepted"] == 2, m
    finally:
        sub.close()
    for p in (press, liar, line, star):
        p.close()


def test_password_file_and_anonymous_clients(tmp_path, broker_factory, collector_factory):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "collector", "collector-pw"],
                   check=True, capture_output=True, timeout=30)
    yaml = """
identity:
  by: client_id
  publishers:
    - {match: "PRESS-*", cnc_ids: ["%c"]}
ingest: {on_invalid: pass}
""" + TAIL
    b = broker_factory(yaml, extra_conf=f"password_file {pw}\n")
    sub = collector_factory(b.port, topics=("cnc/+/data", "cnc/rejected/#"))
    authed = RawPublisher(b.port, "PRESS-04", username="collector", password="collector-pw")
    anon = RawPublisher(b.port, "PRESS-04-anon")
    # The same client id without a user name: anonymous, refused although its id would match.
    anon2 = RawPublisher(b.port, "PRESS-09")
    assert anon2.publish("cnc/PRESS-09/data", msg("PRESS-09")) == 0x87
    r = json.loads(sub.wait_count("cnc/rejected/PRESS-09", 1)[0][1])
    assert r["reason"] == "unauthorized_cnc_id" and "anonymous client" in r["detail"], r
    # on_invalid: pass delivers invalid messages, never another machine's data.
    assert authed.publish("cnc/PRESS-05/data", msg("PRESS-05")) == 0x87
    assert anon.publish("cnc/PRESS-04/data", "{not json") == 0x87  # refused before parsing
    assert authed.publish("cnc/PRESS-04/data", "{not json") == 0  # passed, as configured
    assert authed.publish("cnc/PRESS-04/data", msg("PRESS-04")) == 0
    delivered = sub.wait_count("cnc/PRESS-04/data", 2)  # the sentinel came after the others
    assert [t for t, _ in sub.topics("cnc/PRESS-05")] == []
    assert len(delivered) == 2, delivered
    m = by_reason(b, "unauthorized_cnc_id", 3)
    assert m["accepted"] == 1 and m["rejected_by_reason"]["not_json"] == 1, m
    for p in (authed, anon, anon2):
        p.close()
