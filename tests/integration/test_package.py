"""test_package.py - the Debian package as a new administrator meets it: scripts/build-deb.sh
builds build/cnc-ingest_<version>_<arch>.deb, lintian finds nothing but its explained override,
apt installs it on this machine, and the README's "Install from the package" steps are run as
they are written there (read from the README, so they cannot drift from what is tested): the
SQL on a private MariaDB whose socket stands in for /run/mysqld/mysqld.sock, the shell lines
with `sudo` dropped (the tests run as root), and mosquitto started with Debian's own
/etc/mosquitto/mosquitto.conf, by systemd when it runs the machine, else as the README's
container lines say. Then: the plugin loaded, a message stored, a second broker refused the
same spool, the example handler module built against the installed headers with pkg-config
and loaded, and the package removed and purged with what each leaves checked.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, wait_for
from mariadb import MariaDB

README = (ROOT / "README.md").read_text()
SOCKET = "/run/mysqld/mysqld.sock"
SPOOL = pathlib.Path("/var/lib/mosquitto/cnc_spool")
ETC = pathlib.Path("/etc/mosquitto")
PASSWORD_FILE = ETC / "cnc_ingest.password"
LOG = pathlib.Path("/var/log/mosquitto/mosquitto.log")
MULTIARCH = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                           text=True, check=True).stdout.strip()
PLUGIN = pathlib.Path(f"/usr/lib/{MULTIARCH}/cnc_ingest.so")


def sh(cmd, check=True, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True,
                       timeout=600, **kw)
    if check:
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    return r


def install_section():
    """The README's "Install from the package" section: its code blocks, in order."""
    a = README.index("## Install from the package")
    b = README.index("### A handler module against the installed headers")
    return re.findall(r"```(\w+)\n(.*?)```", README[a:b], flags=re.S)


def blocks(lang):
    return [body for kind, body in install_section() if kind == lang]


def as_root(line):
    return re.sub(r"(^|\s)sudo ", r"\1", line)


def systemd():
    return pathlib.Path("/run/systemd/system").is_dir() and shutil.which("systemctl")


def purge_quietly():
    subprocess.run(["dpkg", "--purge", "cnc-ingest"], capture_output=True, timeout=300)


@pytest.fixture
def machine(tmp_path):
    """This machine as a fresh broker host, and put back afterwards: the test refuses to run
    where cnc-ingest is installed or has left a spool or a password file (it would purge and
    delete them); what the broker run leaves of mosquitto's own (its persistence file, the pid
    folder, a running systemd service) is restored; the private MariaDB lives in a folder
    mosquitto's user can reach."""
    state_now = [str(p) for p in (SPOOL, PASSWORD_FILE) if p.exists() or p.is_symlink()]
    installed = sh("dpkg-query -W -f='${Status}' cnc-ingest", check=False).stdout
    if "installed" in installed and "not-installed" not in installed:
        state_now.append("the cnc-ingest package")
    if state_now:
        pytest.fail(f"this machine has cnc-ingest state ({', '.join(state_now)}): the test "
                    "installs and purges the package and would destroy it; run it on a machine "
                    "without (CI's is fresh)")
    db_file = pathlib.Path("/var/lib/mosquitto/mosquitto.db")
    db_backup = db_file.read_bytes() if db_file.exists() else None
    run_dir_existed = pathlib.Path("/run/mosquitto").exists()
    service_was_active = bool(systemd()) and subprocess.run(
        ["systemctl", "is-active", "--quiet", "mosquitto"], timeout=30).returncode == 0
    base = pathlib.Path("/var/tmp") / f"cnc-package-test-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    db = MariaDB(base / "mariadb", setup=False)
    os.chmod(base / "mariadb", 0o755)
    state = {"db": db}
    yield state
    # Each step on its own: one that fails does not leave the others undone.
    steps = [lambda: stop_broker(state), db.stop, purge_quietly,
             lambda: shutil.rmtree(SPOOL, ignore_errors=True),
             lambda: PASSWORD_FILE.unlink(missing_ok=True),
             lambda: shutil.rmtree(base, ignore_errors=True),
             lambda: db_file.write_bytes(db_backup) if db_backup is not None
             else db_file.unlink(missing_ok=True),
             lambda: None if run_dir_existed else shutil.rmtree("/run/mosquitto",
                                                                ignore_errors=True),
             lambda: service_was_active and subprocess.run(["systemctl", "start", "mosquitto"],
                                                           timeout=60)]
    errors = []
    for step in steps:
        try:
            step()
        except Exception as e:  # noqa: BLE001 - every step runs; the first error is raised
            errors.append(e)
    if errors:
        raise errors[0]


