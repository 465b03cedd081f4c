"""test_checker.py - cnc-ingest-check on ../shared/samples and on broken
configs: one JSON verdict per message line, the key and line on error.
"""
import json
import subprocess

from conftest import BUILD, ROOT, SAMPLES, free_port

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


# ---- --connect: the database as the writer would find it (a private MariaDB) ----

def test_handler_scripts_run_as_the_broker_runs_them(tmp_path):
    """The shipped seed scripts give the shipped machine_tool instances' verdicts on the samples;
    a script's runtime error names the script, its line and the message's line; its state goes
    from line to line; a syntax error stops the check with the YAML's line and the script's."""
    scripts = ROOT / "handlers" / "scripts"
    cfg = tmp_path / "scripts.yaml"
    cfg.write_text(SHIPPED.read_text()
                   .replace("  cnc_type_a:\n    type: machine_tool\n    params:\n",
                            f"  cnc_type_a:\n    type: lua\n    params:\n      script: {scripts}/cnc_type_a.lua\n"
                            "    old_params:\n")
                   .replace("    states:\n      reason_variable: alarm_code\n",
                            "    states:\n      variable: status\n      reason_variable: alarm_code\n")
                   .replace("  cnc_type_b:\n    type: machine_tool\n    params:\n",
                            f"  cnc_type_b:\n    type: lua\n    params:\n      script: {scripts}/cnc_type_b.lua\n"
                            "    old_params:\n"))
    # The machine_tool params under old_params: the loader refuses an unknown key, so move them
    # aside as a comment block instead.
    text = cfg.read_text()
    lines, out, skip = text.splitlines(), [], False
    for line in lines:
        if line == "    old_params:":
            skip = True
            continue
        if skip and line.startswith("      "):
            continue
        skip = False
        out.append(line)
    cfg.write_text("\n".join(out) + "\n")
    for samples in ("valid.jsonl", "invalid.jsonl"):
        want = run(SHIPPED, SAMPLES / samples)
        got = run(cfg, SAMPLES / samples)
        assert got.returncode == 0, got.stderr
        shipped = [json.loads(l) for l in want.stdout.splitlines()]
        scripted = [json.loads(l) for l in got.stdout.splitlines()]
        for a, b in zip(shipped, scripted):
            a.pop("handler_type", None)
            assert b.pop("handler_type", "lua") in ("lua", "sensor_efficiency")
            # The machine state is the instance's `states:` (machine_tool tracks `status` by
            # default, a script nothing unless told), not the handler's record.
            for r in (a.get("record"), b.get("record")):
                if r is not None and b.get("handler") in ("cnc_type_a", "cnc_type_b"):
                    r.pop("state", None)
                    r.pop("category", None)
        assert scripted == shipped

    (tmp_path / "bad.lua").write_text(
        "return {process = function(msg, state)\n"
        "  state.n = (state.n or 0) + 1\n"
        "  if msg.payload.boom then return msg.payload.nothing.field end\n"
        "  return {readings = {n = state.n}}\n"
        "end}\n")
    (tmp_path / "bad.yaml").write_text("handlers:\n  s:\n    type: lua\n"
                                       "    params: {script: bad.lua}\n"
                                       "routes: [{match: \"*\", handler: s}]\n")
    msgs = "".join(json.dumps({"cnc_id": "M1", "part_program": "p", "timestamp": 1747379028000,
                               "payload": p}) + "\n" for p in ({}, {"boom": True}, {}))
    r = run("--now", 1747379028000, tmp_path / "bad.yaml", "-", stdin=msgs)
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert out[0]["record"]["readings"] == {"n": 1}
    assert out[1]["line"] == 2 and out[1]["reason"] == "handler_rejected"
    assert out[1]["detail"] == "s: script error: bad.lua:3: attempt to index a nil value (field 'nothing')"
    assert out[2]["record"]["readings"] == {"n": 3}

    (tmp_path / "bad.lua").write_text("return {process = function(msg)\n  return {\nend}\n")
    r = run(tmp_path / "bad.yaml")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"{tmp_path / 'bad.yaml'}:4: handlers.s.params.script: bad.lua:3: "
                                "unexpected symbol near 'end'"), r.stderr


def connect_yaml(tmp_path, mariadb, user, password, create_schema, database="cnc", hosts=None):
    pw = tmp_path / f"{user}.password"
    pw.write_text(password + "\n")
    pw.chmod(0o600)
    where = (f"hosts: [{', '.join(hosts)}]" if hosts
             else f"socket: \"{mariadb.socket}\"")
    cfg = tmp_path / f"{user}-{create_schema}.yaml"
    cfg.write_text(SHIPPED.read_text() +
                   f"mysql: {{{where}, user: {user}, password_file: \"{pw}\", "
                   f"database: {database}, create_schema: {str(create_schema).lower()}}}\n")
    return cfg


def connect_lines(cfg):
    r = run("--connect", cfg)
    return r.returncode, [l for l in r.stderr.splitlines() if l.startswith("connect: ")], r.stderr


