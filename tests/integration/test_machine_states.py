"""test_machine_states.py - machine states in a real mosquitto with the built plugin and a
private MariaDB.

What it proves:
- A machine's messages become exactly the intervals they describe in cnc_state_interval: a new
  interval at the first message of a new state value, reason or part program, each ending where
  the next starts, the open one with ended_at NULL; a gap in the timestamps longer than
  offline_after_s is an offline interval from 1 ms after the last message; a message older than
  the newest one of its machine changes no interval; the same message sent twice stores nothing
  twice.
- cnc_machine_state holds one row per machine (its newest message and open interval), and
  cnc_latest lists each machine once, through it.
- A restarted broker (its per-machine states empty) does not split the open interval: its first
  message of the same state is merged by the writer.
- A machine that goes silent gets its offline interval on TICK, and the analytics topic says so;
  it ends when the machine speaks again. Analytics messages carry every message's state and
  category.
"""
import datetime
import json
import time

from conftest import wait_for
from mqtt_raw import RawPublisher

T0 = 1747379028000  # 2025-05-16T07:03:48Z

STATES_YAML = """\
handlers:
  lathe:
    type: machine_tool
    states: {reason_variable: alarm_code, offline_after_s: 60}
routes:
  - {match: "*", handler: lathe}
"""


def message(cnc_id, ts_ms, status, program="P-1", **payload):
    payload["status"] = status
    payload.setdefault("spin", 1200)
    return json.dumps({"cnc_id": cnc_id, "part_program": program, "timestamp": ts_ms,
                       "payload": payload})


def at(ms):
    """A UTC DATETIME(3) as pymysql returns it."""
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def intervals(db, cnc_id):
    return db.query("SELECT started_at, ended_at, state, category, reason, part_program "
                    "FROM cnc_state_interval WHERE cnc_id = %s ORDER BY started_at", cnc_id)


def storage_yaml(mariadb, tmp_path):
    return (mariadb.mysql_yaml() + f'spool: {{dir: "{tmp_path / "spool"}"}}\n'
            "writer: {flush_interval_ms: 20}\n")


def send_all(port, client, msgs):
    pub = RawPublisher(port, client, protocol=5)
    for m in msgs:
        assert pub.publish(f"cnc/{json.loads(m)['cnc_id']}/data", m, qos=1) == 0
    pub.close()


