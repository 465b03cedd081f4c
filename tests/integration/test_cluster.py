"""test_cluster.py - the writer against a real three-node MariaDB Galera cluster (galera.py):
mysql.hosts lists the nodes; the writer writes through one and moves to the next when the one in
use dies (SIGKILL), leaves the primary component (isolated), is desynced, or turns read-only.
Every acknowledged message is stored exactly once, every node ends up with the same rows (count
and a checksum of the keys), nothing goes to the dead letters, and the metrics say which node is
written through and how often the writer moved. When no node takes writes, the writer waits.

Two brokers given the same messages write them through different nodes: Galera's certification
conflicts (1213) are waited out and retried, and each message is one row.
"""
import json

import pytest

from conftest import wait_for
from galera import Galera
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
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    paced = Paced(b.port, 500)
    wait_for(lambda: metrics(sub).get("stored", 0) > 500, timeout=30, what="writes flowing")
    victim = node_in_use(cluster, sub)
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
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    paced = Paced(b.port, 500)
    wait_for(lambda: metrics(sub).get("stored", 0) > 500, timeout=30, what="writes flowing")
    victim = node_in_use(cluster, sub)
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
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    paced = Paced(b.port, 500)
    wait_for(lambda: metrics(sub).get("stored", 0) > 500, timeout=30, what="writes flowing")
    victim = node_in_use(cluster, sub)
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
    b, sub = started(broker_factory, collector_factory, cluster, tmp_path)
    paced = Paced(b.port, 500)
    wait_for(lambda: metrics(sub).get("stored", 0) > 500, timeout=30, what="writes flowing")
    first = node_in_use(cluster, sub)
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
    n = 4000
    for i in range(n):
        for pub in pubs:
            assert pub.publish("cnc/CNC001/data", lathe_msg(i), qos=1) == 0
    for pub in pubs:
        pub.close()
    # Each broker committed all n (a row already there is an INSERT IGNORE no-op).
    ma = assert_stored_once_everywhere(cluster, sub_a, n, tmp_path / "spool-a")
    mb = assert_stored_once_everywhere(cluster, sub_b, n, tmp_path / "spool-b")
    conflicts = ma["db_errors_by_cause"]["lock"] + mb["db_errors_by_cause"]["lock"]
    print(f"\ntwo brokers, {n} messages each, through node0 and node1: {n} rows on every node, "
          f"{conflicts} certification conflicts retried")
