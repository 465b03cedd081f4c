"""test_storage.py - storage in a real MariaDB through the spool and the
writer thread, with real failures: the database killed and restarted, the
broker killed with SIGKILL, both, a full spool, a damaged spool segment.
Every test asserts on rows: nothing acknowledged is lost or stored twice.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import MOSQUITTO_21, ROOT, wait_for
from mqtt_raw import RawPublisher

OUTAGE_S = float(os.environ.get("CNC_OUTAGE_SECONDS", "30"))

HANDLERS = """
handlers:
  lathe:
    type: machine_tool
    params: {spindle: [0, 12000], axes: {X-Axis: [0, 600]}}
  press: {type: sensor_efficiency}
  any: {type: generic}
routes:
  - {match: "CNC*", handler: lathe}
  - {match: "PRESS-*", handler: press}
  - {match: "*", handler: any}
"""


def storage_yaml(db, spool_dir, spool_extra="", writer="{batch_size: 500, flush_interval_ms: 50}",
                 readings="rows"):
    return (HANDLERS + db.mysql_yaml(readings=readings) +
            f"spool: {{dir: \"{spool_dir}\"{spool_extra}}}\n"
            f"writer: {writer}\n"
            "metrics: {interval_s: 1}\n")


def lathe_msg(i, cnc_id="CNC001", spin=None):
    spin = 1000 + i % 500 if spin is None else spin
    return (f'{{"cnc_id":"{cnc_id}","part_program":"P-{i % 7}","timestamp":{1747379028000 + i},'
            f'"payload":{{"status":"running","spin":{spin},"X-Axis":{i % 600},"Y-Axis":80}}}}')


def press_msg(i):
    return (f'{{"cnc_id":"PRESS-04","part_program":"P-118","timestamp":{1747379028000 + i},'
            f'"payload":{{"mode":"active","temperature":{60 + i % 40},"vibration":1.5}}}}')


def publish_lathes(pub, start, n, qos=1):
    for i in range(start, start + n):
        assert pub.publish("cnc/CNC001/data", lathe_msg(i), qos=qos) == 0


def rows(db, table="cnc_message"):
    """Rows in table; 0 while the writer has not created the schema yet (its first connect)."""
    import pymysql
    try:
        return db.scalar(f"SELECT COUNT(*) FROM {table}")
    except pymysql.err.ProgrammingError as e:
        if e.args[0] == 1146:
            return 0
        raise


def wait_rows(db, n, timeout=60, table="cnc_message"):
    """Until there are n rows; then exactly n (more could only be a duplicate, which the
    primary key on msg_key refuses, so no wait for "no more" is needed)."""
    wait_for(lambda: rows(db, table) >= n, timeout=timeout, interval=0.2,
             what=f"{n} rows in {table} (have {rows(db, table)})")
    assert rows(db, table) == n


def test_messages_become_rows_with_children(broker_factory, mariadb, tmp_path):
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"))
    pub = RawPublisher(b.port, "rows", protocol=5)
    publish_lathes(pub, 0, 400)
    for i in range(100):
        assert pub.publish("cnc/PRESS-04/data", press_msg(i), qos=1) == 0
    # An out-of-range spindle: an anomaly row.
    assert pub.publish("cnc/CNC002/data", lathe_msg(9999, "CNC002", spin=15000), qos=1) == 0
    wait_rows(mariadb, 501)
    assert rows(mariadb, "cnc_reading") == 400 * 4 + 100 * 3 + 4
    assert rows(mariadb, "cnc_efficiency") == 100
    # 8 presses above the 95 C critical limit (96-99 C) and the spindle.
    assert rows(mariadb, "cnc_anomaly") == 9
    (rule, var, value, threshold, sev), = mariadb.query(
        "SELECT rule, variable, value, threshold, severity FROM cnc_anomaly WHERE cnc_id = 'CNC002'")
    assert (rule, var, value, threshold, sev) == ("spindle_range", "spin", 15000, 12000, "critical")
    cnc_id, ts, handler, payload = mariadb.query(
        "SELECT cnc_id, DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%f'), handler, payload FROM cnc_message "
        "WHERE cnc_id = 'CNC001' ORDER BY ts LIMIT 1")[0]
    assert (cnc_id, ts, handler) == ("CNC001", "2025-05-16T07:03:48.000000", "lathe")
    assert json.loads(payload) == json.loads(lathe_msg(0))["payload"]
    num, text = mariadb.query("SELECT num_value, str_value FROM cnc_reading r JOIN cnc_message m "
                              "USING (msg_key) WHERE m.ts = '2025-05-16 07:03:48.000' AND r.name = 'spin'")[0]
    assert (num, text) == (1000, None)
    level, = mariadb.query("SELECT efficiency_level FROM cnc_efficiency ORDER BY ts LIMIT 1")[0]
    assert level == "High"
    # msg_key is time-ordered: key order equals timestamp order.
    keys = [r[0] for r in mariadb.query("SELECT cnc_id FROM cnc_message ORDER BY msg_key")]
    by_ts = [r[0] for r in mariadb.query("SELECT cnc_id FROM cnc_message ORDER BY ts, msg_key")]
    assert keys == by_ts
    # Each row says which broker took it (node:, the host name by default); a new database is
    # created at the latest schema version.
    from test_ingest_broker import default_node
    assert mariadb.query("SELECT DISTINCT ingest_node FROM cnc_message") == ((default_node(),),)
    assert mariadb.scalar("SELECT MAX(version) FROM cnc_schema_version") == 3
    # The MES views answer.
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_latest") == 3
    assert mariadb.scalar("SELECT SUM(samples) FROM cnc_efficiency_hourly") == 100
    # Receive -> commit latency since start and over the last minute (commit_window.h): in the
    # broker's first minute the window is since start, so both agree on every commit.
    m = b.metrics_until(lambda m: m.get("stored") == 501)
    recent = m["commit_latency_recent"]
    assert 0 <= recent["s"] <= 60 and recent["commits"] == 501, m
    assert (recent["p50_ms"], recent["p99_ms"]) == (m["commit_latency_p50_ms"],
                                                    m["commit_latency_p99_ms"]), m
    pub.close()


def test_json_readings_layout(broker_factory, mariadb, tmp_path):
    """mysql.readings: json (the default) stores no cnc_reading rows; the view serves them."""
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool", readings="json"))
    pub = RawPublisher(b.port, "json", protocol=5)
    publish_lathes(pub, 0, 20)
    wait_rows(mariadb, 20)
    assert rows(mariadb, "cnc_reading") == 0
    assert rows(mariadb, "cnc_reading_json") == 20 * 4
    assert mariadb.query("SELECT value FROM cnc_reading_json WHERE name = 'spin' ORDER BY ts LIMIT 1") == (("1000",),)
    pub.close()


def test_qos2_retransmission_and_duplicates_store_one_row(broker_factory, mariadb, tmp_path):
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"))
    pub = RawPublisher(b.port, "dup", protocol=5)
    assert pub.publish_qos2_retransmitted("cnc/CNC001/data", lathe_msg(1)) == [0, 0]
    # The same bytes published again later, as a replaying collector would.
    assert pub.publish("cnc/CNC001/data", lathe_msg(1), qos=2) == 0
    assert pub.publish("cnc/CNC001/data", lathe_msg(2), qos=2) == 0
    wait_for(lambda: b"stored=4" in b.log.read_bytes(), timeout=30, what="4 messages written")
    assert rows(mariadb) == 2
    assert rows(mariadb, "cnc_reading") == 8
    pub.close()


def test_database_killed_for_an_outage(broker_factory, mariadb, tmp_path):
    """The database is killed while a publisher keeps sending, and comes back after
    OUTAGE_S: every acknowledged message is stored once, and none was refused. (How long a
    publish takes meanwhile is bench/run_outage.sh's figure, not a test's.)"""
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"))
    pub = RawPublisher(b.port, "steady", protocol=5)
    sent, latencies = [0], []
    stop = threading.Event()

    def publisher():
        i = 0
        while not stop.is_set():
            t0 = time.monotonic()
            assert pub.publish("cnc/CNC001/data", lathe_msg(i), qos=1) == 0
            latencies.append(time.monotonic() - t0)
            i += 1
            sent[0] = i
            time.sleep(0.005)

    th = threading.Thread(target=publisher)
    th.start()
    try:
        time.sleep(2)
        mariadb.kill()
        outage_start = len(latencies)
        time.sleep(OUTAGE_S)
        outage_latencies = latencies[outage_start:]
        mariadb.start()
        time.sleep(2)
    finally:
        stop.set()
        th.join()
    wait_rows(mariadb, sent[0], timeout=90)
    assert rows(mariadb, "cnc_reading") == sent[0] * 4
    assert len(outage_latencies) > 100  # messages were acknowledged during the outage
    log = b.log_text()
    assert "records wait in the spool" in log
    assert "connected to the database again" in log
    pub.close()


def test_broker_sigkill_mid_stream(broker_factory, mariadb, tmp_path):
    # A batch never fills (5000) nor times out (60 s) before the kill: exactly none is stored
    # by the first broker, all 3000 come from the spool's replay.
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool",
                                    writer="{batch_size: 5000, flush_interval_ms: 60000}"))
    wait_connected(b)
    pub = RawPublisher(b.port, "killed", protocol=5)
    publish_lathes(pub, 0, 3000)
    b.kill()  # right after the last PUBACK
    assert rows(mariadb) == 0
    b.yaml.write_text(storage_yaml(mariadb, tmp_path / "spool"))  # batches that flush
    b.start()
    wait_rows(mariadb, 3000)
    assert rows(mariadb, "cnc_reading") == 3000 * 4
    assert "bytes to replay" in b.log_text()


def test_database_down_then_broker_killed(broker_factory, mariadb, tmp_path):
    """A careful external subscriber loses these: it acknowledged them and held them in memory."""
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"))
    pub = RawPublisher(b.port, "both", protocol=5)
    publish_lathes(pub, 0, 10)
    wait_rows(mariadb, 10)
    mariadb.kill()
    publish_lathes(pub, 10, 1000)
    b.kill()
    mariadb.start()
    assert rows(mariadb) == 10
    b.start()
    wait_rows(mariadb, 1010)
    assert rows(mariadb, "cnc_reading") == 1010 * 4


def wait_connected(b):
    """The writer has connected once, so the schema exists before a test takes the server away."""
    wait_for(lambda: "writer: connected to the database" in b.log_text(), timeout=30,
             what="the writer's first connection")


FULL = 0x97 if MOSQUITTO_21 else 0x87


def fill_spool(pub, sub, client_id):
    """Publishes lathe messages until the broker refuses one (FULL: 0x97 "quota exceeded, retry
    later" on mosquitto 2.1, 0x87 on 2.0.11, which has no such code); returns how many were
    acknowledged before it and the spool_full report on <rejected_topic>/<client_id>."""
    accepted = 0
    for i in range(20000):
        reason = pub.publish("cnc/CNC001/data", lathe_msg(i), qos=1)
        if reason != 0:
            assert reason == FULL
            break
        accepted += 1
    (_, body), = sub.wait_count(f"cnc/rejected/{client_id}", 1)
    report = json.loads(body)
    assert report["reason"] == "spool_full"
    return accepted, report


def test_spool_full_rejects_then_drains(broker_factory, mariadb, collector_factory, tmp_path):
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool",
                                    ", max_bytes: 1MiB, segment_bytes: 64KiB"))
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    pub = RawPublisher(b.port, "filler", protocol=5)
    wait_connected(b)
    mariadb.kill()
    accepted, report = fill_spool(pub, sub, "filler")
    assert 1000 < accepted < 20000
    assert "spool.max_bytes" in report["detail"]
    assert pub.ping()  # still connected: "full" is no reason to drop a collector
    assert ("a full spool is answered with 0x97 (quota exceeded: retry later)" if MOSQUITTO_21
            else "a full spool is answered with 0x87 (this broker has no quota code") in b.log_text()
    mariadb.start()
    wait_rows(mariadb, accepted, timeout=90)
    # Room again: new messages are accepted and stored.
    assert pub.publish("cnc/CNC001/data", lathe_msg(50000), qos=1) == 0
    wait_rows(mariadb, accepted + 1)
    pub.close()


def test_spool_disk_full_rejects_then_recovers(broker_factory, mariadb, collector_factory,
                                               tmp_path):
    """The spool's disk fills up (a 1 MiB tmpfs) while the database is down: messages that
    no longer fit are refused with spool_full naming the full disk, everything acknowledged
    before is stored once the database is back, and the spool takes messages again."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    root = [] if os.geteuid() == 0 else ["sudo", "-n"]  # as install-deps.sh: root, or sudo
    subprocess.run(root + ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs",
                           str(spool_dir)], check=True)
    try:
        b = broker_factory(storage_yaml(mariadb, spool_dir,
                                        ", max_bytes: 1GiB, segment_bytes: 64KiB"))
        sub = collector_factory(b.port, topics=("cnc/rejected/#",))
        pub = RawPublisher(b.port, "disk", protocol=5)
        wait_connected(b)
        mariadb.kill()
        accepted, report = fill_spool(pub, sub, "disk")
        assert 1000 < accepted < 5000  # ~1 MiB of ~330-byte records, not max_bytes
        assert "disk is full" in report["detail"] and str(spool_dir) in report["detail"]
        assert pub.ping()
        mariadb.start()
        wait_rows(mariadb, accepted, timeout=90)
        assert "cannot write the spool checkpoint" not in b.log_text()
        # Spent segments are deleted as the writer catches up: room again.
        wait_for(lambda: pub.publish("cnc/CNC001/data", lathe_msg(50000), qos=1) == 0,
                 timeout=30, interval=0.5, what="the spool taking messages again")
        wait_rows(mariadb, accepted + 1)
        assert rows(mariadb) == accepted + 1
        pub.close()
        b.stop()
    finally:
        subprocess.run(root + ["umount", "-l", str(spool_dir)], check=False)


