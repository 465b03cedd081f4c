"""test_db_states.py - a database that is up but does not take writes, against a real MariaDB:
read-only for 10 s at 1,000 msg/s, a full tablespace (error 1114), a lock held longer than the
lock wait timeout (1205) and longer than the client's read timeout (a lost connection), the
INSERT privilege revoked. In each, every acknowledged message is stored exactly once when the
server takes writes again, nothing goes to the dead letters, and the metrics name the cause.

And what the database does refuse for what it is (here: a CHECK an administrator added): kept in
dead-letter.jsonl, counted apart from `stored`, re-submitted by cnc-ingest-resubmit once the
cause is fixed (idempotent), and a dead-letter file at its bound holds the writer up (spool_full
at ingest) instead of dropping anything.
"""
import json
import subprocess
import threading
import time


from conftest import BUILD, MOSQUITTO_21, wait_for
from mqtt_raw import RawPublisher
from test_storage import HANDLERS, lathe_msg, publish_lathes, rows, wait_connected, wait_rows

RESUBMIT = BUILD / "cnc-ingest-resubmit"


def states_yaml(db, spool_dir, extra_mysql="", spool_extra=""):
    mysql = db.mysql_yaml(readings="rows")
    if extra_mysql:
        mysql = mysql.replace("readings: rows}", f"readings: rows, {extra_mysql}}}")
    return (HANDLERS + mysql + f"spool: {{dir: \"{spool_dir}\"{spool_extra}}}\n"
            "writer: {batch_size: 200, flush_interval_ms: 50}\nmetrics: {interval_s: 1}\n")


def started(broker_factory, collector_factory, db, tmp_path, topics=("cnc/ingest/stats",),
            **yaml):
    """A broker storing into db, a metrics subscriber, the writer connected (schema made)."""
    spool_dir = tmp_path / "spool"
    b = broker_factory(states_yaml(db, spool_dir, **yaml))
    sub = collector_factory(b.port, topics=topics)
    wait_connected(b)
    return b, sub, spool_dir


class Paced:
    """A QoS 1 publisher at `rate` msg/s on a thread; every message must be acknowledged."""

    def __init__(self, port, rate, start=0):
        self.pub = RawPublisher(port, f"paced-{time.monotonic_ns()}", protocol=5)
        self.rate, self.i, self.start = rate, start, start
        self.refused = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        t0 = time.monotonic()
        while not self.stop_flag.is_set():
            reason = self.pub.publish("cnc/CNC001/data", lathe_msg(self.i), qos=1)
            if reason != 0:
                self.refused.append((self.i, reason))
            self.i += 1
            ahead = (self.i - self.start) / self.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self.pub.close()
        assert self.refused == [], self.refused[:5]
        return self.i - self.start


def metrics(sub):
    """The latest metrics message."""
    got = sub.topics("cnc/ingest/stats")
    return json.loads(got[-1][1]) if got else {}


def wait_cause(sub, cause, timeout=60):
    wait_for(lambda: metrics(sub).get("db_errors_by_cause", {}).get(cause, 0) > 0, timeout=timeout,
             what=f"db_errors_by_cause.{cause} > 0 (have {metrics(sub).get('db_errors_by_cause')})")


def assert_all_stored_none_diverted(b, sub, mariadb, spool_dir, n):
    wait_rows(mariadb, n, timeout=120)
    assert rows(mariadb, "cnc_reading") == n * 4
    assert not (spool_dir / "dead-letter.jsonl").exists()
    wait_for(lambda: metrics(sub).get("stored") == n, timeout=30, what=f"stored == {n}")
    m = metrics(sub)
    assert m["dead_letters"] == 0 and m["db_errors_by_cause"]["refused_record"] == 0, m