def stop_broker(state):
    if systemd():
        subprocess.run(["systemctl", "stop", "mosquitto"], capture_output=True, timeout=60)
    pid_file = pathlib.Path("/run/mosquitto/mosquitto.pid")
    if pid_file.exists():
        words = pid_file.read_text().split()
        pid = int(words[0]) if words and words[0].isdigit() else 0
        if pid > 0:
            try:
                os.kill(pid, 15)
                wait_for(lambda: not pathlib.Path(f"/proc/{pid}").exists(), timeout=30,
                         what="mosquitto to stop")
            except ProcessLookupError:
                pass


def log_after(mark):
    text = LOG.read_text(errors="replace") if LOG.exists() else ""
    return text[mark:]


def test_package_installs_runs_and_purges(machine, tmp_path):
    db = machine["db"]
    # Build, then lintian: only the override explained in debian/cnc-ingest.lintian-overrides.
    out = sh([str(ROOT / "scripts" / "build-deb.sh")], cwd=ROOT).stdout.strip().splitlines()
    deb = ROOT / out[-1]
    assert deb.exists() and deb.parent == ROOT / "build", out
    sh(["lintian", "--fail-on", "error,warning", str(deb)])  # exit 0: no error, no warning
    lint = sh(["lintian", "--show-overrides", str(deb)], check=False)
    tags = [l for l in lint.stdout.splitlines() if re.match(r"^[EWIO]: ", l)]
    assert tags == ["O: cnc-ingest: sharedobject-in-library-directory-missing-soname "
                    f"[usr/lib/{MULTIARCH}/cnc_ingest.so]"], lint.stdout

    # The README's first block: build (done above) and install with apt.
    first = blocks("sh")[0]
    assert "scripts/build-deb.sh" in first and "apt install ./build/" in first, first
    install = sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y {deb}")
    assert "installed inactive" in install.stdout + install.stderr
    assert PLUGIN.exists() and (ETC / "conf.d" / "cnc_ingest.conf").exists()
    for tool in ("cnc-ingest-check", "cnc-ingest-resubmit", "cnc-sim"):
        assert shutil.which(tool) == f"/usr/bin/{tool}"
    st = SPOOL.stat()
    assert (st.st_mode & 0o777, st.st_uid) == (0o700, int(sh("id -u mosquitto").stdout)), st
    assert sh("man -w cnc_ingest.yaml").stdout.strip().endswith("man5/cnc_ingest.yaml.5.gz")
    # Inactive: mosquitto's own config, as Debian ships it, with the drop-in loads no plugin.
    assert not [l for l in (ETC / "conf.d" / "cnc_ingest.conf").read_text().splitlines()
                if l.startswith("plugin")]

    # Step 1: the SQL, as the administrator, on the private server.
    (sql,) = blocks("sql")
    r = subprocess.run(["mariadb", "--no-defaults", "-S", db.socket, "-u", "root"], input=sql,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    password = re.search(r"IDENTIFIED BY '([^']+)'", sql).group(1)

    # Steps 2 and 3, as written; the one change: the private server's socket for Debian's.
    step2, step3, step4 = blocks("sh")[1:4]
    assert password in step2
    for line in step2.strip().splitlines():
        sh(as_root(line))
    st = PASSWORD_FILE.stat()
    assert st.st_mode & 0o777 == 0o600 and PASSWORD_FILE.read_text() == password + "\n"
    sed, check = step3.strip().splitlines()
    sh(as_root(sed))
    yaml = (ETC / "cnc_ingest.yaml").read_text()
    assert f"\nmysql:\n  socket: {SOCKET}" in yaml, yaml
    (ETC / "cnc_ingest.yaml").write_text(yaml.replace(f"socket: {SOCKET}", f"socket: {db.socket}"))
    r = sh(as_root(check), check=False)
    assert r.returncode == 0, r.stderr
    assert "schema: none yet in `cnc`; create_schema: true makes it at start" in r.stderr
    assert "grants: cnc has what the writer needs on `cnc`" in r.stderr

    # Step 4: the drop-in's lines, then the broker: systemd's way, or the container's.
    mark = LOG.stat().st_size if LOG.exists() else 0
    sed, restart = step4.strip().splitlines()
    sh(as_root(sed))
    if systemd():
        sh(as_root(restart))
    else:
        container = blocks("sh")[4]
        assert "/run/mosquitto" in container
        for line in container.strip().splitlines():
            sh(as_root(line))
    wait_for(lambda: "cnc_ingest: storing into cnc via" in log_after(mark), timeout=30,
             what=f"the plugin's start lines\n{log_after(mark)}")
    started = log_after(mark)
    assert "cnc_ingest: loaded /etc/mosquitto/cnc_ingest.yaml as node" in started, started

    # The README's test message (after the client packages it names), stored.
    *lines, query = blocks("sh")[5].strip().splitlines()
    for line in lines:
        sh("DEBIAN_FRONTEND=noninteractive " + as_root(line).replace("apt install", "apt-get install -y"))
    count = "SELECT COUNT(*) FROM cnc.cnc_message WHERE cnc_id = 'CNC001'"
    wait_for(lambda: db.root(count)[0][0] == 1,
             timeout=30, what="the README's message stored")
    assert "mariadb cnc -e" in query

    # A second broker with the same YAML (another port): refused, the spool named.
    other = tmp_path / "second.conf"
    other.write_text(f"listener 0 {tmp_path / 'second.sock'}\nuser mosquitto\n"
                     f"plugin {PLUGIN}\nplugin_opt_config_file {ETC / 'cnc_ingest.yaml'}\n")
    os.chmod(tmp_path, 0o755)
    r = subprocess.run(["mosquitto", "-c", str(other)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert f"spool.dir: {SPOOL} is in use by another process" in r.stdout + r.stderr, r

    # A handler module built against the installed headers, loaded by the installed checker.
    module = tmp_path / "cnc_handler_laser.so"
    sh(f"cc $(pkg-config --cflags cnc-ingest-handler) -shared -fPIC "
       f"/usr/share/doc/cnc-ingest/examples/laser_cutter.c $(pkg-config --libs cnc-ingest-handler) "
       f"-o {module}")
    cfg = tmp_path / "laser.yaml"
    cfg.write_text(f"handler_modules: [{module}]\nhandlers:\n  lasers: {{type: laser_cutter}}\n"
                   "routes:\n  - {match: \"*\", handler: lasers}\n")
    r = sh(["cnc-ingest-check", "--types", str(cfg)])
    assert re.search(rf"^laser_cutter\s+{re.escape(str(module))}", r.stdout, re.M), r.stdout

    # The installed seed scripts, run by the installed checker as the README's YAML names them.
    cfg = tmp_path / "scripts.yaml"
    cfg.write_text("handlers:\n  cnc_type_a:\n    type: lua\n"
                   "    params: {script: /etc/mosquitto/cnc_handlers/cnc_type_a.lua}\n"
                   "routes:\n  - {match: \"*\", handler: cnc_type_a}\n")
    lathe = tmp_path / "lathe.jsonl"
    lathe.write_text('{"cnc_id":"CNC001","part_program":"p","timestamp":1747379028000,'
                     '"payload":{"status":"running","spin":20000,"X-Axis":30,"Y-Axis":80}}\n')
    r = sh(["cnc-ingest-check", "--now", "1747379028000", str(cfg), str(lathe)])
    assert json.loads(r.stdout)["record"]["anomalies"][0]["rule"] == "spindle_range", r.stdout

    # Reinstalled (an upgrade's path) under a running broker, over a spool that holds its
    # segments: the spool is left as it is, and the package says a restart loads the new .so.
    held = sorted((f.name, f.stat().st_size) for f in SPOOL.iterdir())
    st = SPOOL.stat()
    r = sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall {deb}")
    assert "a running mosquitto keeps the old plugin until it restarts" in r.stdout + r.stderr, r
    assert held and sorted((f.name, f.stat().st_size) for f in SPOOL.iterdir()) == held
    assert (SPOOL.stat().st_mode, SPOOL.stat().st_uid) == (st.st_mode, st.st_uid)

    # Remove: the drop-in still loads the plugin (said), config and spool kept.
    stop_broker(machine)
    r = sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y cnc-ingest")
    said = r.stdout + r.stderr
    assert "still loads the removed plugin" in said and f"{SPOOL} kept" in said, said
    assert not PLUGIN.exists() and (ETC / "cnc_ingest.yaml").exists() and SPOOL.is_dir()
    # Purge: config and drop-in gone; the spool holds segments, so it stays, and purge says so.
    r = sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y cnc-ingest")
    said = r.stdout + r.stderr
    assert f"{SPOOL} is not empty and is kept" in said, said
    assert not (ETC / "cnc_ingest.yaml").exists()
    assert not (ETC / "conf.d" / "cnc_ingest.conf").exists()
    assert SPOOL.is_dir() and any(SPOOL.iterdir())
    assert PASSWORD_FILE.exists()  # the administrator's, not the package's
    assert sh("dpkg-query -W -f='${Status}' cnc-ingest", check=False).stdout.strip() in (
        "", "unknown ok not-installed")
    # An empty spool goes with the purge: reinstall, purge at once.
    shutil.rmtree(SPOOL)
    sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y {deb}")
    assert SPOOL.is_dir()
    sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y cnc-ingest")
    assert not SPOOL.exists()
    # A cnc_spool symlink planted in /var/lib/mosquitto (the broker's user owns the folder):
    # the install follows nothing, the target keeps its owner and mode, and the package says so.
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    SPOOL.symlink_to(victim)
    try:
        r = sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y {deb}")
        assert f"{SPOOL} exists and is not a folder (a symlink, a file): left alone" in \
            r.stdout + r.stderr, r
        st = victim.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o755), st
        sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y cnc-ingest")
        assert SPOOL.is_symlink() and victim.is_dir()  # purge removes no folder through it
    finally:
        SPOOL.unlink(missing_ok=True)
    print("\n" + json.dumps({"deb": deb.name, "lintian": tags}))