def test_message_larger_than_a_spool_segment_is_refused_with_the_reason(
        broker_factory, mariadb, collector_factory, tmp_path):
    """spool.segment_bytes below what max_message_bytes lets through: such a message cannot be
    spooled and is refused naming the segment size; smaller ones around it are stored."""
    b = broker_factory("ingest: {max_message_bytes: 1MiB}\n" +
                       storage_yaml(mariadb, tmp_path / "spool", ", segment_bytes: 64KiB"))
    sub = collector_factory(b.port, topics=("cnc/rejected/#",))
    pub = RawPublisher(b.port, "big", protocol=5)
    big = ('{"cnc_id":"BIG-1","part_program":"p","timestamp":1747379028000,"payload":{' +
           ",".join(f'"f{i}":"{"x" * 256}"' for i in range(250)) + "}}")
    assert len(big) > 65536
    publish_lathes(pub, 0, 3)
    # 0x87 on 2.1 as well: a message that can never fit is no "retry later" (0x97).
    assert pub.publish("cnc/BIG-1/data", big, qos=1) == 0x87
    publish_lathes(pub, 3, 3)
    (_, body), = sub.wait_count("cnc/rejected/big", 1)
    report = json.loads(body)
    assert report["reason"] == "spool_full"
    assert "larger than a segment (spool.segment_bytes)" in report["detail"]
    wait_rows(mariadb, 6)
    pub.close()


