"""galera.py - a three-node MariaDB Galera cluster on loopback for the integration tests
(../shared/CLUSTER_NOTES.md): each node a plain mariadbd with its own datadir, socket and ports
(SQL, group communication, IST, SST), rsync SST. The first node is bootstrapped and initialised,
the others join with an empty datadir and get it by SST; the database `cnc` and the user `cnc`
are made on the first and replicate. Nodes can be SIGKILLed, restarted (they rejoin), isolated
from the others (non-primary) and desynced.
"""
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pymysql

from mariadb import kill_server, stop_server


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, cluster, i):
        self.cluster, self.i = cluster, i
        self.dir = cluster.dir / f"node{i}"
        self.datadir = self.dir / "data"
        self.socket = str(self.dir / "mariadb.sock")
        self.port, self.gcomm, self.ist, self.sst = (_free_port() for _ in range(4))
        self.proc = None

    def args(self, bootstrap=False):
        c = self.cluster
        user = ["--user=root"] if os.geteuid() == 0 else []
        return ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--pid-file={self.dir}/mariadb.pid", f"--log-error={self.dir}/mariadb.err",
                "--innodb-buffer-pool-size=128M", "--max-connections=50",
                "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
                "--wsrep-on=ON", "--wsrep-provider=/usr/lib/galera/libgalera_smm.so",
                f"--wsrep-cluster-name={c.name}",
                f"--wsrep-node-address=127.0.0.1:{self.gcomm}",
                f"--wsrep-node-name=node{self.i}",
                "--wsrep-provider-options=" + ";".join([
                    f"gmcast.listen_addr=tcp://127.0.0.1:{self.gcomm}",
                    f"ist.recv_addr=127.0.0.1:{self.ist}", "gcache.size=64M",
                    "evs.suspect_timeout=PT3S", "evs.inactive_timeout=PT5S"]),
                f"--wsrep-sst-receive-address=127.0.0.1:{self.sst}",
                "--wsrep-sst-method=rsync",
                "--wsrep-cluster-address=gcomm://" + ",".join(
                    f"127.0.0.1:{n.gcomm}" for n in c.nodes),
                *(["--wsrep-new-cluster"] if bootstrap else []), *user, *c.server_args]

    def start(self, bootstrap=False):
        self.proc = subprocess.Popen(self.args(bootstrap), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.wait_synced()

    def wait_synced(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node{self.i} exited:\n" +
                                   (self.dir / "mariadb.err").read_text(errors="replace")[-3000:])
            try:
                if self.status("wsrep_local_state_comment") == "Synced":
                    return
            except pymysql.err.MySQLError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"node{self.i} not Synced within {timeout}s")

    def connect(self, user="root", password="", database=None):
        return pymysql.connect(unix_socket=self.socket, user=user, password=password,
                               database=database, autocommit=True, connect_timeout=5,
                               read_timeout=10)

    def root(self, sql):
        with self.connect() as c, c.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def status(self, name):
        rows = self.root(f"SHOW GLOBAL STATUS LIKE '{name}'")
        return rows[0][1] if rows else None

    def scalar(self, sql):
        with self.connect(database="cnc") as c, c.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()[0][0]

    def kill(self):
        kill_server(self.proc)

    def restart(self):
        """After a hard kill the node gets a full SST; the rsync receiver runs as nobody."""
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "nobody:nogroup", str(self.datadir)], check=True)
        self.start()

    def isolate(self, on=True):
        """Cut the node off the group: alone it is not the primary component (1047 on writes)."""
        self.root(f"SET GLOBAL wsrep_provider_options='gmcast.isolate={1 if on else 0}'")

    def stop(self):
        stop_server(self.proc)


class Galera:
    def __init__(self, workdir, size=3, name="cnc-test", server_args=()):
        self.dir = pathlib.Path(workdir)
        self.name = name
        self.server_args = list(server_args)  # after the defaults: a benchmark's buffer pool
        self.nodes = []
        self.nodes = [Node(self, i) for i in range(size)]
        self.password_file = self.dir / "cnc.password"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text("cnc-test-password\n")
        os.chmod(self.password_file, 0o600)
        first = self.nodes[0]
        for n in self.nodes:
            n.dir.mkdir(parents=True)
            n.datadir.mkdir()
            os.chmod(n.dir, 0o777)
            os.chmod(n.datadir, 0o777)
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={first.datadir}",
                        "--auth-root-authentication-method=normal", "--skip-test-db", *user],
                       check=True, capture_output=True, timeout=120)
        first.start(bootstrap=True)
        first.root("CREATE DATABASE cnc")
        for host in ("localhost", "127.0.0.1"):
            first.root(f"CREATE USER 'cnc'@'{host}' IDENTIFIED BY 'cnc-test-password'")
            first.root(f"GRANT ALL ON cnc.* TO 'cnc'@'{host}'")
        if os.geteuid() == 0:
            for n in self.nodes[1:]:
                shutil.chown(n.datadir, "nobody", "nogroup")
        for n in self.nodes[1:]:
            n.start()
        for n in self.nodes:
            n.wait_synced()

    def hosts_yaml(self, order=None):
        order = order if order is not None else range(len(self.nodes))
        hosts = ", ".join(f"127.0.0.1:{self.nodes[i].port}" for i in order)
        return (f"mysql: {{hosts: [{hosts}], user: cnc, password_file: \"{self.password_file}\", "
                "database: cnc, create_schema: true, readings: rows}\n")

    def tables(self, node=None):
        return [r[0] for r in (node or self.nodes[0]).root(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cnc' "
            "AND table_type = 'BASE TABLE'")]

    def contents(self, node):
        """(messages, a checksum of their keys, readings) on one node, after it applied every
        write the cluster committed before the query (wsrep_sync_wait)."""
        with node.connect(database="cnc") as c, c.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            if "cnc_message" not in self.tables(node):
                return (0, 0, 0)
            cur.execute("SELECT COUNT(*), COALESCE(SUM(CRC32(msg_key)), 0) FROM cnc_message")
            n, crc = cur.fetchall()[0]
            cur.execute("SELECT COUNT(*) FROM cnc_reading")
            return (n, int(crc), cur.fetchall()[0][0])

    def reset(self):
        """Between tests: every node up, Synced, writable, in the group; the tables empty."""
        for n in self.nodes:
            if n.proc.poll() is not None:
                n.restart()
        for n in self.nodes:
            n.root("SET GLOBAL read_only = OFF")
            n.root("SET GLOBAL wsrep_desync = OFF")
            n.isolate(False)
        for n in self.nodes:
            n.wait_synced()
        for t in self.tables():
            self.nodes[0].root(f"TRUNCATE TABLE cnc.{t}")

    def node_by_port(self, port):
        return next(n for n in self.nodes if n.port == port)

    def stop(self):
        for n in reversed(self.nodes):
            n.stop()