def test_intervals_are_exact_and_idempotent(broker_factory, collector_factory, mariadb, tmp_path):
    yaml = STATES_YAML + storage_yaml(mariadb, tmp_path)
    b = broker_factory(yaml)
    sub = collector_factory(b.port, ("cnc/analytics/#",))
    s = 1000
    msgs = [
        message("M1", T0, "running"),
        message("M1", T0 + 1 * s, "running"),
        message("M1", T0 + 2 * s, "idle"),
        message("M1", T0 + 3 * s, "alarm", alarm_code="E42"),
        message("M1", T0 + 4 * s, "alarm", alarm_code="E42"),
        message("M1", T0 + 5 * s, "alarm", alarm_code="E17"),      # another reason
        message("M1", T0 + 6 * s, "running"),
        message("M1", T0 + 7 * s, "running", program="P-2"),      # another part program
        message("M1", T0 + 200 * s, "running", program="P-3"),    # 193 s of silence
        message("M1", T0 + 100 * s, "idle", program="P-3"),       # late: no interval
        message("M1", T0 + 2 * s, "idle"),                        # the same message again
        message("M2", T0, "setup"),
    ]
    send_all(b.port, "lathe-gw", msgs)
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 11, timeout=30,
             what="11 distinct messages stored")
    # The state rows are written in the messages' transaction: they are there too.
    assert intervals(mariadb, "M1") == (
        (at(T0), at(T0 + 2 * s), "running", "productive", None, "P-1"),
        (at(T0 + 2 * s), at(T0 + 3 * s), "idle", "idle", None, "P-1"),
        (at(T0 + 3 * s), at(T0 + 5 * s), "alarm", "unplanned_downtime", "E42", "P-1"),
        (at(T0 + 5 * s), at(T0 + 6 * s), "alarm", "unplanned_downtime", "E17", "P-1"),
        (at(T0 + 6 * s), at(T0 + 7 * s), "running", "productive", None, "P-1"),
        (at(T0 + 7 * s), at(T0 + 7 * s + 1), "running", "productive", None, "P-2"),
        (at(T0 + 7 * s + 1), at(T0 + 200 * s), "offline", "unplanned_downtime", "no_data", "P-2"),
        (at(T0 + 200 * s), None, "running", "productive", None, "P-3"),
    )
    assert intervals(mariadb, "M2") == ((at(T0), None, "setup", "planned_downtime", None, "P-1"),)
    durations = [d for (d,) in mariadb.query(
        "SELECT duration_s FROM cnc_state_interval WHERE cnc_id = 'M1' ORDER BY started_at")]
    assert durations == [2.0, 1.0, 2.0, 1.0, 1.0, 0.001, 192.999, None]
    # One row per machine: the newest message (not the late one) and the open interval.
    assert mariadb.query("SELECT cnc_id, last_ts, part_program, state, category, state_since "
                         "FROM cnc_machine_state ORDER BY cnc_id") == (
        ("M1", at(T0 + 200 * s), "P-3", "running", "productive", at(T0 + 200 * s)),
        ("M2", at(T0), "P-1", "setup", "planned_downtime", at(T0)),
    )
    assert mariadb.query("SELECT cnc_id, ts FROM cnc_latest ORDER BY cnc_id") == (
        ("M1", at(T0 + 200 * s)), ("M2", at(T0)))
    # Every analytics message carries its state and category; the silence seen between two
    # timestamps is said too, as one found on TICK is, right before the message that ends it.
    seen = [json.loads(p) for _, p in sub.wait_count("cnc/analytics/M", 13)]
    assert len(seen) == 13
    assert [(a["state"], a["category"]) for a in seen if a["cnc_id"] == "M2"] == [
        ("setup", "planned_downtime")]
    m1 = [a for a in seen if a["cnc_id"] == "M1"]
    assert {(a["state"], a.get("reason")) for a in m1} == {
        ("running", None), ("idle", None), ("alarm", "E42"), ("alarm", "E17"),
        ("offline", "no_data")}
    gone = [i for i, a in enumerate(m1) if a["state"] == "offline"]
    assert len(gone) == 1 and m1[gone[0]]["ts"] == "2025-05-16T07:03:55.001Z"
    assert m1[gone[0]]["part_program"] == "P-2" and m1[gone[0]]["category"] == "unplanned_downtime"
    assert m1[gone[0] + 1]["part_program"] == "P-3" and m1[gone[0] + 1]["state"] == "running"
    b.stop()

    # A restarted broker knows no machine: its first message of the same state is merged into
    # the open interval, and the next change closes it.
    b2 = broker_factory(yaml)
    send_all(b2.port, "lathe-gw", [message("M1", T0 + 201 * s, "running", program="P-3"),
                                   message("M1", T0 + 202 * s, "stopped", program="P-3")])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 13, timeout=30,
             what="13 messages stored")
    assert intervals(mariadb, "M1")[-2:] == (
        (at(T0 + 200 * s), at(T0 + 202 * s), "running", "productive", None, "P-3"),
        (at(T0 + 202 * s), None, "stopped", "unplanned_downtime", None, "P-3"),
    )
    assert mariadb.query("SELECT state, state_since FROM cnc_machine_state WHERE cnc_id = 'M1'") \
        == (("stopped", at(T0 + 202 * s)),)


def test_silent_machine_goes_offline_on_tick(broker_factory, collector_factory, mariadb,
                                             tmp_path):
    yaml = STATES_YAML.replace("offline_after_s: 60", "offline_after_s: 1") + \
        storage_yaml(mariadb, tmp_path)
    b = broker_factory(yaml)
    sub = collector_factory(b.port, ("cnc/analytics/#",))
    now = int(time.time() * 1000)
    send_all(b.port, "lathe-gw", [message("Q1", now, "running")])

    def offline_said():
        return [json.loads(p) for _, p in sub.topics("cnc/analytics/Q1")
                if json.loads(p)["state"] == "offline"]
    wait_for(lambda: offline_said(), timeout=15, what="the offline analytics message")
    said = offline_said()[0]
    assert (said["category"], said["reason"], said["handler"], said["part_program"]) == (
        "unplanned_downtime", "no_data", "lathe", "P-1")
    wait_for(lambda: len(intervals(mariadb, "Q1")) == 2, timeout=30, what="the offline interval")
    assert intervals(mariadb, "Q1") == (
        (at(now), at(now + 1), "running", "productive", None, "P-1"),
        (at(now + 1), None, "offline", "unplanned_downtime", "no_data", "P-1"),
    )
    assert mariadb.query("SELECT state, last_ts FROM cnc_machine_state") == (
        ("offline", at(now)),)
    # It speaks again: the offline interval ends there.
    back = int(time.time() * 1000)
    send_all(b.port, "lathe-gw", [message("Q1", back, "idle")])
    wait_for(lambda: len(intervals(mariadb, "Q1")) == 3, timeout=30, what="the next interval")
    assert intervals(mariadb, "Q1")[1:] == (
        (at(now + 1), at(back), "offline", "unplanned_downtime", "no_data", "P-1"),
        (at(back), None, "idle", "idle", None, "P-1"),
    )
    stats = b.metrics_until(lambda m: m.get("machine_states", {}).get("offline", 0) >= 1)
    assert stats["machine_states"]["machines"] == 1