def test_damaged_segment_intact_records_stored(broker_factory, mariadb, tmp_path):
    spool_dir = tmp_path / "spool"
    b = broker_factory(storage_yaml(mariadb, spool_dir))
    wait_connected(b)
    mariadb.kill()
    pub = RawPublisher(b.port, "damage", protocol=5)
    publish_lathes(pub, 0, 50)
    pub.close()
    b.stop()
    segments = sorted(p for p in spool_dir.glob("seg-*.spool") if b"CNCR" in p.read_bytes()[:64])
    assert len(segments) == 1
    data = bytearray(segments[0].read_bytes())
    starts = [i for i in range(0, len(data), 8) if data[i:i + 4] == b"CNCR"]
    assert len(starts) == 50
    data[starts[20] + 60] ^= 0xFF  # inside record 20's body
    segments[0].write_bytes(bytes(data))
    mariadb.start()
    b.start()
    wait_rows(mariadb, 49)
    wait_for(lambda: "damaged record" in b.log_text(), what="the damage report")
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_message WHERE ts = '2025-05-16 07:03:48.020'") == 0


def test_world_readable_password_file_refused(broker_factory, mariadb, tmp_path):
    os.chmod(mariadb.password_file, 0o644)
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"), start=False)
    b.start(expect_running=False)
    assert b.proc.wait(timeout=10) != 0
    assert "is readable by every user" in b.log_text() + b.proc.stderr.read().decode()