def test_read_only_for_10s_at_1000_per_s(broker_factory, collector_factory, mariadb, tmp_path):
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path)
    paced = Paced(b.port, 1000)
    time.sleep(2)
    mariadb.root("SET GLOBAL read_only = ON")
    try:
        wait_cause(sub, "read_only")
        time.sleep(10)
        assert metrics(sub)["db_waiting_for"] == "read_only"
    finally:
        mariadb.root("SET GLOBAL read_only = OFF")
    time.sleep(2)
    n = paced.stop()
    assert n > 10000
    assert_all_stored_none_diverted(b, sub, mariadb, spool_dir, n)
    assert "read_only" in b.log_text()
    m = metrics(sub)
    print(f"\nread-only 10 s at 1,000 msg/s: {n} acknowledged, {m['stored']} stored, "
          f"{m['dead_letters']} dead letters, {m['db_errors_by_cause']['read_only']} read_only waits")


def test_full_tablespace_then_grown(broker_factory, collector_factory, tmp_path):
    """A fixed 20 MiB system tablespace fills up (1114, "The table is full"); the administrator
    adds a data file and restarts the server: everything acknowledged meanwhile is stored."""
    from mariadb import MariaDB

    fixed = ["--innodb-file-per-table=0", "--innodb-data-file-path=ibdata1:20M"]
    db = MariaDB(tmp_path / "fulldb", server_args=fixed)
    try:
        b, sub, spool_dir = started(broker_factory, collector_factory, db, tmp_path)
        pub = RawPublisher(b.port, "full", protocol=5)
        sent = 0
        while metrics(sub).get("db_errors_by_cause", {}).get("full", 0) == 0:
            publish_lathes(pub, sent, 1000)
            sent += 1000
            assert sent < 400000, "the tablespace never filled"
        publish_lathes(pub, sent, 2000)  # acknowledged while the table is full
        sent += 2000
        assert rows(db) < sent
        assert "The table" in b.log_text() and "is full" in b.log_text()
        db.stop()
        db.server_args = ["--innodb-file-per-table=0",
                          "--innodb-data-file-path=ibdata1:20M;ibdata2:32M:autoextend"]
        db.start()
        assert_all_stored_none_diverted(b, sub, db, spool_dir, sent)
        pub.close()
        b.stop()
    finally:
        db.stop()


def test_lock_wait_timeout_and_lock_past_the_read_timeout(broker_factory, collector_factory,
                                                           mariadb, tmp_path):
    """A transaction holding the insert gap past innodb_lock_wait_timeout (1205), then a table
    lock held past the writer's read timeout (the statement is given up: a lost connection):
    both are waited out."""
    mariadb.root("SET GLOBAL innodb_lock_wait_timeout = 1")
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path,
                                extra_mysql="read_timeout_s: 2")
    paced = Paced(b.port, 300)
    wait_for(lambda: rows(mariadb) > 100, what="some rows")
    with mariadb.connect(user="root", password="", database="cnc") as c, c.cursor() as cur:
        cur.execute("SET autocommit = 0")
        cur.execute("SELECT COUNT(*) FROM cnc_message WHERE msg_key >= '' FOR UPDATE")
        wait_cause(sub, "lock")
        time.sleep(1)
        c.commit()
    with mariadb.connect(user="root", password="", database="cnc") as c, c.cursor() as cur:
        cur.execute("LOCK TABLES cnc_message WRITE")
        wait_cause(sub, "connection_lost")
        time.sleep(3)
        cur.execute("UNLOCK TABLES")
    time.sleep(1)
    n = paced.stop()
    assert_all_stored_none_diverted(b, sub, mariadb, spool_dir, n)


def test_insert_privilege_revoked_then_granted(broker_factory, collector_factory, mariadb,
                                               tmp_path):
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path)
    pub = RawPublisher(b.port, "priv", protocol=5)
    publish_lathes(pub, 0, 10)
    wait_rows(mariadb, 10)
    for host in ("localhost", "127.0.0.1"):
        mariadb.root(f"REVOKE INSERT ON cnc.* FROM 'cnc'@'{host}'")
    # A database-level privilege applies to new sessions: the administrator ends the old ones.
    for (pid,) in mariadb.root("SELECT id FROM information_schema.processlist WHERE user = 'cnc'"):
        mariadb.root(f"KILL {pid}")
    publish_lathes(pub, 10, 500)
    wait_cause(sub, "privileges")
    assert rows(mariadb) == 10
    for host in ("localhost", "127.0.0.1"):
        mariadb.root(f"GRANT INSERT ON cnc.* TO 'cnc'@'{host}'")
    assert_all_stored_none_diverted(b, sub, mariadb, spool_dir, 510)
    pub.close()


