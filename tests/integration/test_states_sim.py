"""test_states_sim.py - cnc-sim's machine states (--states: alarms with reasons, part counters
that wrap and reset, silent machines) through a real broker into a private MariaDB, against the
simulator's ground truth.

What it proves:
- cnc_state_interval holds exactly the intervals cnc-sim simulated (state, category, reason,
  part program, start and end to the millisecond, offline intervals of the silences), and the
  parts, good parts and rejects each interval made (cnc_part_count, with each part's ideal time).
- The writer's rollups are exact: cnc_rollup_minute and cnc_rollup_hour equal the same sums
  computed from the stored rows, also after messages are sent a second time (the replay path).
- With a shift calendar (Europe/Berlin, the server's time zone tables loaded), cnc_shift holds
  the shifts in UTC and cnc_state_shift the closed intervals' time per shift, equal to the
  truth's; the availability and OEE views agree with their parts.
"""
import datetime
import json
import subprocess
from zoneinfo import ZoneInfo

from conftest import BUILD, wait_for
from mqtt_raw import RawPublisher

SIM = BUILD / "cnc-sim"
OFFLINE_AFTER_S = 120
IDEAL = ", ".join(f"program_{p:02d}: {20 + 2 * p}" for p in range(20))

YAML = f"""\
handlers:
  lathe:
    type: machine_tool
    states:
      reason_variable: alarm_code
      part_count_variable: parts
      reject_count_variable: rejects
      count_wrap: 65536
      max_count_step: 100
      offline_after_s: {OFFLINE_AFTER_S}
      ideal_cycle_s: {{{IDEAL}}}
  press:
    type: sensor_efficiency
    states: {{offline_after_s: {OFFLINE_AFTER_S}}}
routes:
  - {{match: "CNC*", handler: lathe}}
  - {{match: "PRESS-*", handler: press}}
shifts:
  time_zone: Europe/Berlin
  history_days: 3
  calendar:
    - {{name: early, days: [mon, tue, wed, thu, fri, sat, sun], start: "06:00", end: "14:00"}}
    - {{name: late, days: [mon, tue, wed, thu, fri, sat, sun], start: "14:00", end: "22:00"}}
    - {{name: night, days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", end: "06:00"}}
"""


