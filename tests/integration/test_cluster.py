"""test_cluster.py - the writer against a real three-node MariaDB Galera cluster (galera.py):
mysql.hosts lists the nodes; the writer writes through one and moves to the next when the one in
use dies (SIGKILL), leaves the primary component (isolated), is desynced, or turns read-only.
Every acknowledged message is stored exactly once, every node ends up with the same rows (count
and a checksum of the keys), nothing goes to the dead letters, and the metrics say which node is
written through and how often the writer moved. When no node takes writes, the writer waits.

Two brokers given the same messages write them through different nodes: Galera's certification
conflicts (1213) are waited out and retried, and each message is one row.

The plant of config/cluster/ (its files as shipped, addresses substituted): two brokers, broker2
bridged to broker1 for the output topics, HAProxy (haproxy.py) in front, collectors that resend
what was not acknowledged after a reconnect (resending.py, paho). Under steady load both brokers
store what they took and every machine's analytics reach both brokers once; a broker SIGKILLed
mid-stream loses its collectors to the other broker, which take their unacknowledged messages
with them, and replays its spool when restarted: every message one row on every node.
"""
import json
import re

import pytest

from conftest import ROOT, wait_for
from galera import Galera
from haproxy import HAProxy
from resending import ResendingCollector
from mqtt_raw import RawPublisher
from test_db_states import Paced, metrics
from test_storage import HANDLERS, lathe_msg


@pytest.fixture(scope="module")
def galera(tmp_path_factory):
    cluster = Galera(tmp_path_factory.mktemp("galera"))
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(galera):
    galera.reset()
    yield galera


def cluster_yaml(cluster, spool_dir, order=None):
    return (HANDLERS + cluster.hosts_yaml(order) + f"spool: {{dir: \"{spool_dir}\"}}\n"
            "writer: {batch_size: 200, flush_interval_ms: 50}\nmetrics: {interval_s: 1}\n")


def started(broker_factory, collector_factory, cluster, tmp_path, order=None, name="spool"):
    b = broker_factory(cluster_yaml(cluster, tmp_path / name, order))
    sub = collector_factory(b.port, topics=("cnc/ingest/stats",))
    wait_for(lambda: metrics(sub).get("db_connected") and metrics(sub).get("db_host"),
             timeout=60, what="the writer connected to a node")
    return b, sub


def node_in_use(cluster, sub):
    port = int(metrics(sub)["db_host"].rsplit(":", 1)[1])
    return cluster.node_by_port(port)


def under_load(broker_factory, collector_factory, cluster, tmp_path):
    """A broker storing 500 msg/s through the cluster: (broker, its metrics subscriber, the
    paced publisher, the node it writes through)."""
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    paced = Paced(b.port, 500)
    wait_for(lambda: metrics(sub).get("stored", 0) > 500, timeout=30, what="writes flowing")
    return b, sub, paced, node_in_use(cluster, sub)


def wait_moved_from(cluster, sub, node, timeout=60):
    wait_for(lambda: metrics(sub).get("db_failovers", 0) >= 1 and
             node_in_use(cluster, sub) is not node and metrics(sub).get("db_connected"),
             timeout=timeout, what=f"the writer on another node than node{node.i} "
             f"(metrics: {json.dumps(metrics(sub))[:400]})")
    return node_in_use(cluster, sub)


def assert_stored_once_everywhere(cluster, sub, n, spool_dir, nodes=None):
    nodes = nodes if nodes is not None else cluster.nodes
    wait_for(lambda: metrics(sub).get("stored") == n, timeout=120, interval=0.2,
             what=f"stored == {n} (metrics: {json.dumps(metrics(sub))[:400]})")
    seen = [cluster.contents(node) for node in nodes]
    assert seen[0][0] == n and seen[0][2] == 4 * n, seen
    assert all(s == seen[0] for s in seen), seen
    m = metrics(sub)
    assert m["dead_letters"] == 0 and m["db_errors_by_cause"]["refused_record"] == 0, m
    assert not (spool_dir / "dead-letter.jsonl").exists()
    return m


