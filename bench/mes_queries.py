"""mes_queries.py SOCKET PASSWORD_FILE TIME_ZONE LABEL - the MES queries of README "Queries for an
MES", each timed seven times on one connection (the first, then the median of the other six),
with the rows it returns and its EXPLAIN; Markdown-ready lines on stdout for bench/RESULTS.md.
Run by bench/run_mes.sh. Not a test.
"""
import datetime
import statistics
import sys
import time
from zoneinfo import ZoneInfo

import pymysql

sock, pwfile, zone, label = sys.argv[1:5]
today = datetime.datetime.now(ZoneInfo(zone)).date().isoformat()

QUERIES = [
    ("current state of every machine",
     "SELECT cnc_id, state, category, reason, state_since, last_ts FROM cnc_machine_state"),
    ("latest message of every machine (cnc_latest)",
     "SELECT cnc_id, ts, part_program, handler FROM cnc_latest"),
    ("availability per machine for today's shifts",
     "SELECT cnc_id, shift_name, shift_start, availability FROM cnc_availability_shift "
     f"WHERE shift_day = '{today}'"),
    ("efficiency per machine per hour for the last day",
     "SELECT cnc_id, hour, avg_score, min_score, samples FROM cnc_efficiency_hourly "
     "WHERE hour >= UTC_TIMESTAMP() - INTERVAL 1 DAY"),
    ("downtime Pareto for the last week",
     "SELECT category, reason, SUM(seconds) AS seconds, SUM(starts) AS stops FROM ("
     " SELECT category, reason, seconds, starts FROM cnc_downtime_hour"
     " WHERE hour >= UTC_TIMESTAMP() - INTERVAL 7 DAY"
     " UNION ALL"
     " SELECT category, COALESCE(reason, ''), TIMESTAMPDIFF(MICROSECOND,"
     " GREATEST(state_since, UTC_TIMESTAMP() - INTERVAL 7 DAY), UTC_TIMESTAMP(3)) / 1e6,"
     " state_since >= UTC_TIMESTAMP() - INTERVAL 7 DAY FROM cnc_machine_state"
     " WHERE category IN ('planned_downtime', 'unplanned_downtime')) d"
     " GROUP BY category, reason ORDER BY seconds DESC"),
]

conn = pymysql.connect(unix_socket=sock, user="cnc", password=open(pwfile).read().strip(),
                       database="cnc", autocommit=True)
with conn.cursor() as cur:
    print(f"{label}:")
    print()
    print("| query | rows | first | median of 6 |")
    print("|---|---|---|---|")
    plans = []
    for name, sql in QUERIES:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            cur.execute(sql)
            rows = cur.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| {name} | {len(rows)} | {times[0]:.1f} ms | {statistics.median(times[1:]):.1f} ms |")
        cur.execute("EXPLAIN " + sql)
        plans.append((name, sql, cur.fetchall()))
    print()
    if "--explain" in sys.argv:
        for name, sql, plan in plans:
            print(f"EXPLAIN {name}: `{sql}`")
            print()
            print("```")
            for row in plan:
                print(" | ".join("" if v is None else str(v) for v in row))
            print("```")
            print()
