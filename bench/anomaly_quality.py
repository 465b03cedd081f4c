#!/usr/bin/python3
"""anomaly_quality.py TRUTH.jsonl SOCKET PASSWORD_FILE - precision and recall of the anomaly
flags stored in cnc_anomaly against cnc-sim's ground truth (--truth).

A fault (cnc_id, variable, kind, start, end) is found when an anomaly row of the same machine and
variable has ts in [start, end + GRACE_MS]. An anomaly row is a true positive when it falls in
such a window of some fault. Threshold-only rows (names in THRESHOLD_RULES) are also scored
alone, to show what fixed thresholds catch without the rolling rules.

Precision is given twice: by row (every flagged message counts) and by alarm event (rows of one
machine, variable and rule less than EVENT_GAP_MS apart are one alarm, as an operator sees it);
an event is a true positive when any of its rows falls in a fault's window.
"""
import collections
import json
import sys

import pymysql

GRACE_MS = 3000
EVENT_GAP_MS = 1000
THRESHOLD_RULES = {"temperature_high", "temperature_critical", "vibration_critical",
                   "spindle_range", "spindle_overspeed"}


def main():
    truth_path, sock, pwfile = sys.argv[1:4]
    faults = [json.loads(l) for l in open(truth_path) if l.strip()]
    password = open(pwfile).read().strip()
    conn = pymysql.connect(unix_socket=sock, user="cnc", password=password, database="cnc")
    with conn.cursor() as cur:
        cur.execute("SELECT cnc_id, variable, rule, "
                    "CAST(UNIX_TIMESTAMP(ts) * 1000 AS SIGNED) FROM cnc_anomaly")
        rows = cur.fetchall()
    windows = collections.defaultdict(list)
    for f in faults:
        windows[(f["cnc_id"], f["variable"])].append((f["start"], f["end"] + GRACE_MS, f["kind"]))

    def in_fault(cnc_id, variable, ts):
        return any(a <= ts <= b for a, b, _ in windows.get((cnc_id, variable), ()))

    def recall(rule_filter):
        found = collections.Counter()
        total = collections.Counter()
        by_key = collections.defaultdict(list)
        for cnc_id, variable, rule, ts in rows:
            if rule_filter(rule):
                by_key[(cnc_id, variable)].append(ts)
        for f in faults:
            total[f["kind"]] += 1
            hits = by_key.get((f["cnc_id"], f["variable"]), ())
            if any(f["start"] <= ts <= f["end"] + GRACE_MS for ts in hits):
                found[f["kind"]] += 1
        return found, total

    found, total = recall(lambda r: True)
    tfound, _ = recall(lambda r: r in THRESHOLD_RULES)
    tp = sum(1 for cnc_id, variable, rule, ts in rows if in_fault(cnc_id, variable, ts))
    fp_rules = collections.Counter(rule for cnc_id, variable, rule, ts in rows
                                   if not in_fault(cnc_id, variable, ts))
    print(f"faults: {len(faults)}, anomaly rows: {len(rows)}, grace after a fault: {GRACE_MS} ms")
    print(f"{'kind':<11} {'faults':>6} {'found':>6} {'recall':>7}  {'thresholds only':>15}")
    for kind in sorted(total):
        print(f"{kind:<11} {total[kind]:>6} {found[kind]:>6} {found[kind] / total[kind]:>7.3f}  "
              f"{tfound[kind] / total[kind]:>15.3f}")
    all_faults = sum(total.values())
    print(f"{'overall':<11} {all_faults:>6} {sum(found.values()):>6} "
          f"{sum(found.values()) / max(all_faults, 1):>7.3f}  "
          f"{sum(tfound.values()) / max(all_faults, 1):>15.3f}")
    print(f"precision by row: {tp / max(len(rows), 1):.3f} ({tp} of {len(rows)} anomaly rows "
          "inside a fault)")
    events = []  # [cnc_id, variable, rule, last_ts, true_positive]
    last = {}
    for cnc_id, variable, rule, ts in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        key = (cnc_id, variable, rule)
        hit = in_fault(cnc_id, variable, ts)
        e = last.get(key)
        if e is not None and ts - e[3] <= EVENT_GAP_MS:
            e[3] = ts
            e[4] = e[4] or hit
        else:
            e = [cnc_id, variable, rule, ts, hit, ts]  # ..., last ts, true positive, first ts
            events.append(e)
            last[key] = e
    etp = sum(1 for e in events if e[4])
    print(f"precision by alarm event: {etp / max(len(events), 1):.3f} ({etp} of {len(events)} "
          f"events touch a fault; rows under {EVENT_GAP_MS} ms apart form one event)")
    fp_events = collections.Counter(e[2] for e in events if not e[4])
    if fp_events:
        print("events outside any fault, by rule: " +
              ", ".join(f"{r} {n}" for r, n in fp_events.most_common()))
        # Where they start: soon after a fault of the same machine and variable ended (the
        # value returning to normal), or elsewhere.
        ends = collections.defaultdict(list)
        for f in faults:
            ends[(f["cnc_id"], f["variable"])].append(f["end"])
        after = collections.Counter()
        for e in events:
            if not e[4]:
                d = [e[5] - t for t in ends.get((e[0], e[1]), ()) if 0 <= e[5] - t]
                after["within 30 s after a fault on it ended" if d and min(d) <= 30000
                      else "no fault on it in the 30 s before"] += 1
        print("false events by start: " + ", ".join(f"{k} {n}" for k, n in after.items()))
    if fp_rules:
        print("rows outside any fault, by rule: " +
              ", ".join(f"{r} {n}" for r, n in fp_rules.most_common()))


if __name__ == "__main__":
    main()