def test_steady_load_every_node_has_every_row(broker_factory, collector_factory, cluster,
                                              tmp_path):
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    pub = RawPublisher(b.port, "steady", protocol=5)
    for i in range(3000):
        assert pub.publish("cnc/CNC001/data", lathe_msg(i), qos=1) == 0
    pub.close()
    m = assert_stored_once_everywhere(cluster, sub, 3000, tmp_path / "spool")
    assert m["db_failovers"] == 0 and m["db_host"] == f"127.0.0.1:{cluster.nodes[0].port}", m
    assert f"connected to the database through 127.0.0.1:{cluster.nodes[0].port}" in b.log_text()


def test_node_in_use_killed(broker_factory, collector_factory, cluster, tmp_path):
    b, sub, paced, victim = under_load(broker_factory, collector_factory, cluster, tmp_path)
    victim.kill()
    now = wait_moved_from(cluster, sub, victim)
    moved_at = metrics(sub)["stored"]
    wait_for(lambda: metrics(sub)["stored"] > moved_at + 500, timeout=30,
             what="writes flowing again")
    n = paced.stop()
    survivors = [x for x in cluster.nodes if x is not victim]
    m = assert_stored_once_everywhere(cluster, sub, n, tmp_path / "spool", survivors)
    assert m["db_errors_by_cause"]["connection_lost"] + m["db_errors_by_cause"]["unreachable"] > 0
    victim.restart()  # rejoins by SST: it has every row too
    assert cluster.contents(victim) == cluster.contents(now)
    print(f"\nnode{victim.i} killed under 500 msg/s: {n} acknowledged, {m['stored']} stored once "
          f"on every node, {m['db_failovers']} failover(s), now through node{now.i}")


def test_node_in_use_isolated(broker_factory, collector_factory, cluster, tmp_path):
    """Cut off the group, the node is not primary: 1047 on writes, wsrep_ready OFF."""
    b, sub, paced, victim = under_load(broker_factory, collector_factory, cluster, tmp_path)
    victim.isolate()
    wait_moved_from(cluster, sub, victim)
    n = paced.stop()
    others = [x for x in cluster.nodes if x is not victim]
    m = assert_stored_once_everywhere(cluster, sub, n, tmp_path / "spool", others)
    assert m["db_errors_by_cause"]["not_ready"] > 0, m
    victim.isolate(False)
    victim.wait_synced()
    assert cluster.contents(victim) == cluster.contents(others[0])
    assert "not ready for writes" in b.log_text() or "1047" in b.log_text()


def test_node_in_use_desynced(broker_factory, collector_factory, cluster, tmp_path):
    """A desynced node (as a donor is) may lag the cluster: left for a Synced one."""
    b, sub, paced, victim = under_load(broker_factory, collector_factory, cluster, tmp_path)
    victim.root("SET GLOBAL wsrep_desync = ON")
    wait_moved_from(cluster, sub, victim)
    n = paced.stop()
    victim.root("SET GLOBAL wsrep_desync = OFF")
    victim.wait_synced()
    m = assert_stored_once_everywhere(cluster, sub, n, tmp_path / "spool")
    assert m["db_errors_by_cause"]["not_ready"] > 0, m
    assert "Donor/Desynced" in b.log_text()


