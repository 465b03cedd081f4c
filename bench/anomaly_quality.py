#!/usr/bin/python3
"""anomaly_quality.py - precision and recall of anomaly flags against cnc-sim's ground truth.

    anomaly_quality.py TRUTH.jsonl SOCKET PASSWORD_FILE
        the rows stored in cnc_anomaly (a live run: cnc-sim --truth into a broker with storage)
    anomaly_quality.py --files TRUTH.jsonl ANOMALIES.jsonl
        the same report from anomaly_replay's output (one JSON line per anomaly row)
    anomaly_quality.py --table [--misses] RUN_DIR...
        one line per run (a folder holding truth.jsonl, anomalies.jsonl and label.txt):
        recall per fault kind, precision by alarm event and by row, against the targets;
        --misses lists every fault not found and every false alarm event

A fault (cnc_id, variable, kind, start, end) is found when an anomaly row of the same machine and
variable has ts in [start, end + GRACE_MS]. An anomaly row is a true positive when it falls in
such a window of some fault. Threshold-only rows (names in THRESHOLD_RULES) are also scored
alone, to show what fixed thresholds catch without the rolling rules.

A fault the end of the run cut short ("cut": true in anomaly_replay's truth) is left out of
recall: its window was not seen whole (a drift stopped after a few samples is no drift yet); rows
inside it still count as true positives.

Precision is given twice: by row (every flagged message counts) and by alarm event (rows of one
machine, variable and rule less than EVENT_GAP_MS apart are one alarm, as an operator sees it);
an event is a true positive when any of its rows falls in a fault's window.
"""
import collections
import json
import os
import sys

GRACE_MS = 3000
EVENT_GAP_MS = 1000
THRESHOLD_RULES = {"temperature_high", "temperature_critical", "vibration_critical",
                   "spindle_range", "spindle_overspeed"}
KINDS = ("spike", "drift", "stuck", "impossible")
RECALL_TARGET = 0.95
PRECISION_TARGET = 0.95


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def rows_from_file(path):
    return [(a["cnc_id"], a["variable"], a["rule"], a["ts"]) for a in read_jsonl(path)]


def rows_from_db(sock, pwfile):
    import pymysql
    password = open(pwfile).read().strip()
    conn = pymysql.connect(unix_socket=sock, user="cnc", password=password, database="cnc")
    with conn.cursor() as cur:
        cur.execute("SELECT cnc_id, variable, rule, "
                    "CAST(UNIX_TIMESTAMP(ts) * 1000 AS SIGNED) FROM cnc_anomaly")
        return list(cur.fetchall())


class Score:
    """Recall per kind and precision by row and by event of rows against faults."""

    def __init__(self, faults, rows):
        self.cut = [f for f in faults if f.get("cut")]
        self.faults = [f for f in faults if not f.get("cut")]
        self.rows = rows
        self.windows = collections.defaultdict(list)
        for f in faults:
            self.windows[(f["cnc_id"], f["variable"])].append((f["start"], f["end"] + GRACE_MS))
        self.found, self.total, self.missed = self._recall(lambda r: True)
        self.tfound, _, _ = self._recall(lambda r: r in THRESHOLD_RULES)
        self.tp_rows = sum(1 for c, v, r, ts in rows if self.in_fault(c, v, ts))
        self.fp_rules = collections.Counter(r for c, v, r, ts in rows
                                            if not self.in_fault(c, v, ts))
        self.events = self._events()
        self.tp_events = sum(1 for e in self.events if e[4])

    def in_fault(self, cnc_id, variable, ts):
        return any(a <= ts <= b for a, b in self.windows.get((cnc_id, variable), ()))

    def _recall(self, rule_filter):
        found, total, missed = collections.Counter(), collections.Counter(), []
        by_key = collections.defaultdict(list)
        for cnc_id, variable, rule, ts in self.rows:
            if rule_filter(rule):
                by_key[(cnc_id, variable)].append(ts)
        for f in self.faults:
            total[f["kind"]] += 1
            hits = by_key.get((f["cnc_id"], f["variable"]), ())
            if any(f["start"] <= ts <= f["end"] + GRACE_MS for ts in hits):
                found[f["kind"]] += 1
            else:
                missed.append(f)
        return found, total, missed

    def _events(self):
        events = []  # [cnc_id, variable, rule, last ts, true positive, first ts]
        last = {}
        for cnc_id, variable, rule, ts in sorted(self.rows):
            key = (cnc_id, variable, rule)
            hit = self.in_fault(cnc_id, variable, ts)
            e = last.get(key)
            if e is not None and ts - e[3] <= EVENT_GAP_MS:
                e[3] = ts
                e[4] = e[4] or hit
            else:
                e = [cnc_id, variable, rule, ts, hit, ts]
                events.append(e)
                last[key] = e
        return events

    def recall(self, kind=None):
        if kind is None:
            n = sum(self.total.values())
            return sum(self.found.values()) / n if n else float("nan")
        return self.found[kind] / self.total[kind] if self.total[kind] else float("nan")

    def precision_events(self):
        return self.tp_events / len(self.events) if self.events else 1.0

    def precision_rows(self):
        return self.tp_rows / len(self.rows) if self.rows else 1.0

    def met(self):
        return (all(self.recall(k) >= RECALL_TARGET for k in KINDS if self.total[k]) and
                self.precision_events() >= PRECISION_TARGET)


