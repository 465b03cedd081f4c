"""test_sim_broker.py - cnc-sim driving a real broker with the plugin and a
private MariaDB: what it sent, what the broker refused and what was stored
agree to the message.
"""
import json
import subprocess

from conftest import BUILD, ROOT, wait_for

SIM = BUILD / "cnc-sim"
SHIPPED = (ROOT / "config" / "cnc_ingest.yaml").read_text()


def run_sim(port, *args):
    r = subprocess.run([str(SIM), "--port", str(port), "--json", *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sim_counts_match_broker_and_database(broker_factory, mariadb, tmp_path):
    b = broker_factory(SHIPPED + mariadb.mysql_yaml(readings="json") +
                       f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n")
    out = run_sim(b.port, "--machines", "30", "--count", "3000", "--rate", "3000",
                  "--invalid-ratio", "0.1", "--seed", "3")
    assert out["sent"] == out["acknowledged"] == 3000
    assert out["refused"] == out["invalid_sent"] > 200
    assert out["refused_by_reason"] == {"0x87": out["refused"]}
    assert len(out["invalid_by_class"]) == 13
    stored = 3000 - out["invalid_sent"]
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == stored, timeout=60,
             what=f"{stored} rows")
    assert mariadb.scalar("SELECT COUNT(DISTINCT cnc_id) FROM cnc_message") == 30
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_efficiency") == mariadb.scalar(
        "SELECT COUNT(*) FROM cnc_message WHERE cnc_id LIKE 'PRESS-%'")
    # The shipped routes: lathes (CNC0000, ...) on the machine_tool instance cnc_type_a, presses
    # on press_line; none falls through to the generic handler.
    assert list(mariadb.query("SELECT handler, COUNT(*) FROM cnc_message GROUP BY handler "
                              "ORDER BY handler")) == [
        ("cnc_type_a", mariadb.scalar("SELECT COUNT(*) FROM cnc_message WHERE cnc_id LIKE 'CNC%'")),
        ("press_line", mariadb.scalar("SELECT COUNT(*) FROM cnc_efficiency"))]


def test_sim_v311_qos2_and_faults_truth(broker_factory, tmp_path):
    b = broker_factory(SHIPPED.replace("interval_s: 10", "interval_s: 1"))
    truth = tmp_path / "truth.jsonl"
    out = run_sim(b.port, "--machines", "3", "--count", "30000", "--burst", "--qos", "2",
                  "--protocol", "311", "--faults", "0.02", "--truth", str(truth), "--seed", "11")
    assert out["sent"] == out["acknowledged"] == 30000
    # MQTT 3.1.1 acks carry no reason code: what the broker refused is in its counters.
    stats = b.metrics_until(lambda m: m["received"] == 30000)
    # Every fault, an impossible spindle speed on a lathe's machine_tool instance among them, is
    # an anomaly of an accepted message, never a refusal.
    assert (stats["accepted"], stats["rejected"]) == (30000, 0)
    assert stats["anomalies"] > 0
    faults = [json.loads(line) for line in truth.read_text().splitlines()]
    assert {f["kind"] for f in faults} == {"spike", "drift", "stuck", "impossible"}
    assert all(f["end"] >= f["start"] for f in faults)


def test_sim_pipelined_publisher_agrees_with_broker(broker_factory, mariadb, tmp_path):
    """The pipelined publisher (many PUBLISH per write, our own PUBACK parsing)
    counts exactly what the broker acknowledged and refused, in v5 and v3.1.1."""
    b = broker_factory(SHIPPED + mariadb.mysql_yaml(readings="json") +
                       f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n")
    out = run_sim(b.port, "--pipeline", "--machines", "50", "--count", "20000", "--burst",
                  "--invalid-ratio", "0.05", "--seed", "5")
    assert out["sent"] == out["acknowledged"] == 20000
    assert out["refused"] == out["invalid_sent"] > 500
    assert out["refused_by_reason"] == {"0x87": out["refused"]}
    assert out["window"] == 20  # the broker's Receive Maximum (max_inflight_messages) is kept
    out311 = run_sim(b.port, "--pipeline", "--protocol", "311", "--machines", "50", "--count",
                     "5000", "--rate", "5000", "--seed", "6")
    assert out311["sent"] == out311["acknowledged"] == 5000  # 3.1.1: refusals show in rows
    stored = 20000 - out["invalid_sent"] + 5000
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == stored, timeout=60,
             what=f"{stored} rows")


def test_sim_pipeline_refuses_qos2():
    r = subprocess.run([str(SIM), "--pipeline", "--qos", "2", "--count", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--pipeline" in r.stderr
