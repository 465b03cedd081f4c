"""haproxy.py - Debian's HAProxy in front of brokers, for the cluster tests: it runs
config/cluster/haproxy.cfg itself, with loopback addresses substituted, in the foreground, with
an admin socket the test reads to see which brokers HAProxy holds up."""
import pathlib
import re
import socket
import subprocess

from conftest import ROOT, free_port, wait_for

EXAMPLE = ROOT / "config" / "cluster" / "haproxy.cfg"


class HAProxy:
    def __init__(self, workdir, broker_ports):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.socket = self.dir / "admin.sock"
        text = EXAMPLE.read_text()
        # What needs a system install (syslog, chroot, the haproxy user) goes; the rest is the
        # example as shipped.
        text = re.sub(r"(?m)^\s*(log /dev/log.*|chroot .*|user haproxy|group haproxy|daemon|"
                      r"log global|option tcplog)\n", "", text)
        text = text.replace("    bind :1883\n", f"    bind 127.0.0.1:{self.port}\n")
        names = re.findall(r"(?m)^\s*server (\S+) \S+ check$", text)
        assert len(names) == len(broker_ports), (names, broker_ports)
        for name, port in zip(names, broker_ports):
            text = re.sub(rf"(?m)^(\s*server {name}) \S+ check$", rf"\1 127.0.0.1:{port} check", text)
        text = text.replace("    maxconn 8000\n",
                            f"    maxconn 8000\n    stats socket {self.socket} level admin\n")
        self.names = names
        self.cfg = self.dir / "haproxy.cfg"
        self.cfg.write_text(text)
        subprocess.run(["haproxy", "-c", "-q", "-f", str(self.cfg)], check=True, timeout=30)
        self.log = open(self.dir / "haproxy.log", "w")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.cfg)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.socket.exists(), what="haproxy's admin socket")

    def command(self, line):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def states(self):
        """{server name: "UP" | "DOWN" | ...} from `show stat`."""
        lines = self.command("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("svname") in self.names:
                out[row["svname"]] = row["status"].split()[0]
        return out

    def wait_state(self, name, state, timeout=30):
        wait_for(lambda: self.states().get(name) == state, timeout=timeout, interval=0.1,
                 what=f"haproxy: {name} {state} (have {self.states()})")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()