def test_connect_reports_what_the_database_lacks(tmp_path, mariadb):
    mariadb.root("CREATE USER 'least'@'localhost' IDENTIFIED BY 'least-pw'")
    mariadb.root("GRANT SELECT, INSERT, UPDATE, DELETE ON cnc.* TO 'least'@'localhost'")
    # No schema yet, SELECT, INSERT, UPDATE and DELETE only: create_schema false has nothing to write into...
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "least", "least-pw", False))
    assert rc == 1, err
    assert any(f"{mariadb.socket}: connected as least to " in l for l in lines), lines
    assert any("schema: none in `cnc`, and create_schema is false: apply sql/schema.sql" in l
               for l in lines), lines
    # ... and create_schema true lacks the grants to make it.
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "least", "least-pw", True))
    assert rc == 1, err
    assert "connect: grants: least lacks CREATE, ALTER, DROP, CREATE VIEW on `cnc` " \
           "(create_schema: true needs" in err, lines
    # The schema made by an administrator (here: the plugin's own, through a full user):
    # least then has all a create_schema: false writer needs, proven by a writer session.
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "cnc", "cnc-test-password", True))
    assert rc == 0 and "schema: none yet in `cnc`; create_schema: true makes it at start" in err, err
    make = subprocess.run(["mariadb", "--no-defaults", "-S", mariadb.socket, "-u", "root", "cnc"],
                          stdin=open(ROOT / "sql" / "schema.sql"), capture_output=True, text=True)
    assert make.returncode == 0, make.stderr
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "least", "least-pw", False))
    assert rc == 0, err
    assert any(l.startswith("connect: schema: version ") and l.endswith("(current)")
               for l in lines), lines
    assert "connect: writer session: ok" in err and "least has what the writer needs" in err, err
    # A schema older than the plugin's, create_schema false: which migrations to apply.
    mariadb.root("DELETE FROM cnc.cnc_schema_version WHERE version > 1")
    mariadb.root("ALTER TABLE cnc.cnc_message DROP COLUMN ingest_node")
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "least", "least-pw", False))
    assert rc == 1 and "schema: version 1, this plugin needs 3: apply sql/migrations/ above 0001" \
        in err, err
    assert "writer session: FAILED: mysql: preparing the insert into cnc_message: Unknown " \
           "column 'ingest_node'" in err, err
    # Grants via a role (SHOW GRANTS lists the enabled role's), INSERT revoked: named.
    mariadb.root("CREATE ROLE reader")
    mariadb.root("GRANT SELECT ON cnc.* TO reader")
    mariadb.root("CREATE USER 'ro'@'localhost' IDENTIFIED BY 'ro-pw'")
    mariadb.root("GRANT reader TO 'ro'@'localhost'")
    mariadb.root("SET DEFAULT ROLE reader FOR 'ro'@'localhost'")
    mariadb.root("INSERT INTO cnc.cnc_schema_version VALUES (2, UTC_TIMESTAMP(3)), "
                 "(3, UTC_TIMESTAMP(3))")
    mariadb.root("ALTER TABLE cnc.cnc_message ADD COLUMN ingest_node VARCHAR(64) NULL")
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "ro", "ro-pw", False))
    assert rc == 1 and "connect: grants: ro lacks INSERT, UPDATE, DELETE on `cnc`" in err, err
    assert "writer session: FAILED" in err and "INSERT command denied" in err, err


def test_connect_names_each_server_and_a_wrong_password(tmp_path, mariadb):
    dead = f"127.0.0.1:{free_port()}"
    live = f"127.0.0.1:{mariadb.port}"
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "cnc", "cnc-test-password",
                                                True, hosts=[dead, live]))
    assert rc == 1, err  # one server of the cluster does not answer: a lack, named
    assert any(l.startswith(f"connect: {dead}: FAILED: mysql: connect to {dead}: ") for l in lines)
    assert any(l.startswith(f"connect: {live}: connected as cnc to ") for l in lines), lines
    rc, lines, err = connect_lines(connect_yaml(tmp_path, mariadb, "cnc", "wrong", True))
    assert rc == 1 and "Access denied for user 'cnc'@'localhost'" in err, err
    assert "no server took the connection" in err
    # No mysql section at all: --connect says the plugin would store nothing.
    r = run("--connect", SHIPPED)
    assert r.returncode == 1 and "no mysql section, so the plugin would store nothing" in r.stderr


def test_socket_that_names_nothing_is_an_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(SHIPPED.read_text() + "mysql: {socket: /nonexistent/mysqld.sock}\n")
    r = run(cfg)
    assert r.returncode == 1
    assert "mysql.socket: /nonexistent/mysqld.sock: No such file or directory (is the database " \
           "server running on this host?" in r.stderr
    cfg.write_text(SHIPPED.read_text() + f"mysql: {{socket: \"{cfg}\"}}\n")
    r = run(cfg)
    assert r.returncode == 1 and f"mysql.socket: {cfg} is not a socket" in r.stderr