def poison(i, cnc_id="POISON-1"):
    return (f'{{"cnc_id":"{cnc_id}","part_program":"p","timestamp":{1747379028000 + i},'
            f'"payload":{{"spin":{i},"note":"{"n" * 200}","more":"{"m" * 200}"}}}}')


def dead_letters(spool_dir):
    path = spool_dir / "dead-letter.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def resubmit(b, *args):
    return subprocess.run([str(RESUBMIT), str(b.yaml), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_refused_records_counted_apart_and_resubmitted(broker_factory, collector_factory, mariadb,
                                                       tmp_path):
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path)
    pub = RawPublisher(b.port, "refused", protocol=5)
    publish_lathes(pub, 0, 5)
    wait_rows(mariadb, 5)
    mariadb.root("ALTER TABLE cnc.cnc_message ADD CONSTRAINT no_poison "
                 "CHECK (cnc_id NOT LIKE 'POISON-%')")
    assert pub.publish("cnc/POISON-1/data", poison(1)) == 0
    publish_lathes(pub, 5, 20)
    wait_rows(mariadb, 25)
    wait_for(lambda: len(dead_letters(spool_dir)) == 1, what="the dead letter")
    (dl,) = dead_letters(spool_dir)
    assert dl["cnc_id"] == "POISON-1" and dl["message"] == json.loads(poison(1))
    assert "CONSTRAINT" in dl["error"] and "no_poison" in dl["error"]
    assert len(dl["msg_key"]) == 32 and dl["handler"] == "any"
    wait_for(lambda: metrics(sub).get("dead_letters") == 1 and metrics(sub).get("stored") == 25,
             what="stored 25 and 1 dead letter, apart")
    assert "dead_letters=1" in b.log_text()

    # Re-submitted while the cause is still there: still refused, kept with the new reason.
    r = resubmit(b)
    assert r.returncode == 1 and "0 stored, 1 still refused" in r.stdout, r
    assert [d["cnc_id"] for d in dead_letters(spool_dir)] == ["POISON-1"]
    # The database read-only: nothing is lost, the line goes back untouched.
    mariadb.root("SET GLOBAL read_only = ON")
    try:
        r = resubmit(b)
        # Found at connect (the server is checked before anything is written through it).
        assert r.returncode == 1 and "does not take writes now (read_only" in r.stderr + r.stdout
        assert "nothing was changed" in r.stderr, r
        assert len(dead_letters(spool_dir)) == 1
    finally:
        mariadb.root("SET GLOBAL read_only = OFF")
    # The cause fixed: stored, once, however often it is re-submitted.
    mariadb.root("ALTER TABLE cnc.cnc_message DROP CONSTRAINT no_poison")
    r = resubmit(b)
    assert r.returncode == 0 and "1 stored, 0 still refused" in r.stdout, r
    assert rows(mariadb) == 26 and rows(mariadb, "cnc_reading") == 25 * 4 + 3
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_message WHERE cnc_id = 'POISON-1'") == 1
    assert not (spool_dir / "dead-letter.jsonl").exists()
    r = resubmit(b)
    assert r.returncode == 0 and "no dead letters" in r.stdout
    # The same line again, twice in a copy an operator kept: handled once, one row all the same.
    copy = tmp_path / "copy.jsonl"
    copy.write_text(json.dumps(dl) + "\n" + json.dumps(dl) + "\n")
    r = resubmit(b, copy)
    assert r.returncode == 0 and "1 stored" in r.stdout and "repeated records handled once" in r.stdout
    assert rows(mariadb) == 26
    pub.close()


def test_dead_letter_file_at_its_bound_holds_the_writer_up(broker_factory, collector_factory,
                                                           mariadb, tmp_path):
    """spool.dead_letter_max_bytes reached: the next refused record stays in the spool (the
    writer waits, loudly), messages are still acknowledged into the spool until it is full, then
    refused with spool_full saying why; moving the file away lets everything through."""
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path,
                                topics=("cnc/ingest/stats", "cnc/rejected/#"),
                                spool_extra=", max_bytes: 1MiB, segment_bytes: 64KiB, "
                                            "dead_letter_max_bytes: 4KiB")
    pub = RawPublisher(b.port, "bound", protocol=5)
    publish_lathes(pub, 0, 5)
    wait_rows(mariadb, 5)
    mariadb.root("ALTER TABLE cnc.cnc_message ADD CONSTRAINT no_poison "
                 "CHECK (cnc_id NOT LIKE 'POISON-%')")
    assert pub.publish("cnc/POISON-1/data", poison(1)) == 0
    wait_for(lambda: len(dead_letters(spool_dir)) == 1, what="the first dead letter")
    assert pub.publish("cnc/POISON-2/data", poison(2, "POISON-2")) == 0
    wait_for(lambda: metrics(sub).get("dead_letters_full") is True, what="dead_letters_full")
    assert "it has reached spool.dead_letter_max_bytes" in b.log_text()
    accepted = 0
    for i in range(5, 20000):
        reason = pub.publish("cnc/CNC001/data", lathe_msg(i))
        if reason != 0:
            assert reason == (0x97 if MOSQUITTO_21 else 0x87)  # full: "retry later" on 2.1
            break
        accepted += 1
    assert accepted > 1000
    (_, body), = sub.wait_count("cnc/rejected/bound", 1)
    report = json.loads(body)
    assert report["reason"] == "spool_full"
    assert "dead-letter.jsonl is full" in report["detail"], report
    assert rows(mariadb) == 5
    # The cause fixed (the constraint dropped): POISON-2 is stored like the rest, and the writer
    # is no longer held up (the flag used to stay set until the next dead letter).
    mariadb.root("ALTER TABLE cnc.cnc_message DROP CONSTRAINT no_poison")
    wait_rows(mariadb, 5 + 1 + accepted, timeout=120)
    assert [d["cnc_id"] for d in dead_letters(spool_dir)] == ["POISON-1"]
    wait_for(lambda: metrics(sub).get("dead_letters_full") is False, what="the writer going on")
    assert metrics(sub)["dead_letters"] == 1
    pub.close()