def test_read_only_nodes_left_then_waited_for(broker_factory, collector_factory, cluster,
                                              tmp_path):
    """One node read-only: the writer moves on. Every node read-only: it waits (nothing is
    diverted) until one takes writes again."""
    b, sub, paced, first = under_load(broker_factory, collector_factory, cluster, tmp_path)
    first.root("SET GLOBAL read_only = ON")
    wait_moved_from(cluster, sub, first)
    for node in cluster.nodes:
        node.root("SET GLOBAL read_only = ON")
    wait_for(lambda: metrics(sub).get("db_waiting_for") == "read_only" and
             metrics(sub).get("spooled_bytes", 0) > 0, timeout=30, what="the writer waiting")
    last = cluster.nodes[2] if first is not cluster.nodes[2] else cluster.nodes[1]
    last.root("SET GLOBAL read_only = OFF")
    wait_for(lambda: node_in_use(cluster, sub) is last and metrics(sub).get("db_connected"),
             timeout=60, what=f"the writer on node{last.i}, the one writable node")
    n = paced.stop()
    m = assert_stored_once_everywhere(cluster, sub, n, tmp_path / "spool")
    assert m["db_errors_by_cause"]["read_only"] > 0, m
    assert "is read-only (read_only=ON)" in b.log_text()


def test_two_brokers_same_messages_through_different_nodes(broker_factory, collector_factory,
                                                           cluster, tmp_path):
    """The same messages (an HA pair of collectors, a bridge loop) reach two brokers, which write
    through node0 and node1: the primary key makes them one row each, and a certification
    conflict between the two nodes is a lock error, waited out and retried."""
    a, sub_a = started(broker_factory, collector_factory, cluster, tmp_path, [0, 1, 2], "spool-a")
    b, sub_b = started(broker_factory, collector_factory, cluster, tmp_path, [1, 2, 0], "spool-b")
    assert node_in_use(cluster, sub_a) is not node_in_use(cluster, sub_b)
    pubs = [RawPublisher(x.port, f"twin-{k}", protocol=5) for k, x in enumerate((a, b))]
    # Rounds of the same messages to both brokers at once, until their overlapping batches have
    # collided in certification at least once (it took one round in every run seen here).
    per_round, n, conflicts = 3000, 0, 0
    while conflicts == 0:
        assert n < 8 * per_round, "no certification conflict in 8 rounds"
        for i in range(n, n + per_round):
            for pub in pubs:
                assert pub.publish("cnc/CNC001/data", lathe_msg(i), qos=1) == 0
        n += per_round
        # Each broker committed all n (a row already there is an INSERT IGNORE no-op).
        ma = assert_stored_once_everywhere(cluster, sub_a, n, tmp_path / "spool-a")
        mb = assert_stored_once_everywhere(cluster, sub_b, n, tmp_path / "spool-b")
        conflicts = ma["db_errors_by_cause"]["lock"] + mb["db_errors_by_cause"]["lock"]
    for pub in pubs:
        pub.close()
    assert "Deadlock" in a.log_text() + b.log_text() or "1213" in a.log_text() + b.log_text()
    print(f"\ntwo brokers, {n} messages each, through node0 and node1: {n} rows on every node, "
          f"{conflicts} certification conflicts retried")


# ---- Several brokers: HAProxy in front, bridged outputs, the example of config/cluster/ ----

CLUSTER_EXAMPLE = ROOT / "config" / "cluster"


def plant_yaml(cluster, node, spool_dir, order):
    """config/cluster/cnc_ingest.yaml as shipped, with this test's addresses and folders."""
    text = (CLUSTER_EXAMPLE / "cnc_ingest.yaml").read_text()
    hosts = ", ".join(f"127.0.0.1:{cluster.nodes[i].port}" for i in order)
    for old, new in ((r"(?m)^node: broker1 ", f"node: {node} "),
                     (r"hosts: \[[^\]]*\]", f"hosts: [{hosts}]"),
                     (r"password_file: /etc/mosquitto/cnc_ingest.password",
                      f"password_file: \"{cluster.password_file}\""),
                     (r"dir: /var/lib/mosquitto/cnc_spool", f"dir: \"{spool_dir}\""),
                     (r"interval_s: 10", "interval_s: 1")):
        text, n = re.subn(old, new, text)
        assert n == 1, old
    return text