def test_tls_to_the_database(broker_factory, tmp_path):
    """mysql.tls: the user may only connect over TLS; the plugin verifies the server with the
    CA it is given, and refuses a server signed by another CA."""
    from mariadb import MariaDB

    db = MariaDB(tmp_path / "tlsdb", tls=True)
    try:
        tls_yaml = (HANDLERS +
                    f"mysql: {{host: 127.0.0.1, port: {db.port}, user: cnc, password_file: "
                    f"\"{db.password_file}\", database: cnc, create_schema: true, tls: true, "
                    f"tls_ca: \"{db.dir}/ca.pem\"}}\n"
                    f"spool: {{dir: \"{tmp_path / 'spool1'}\"}}\nmetrics: {{interval_s: 1}}\n")
        b = broker_factory(tls_yaml)
        pub = RawPublisher(b.port, "tls", protocol=5)
        publish_lathes(pub, 0, 10)
        wait_rows(db, 10)
        pub.close()
        b.stop()
        wrong = broker_factory(tls_yaml.replace("ca.pem", "other-ca.pem").replace("spool1", "spool2"))
        pub = RawPublisher(wrong.port, "tls2", protocol=5)
        publish_lathes(pub, 100, 5)  # accepted into the spool, never sent to an unverified server
        wait_for(lambda: "records wait in the spool" in wrong.log_text(), what="the refusal")
        assert rows(db) == 10
        pub.close()
    finally:
        db.stop()


