"""cluster_bench.py - run by bench/run_cluster.sh: one broker into one MariaDB, one broker into a
three-node Galera cluster, two brokers into the cluster, side by side in one run on this
machine. For each layout: a paced ladder (cnc-sim --pipeline at a fixed rate; a step passes when
the simulator kept the pace, every message was acknowledged, and every row was in the database
within DRAIN_S of the last publish), the CPU per message of each part at the highest passing
step, and the plugin's publish->commit p50/p99 at 10,000 msg/s. Markdown on stdout. Not a test.
"""
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from conftest import Broker  # noqa: E402
from galera import Galera  # noqa: E402
from mariadb import MariaDB  # noqa: E402

SIM = ROOT / "build" / "cnc-sim"
STEP_S = float(os.environ.get("CLUSTER_STEP_SECONDS", "8"))
DRAIN_S = 5.0
LADDER = [int(r) for r in os.environ.get(
    "CLUSTER_LADDER", "10000,20000,30000,40000,50000,60000,75000,90000,110000").split(",")]
SERVER = ["--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M", "--max-connections=100"]
BROKER_CONF = "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
HANDLERS = """
handlers:
  lathe:
    type: machine_tool
    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600], Y-Axis: [0, 400]}}
  press: {type: sensor_efficiency}
routes:
  - {match: "CNC*", handler: lathe}
  - {match: "PRESS-*", handler: press}
analytics: {topic: ""}
writer: {batch_size: 5000, flush_interval_ms: 100}
"""


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, 1/100 s


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Layout:
    def __init__(self, name, work, mysql_yamls, db_pids, count_rows, truncate):
        self.name, self.work = name, work
        self.mysql_yamls, self.db_pids = mysql_yamls, db_pids
        self.count_rows, self.truncate = count_rows, truncate
        self.brokers = []
        self.generation = 0

    def start_brokers(self):
        self.stop_brokers()
        self.generation += 1
        for k, mysql in enumerate(self.mysql_yamls):
            d = self.work / f"{self.name}-g{self.generation}-b{k}"
            d.mkdir(parents=True)
            yaml_text = (f"node: b{k}\n" + HANDLERS + mysql +
                         f"spool: {{dir: \"{d}/spool\", max_bytes: 8GiB}}\nmetrics: {{interval_s: 1}}\n")
            self.brokers.append(Broker(d, yaml_text, BROKER_CONF).start())
        for b in self.brokers:  # the writer connected (and the schema made) before any load
            deadline = time.monotonic() + 60
            while "connected to the database" not in b.log_text():
                assert time.monotonic() < deadline, b.log_text()[-2000:]
                time.sleep(0.1)

    def stop_brokers(self):
        for b in self.brokers:
            b.stop()
        self.brokers = []

    def run(self, rate, seconds, seed):
        """cnc-sim at rate (split over the brokers); returns the step's figures."""
        self.truncate()
        cpu0 = {p: ticks(p) for p in self.db_pids + [b.proc.pid for b in self.brokers]}
        sim0 = children_cpu()
        sims = [subprocess.Popen(
            [str(SIM), "--pipeline", "--port", str(b.port), "--machines", "500",
             "--rate", str(rate // len(self.brokers)), "--duration", str(seconds),
             "--seed", str(seed + k), "--first-machine", str(1000 * k), "--json"],
            stdout=subprocess.PIPE, text=True) for k, b in enumerate(self.brokers)]
        outs = [json.loads(s.communicate()[0]) for s in sims]
        end = time.monotonic()
        acked = sum(o["acknowledged"] for o in outs)
        sent = sum(o["sent"] for o in outs)
        achieved = sum(o["rate"] for o in outs)
        rows = 0
        while time.monotonic() - end < 60:
            rows = self.count_rows()
            if rows >= acked:
                break
            time.sleep(0.1)
        drain = time.monotonic() - end
        cpu = {p: ticks(p) - c for p, c in cpu0.items()}
        sim_cpu = children_cpu() - sim0
        ok = (acked == sent and rows == acked and drain <= DRAIN_S and achieved >= 0.97 * rate)
        us = lambda t: t * 10000 / max(acked, 1)  # noqa: E731  ticks -> us per message
        return {"rate": rate, "achieved": achieved, "sent": sent, "acked": acked, "rows": rows,
                "drain_s": drain, "ok": ok,
                "broker_us": sum(us(cpu[b.proc.pid]) for b in self.brokers),
                "db_us": sum(us(cpu[p]) for p in self.db_pids),
                "sim_us": sim_cpu * 1e6 / max(acked, 1)}

    def latency(self, rate=10000, seconds=20):
        self.start_brokers()
        r = self.run(rate, seconds, 77)
        time.sleep(2.5)  # the next metrics message carries the last commits
        lat = []
        for b in self.brokers:
            m = b.metrics_until(lambda m: m.get("stored", 0) >= 1, topic="cnc/ingest/stats")
            lat.append((m["commit_latency_p50_ms"], m["commit_latency_p99_ms"]))
        return r, lat


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="cnc-cluster-bench-"))
    single = MariaDB(work / "single", server_args=SERVER)
    cluster = Galera(work / "galera", server_args=SERVER)
    try:
        def single_rows():
            return single.scalar("SELECT COUNT(*) FROM cnc_message")

        def single_truncate():
            if single.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE "
                             "table_schema = 'cnc' AND table_name = 'cnc_message'"):
                for t in ("cnc_message", "cnc_efficiency", "cnc_anomaly"):
                    single.root(f"TRUNCATE TABLE cnc.{t}")

        def cluster_rows():
            return cluster.contents(cluster.nodes[0])[0]

        def cluster_truncate():
            for t in cluster.tables():
                cluster.nodes[0].root(f"TRUNCATE TABLE cnc.{t}")

        single_yaml = (f"mysql: {{socket: \"{single.socket}\", user: cnc, password_file: "
                       f"\"{single.password_file}\", database: cnc, create_schema: true}}\n")

        def hosts(order):
            h = ", ".join(f"127.0.0.1:{cluster.nodes[i].port}" for i in order)
            return (f"mysql: {{hosts: [{h}], user: cnc, password_file: \"{cluster.password_file}\", "
                    "database: cnc, create_schema: true}\n")

        node_pids = [n.proc.pid for n in cluster.nodes]
        layouts = [
            Layout("one broker, one MariaDB", work, [single_yaml], [single.proc.pid],
                   single_rows, single_truncate),
            Layout("one broker, Galera x3", work, [hosts([0, 1, 2])], node_pids,
                   cluster_rows, cluster_truncate),
            Layout("two brokers, Galera x3", work, [hosts([0, 1, 2]), hosts([1, 2, 0])],
                   node_pids, cluster_rows, cluster_truncate),
        ]
        print(f"### Several brokers and a Galera cluster ({time.strftime('%Y-%m-%d', time.gmtime())}, "
              f"{os.cpu_count()} cores; bench/run_cluster.sh)")
        print()
        print("```")
        print(f"paced ladder, cnc-sim --pipeline, 500 machines, {STEP_S:.0f} s per step; a step passes "
              f"when the pace was kept, all acknowledged, all rows in within {DRAIN_S:.0f} s")
        # This machine today: mosquitto alone, as fast as it acknowledges (the shared hosts
        # differ from day to day by a factor of two; compare figures within one run).
        plain_dir = work / "plain"
        plain_dir.mkdir()
        plain = Broker(plain_dir, "", BROKER_CONF)
        plain.conf.write_text("\n".join(l for l in plain.conf.read_text().splitlines()
                                        if not l.startswith("plugin")) + "\n")
        plain.start()
        t0 = ticks(plain.proc.pid)
        o = json.loads(subprocess.run(
            [str(SIM), "--pipeline", "--port", str(plain.port), "--machines", "500", "--count",
             "300000", "--burst", "--seed", "1", "--json"], capture_output=True, text=True,
            check=True).stdout)
        print(f"this machine today: mosquitto without the plugin acknowledges {o['rate']:.0f} msg/s "
              f"(cnc-sim --burst, 300,000 messages), {(ticks(plain.proc.pid) - t0) * 1e4 / 300000:.1f} us "
              "of broker CPU per message")
        plain.stop()
        best = {}
        for step, rate in enumerate(LADDER):
            line = f"{rate:>7} msg/s:"
            alive = [lay for lay in layouts if best.get(lay.name, {}).get("failed") is None]
            if not alive:
                break
            for lay in alive:
                if not lay.brokers:
                    lay.start_brokers()
                r = lay.run(rate, STEP_S, 10 + step)
                line += (f"  [{lay.name}] {'ok' if r['ok'] else 'FAIL'} ({r['achieved']:.0f}/s, "
                         f"drain {r['drain_s']:.1f} s)")
                if r["ok"]:
                    best[lay.name] = r
                else:
                    best.setdefault(lay.name, {})["failed"] = r
                    lay.stop_brokers()
            print(line, flush=True)
        print()
        print("highest rate with every message stored, and CPU per message at that step "
              "(us, user+system; database = all its nodes):")
        base = best.get(layouts[0].name, {}).get("rate")
        for lay in layouts:
            r = best.get(lay.name, {})
            if "rate" not in r:
                print(f"  {lay.name}: none of the ladder's steps")
                continue
            ratio = f", {r['rate'] / base:.2f} of one MariaDB" if base else ""
            print(f"  {lay.name}: {r['rate']} msg/s{ratio}; broker(s) {r['broker_us']:.1f}, "
                  f"database {r['db_us']:.1f}, cnc-sim {r['sim_us']:.1f}")
        print()
        print("publish->commit at 10,000 msg/s for 20 s (the plugin's receive->commit histogram, "
              "each broker):")
        for lay in layouts:
            r, lat = lay.latency()
            print(f"  {lay.name}: {r['acked']} acknowledged, {r['rows']} rows; p50/p99 " +
                  ", ".join(f"b{k} {p50}/{p99} ms" for k, (p50, p99) in enumerate(lat)))
            lay.stop_brokers()
        print("```")
    finally:
        for lay in locals().get("layouts", []):
            lay.stop_brokers()
        cluster.stop()
        single.stop()


if __name__ == "__main__":
    main()
