#!/usr/bin/env python3
"""Draws the end-to-end benchmark medians (bench/results/e2e.csv) as a PNG bar chart."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(src)))
names = [r["config"] for r in rows]
fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
x = range(len(rows))
a.bar([i - 0.2 for i in x], [float(r["mpps64"]) for r in rows], 0.4, label="64 B")
a.bar([i + 0.2 for i in x], [float(r["mpps_imix"]) for r in rows], 0.4, label="IMIX")
a.set_ylabel("Mpps (median)")
a.set_title("Throughput, one forwarding core, veth lab")
a.set_xticks(list(x))
a.set_xticklabels(names, rotation=30, ha="right")
a.legend()
for key, off, lab in (("p50_us", -0.27, "p50"), ("p99_us", 0.0, "p99"), ("p999_us", 0.27, "p99.9")):
    b.bar([i + off for i in x], [max(float(r[key]), 0.1) for r in rows], 0.27, label=lab)
b.set_yscale("log")
b.set_ylabel("one-way latency, µs (log)")
b.set_title("Latency at 50 kpps, 64 B")
b.set_xticks(list(x))
b.set_xticklabels(names, rotation=30, ha="right")
b.legend()
fig.tight_layout()
fig.savefig(out, dpi=110)