def test_reload_keeps_storage_running(broker_factory, mariadb, tmp_path):
    """Storage settings take effect at start; a reload that changes them says so and the
    writer goes on as started."""
    yaml_text = storage_yaml(mariadb, tmp_path / "spool")
    b = broker_factory(yaml_text)
    pub = RawPublisher(b.port, "reload", protocol=5)
    publish_lathes(pub, 0, 5)
    wait_rows(mariadb, 5)
    b.yaml.write_text(yaml_text.replace("batch_size: 500", "batch_size: 50"))
    b.reload()
    wait_for(lambda: "take effect at the next broker start" in b.log_text(), what="the warning")
    publish_lathes(pub, 5, 5)
    wait_rows(mariadb, 10)
    pub.close()


def test_poison_message_goes_to_dead_letter_and_the_rest_flows(broker_factory, mariadb, tmp_path):
    """A message the database refuses even alone (here: larger than its max_allowed_packet)
    must not block the ones behind it: it is kept in dead-letter.jsonl at once, the others are
    stored (in statements small enough for the server)."""
    with mariadb.connect(user="root", password="", database=None) as c, c.cursor() as cur:
        cur.execute("SET GLOBAL max_allowed_packet = 16384")
    spool_dir = tmp_path / "spool"
    b = broker_factory(storage_yaml(mariadb, spool_dir))
    pub = RawPublisher(b.port, "poison", protocol=5)
    big = ('{"cnc_id":"BIG-1","part_program":"p","timestamp":1747379028000,"payload":{' +
           ",".join(f'"f{i}":"{"x" * 150}"' for i in range(150)) + "}}")
    assert len(big) > 16384
    assert pub.publish("cnc/BIG-1/data", big, qos=1) == 0
    publish_lathes(pub, 0, 20)
    wait_rows(mariadb, 20, timeout=90)
    wait_for(lambda: (spool_dir / "dead-letter.jsonl").exists(), what="the dead letter")
    (dl,) = [json.loads(l) for l in (spool_dir / "dead-letter.jsonl").read_text().splitlines()]
    assert dl["message"] == json.loads(big)
    assert "larger than the server's max_allowed_packet (16384 bytes)" in dl["error"]
    assert "refuses a message from BIG-1" in b.log_text()
    publish_lathes(pub, 20, 5)  # and the writer goes on
    wait_rows(mariadb, 25)
    pub.close()


def test_a_row_the_database_ignores_is_not_lost_silently(broker_factory, mariadb, tmp_path):
    """INSERT IGNORE turns a row the server refuses (here: a CHECK constraint an administrator
    added) into a warning, not an error. The writer reads the warnings: the refused message goes
    to dead-letter.jsonl instead of vanishing, the others are stored, and a duplicate (a replay)
    stays silent."""
    spool_dir = tmp_path / "spool"
    b = broker_factory(storage_yaml(mariadb, spool_dir))
    pub = RawPublisher(b.port, "ignored", protocol=5)
    publish_lathes(pub, 0, 5)
    wait_rows(mariadb, 5)
    with mariadb.connect(user="root", password="", database=None) as c, c.cursor() as cur:
        cur.execute("ALTER TABLE cnc.cnc_message ADD CONSTRAINT no_poison CHECK (cnc_id <> 'POISON-1')")
    poison = ('{"cnc_id":"POISON-1","part_program":"p","timestamp":1747379028000,'
              '"payload":{"spin":1}}')
    assert pub.publish("cnc/POISON-1/data", poison, qos=1) == 0
    publish_lathes(pub, 5, 20)
    assert pub.publish("cnc/CNC001/data", lathe_msg(3), qos=1) == 0  # stored before: a duplicate
    wait_rows(mariadb, 25, timeout=90)
    wait_for(lambda: (spool_dir / "dead-letter.jsonl").exists(), timeout=60, what="the dead letter")
    (dl,) = [json.loads(l) for l in (spool_dir / "dead-letter.jsonl").read_text().splitlines()]
    assert dl["message"] == json.loads(poison) and dl["cnc_id"] == "POISON-1"
    assert "refuses a message from POISON-1" in b.log_text()
    assert "CNC001" not in (spool_dir / "dead-letter.jsonl").read_text()
    publish_lathes(pub, 25, 5)  # and the writer goes on
    wait_rows(mariadb, 30)
    assert rows(mariadb) == 30
    pub.close()