def bridge_conf(to_port):
    """config/cluster/bridge.conf as shipped, pointed at broker1's port."""
    text = (CLUSTER_EXAMPLE / "bridge.conf").read_text()
    text, n = re.subn(r"(?m)^address \S+$", f"address 127.0.0.1:{to_port}", text)
    assert n == 1
    return text


def node_metrics(sub, node):
    got = sub.topics(f"cnc/ingest/stats/{node}")
    return json.loads(got[-1][1]) if got else {}


class Plant:
    """Two brokers with the plugin (b1, b2, each writing through its own first Galera node),
    broker2 bridged to broker1 for the output topics, HAProxy in front of both, a subscriber on
    each broker, collectors through HAProxy."""

    def __init__(self, broker_factory, collector_factory, cluster, tmp_path):
        self.cluster, self.tmp = cluster, tmp_path
        self.b1 = broker_factory(plant_yaml(cluster, "b1", tmp_path / "spool-b1", [0, 1, 2]))
        self.b2 = broker_factory(plant_yaml(cluster, "b2", tmp_path / "spool-b2", [1, 2, 0]),
                                 bridge_conf(self.b1.port))
        self.lb = HAProxy(tmp_path / "haproxy", [self.b1.port, self.b2.port])
        topics = ("cnc/ingest/stats/#", "cnc/analytics/#", "cnc/rejected/#")
        self.sub1 = collector_factory(self.b1.port, topics=topics)
        self.sub2 = collector_factory(self.b2.port, topics=topics)
        # Each broker hears the other's counters through the bridge.
        for sub in (self.sub1, self.sub2):
            wait_for(lambda: all(node_metrics(sub, n).get("db_connected") for n in ("b1", "b2")),
                     timeout=60, what="both brokers' metrics on each broker")
        self.lb.wait_state("broker1", "UP")
        self.lb.wait_state("broker2", "UP")
        self.collectors = []

    def collect(self, machines, rate):
        self.collectors = [ResendingCollector(self.lb.port, f"CNC{100 + k}") for k in range(machines)]
        wait_for(lambda: all(c.connects for c in self.collectors), what="collectors connected")
        for c in self.collectors:
            c.run_paced(rate)

    def stop_collecting(self, timeout=120):
        for c in self.collectors:
            c.stop_publishing()
        wait_for(lambda: all(c.all_acked() for c in self.collectors), timeout=timeout,
                 interval=0.1, what="every message acknowledged")
        sent = sum(c.sent for c in self.collectors)
        for c in self.collectors:
            assert c.acked() == set(range(c.sent)), c.cnc_id
            c.close()
        return sent

    def stored(self):
        return sum(node_metrics(self.sub1, n).get("stored", 0) for n in ("b1", "b2"))

    def assert_rows_once_everywhere(self, n):
        """n rows on every Galera node, the same keys; per machine exactly what it sent."""
        wait_for(lambda: self.cluster.contents(self.cluster.nodes[0])[0] >= n, timeout=120,
                 interval=0.2, what=f"{n} rows (have {self.cluster.contents(self.cluster.nodes[0])})")
        seen = [self.cluster.contents(node)[:2] for node in self.cluster.nodes]
        assert seen[0][0] == n and all(s == seen[0] for s in seen), seen
        with self.cluster.nodes[2].connect(database="cnc") as c, c.cursor() as cur:
            cur.execute("SELECT cnc_id, COUNT(*) FROM cnc_message GROUP BY cnc_id")
            per_machine = dict(cur.fetchall())
            cur.execute("SELECT ingest_node, COUNT(*) FROM cnc_message GROUP BY ingest_node")
            per_broker = dict(cur.fetchall())
        assert per_machine == {c.cnc_id: c.sent for c in self.collectors}, per_machine
        for node in ("b1", "b2"):
            m = node_metrics(self.sub1, node)
            assert m["dead_letters"] == 0 and m["db_errors_by_cause"]["refused_record"] == 0, m
            assert not (self.tmp / f"spool-{node}" / "dead-letter.jsonl").exists()
        return per_broker

    def close(self):
        for c in self.collectors:
            c.close()
        self.lb.stop()