def test_states_config_errors_name_key_and_line(broker_factory):
    bad = STATES_YAML.replace("states: {reason_variable: alarm_code, offline_after_s: 60}",
                              "states: {offline_after_s: 0}")
    b = broker_factory(bad, start=False)
    b.start(expect_running=False)
    wait_for(lambda: b.proc.poll() is not None, timeout=15, what="mosquitto refusing the config")
    assert "cnc_ingest.yaml:4: handlers.lathe.states.offline_after_s: must be an integer from 1" \
        in b.log_text()


def test_mes_tables_off_stores_the_messages_alone(broker_factory, mariadb, tmp_path):
    """mysql.mes_tables: false - the messages and their rows, none of the MES tables' (the
    writer's cost before them, bench/RESULTS.md)."""
    yaml = STATES_YAML + mariadb.mysql_yaml().replace("}\n", ", mes_tables: false}\n") + \
        f'spool: {{dir: "{tmp_path / "spool"}"}}\nwriter: {{flush_interval_ms: 20}}\n'
    b = broker_factory(yaml)
    send_all(b.port, "lathe-gw", [message("M1", T0, "running", parts=1),
                                  message("M1", T0 + 1000, "alarm", alarm_code="E1", parts=2)])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 2, timeout=30,
             what="2 messages stored")
    for table in ("cnc_state_interval", "cnc_machine_state", "cnc_rollup_minute",
                  "cnc_rollup_hour", "cnc_part_count"):
        assert mariadb.scalar(f"SELECT COUNT(*) FROM {table}") == 0, table


def split_hours(a, b):
    """[a, b) in ms by UTC hour: (hour_ms, seconds, starts) as the writer counts them."""
    h = a - a % 3600000
    while h < b:
        yield h, (min(b, h + 3600000) - max(a, h)) / 1000, int(a >= h)
        h += 3600000