def test_reading_names_differing_in_case_are_two_rows(broker_factory, mariadb, tmp_path):
    """The envelope compares names byte for byte; so does the reading key (a PAD SPACE
    collation would also call "temp" and "temp " one key and drop a row as a duplicate)."""
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool"))
    pub = RawPublisher(b.port, "case", protocol=5)
    msg = ('{"cnc_id":"M-1","part_program":"p","timestamp":1747379028000,'
           '"payload":{"Temp":1,"temp":2,"TEMP":3,"temp ":4}}')
    assert pub.publish("cnc/M-1/data", msg, qos=1) == 0
    wait_rows(mariadb, 1)
    wait_for(lambda: rows(mariadb, "cnc_reading") >= 4, timeout=5, what="four readings")
    assert sorted(mariadb.query("SELECT name, num_value FROM cnc_reading")) == [
        ("TEMP", 3.0), ("Temp", 1.0), ("temp", 2.0), ("temp ", 4.0)]
    pub.close()


def test_json_the_database_would_refuse_is_refused_at_ingest(broker_factory, mariadb, tmp_path):
    """cJSON accepts numbers such as 01 or -.5 and form feeds between tokens;
    the database's JSON check refuses them and INSERT IGNORE would then drop
    the row. The publisher is told not_json instead; valid messages around
    them are all stored."""
    b = broker_factory(storage_yaml(mariadb, tmp_path / "spool", readings="json"))
    pub = RawPublisher(b.port, "strict", protocol=5)
    bad = ['"payload":{"spin":01}', '"payload":{"spin":-.5}', '"payload":{"spin":1.}',
           '"payload":\f{"spin":1}', '"payload":{"spin":1e}']
    for i, tail in enumerate(bad):
        msg = f'{{"cnc_id":"M-1","part_program":"p","timestamp":{1747379028000 + i},{tail}}}'
        assert pub.publish("cnc/M-1/data", msg, qos=1) == 0x87, tail
    ok = ['"payload":{"spin":0}', '"payload":{"spin":-0.5}', '"payload":{"spin":1.0e3}',
          '"payload":{"spin":"01"}']
    for i, tail in enumerate(ok):
        msg = f'{{"cnc_id":"M-1","part_program":"p","timestamp":{1747379029000 + i},{tail}}}'
        assert pub.publish("cnc/M-1/data", msg, qos=1) == 0, tail
    wait_rows(mariadb, len(ok))
    pub.close()


def test_nesting_the_database_would_refuse_is_refused_at_ingest(broker_factory, mariadb, tmp_path):
    """MariaDB's JSON check refuses 32 levels of nesting, cJSON takes 1000: with
    allow_nested, a payload of 31 levels is stored and one of 32 refused at ingest as
    bad_payload_value (under INSERT IGNORE it would have been acknowledged and dropped)."""
    yaml = storage_yaml(mariadb, tmp_path / "spool", readings="json")
    b = broker_factory("ingest: {allow_nested: true}\n" + yaml)
    pub = RawPublisher(b.port, "deep", protocol=5)
    for i, levels in enumerate((30, 31)):  # arrays inside the payload object
        msg = (f'{{"cnc_id":"M-1","part_program":"p","timestamp":{1747379028000 + i},'
               f'"payload":{{"d":{"[" * levels}{"]" * levels}}}}}')
        assert pub.publish("cnc/M-1/data", msg, qos=1) == (0 if levels == 30 else 0x87), levels
    # A sentinel after the refused one: once it is stored, the refused one would have been too.
    sentinel = (f'{{"cnc_id":"M-1","part_program":"p","timestamp":{1747379029000},'
                f'"payload":{{"d":1}}}}')
    assert pub.publish("cnc/M-1/data", sentinel, qos=1) == 0
    wait_rows(mariadb, 2)
    assert mariadb.scalar("SELECT MAX(JSON_DEPTH(payload)) FROM cnc_message") == 31
    pub.close()


