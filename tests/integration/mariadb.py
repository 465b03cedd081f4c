"""mariadb.py - a private MariaDB server for the integration tests.

mariadb-install-db creates a data directory under the test's tmp folder; the
server listens on a private unix socket and a free port on 127.0.0.1 and is
stopped (or killed, for outage tests) by the tests themselves. The database
`cnc` and the user `cnc` (password in a 0600 file) are created at start, unless setup=False.
"""
import os
import pathlib
import signal
import socket
import subprocess
import time

import pymysql


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(d):
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=cnc-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    # A second CA that signed nothing: a client trusting it must refuse the server.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
        "other-ca.pem", "-days", "2", "-subj", "/CN=someone-else")


def kill_server(proc):
    """SIGKILL a mariadbd (as in a crash) and reap it."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def stop_server(proc):
    """A clean shutdown, SIGKILL if it takes over a minute."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_server(proc)


class MariaDB:
    def __init__(self, workdir, tls=False, server_args=(), setup=True):
        self.dir = pathlib.Path(workdir)
        self.server_args = list(server_args)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        if tls:
            make_certificates(self.dir)
        self.datadir = self.dir / "data"
        self.socket = str(self.dir / "mariadb.sock")
        self.port = _free_port()
        self.password_file = self.dir / "cnc.password"
        self.password_file.write_text("cnc-test-password\n")
        os.chmod(self.password_file, 0o600)
        self.proc = None
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                        "--auth-root-authentication-method=normal", "--skip-test-db", *user,
                        *self.server_args],
                       check=True, capture_output=True, timeout=120)
        self.start()
        if not setup:  # an empty server: the test creates the database and users itself
            return
        with self.connect(user="root", password="", database=None) as c, c.cursor() as cur:
            cur.execute("CREATE DATABASE cnc")
            for host in ("localhost", "127.0.0.1"):
                require = " REQUIRE SSL" if tls and host == "127.0.0.1" else ""
                cur.execute(f"CREATE USER 'cnc'@'{host}' IDENTIFIED BY 'cnc-test-password'{require}")
                cur.execute(f"GRANT ALL ON cnc.* TO 'cnc'@'{host}'")

    def start(self):
        user = ["--user=root"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir}/mariadb.pid",
             f"--log-error={self.dir}/mariadb.err", "--skip-log-bin", "--innodb-buffer-pool-size=256M",
             "--max-connections=50", *user, *self._tls_options(), *self.server_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.dir / "mariadb.err").read_text(errors="replace"))
            try:
                self.connect(user="root", password="", database=None).close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("mariadbd did not start")

    def _tls_options(self):
        if not self.tls:
            return []
        return [f"--ssl-ca={self.dir}/ca.pem", f"--ssl-cert={self.dir}/server.pem",
                f"--ssl-key={self.dir}/server.key"]

    def connect(self, user="cnc", password="cnc-test-password", database="cnc"):
        return pymysql.connect(unix_socket=self.socket, user=user, password=password,
                               database=database, autocommit=True)

    def query(self, sql, *args):
        with self.connect() as c, c.cursor() as cur:
            cur.execute(sql, args or None)
            return cur.fetchall()

    def scalar(self, sql, *args):
        return self.query(sql, *args)[0][0]

    def root(self, sql, *args):
        """A statement as root (SET GLOBAL, LOCK TABLES, ...)."""
        with self.connect(user="root", password="", database=None) as c, c.cursor() as cur:
            cur.execute(sql, args or None)
            return cur.fetchall()

    def kill(self):
        """SIGKILL: the server dies as in a crash; clients lose their connections."""
        kill_server(self.proc)

    def stop(self):
        stop_server(self.proc)

    def mysql_yaml(self, create_schema=True, readings="rows"):
        return (f"mysql: {{socket: \"{self.socket}\", user: cnc, password_file: \"{self.password_file}\", "
                f"database: cnc, create_schema: {'true' if create_schema else 'false'}, "
                f"readings: {readings}}}\n")