def test_a_unique_key_other_than_msg_key_refuses_the_record(broker_factory, collector_factory,
                                                             mariadb, tmp_path):
    """INSERT IGNORE skips a row that collides on any unique key. Only a collision on the
    primary key (msg_key) is a replay; a unique key an administrator added refuses the record
    like a CHECK: kept as a dead letter, not silently dropped and counted as stored (found in
    review)."""
    b, sub, spool_dir = started(broker_factory, collector_factory, mariadb, tmp_path)
    pub = RawPublisher(b.port, "unique", protocol=5)
    publish_lathes(pub, 0, 3)
    wait_rows(mariadb, 3)
    mariadb.root("ALTER TABLE cnc.cnc_message ADD UNIQUE KEY one_per_ms (cnc_id, ts)")
    same_ts = lathe_msg(7).replace('"spin":1007', '"spin":1')  # another message, same id and ts
    assert pub.publish("cnc/CNC001/data", lathe_msg(7)) == 0
    assert pub.publish("cnc/CNC001/data", same_ts) == 0
    publish_lathes(pub, 8, 10)
    wait_rows(mariadb, 3 + 1 + 10)
    wait_for(lambda: len(dead_letters(spool_dir)) == 1, what="the dead letter")
    (dl,) = dead_letters(spool_dir)
    assert dl["message"] == json.loads(same_ts) and "one_per_ms" in dl["error"]
    wait_for(lambda: metrics(sub).get("stored") == 14 and metrics(sub).get("dead_letters") == 1,
             what="14 stored, 1 dead letter")
    pub.close()