def assert_state_time_is_its_intervals(db):
    """cnc_state_hour and cnc_state_shift hold exactly the closed intervals' time (by hour, by
    shift), and cnc_downtime_hour the downtime of cnc_state_hour."""
    ms = lambda d: round((d - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)  # noqa: E731
    # (cnc_id compares without case in the database: CNC1 and cnc1 are one machine's rows)
    closed = [(c.lower(), ms(a), ms(e), cat, reason or "") for c, a, e, cat, reason in db.query(
        "SELECT cnc_id, started_at, ended_at, category, reason FROM cnc_state_interval"
        " WHERE ended_at IS NOT NULL")]
    hours, shifts = {}, {}
    cal = [(ms(s), ms(e), name) for s, e, name in db.query(
        "SELECT shift_start, shift_end, name FROM cnc_shift")]
    for c, a, e, cat, reason in closed:
        for h, secs, starts in split_hours(a, e):
            got = hours.setdefault((c, h, cat, reason), [0.0, 0])
            got[0] += secs
            got[1] += starts
        for s, t, name in cal:
            if a < t and e > s:
                got = shifts.setdefault((c, s, name, cat, reason), [0.0, 0])
                got[0] += (min(e, t) - max(a, s)) / 1000
                got[1] += int(a >= s)

    def table(sql, fold=True):
        return {tuple(ms(k) if isinstance(k, datetime.datetime) else
                      (k.lower() if fold and i == 0 else k) for i, k in enumerate(row[:-2])):
                [row[-2], int(row[-1])] for row in db.query(sql)}

    def same(got, want):
        assert set(got) == set(want), (set(got) ^ set(want))
        for k, (secs, starts) in want.items():
            assert abs(got[k][0] - secs) < 1e-6 and got[k][1] == starts, (k, got[k], secs, starts)

    same(table("SELECT cnc_id, hour, category, reason, seconds, starts FROM cnc_state_hour"),
         hours)
    same(table("SELECT cnc_id, shift_start, shift_name, category, reason, seconds, starts"
               " FROM cnc_state_shift"), shifts)
    downtime = {}
    for (c, h, cat, reason), (secs, starts) in hours.items():
        if cat in ("planned_downtime", "unplanned_downtime"):
            got = downtime.setdefault((h, cat, reason), [0.0, 0])
            got[0] += secs
            got[1] += starts
    same(table("SELECT hour, category, reason, seconds, starts FROM cnc_downtime_hour",
               fold=False), downtime)


def utc_shifts(mariadb, *spans):
    """A shifts: block in UTC, every day, a shift per (start_ms, end_ms) (their times of day);
    the server's time zone tables loaded."""
    from test_states_sim import load_time_zones

    load_time_zones(mariadb)
    hm = lambda t: time.strftime("%H:%M", time.gmtime(t / 1000))  # noqa: E731
    days = "[mon, tue, wed, thu, fri, sat, sun]"
    return ("shifts:\n  time_zone: UTC\n  history_days: 2\n  calendar:\n" +
            "".join(f'    - {{name: {chr(97 + i)}, days: {days}, start: "{hm(a)}", end: "{hm(b)}"}}\n'
                    for i, (a, b) in enumerate(spans)))


def wait_state_time_is_its_intervals(db):
    """assert_state_time_is_its_intervals, once the downtime refresh after the batches' commits
    is in."""
    deadline = time.monotonic() + 30
    while True:
        try:
            assert_state_time_is_its_intervals(db)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_state_time_is_its_intervals(broker_factory, mariadb, tmp_path):
    """State time per hour and per shift, kept by addition as intervals close and computed again
    where one lands between two others (a late message through a second broker), equals the
    intervals' own time: dense changes (every 5 s over two hours), a silence of more than two
    hours, shifts at odd minutes, two brokers writing one machine."""
    base = int(time.time() * 1000) - 3 * 3600000
    shifts = utc_shifts(mariadb, (base + 37 * 60000, base + 97 * 60000),
                        (base + 97 * 60000, base + 157 * 60000))
    yaml_a = STATES_YAML + shifts + storage_yaml(mariadb, tmp_path / "a")
    yaml_b = STATES_YAML + shifts + storage_yaml(mariadb, tmp_path / "b")
    a = broker_factory(yaml_a)
    b = broker_factory(yaml_b)
    cycle = [("running", {}), ("idle", {}), ("alarm", {"alarm_code": "E42"}),
             ("alarm", {"alarm_code": "E17"}), ("setup", {})]
    dense = [message("M1", base + i * 5000, cycle[i % 5][0], **cycle[i % 5][1])
             for i in range(1500)]                                    # 2 h 5 min, every 5 s
    silent = [message("M2", base + 1000, "running"),
              message("M2", base + 2 * 3600000 + 1234, "running", program="P-9")]  # 2 h 0 m
    send_all(a.port, "gw-a", dense + silent)
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 1502, timeout=60,
             what="1502 messages through broker a")
    # Through broker b: M1's messages between a's (each lands between two intervals), then
    # newer than all (appended in the same batch).
    late = [message("M1", base + i * 5000 + 2500, "stopped") for i in (10, 700, 1400)]
    newer = [message("M1", base + 1500 * 5000 + i * 5000, cycle[i % 5][0], **cycle[i % 5][1])
             for i in range(40)]
    send_all(b.port, "gw-b", late + newer)
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 1545, timeout=60,
             what="1545 messages through both brokers")
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_state_interval WHERE cnc_id = 'M1'") == \
        1500 + 2 * 3 + 40
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_shift") > 0
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_downtime_hour") > 0, timeout=30,
             what="cnc_downtime_hour refreshed")
    wait_state_time_is_its_intervals(mariadb)


def test_one_machine_spelled_two_ways(broker_factory, mariadb, tmp_path):
    """The broker tracks CNC7 and cnc7 apart (both are valid ids); the database compares cnc_id
    without case, so their intervals are one sequence there: still one open interval, none
    overlapping, and the state time equal to the intervals' even when both spellings change
    state in one batch. A reason differing only in case or a trailing space is its own reason
    per hour and per shift alike."""
    base = int(time.time() * 1000) - 2 * 3600000
    shifts = utc_shifts(mariadb, (base, base + 110 * 60000))
    b = broker_factory(STATES_YAML + shifts + storage_yaml(mariadb, tmp_path))
    send_all(b.port, "gw", [message("CNC7", base, "running")])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 1, timeout=30,
             what="the first message stored")
    send_all(b.port, "gw", [
        message("CNC7", base + 20000, "alarm", alarm_code="Tool"),  # (offline_after_s is 60)
        message("cnc7", base + 40000, "alarm", alarm_code="tool"),
        message("CNC7", base + 60000, "alarm", alarm_code="tool "),
        message("cnc7", base + 80000, "idle"),
    ])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 5, timeout=30,
             what="5 messages stored")
    rows = mariadb.query("SELECT started_at, ended_at, reason FROM cnc_state_interval"
                         " ORDER BY started_at")
    assert len(rows) == 5 and sum(e is None for _, e, _ in rows) == 1, rows
    assert all(rows[i][1] == rows[i + 1][0] for i in range(4)), rows
    assert [r for _, _, r in rows] == [None, "Tool", "tool", "tool ", None]
    wait_state_time_is_its_intervals(mariadb)
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_state_shift WHERE reason <> ''") == 3


