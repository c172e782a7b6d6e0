#!/usr/bin/env python3
"""Issue 14's targets from one bench/issue14.sh pass: each figure is the median over the
rounds, and each ratio compares figures of the same pass. Prints a Markdown table.

    python3 bench/issue14_targets.py target/bench-results/issue14-….jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    # (backend, scenario, cell key) -> metric -> [value per round]
    cells = defaultdict(lambda: defaultdict(list))
    for line in open(path):
        v = json.loads(line)
        for cell in v.get("cells", []):
            if not cell.get("ok", False):
                continue
            key = (v["backend"], v["scenario"], cell["key"])
            for metric, value in cell.get("metrics", {}).items():
                if isinstance(value, (int, float)):
                    cells[key][metric].append(value)
    return cells


def median(cells, backend, scenario, key, metric):
    values = cells.get((backend, scenario, key), {}).get(metric, [])
    return (statistics.median(values), len(values)) if values else (None, 0)


def fmt(x, digits=2):
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.{digits}f}"


def main(path):
    c = load(path)
    one = "receivers=1000 messages=200 senders=1"
    four = "receivers=1000 messages=200"  # the 4-sender default keeps the old key
    rows = []
    for b in ("sqlite", "postgres"):
        p50_1k, n = median(c, b, "fanout", one, "send_p50_ms")
        p50_0, _ = median(c, b, "send", "c=1 rooms=1", "send_p50_ms")
        d1, _ = median(c, b, "fanout", one, "deliveries_per_s")
        d4, _ = median(c, b, "fanout", four, "deliveries_per_s")
        raw, _ = median(c, b, "fanout", one + " raw", "deliveries_per_s")
        of_raw, _ = median(c, b, "fanout", one, "of_raw")
        ratio = lambda a, z: (a / z) if a is not None and z else None
        rows += [
            (b, "2: 201 p50, 1 speaker, 1,000 listeners ÷ no listeners", "≤ 2",
             f"{fmt(p50_1k)} ms ÷ {fmt(p50_0)} ms", ratio(p50_1k, p50_0), n),
            (b, "2: deliveries/s, 1 speaker ÷ 4 speakers", "≥ 0.80",
             f"{fmt(d1)} ÷ {fmt(d4)}", ratio(d1, d4), n),
            (b, "2: deliveries/s, 1 speaker ÷ raw ceiling", "≥ 0.70",
             f"{fmt(d1)} ÷ {fmt(raw)}", of_raw, n),
        ]
        if b == "sqlite":
            s, n3 = median(c, b, "commit", "c=1", "send_p50_ms")
            f, _ = median(c, b, "commit", "c=1", "commit_p50_ms")
            r, _ = median(c, b, "commit", "c=1", "send_over_commit_p50")
            rows.append((b, "3: 201 p50 at c=1 ÷ INSERT+COMMIT loop p50", "≤ 1.5",
                         f"{fmt(s, 3)} ms ÷ {fmt(f, 3)} ms", r, n3))
        t, n4 = median(c, b, "send", "c=64 rooms=50", "msgs_per_s")
        goal = 15000 if b == "sqlite" else 8000
        rows.append((b, "4: send c=64, 50 rooms (msgs/s)", f"≥ {goal:,}", fmt(t),
                     ratio(t, goal), n4))
        for rate in (20, 200):
            key = f"receivers=1000 rate={rate}"
            p99, n7 = median(c, b, "latency", key, "deliver_p99_ms")
            p50, _ = median(c, b, "latency", key, "deliver_p50_ms")
            kept, _ = median(c, b, "latency", key, "rate_sent")
            goal = "≤ 5 ms" if rate == 20 else "(report)"
            rows.append((b, f"7: send-to-receive at {rate} msgs/s, p50 / p99", goal,
                         f"{fmt(p50)} / {fmt(p99)} ms ({fmt(kept)} msgs/s kept)",
                         ratio(p99, 5.0) if rate == 20 else None, n7))
    print("| backend | target | goal | figure (median) | ratio | runs |")
    print("|---|---|---|---|---:|---:|")
    for b, what, goal, figure, r, n in rows:
        print(f"| {b} | {what} | {goal} | {figure} | {fmt(r)} | {n} |")


if __name__ == "__main__":
    main(sys.argv[1])
