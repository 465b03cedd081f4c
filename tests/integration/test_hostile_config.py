"""test_hostile_config.py - configs nobody should write, against a real broker and the
checker: a YAML alias that contains itself, an alias bomb, nesting tens of thousands of
levels deep, a NUL in a value, and files that are not regular files (a FIFO as the config,
a handler module or the password file; a symbolic link as the password file). Each is
refused with the key and line (or the file and what it is), at start and on SIGHUP alike;
a running broker keeps its old config and goes on serving; nothing crashes or hangs.
"""
import os
import subprocess

import pytest

from conftest import BUILD, wait_for
from mqtt_raw import RawPublisher

CHECK = BUILD / "cnc-ingest-check"
GOOD = ("handlers: {any: {type: generic}}\n"
        "routes: [{match: \"*\", handler: any}]\nmetrics: {interval_s: 1}\n")
MSG = '{"cnc_id":"CNC001","part_program":"p","timestamp":1747379028,"payload":{"spin":1}}'


def bomb(levels=9):
    """A billion laughs: ~600 bytes that expand to 10^9 nodes."""
    lines = ["      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return ("handlers:\n  any:\n    type: generic\n    params:\n" + "\n".join(lines) +
            "\nroutes: [{match: \"*\", handler: any}]\n")


HOSTILE = {
    "self_alias": ("handlers:\n  any:\n    type: generic\n    params: &p {a: *p}\n"
                   "routes: [{match: \"*\", handler: any}]\n",
                   ":4: handlers.any.params.a: an alias refers to the node that contains it"),
    "alias_in_list": ("handlers:\n  any:\n    type: generic\n    params: {a: &q [1, *q]}\n"
                      "routes: [{match: \"*\", handler: any}]\n",
                      ":4: handlers.any.params.a[1]: an alias refers to the node that contains it"),
    "alias_bomb": (bomb(), "params and rules hold more than 100000 values in all once aliases "
                           "are expanded"),
    "deep": ("handlers: {any: {type: generic, params: {a: " + "[" * 50000 + "]" * 50000 +
             "}}}\nroutes: [{match: \"*\", handler: any}]\n",
             ":1: handlers.any.params.a" + "[0]" * 60 + ": nested deeper than 64 levels"),
    "nul": ("handlers: {any: {type: generic}}\nroutes: [{match: \"CNC\\0\", handler: any}]\n",
            ":2: routes[0].match: a value contains a NUL character"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_config_refused_at_start(broker_factory, name):
    text, expected = HOSTILE[name]
    b = broker_factory(text, start=False)
    b.start(expect_running=False)
    rc = b.proc.wait(timeout=30)
    assert rc > 0, f"mosquitto ended with {rc} (a negative code is a signal: a crash)"
    assert expected in b.log_text()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_config_refused_on_reload_and_the_broker_goes_on(broker_factory, name):
    text, expected = HOSTILE[name]
    b = broker_factory(GOOD)
    pub = RawPublisher(b.port, "hostile", protocol=5)
    assert pub.publish("cnc/CNC001/data", MSG) == 0
    b.yaml.write_text(text)
    b.reload()
    wait_for(lambda: "reload refused, keeping the old config" in b.log_text(), timeout=30,
             what="the refusal")
    assert expected in b.log_text()
    assert b.proc.poll() is None
    # The old table still routes, and the connection made before the reload still works.
    assert pub.publish("cnc/CNC001/data", MSG.replace("1747379028", "1747379029")) == 0
    assert pub.publish("cnc/CNC001/data", "{}") == 0x87
    b.yaml.write_text(GOOD.replace("\"*\"", "\"CNC*\""))
    b.reload()
    wait_for(lambda: "cnc_ingest: reloaded" in b.log_text(), timeout=30, what="a good reload")
    pub.close()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_checker_refuses_hostile_config(tmp_path, name):
    text, expected = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    r = subprocess.run([str(CHECK), str(path)], capture_output=True, timeout=30)
    assert r.returncode == 1, r
    err = r.stderr.decode("utf-8")  # readable text: no garbage bytes
    assert f"{path}{expected}" in err if expected.startswith(":") else expected in err
    assert err.endswith("\n") and err.rstrip("\n").isprintable()  # one readable line


def test_fifo_as_config_refused_at_start_and_on_reload(broker_factory, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    b = broker_factory(GOOD, start=False)
    b.conf.write_text(b.conf.read_text().replace(str(b.yaml), str(fifo)))
    b.start(expect_running=False)
    assert b.proc.wait(timeout=30) > 0
    assert f"config file {fifo} is a FIFO (named pipe), not a regular file" in b.log_text()
    # A running broker whose config is replaced by a FIFO: the reload is refused.
    b2 = broker_factory(GOOD)
    b2.yaml.unlink()
    os.mkfifo(b2.yaml)
    b2.reload()
    wait_for(lambda: "reload refused" in b2.log_text(), timeout=30, what="the refusal")
    assert "is a FIFO (named pipe)" in b2.log_text()
    pub = RawPublisher(b2.port, "after-fifo", protocol=5)
    assert pub.publish("cnc/CNC001/data", MSG) == 0
    pub.close()
    r = subprocess.run([str(CHECK), str(fifo)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "is a FIFO (named pipe)" in r.stderr


def test_fifo_as_handler_module_refused(broker_factory, tmp_path):
    fifo = tmp_path / "module.so"
    os.mkfifo(fifo)
    b = broker_factory(f"handler_modules: [\"{fifo}\"]\n" + GOOD, start=False)
    b.start(expect_running=False)
    assert b.proc.wait(timeout=30) > 0
    assert f"handler_modules: {fifo} is a FIFO (named pipe), not a regular file" in b.log_text()


def storage_config(mariadb, tmp_path, password_file):
    return (GOOD + mariadb.mysql_yaml().replace(str(mariadb.password_file), str(password_file)) +
            f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n")


@pytest.mark.parametrize("kind", ["symlink_to_shadow", "fifo", "directory", "world_readable",
                                  "two_lines"])
def test_password_file_that_is_not_a_private_file_refused(broker_factory, mariadb, tmp_path,
                                                          kind):
    pw = tmp_path / "pw"
    if kind == "symlink_to_shadow":
        os.symlink("/etc/shadow", pw)
        expected = f"mysql.password_file: {pw} is a symbolic link (to /etc/shadow)"
    elif kind == "fifo":
        os.mkfifo(pw, 0o600)
        expected = f"mysql.password_file: {pw} is a FIFO (named pipe), not a regular file"
    elif kind == "directory":
        pw.mkdir(mode=0o700)
        expected = f"mysql.password_file: {pw} is a directory, not a regular file"
    elif kind == "world_readable":
        pw.write_text("cnc-test-password\n")
        os.chmod(pw, 0o644)
        expected = f"mysql.password_file: {pw} is readable by every user (mode 0644)"
    else:
        pw.write_text("cnc-test-password\nsecond line\n")
        os.chmod(pw, 0o600)
        expected = f"mysql.password_file: {pw} holds more than one line"
    text = storage_config(mariadb, tmp_path, pw)
    b = broker_factory(text, start=False)
    b.start(expect_running=False)
    assert b.proc.wait(timeout=30) > 0
    assert expected in b.log_text()
    # The checker applies the same checks.
    r = subprocess.run([str(CHECK), str(b.yaml)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and expected in r.stderr, r.stderr