def test_shifts_without_time_zone_tables_warn_once_and_store(broker_factory, mariadb, tmp_path):
    """A shift calendar on a server whose time zone tables are empty (Debian's default): the
    writer says once what to load and how, no shift is written, and every message and interval
    is stored."""
    shifts = ("shifts:\n  time_zone: Europe/Berlin\n  calendar:\n"
              "    - {name: early, days: [mon, tue, wed, thu, fri, sat, sun], start: \"06:00\","
              " end: \"14:00\"}\n")
    b = broker_factory(STATES_YAML + shifts + storage_yaml(mariadb, tmp_path))
    base = int(time.time() * 1000) - 3600000
    for k in range(3):  # three batches at least: a message, then wait for it
        send_all(b.port, f"gw{k}", [message("Z1", base + k * 1000, ("running", "idle")[k % 2])])
        wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == k + 1,
                 timeout=30, what=f"{k + 1} messages stored")
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_state_interval") == 3
    assert mariadb.scalar("SELECT COUNT(*) FROM cnc_shift") == 0
    warning = 'does not know the time zone "Europe/Berlin"'
    wait_for(lambda: warning in b.log_text(), timeout=30, what="the time zone warning")
    assert b.log_text().count(warning) == 1, b.log_text()
    assert "mariadb-tzinfo-to-sql /usr/share/zoneinfo | mariadb mysql" in b.log_text()


def test_longest_multibyte_state_and_a_newest_closed_by_hand(broker_factory, mariadb, tmp_path):
    """The writer reads a machine's newest interval back to merge a restarted broker's first
    message: a state and reason of the payload's longest strings (256 bytes of 2- and 4-byte
    UTF-8) read back whole, so the restart splits nothing. A newest interval an administrator
    closed by hand is not taken for the open one: the next change is placed between its
    neighbours, and the state time still equals the intervals."""
    state, reason = "\u00e9" * 128, "\U0001F600" * 64  # 256 bytes each
    assert len(state.encode()) == len(reason.encode()) == 256
    yaml = ("handlers:\n  any:\n    type: generic\n    states:\n      variable: state\n"
            "      reason_variable: why\n      offline_after_s: 60\n"
            f'      categories: {{unplanned_downtime: ["{state}"], idle: [idle]}}\n'
            'routes:\n  - {match: "*", handler: any}\n' + storage_yaml(mariadb, tmp_path))
    t = int(time.time() * 1000) - 600000

    def msg(ts, st, why=None):  # the UTF-8 itself, not \u escapes
        payload = {"state": st, **({"why": why} if why else {})}
        return json.dumps({"cnc_id": "W1", "part_program": "P-1", "timestamp": ts,
                           "payload": payload}, ensure_ascii=False)
    b = broker_factory(yaml)
    send_all(b.port, "gw", [msg(t, state, reason)])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 1, timeout=30,
             what="the first message stored")
    b.stop()
    b2 = broker_factory(yaml)  # knows no machine: its first message is a change to it
    send_all(b2.port, "gw", [msg(t + 1000, state, reason)])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 2, timeout=30,
             what="the restarted broker's message stored")
    assert mariadb.query("SELECT state, reason, ended_at FROM cnc_state_interval") == (
        (state, reason, None),)
    # Closed by hand (a repair, a purge gone wrong): the newest is no longer open.
    mariadb.query("UPDATE cnc_state_interval SET ended_at = %s", at(t + 5000))
    send_all(b2.port, "gw", [msg(t + 20000, "idle")])
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == 3, timeout=30,
             what="3 messages stored")
    assert intervals(mariadb, "W1") == (
        (at(t), at(t + 20000), state, "unplanned_downtime", reason, "P-1"),
        (at(t + 20000), None, "idle", "idle", None, "P-1"))
    wait_state_time_is_its_intervals(mariadb)
