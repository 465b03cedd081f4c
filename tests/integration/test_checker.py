"""test_checker.py - cnc-ingest-check on ../shared/samples and on broken
configs: one JSON verdict per message line, the key and line on error.
"""
import json
import subprocess

from conftest import BUILD, ROOT, SAMPLES

CHECK = BUILD / "cnc-ingest-check"
SHIPPED = ROOT / "config" / "cnc_ingest.yaml"


def run(*args, stdin=None):
    return subprocess.run([str(CHECK), *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=30)


def test_valid_samples_accepted_with_records():
    r = run(SHIPPED, SAMPLES / "valid.jsonl")
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert [o["verdict"] for o in out] == ["accepted"] * 4
    assert [o["handler"] for o in out] == ["cnc_type_a", "cnc_type_b", "press_line", "press_line"]
    assert [o["handler_type"] for o in out] == ["machine_tool", "machine_tool",
                                               "sensor_efficiency", "sensor_efficiency"]
    assert out[0]["record"]["readings"] == {"status": "running", "spin": 200, "X-Axis": 30, "Y-Axis": 80}
    assert out[2]["record"]["efficiency_level"] == "High"
    assert "4 messages: 4 accepted, 0 rejected" in r.stderr


def test_invalid_samples_rejected_with_reasons():
    r = run(SHIPPED, SAMPLES / "invalid.jsonl")
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert [(o["verdict"], o["reason"], o["field"]) for o in out] == [
        ("rejected", "missing_field", "timestamp"),
        ("rejected", "wrong_type", "cnc_id"),
        ("rejected", "bad_timestamp", "timestamp"),
        ("rejected", "wrong_type", "payload"),
        ("rejected", "unknown_field", "note"),
        ("rejected", "duplicate_key", "cnc_id"),
        ("rejected", "not_json", None),
    ]


def test_stdin_and_fixed_topic():
    line = (SAMPLES / "valid.jsonl").read_text().splitlines()[0]
    r = run("--topic", "cnc/CNC999/data", SHIPPED, "-", stdin=line + "\n")
    out = json.loads(r.stdout)
    assert (out["reason"], out["field"]) == ("topic_mismatch", "cnc_id")
    r = run("--topic", "factory/other", SHIPPED, "-", stdin=line + "\n")
    assert json.loads(r.stdout)["verdict"] == "not_inspected"


def test_broken_config_names_key_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHIPPED.read_text().replace("spindle: [0, 12000]", "spindle: [12000, 0]"))
    r = run(bad)
    assert r.returncode == 1
    line = next(i for i, l in enumerate(bad.read_text().splitlines(), 1) if "spindle: [12000, 0]" in l)
    assert f"{bad}:{line}: handlers.cnc_type_a.params.spindle: must be [low, high]" in r.stderr


def test_keys_and_types_listing():
    keys = run("--keys").stdout
    assert "max_message_bytes" in keys and "max_tracked_machines" in keys
    types = run("--types").stdout.split()
    assert {"generic", "machine_tool", "sensor_efficiency"} <= set(types)


IDENTITY = """
identity:
  by: username
  publishers:
    - {match: "PRESS-*", cnc_ids: ["%u"]}
    - {match: line3, cnc_ids: ["LINE3-*"]}
handlers: {any: {type: generic}}
routes: [{match: "*", handler: any}]
"""


def test_identity_table_tried_offline(tmp_path):
    cfg = tmp_path / "id.yaml"
    cfg.write_text(IDENTITY)
    m = '{"cnc_id":"%s","part_program":"p","timestamp":1747379028,"payload":{"a":1}}'
    lines = "\n".join([
        m % "PRESS-04",
        '{"publisher": "line3", "message": %s}' % (m % "LINE3-2"),
        '{"publisher": {"username": "line3", "client_id": "gw"}, "message": %s}' % (m % "PRESS-04"),
        '{"publisher": {"client_id": "gw"}, "message": %s}' % (m % "LINE3-2"),
        '{"publisher": 7, "message": {}}',
        '{"publisher": "%s", "message": %s}' % ("P" * 300, m % "PRESS-04"),  # never cut
    ]) + "\n"
    r = run("--identity", "PRESS-04", "--now", "1747379028000", cfg, "-", stdin=lines)
    assert r.returncode == 0, r.stderr
    assert "identity by username: 1 exact publishers, 1 glob publishers" in r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert [o["verdict"] for o in out] == ["accepted", "accepted", "rejected", "rejected", "bad_line",
                                          "bad_line"]
    assert out[0]["publisher"] == {"client_id": "PRESS-04", "username": "PRESS-04"}
    assert out[2]["detail"] == 'username "line3" may not publish cnc_id "PRESS-04"'
    assert "anonymous client" in out[3]["detail"]
    # Without --identity the client is anonymous: refused, as the broker would.
    r = run("--now", "1747379028000", cfg, "-", stdin=m % "PRESS-04")
    assert json.loads(r.stdout)["reason"] == "unauthorized_cnc_id"
    # A pattern that can never match is an error with its key and line.
    cfg.write_text(IDENTITY.replace('["LINE3-*"]', '["LINE3/*"]'))
    r = run(cfg)
    assert r.returncode == 1
    assert "id.yaml:6: identity.publishers[1].cnc_ids[0]: \"LINE3/*\": '/' is no character" in r.stderr
