"""test_flood.py - a broken collector flooding the broker with invalid messages is not amplified:
its reject reports are held to ingest.reports_per_client_s (the rest counted as suppressed, and
said in its next report), every counter stays exact, and a good collector publishing at the same
time has every message stored."""
import json
import subprocess
import threading

from conftest import BUILD, wait_for
from test_storage import rows, storage_yaml

SIM = BUILD / "cnc-sim"


def sim(port, *args):
    r = subprocess.run([str(SIM), "--pipeline", "--port", str(port), "--json", *args],
                       capture_output=True, text=True, timeout=120)
    return json.loads(r.stdout)


def test_a_flood_of_invalid_messages_is_not_amplified(broker_factory, collector_factory, mariadb,
                                                     tmp_path):
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool", readings="json").replace(
        "metrics: {interval_s: 1}", "metrics: {interval_s: 1}\ningest: {reports_per_client_s: 5}"))
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    out = {}
    good = threading.Thread(target=lambda: out.update(good=sim(
        b.port, "--machines", "20", "--first-machine", "1000", "--rate", "500", "--duration", "3",
        "--seed", "2")))
    good.start()
    bad = sim(b.port, "--machines", "50", "--rate", "10000", "--duration", "3",
              "--invalid-ratio", "1", "--seed", "3")
    good.join()
    assert bad["sent"] >= 20000 and bad["refused"] == bad["sent"], bad  # every one refused
    # The good collector's messages, all stored.
    wait_for(lambda: rows(mariadb) == out["good"]["acknowledged"], timeout=60,
             what=f"{out['good']['acknowledged']} rows (have {rows(mariadb)})")
    # Counters exact; reports held to 5 a second for the flooding client, the rest counted.
    m = b.metrics_until(lambda m: m["rejected"] == bad["sent"] and
                        m["reports_suppressed"] + len(sub.topics("cnc/rejected/")) == bad["sent"],
                        timeout=60)
    reports = [json.loads(p) for _, p in sub.topics("cnc/rejected/")]
    seconds = bad["elapsed_s"] + 2
    assert len(reports) <= 5 * seconds, (len(reports), seconds)
    assert m["reports_suppressed"] == bad["sent"] - len(reports) > 0
    assert any(r.get("suppressed", 0) > 0 for r in reports)
    assert m["accepted"] == out["good"]["acknowledged"]
    print(f"\nflood: {bad['sent']} invalid at {bad['rate']:.0f} msg/s from one client: "
          f"{len(reports)} reports published, {m['reports_suppressed']} suppressed; "
          f"{out['good']['acknowledged']} good messages stored alongside")