def test_reading_json_view_with_any_name_on_a_latin1_server(broker_factory, tmp_path):
    """The view builds a JSON path from each member name: names holding '"' or '\\' need
    quoting (they gave NULL), and on a server whose default character set is latin1 the names
    must still be utf8mb4 (they came out as '??')."""
    from mariadb import MariaDB

    db = MariaDB(tmp_path / "latin1db",
                 server_args=["--character-set-server=latin1", "--collation-server=latin1_swedish_ci"])
    try:
        assert db.root("SELECT @@character_set_server")[0][0] == "latin1"
        b = broker_factory(storage_yaml(db, tmp_path / "spool", readings="json"))
        pub = RawPublisher(b.port, "latin1", protocol=5)
        payload = {'a"b': 1, "c\\d": 2, "ü": 3, "温度": 4.5, "note": "温度 ok"}
        msg = json.dumps({"cnc_id": "M-1", "part_program": "p", "timestamp": 1747379028000,
                          "payload": payload}, ensure_ascii=False)
        assert pub.publish("cnc/M-1/data", msg, qos=1) == 0
        wait_rows(db, 1)
        got = dict(db.query("SELECT name, value FROM cnc_reading_json"))
        assert got == {'a"b': "1", "c\\d": "2", "ü": "3", "温度": "4.5", "note": "温度 ok"}
        pub.close()
        b.stop()
    finally:
        db.stop()


def schema_v1():
    """sql/schema.sql as version 1 shipped it: without what migration 0002 adds."""
    text = (ROOT / "sql" / "schema.sql").read_text()
    v1 = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("ingest_node"))
    v1 = v1.replace("VALUES (1, UTC_TIMESTAMP(3)), (2, UTC_TIMESTAMP(3)),\n  (3, UTC_TIMESTAMP(3));",
                    "VALUES (1, UTC_TIMESTAMP(3));")
    assert v1 != text and "(2, UTC" not in v1
    return v1


def test_create_schema_migrates_a_version_1_database(broker_factory, mariadb, tmp_path):
    """A database made by an earlier release, holding rows, is brought to the latest version by
    create_schema (sql/migrations/0002_ingest_node.sql): old rows keep NULL, new ones name the
    node; a second start applies nothing twice."""
    import pymysql
    with pymysql.connect(unix_socket=mariadb.socket, user="cnc", password="cnc-test-password",
                         database="cnc", autocommit=True,
                         client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS) as c, c.cursor() as cur:
        cur.execute(schema_v1())
        while cur.nextset():
            pass
    mariadb.query("INSERT INTO cnc_message VALUES (UNHEX(REPEAT('ab', 16)), 'OLD-1', 'p', "
                  "'2025-01-01', '2025-01-01', 'any', '{}')")
    assert mariadb.scalar("SELECT MAX(version) FROM cnc_schema_version") == 1
    yaml_text = "node: line-2\n" + storage_yaml(mariadb, tmp_path / "spool")
    b = broker_factory(yaml_text)
    pub = RawPublisher(b.port, "migrated", protocol=5)
    publish_lathes(pub, 0, 50)
    wait_rows(mariadb, 51)
    assert mariadb.query("SELECT ingest_node, COUNT(*) FROM cnc_message GROUP BY ingest_node "
                         "ORDER BY ingest_node") == ((None, 1), ("line-2", 50))
    assert [v for v, in mariadb.query("SELECT version FROM cnc_schema_version ORDER BY version")] == [1, 2, 3]
    b.stop()
    b = broker_factory(yaml_text)  # at the latest version now: nothing to apply, rows flow
    pub.close()
    pub = RawPublisher(b.port, "again", protocol=5)
    publish_lathes(pub, 50, 10)
    wait_rows(mariadb, 61)
    pub.close()


def table_contents(db):
    """Every stored value of every table, in key order (floats exact, NULLs as None), but when
    the broker received each message."""
    out = {}
    for t, cols, key in (
            ("cnc_message", "msg_key, cnc_id, part_program, ts, handler, payload, ingest_node", "msg_key"),
            ("cnc_reading", "*", "msg_key, name"), ("cnc_efficiency", "*", "msg_key"),
            ("cnc_anomaly", "*", "msg_key, rule, variable")):
        out[t] = db.query(f"SELECT {cols} FROM {t} ORDER BY {key}")
    return out


def stmt_counts(db):
    return {k: int(v) for k, v in db.root("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")}