@pytest.fixture
def plant(broker_factory, collector_factory, cluster, tmp_path):
    p = Plant(broker_factory, collector_factory, cluster, tmp_path)
    yield p
    p.close()


def test_steady_load_through_haproxy_to_two_brokers(plant):
    """Collectors through HAProxy land on both brokers; each broker stores what it acknowledged
    through its own node; the bridge shows every machine's analytics on both brokers, once."""
    plant.collect(machines=6, rate=100)
    wait_for(lambda: plant.stored() >= 1200, timeout=60, what="rows flowing")
    n = plant.stop_collecting()
    per_broker = plant.assert_rows_once_everywhere(n)
    assert set(per_broker) == {"b1", "b2"} and sum(per_broker.values()) == n, per_broker
    wait_for(lambda: sum(node_metrics(plant.sub1, b)["received"] for b in ("b1", "b2")) == n,
             what="both brokers' counters")
    hosts = {node_metrics(plant.sub1, b)["db_host"] for b in ("b1", "b2")}
    assert len(hosts) == 2, hosts  # each writes through its own first node
    # The bridge: on each broker, every accepted message's analytics exactly once (none echoed
    # back over the bridge, none lost), whichever broker took it.
    for sub in (plant.sub1, plant.sub2):
        wait_for(lambda: len(sub.topics("cnc/analytics/CNC")) >= n, timeout=30,
                 what=f"{n} analytics messages (have {len(sub.topics('cnc/analytics/CNC'))})")
        assert len(sub.topics("cnc/analytics/CNC")) == n
    # The retained layout is not bridged: each broker keeps its own.
    assert {json.loads(p)["node"] for _, p in plant.sub2.topics("cnc/analytics")
            if _ == "cnc/analytics"} == {"b2"}
    print(f"\nsteady load through HAProxy: {n} acknowledged, {n} rows on every node, "
          f"by broker {per_broker}")


def test_broker_killed_collectors_move_and_resend(plant):
    """A broker SIGKILLed mid-stream: its collectors reconnect through HAProxy to the other one
    and resend what was not acknowledged; restarted, it stores what it had acknowledged from its
    spool. Every acknowledged message is one row on every node."""
    plant.collect(machines=6, rate=100)
    wait_for(lambda: all(node_metrics(plant.sub1, b).get("received", 0) > 200 for b in ("b1", "b2")),
             timeout=60, what="both brokers taking messages")
    before = node_metrics(plant.sub2, "b2")["received"]
    plant.b1.kill()
    plant.lb.wait_state("broker1", "DOWN")
    # Every collector carries on through broker2 (the moved ones reconnected and resent).
    wait_for(lambda: node_metrics(plant.sub2, "b2")["received"] > before + 6 * 100 * 2,
             timeout=60, what="the moved collectors publishing through broker2")
    moved = sum(1 for c in plant.collectors if c.connects >= 2)
    assert moved > 0
    log_mark = len(plant.b1.log_text())
    plant.b1.start()  # same spool: replays what it acknowledged and had not stored
    plant.lb.wait_state("broker1", "UP")
    n = plant.stop_collecting()
    per_broker = plant.assert_rows_once_everywhere(n)
    restart_log = plant.b1.log_text()[log_mark:]
    replay = re.search(r"\((\d+) bytes to replay\)", restart_log)
    assert replay, restart_log[-2000:]
    print(f"\nbroker1 killed: {moved} collectors moved to broker2 and resent; {n} acknowledged, "
          f"{n} rows on every node, by broker {per_broker}; broker1 restarted with "
          f"{replay.group(1)} spool bytes to replay")