def report(s):
    """The detailed report of one run (the live run's format)."""
    print(f"faults: {len(s.faults)}{f' (and {len(s.cut)} cut short by the end, not scored)' if s.cut else ''}, "
          f"anomaly rows: {len(s.rows)}, grace after a fault: {GRACE_MS} ms")
    print(f"{'kind':<11} {'faults':>6} {'found':>6} {'recall':>7}  {'thresholds only':>15}")
    for kind in sorted(s.total):
        print(f"{kind:<11} {s.total[kind]:>6} {s.found[kind]:>6} {s.recall(kind):>7.3f}  "
              f"{s.tfound[kind] / s.total[kind]:>15.3f}")
    n = sum(s.total.values())
    print(f"{'overall':<11} {n:>6} {sum(s.found.values()):>6} {s.recall():>7.3f}  "
          f"{sum(s.tfound.values()) / max(n, 1):>15.3f}")
    print(f"precision by row: {s.precision_rows():.3f} ({s.tp_rows} of {len(s.rows)} anomaly rows "
          "inside a fault)")
    print(f"precision by alarm event: {s.precision_events():.3f} ({s.tp_events} of "
          f"{len(s.events)} events touch a fault; rows under {EVENT_GAP_MS} ms apart form one "
          "event)")
    fp_events = collections.Counter(e[2] for e in s.events if not e[4])
    if fp_events:
        print("events outside any fault, by rule: " +
              ", ".join(f"{r} {n}" for r, n in fp_events.most_common()))
        # Where they start: soon after a fault of the same machine and variable ended (the
        # value returning to normal), or elsewhere.
        ends = collections.defaultdict(list)
        for f in s.faults:
            ends[(f["cnc_id"], f["variable"])].append(f["end"])
        after = collections.Counter()
        for e in s.events:
            if not e[4]:
                d = [e[5] - t for t in ends.get((e[0], e[1]), ()) if 0 <= e[5] - t]
                after["within 30 s after a fault on it ended" if d and min(d) <= 30000
                      else "no fault on it in the 30 s before"] += 1
        print("false events by start: " + ", ".join(f"{k} {n}" for k, n in after.items()))
    if s.fp_rules:
        print("rows outside any fault, by rule: " +
              ", ".join(f"{r} {n}" for r, n in s.fp_rules.most_common()))


def table(run_dirs, misses):
    """One line per run and a line of totals per fault rate."""
    head = ("| run | faults (cut short) | " + " | ".join(f"{k} recall" for k in KINDS) +
            " | recall | precision by event | by row | targets |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    totals = collections.OrderedDict()
    met = 0
    for d in run_dirs:
        label = open(os.path.join(d, "label.txt")).read().strip()
        s = Score(read_jsonl(os.path.join(d, "truth.jsonl")),
                  rows_from_file(os.path.join(d, "anomalies.jsonl")))
        cells = [f"{s.recall(k):.3f} ({s.found[k]}/{s.total[k]})" if s.total[k] else "-"
                 for k in KINDS]
        ok = s.met()
        met += ok
        print(f"| {label} | {len(s.faults)} ({len(s.cut)}) | " + " | ".join(cells) +
              f" | {s.recall():.3f} | {s.precision_events():.3f} ({s.tp_events}/{len(s.events)})"
              f" | {s.precision_rows():.3f} | {'met' if ok else 'MISSED'} |")
        group = label.split(",")[-1].strip()  # "seed 7, faults 0.002": totals per fault rate
        t = totals.setdefault(group, [collections.Counter(), collections.Counter(), 0, 0, 0, 0, 0])
        t[0].update(s.found)
        t[1].update(s.total)
        t[2] += s.tp_events
        t[3] += len(s.events)
        t[4] += s.tp_rows
        t[5] += len(s.rows)
        t[6] += len(s.cut)
        if misses:
            for f in s.missed:
                print(f"|   missed: {f['kind']} {f['cnc_id']} {f['variable']} "
                      f"{f['start']}-{f['end']} ({label}) |")
            for e in s.events:
                if not e[4]:
                    print(f"|   false alarm: {e[2]} {e[0]} {e[1]} {e[5]}-{e[3]} ({label}) |")
    for group, (found, total, etp, ev, rtp, rows, cut) in totals.items():
        cells = [f"{found[k] / total[k]:.3f} ({found[k]}/{total[k]})" if total[k] else "-"
                 for k in KINDS]
        n = sum(total.values())
        print(f"| all seeds, {group} | {n} ({cut}) | " + " | ".join(cells) +
              f" | {sum(found.values()) / max(n, 1):.3f} | {etp / max(ev, 1):.3f} ({etp}/{ev})"
              f" | {rtp / max(rows, 1):.3f} | |")
    print()
    print(f"targets (recall >= {RECALL_TARGET} for every fault kind, precision by alarm event >= "
          f"{PRECISION_TARGET}, per run): met in {met} of {len(run_dirs)} runs")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--table"]:
        misses = "--misses" in args
        table([a for a in args[1:] if a != "--misses"], misses)
    elif args[:1] == ["--files"] and len(args) == 3:
        report(Score(read_jsonl(args[1]), rows_from_file(args[2])))
    elif len(args) == 3:
        report(Score(read_jsonl(args[0]), rows_from_db(args[1], args[2])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