@pytest.mark.parametrize("readings", ["rows", "json"])
def test_bulk_and_multi_row_store_the_same_values(broker_factory, mariadb, tmp_path, readings):
    """mysql.insert: bulk (one COM_STMT_BULK_EXECUTE per table and batch, NULLs as indicators)
    and multi_row (INSERT ... VALUES (..),(..), for servers and proxies without bulk) store the
    same rows, value for value; bulk sends far fewer statements."""
    seen, executes = {}, {}
    for shape in ("multi_row", "bulk"):
        yaml_text = (HANDLERS + mariadb.mysql_yaml(readings=readings).replace(
            "}\n", f", insert: {shape}}}\n") + f"spool: {{dir: \"{tmp_path / shape}\"}}\n"
            "writer: {batch_size: 500, flush_interval_ms: 50}\nmetrics: {interval_s: 1}\n")
        b = broker_factory(yaml_text)
        before = stmt_counts(mariadb)
        pub = RawPublisher(b.port, f"shape-{shape}", protocol=5)
        publish_lathes(pub, 0, 1500)  # readings with numbers, strings (status), a bool-less mix
        for i in range(300):
            assert pub.publish("cnc/PRESS-04/data", press_msg(i), qos=1) == 0  # efficiency, anomalies
        assert pub.publish("cnc/CNC002/data", lathe_msg(7, "CNC002", spin=15000), qos=1) == 0
        assert pub.publish("cnc/X1/data", '{"cnc_id":"X1","part_program":"p","timestamp":1747379028000,'
                           '"payload":{"flag":true,"none":null,"text":"a\\"b","n":-0.0}}', qos=1) == 0
        pub.close()
        wait_rows(mariadb, 1802)
        executes[shape] = stmt_counts(mariadb)["Com_stmt_execute"] - before["Com_stmt_execute"]
        seen[shape] = table_contents(mariadb)
        b.stop()
        # All of it: the second run is then no replay (a replayed state change is placed on its
        # own, a few statements, where new ones share multi-row statements).
        for t in ("cnc_message", "cnc_reading", "cnc_efficiency", "cnc_anomaly",
                  "cnc_state_interval", "cnc_machine_state", "cnc_part_count", "cnc_rollup_minute",
                  "cnc_rollup_hour", "cnc_state_hour", "cnc_state_shift", "cnc_downtime_hour"):
            mariadb.query(f"TRUNCATE TABLE {t}")
    assert seen["bulk"] == seen["multi_row"]
    assert len(seen["bulk"]["cnc_anomaly"]) >= 1 and len(seen["bulk"]["cnc_efficiency"]) == 300
    if readings == "rows":
        assert any(r[2] is None for r in seen["bulk"]["cnc_reading"])  # NULL num_value (a string)
        assert any(r[3] is None for r in seen["bulk"]["cnc_reading"])  # NULL str_value (a number)
    assert executes["bulk"] < executes["multi_row"], executes


def test_a_replayed_batch_larger_than_the_warning_list_is_stored(broker_factory, mariadb, tmp_path):
    """A batch replayed whole (a retry after a commit whose answer was lost, a second broker)
    is skipped row by row under INSERT IGNORE, each skip matched by a warning; the server keeps
    at most 65535 of them, so no single statement may skip more: 1,000 messages of 70 readings
    (70,000 reading rows) sent twice are stored once, and the second batch commits."""
    yaml_text = (HANDLERS + mariadb.mysql_yaml(readings="rows") +
                 f"spool: {{dir: \"{tmp_path / 'spool'}\"}}\n"
                 "writer: {batch_size: 1000, flush_interval_ms: 5000}\nmetrics: {interval_s: 1}\n")
    b = broker_factory(yaml_text)
    wide = lambda i: ('{"cnc_id":"WIDE-1","part_program":"p","timestamp":%d,"payload":{%s}}' % (  # noqa: E731
        1747379028000 + i, ",".join(f'"r{k}":{i + k}' for k in range(70))))
    pub = RawPublisher(b.port, "wide", protocol=5)
    for _ in range(2):
        for i in range(1000):
            assert pub.publish("cnc/WIDE-1/data", wide(i), qos=1) == 0
    pub.close()
    m = b.metrics_until(lambda m: m.get("stored", 0) == 2000 or m.get("db_errors", 0) > 0,
                        timeout=120)
    assert m["stored"] == 2000 and m["db_errors"] == 0, m
    assert rows(mariadb) == 1000 and rows(mariadb, "cnc_reading") == 70000