def at(ms):
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def ms_of(dt):
    return round((dt - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)


def load_time_zones(mariadb):
    tz = subprocess.run(["mariadb-tzinfo-to-sql", "/usr/share/zoneinfo"], capture_output=True,
                        check=True)
    subprocess.run(["mariadb", "--no-defaults", "-S", mariadb.socket, "-uroot", "mysql"],
                   input=tz.stdout, capture_output=True, check=True)


def test_states_match_the_simulation(broker_factory, mariadb, tmp_path):
    load_time_zones(mariadb)
    b = broker_factory(YAML + mariadb.mysql_yaml(readings="json") +
                       f'spool: {{dir: "{tmp_path / "spool"}"}}\nwriter: {{flush_interval_ms: 20}}\n')
    truth_path = tmp_path / "states.jsonl"
    r = subprocess.run([str(SIM), "--port", str(b.port), "--json", "--machines", "12",
                        "--seed", "17", "--states", "--offline-after", str(OFFLINE_AFTER_S),
                        "--state-truth", str(truth_path), "--backfill", "0.1",
                        "--period-ms", "1000", "--window", "500"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sent"] == out["acknowledged"] > 50000 and out["refused"] == 0
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == out["sent"],
             timeout=120, what=f"{out['sent']} messages stored")
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    kinds = {(t["state"], t["reason"] is not None) for t in truth}
    # The run covers what it is meant to: every lathe and press state, alarms with reasons,
    # silences, parts and rejects.
    assert {"running", "idle", "setup", "stopped", "alarm", "active", "maintenance",
            "offline"} <= {t["state"] for t in truth}, kinds
    assert sum(t["state"] == "offline" and t["reason"] == "no_data" for t in truth) >= 3
    assert sum(t["rejects"] for t in truth) > 10 and len(truth) > 300

    rows = mariadb.query(
        "SELECT i.cnc_id, i.state, i.category, i.reason, i.part_program, i.started_at, i.ended_at,"
        " (SELECT COALESCE(SUM(parts), 0) FROM cnc_part_count p WHERE p.cnc_id = i.cnc_id"
        "   AND p.ts >= i.started_at AND (i.ended_at IS NULL OR p.ts < i.ended_at)),"
        " (SELECT COALESCE(SUM(good), 0) FROM cnc_part_count p WHERE p.cnc_id = i.cnc_id"
        "   AND p.ts >= i.started_at AND (i.ended_at IS NULL OR p.ts < i.ended_at)),"
        " (SELECT COALESCE(SUM(rejects), 0) FROM cnc_part_count p WHERE p.cnc_id = i.cnc_id"
        "   AND p.ts >= i.started_at AND (i.ended_at IS NULL OR p.ts < i.ended_at))"
        " FROM cnc_state_interval i ORDER BY i.cnc_id, i.started_at")
    stored = [(c, s, cat, reason, prog, ms_of(a), None if e is None else ms_of(e), int(p), int(g),
               int(rj)) for c, s, cat, reason, prog, a, e, p, g, rj in rows]
    expected = sorted(((t["cnc_id"], t["state"], t["category"], t["reason"], t["part_program"],
                       t["start"], None if t["end"] < 0 else t["end"], t["parts"], t["good"],
                       t["rejects"]) for t in truth), key=lambda row: (row[0], row[5]))
    # A machine the broker has since found silent on TICK (its last message is more than
    # offline_after_s of wall clock ago) has its open interval closed 1 ms after its last
    # message and an offline one after: the truth cannot know when the test looks.
    by_machine = {}
    for row in stored:
        by_machine.setdefault(row[0], []).append(row)
    tail_closed = {}
    for cnc_id, ivs in by_machine.items():
        last = ivs[-1]
        if last[1] == "offline" and last[6] is None and last[3] == "no_data" and len(ivs) >= 2 \
                and ivs[-2][6] == last[5]:
            tail_closed[cnc_id] = ivs.pop()
    stored = [row for ivs in by_machine.values() for row in ivs]
    for i, row in enumerate(expected):
        if row[6] is None and row[0] in tail_closed:
            expected[i] = row[:6] + (tail_closed[row[0]][5],) + row[7:]
    assert stored == expected
    # Each part's ideal time is its program's ideal cycle.
    assert mariadb.scalar(
        "SELECT COUNT(*) FROM cnc_part_count WHERE ABS(ideal_s - parts * (20 + 2 * "
        "CAST(SUBSTRING(part_program, 9) AS UNSIGNED))) > 1e-9") == 0

    # Rollups: the same sums from the stored rows.
    def sums_from_rows():
        return mariadb.query(
            "SELECT m.cnc_id, DATE_FORMAT(m.ts, '%Y-%m-%d %H:%i:00'), COUNT(*),"
            " COUNT(e.msg_key), ROUND(COALESCE(SUM(e.efficiency_score), 0), 6),"
            " ROUND(MIN(e.efficiency_score), 6), ROUND(MAX(e.efficiency_score), 6),"
            " COALESCE(SUM(p.parts), 0), COALESCE(SUM(p.good), 0), COALESCE(SUM(p.rejects), 0)"
            " FROM cnc_message m LEFT JOIN cnc_efficiency e ON e.msg_key = m.msg_key"
            " LEFT JOIN cnc_part_count p ON p.msg_key = m.msg_key"
            " GROUP BY m.cnc_id, DATE_FORMAT(m.ts, '%Y-%m-%d %H:%i:00') ORDER BY 1, 2")

    def sums_from_rollup():
        return mariadb.query(
            "SELECT cnc_id, DATE_FORMAT(minute, '%Y-%m-%d %H:%i:00'), messages, eff_n,"
            " ROUND(eff_sum, 6), ROUND(eff_min, 6), ROUND(eff_max, 6), parts, good, rejects"
            " FROM cnc_rollup_minute ORDER BY 1, 2")
    assert sums_from_rollup() == sums_from_rows()
    assert mariadb.query("SELECT cnc_id, SUM(messages), SUM(parts) FROM cnc_rollup_hour "
                         "GROUP BY cnc_id ORDER BY cnc_id") == \
        mariadb.query("SELECT cnc_id, SUM(messages), SUM(parts) FROM cnc_rollup_minute "
                      "GROUP BY cnc_id ORDER BY cnc_id")
    assert mariadb.scalar("SELECT SUM(anomalies) FROM cnc_rollup_hour") == \
        mariadb.scalar("SELECT COUNT(*) FROM cnc_anomaly")

    # Shifts: Berlin's local shifts in UTC, the closed intervals' time in each equal to the
    # truth's clipped to it.
    berlin = ZoneInfo("Europe/Berlin")
    shifts = mariadb.query("SELECT shift_start, shift_end, name, shift_day FROM cnc_shift "
                           "ORDER BY shift_start")
    assert len(shifts) >= 9
    for start, end, name, day in shifts:
        local = start.replace(tzinfo=datetime.timezone.utc).astimezone(berlin)
        assert (local.hour, local.minute, local.date()) == (
            {"early": 6, "late": 14, "night": 22}[name], 0, day)
    closed = {}
    for t in truth:
        if t["end"] < 0:
            continue
        for start, end, name, _ in shifts:
            s, e = max(t["start"], ms_of(start)), min(t["end"], ms_of(end))
            if e > s:
                key = (t["cnc_id"], ms_of(start), t["category"], t["reason"] or "")
                closed[key] = closed.get(key, 0) + (e - s) / 1000
    got = {(c, ms_of(s), cat, reason): secs for c, s, cat, reason, secs in mariadb.query(
        "SELECT cnc_id, shift_start, category, reason, SUM(seconds) FROM cnc_state_shift "
        "GROUP BY cnc_id, shift_start, category, reason")}
    # (A machine the tick closed has one closed interval more than the truth: not compared.)
    assert set(got) >= set(closed)
    for key, secs in closed.items():
        if key[0] not in tail_closed:
            assert abs(got[key] - secs) < 1e-6, (key, got[key], secs)
    # The OEE view's factors are its parts' quotients.
    for avail, perf, qual, oee, parts, good, ideal, productive in mariadb.query(
            "SELECT availability, performance, quality, oee, parts, good, ideal_s, productive_s "
            "FROM cnc_oee_shift WHERE cnc_id LIKE 'CNC%' AND parts > 0 AND productive_s > 0"):
        parts, good = int(parts), int(good)
        assert abs(perf - ideal / productive) < 1e-9 and abs(qual - good / parts) < 1e-9
        assert abs(oee - avail * perf * qual) < 1e-9

    # The same messages a second time (a replay): nothing stored twice, the rollups still exact.
    some = mariadb.query("SELECT cnc_id, part_program, ts, payload FROM cnc_message "
                         "ORDER BY msg_key LIMIT 300")
    pub = RawPublisher(b.port, "replay", protocol=5)
    for cnc_id, prog, ts, payload in some:
        ms = ms_of(ts)
        text = ('{"cnc_id":"%s","part_program":"%s","timestamp":%d,"payload":%s}'
                % (cnc_id, prog, ms, payload))
        assert pub.publish(f"cnc/{cnc_id}/data", text, qos=1) == 0
    sentinel = ('{"cnc_id":"PRESS-0002","part_program":"P-000","timestamp":%d,"payload":'
                '{"mode":"idle","temperature":50,"vibration":0.3}}' % (ms_of(datetime.datetime.utcnow())))
    assert pub.publish("cnc/PRESS-0002/data", sentinel, qos=1) == 0
    pub.close()
    wait_for(lambda: mariadb.scalar("SELECT COUNT(*) FROM cnc_message") == out["sent"] + 1,
             timeout=60, what="the sentinel stored")
    assert sums_from_rollup() == sums_from_rows()
