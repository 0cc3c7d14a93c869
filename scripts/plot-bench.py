#!/usr/bin/env python3
"""Draws the end-to-end benchmark medians (bench/results/e2e.csv) as a PNG chart."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(src)))
configs = list(dict.fromkeys(r["config"] for r in rows))
senders = list(dict.fromkeys(r["sender"] for r in rows))
val = {(r["config"], r["sender"]): r for r in rows}
fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4.8))
x = range(len(configs))
w = 0.8 / max(len(senders), 1)
for k, s in enumerate(senders):
    off = (k - (len(senders) - 1) / 2) * w
    a.bar([i + off for i in x], [float(val[(cf, s)]["mpps64"]) if (cf, s) in val else 0 for cf in configs], w, label=f"{s} sender")
    b.bar([i + off for i in x], [float(val[(cf, s)]["gbps_imix"]) if (cf, s) in val else 0 for cf in configs], w, label=f"{s} sender")
a.set_ylabel("Mpps (median)")
a.set_title("64 B throughput, one forwarding core")
b.set_ylabel("Gbit/s on the wire (median)")
b.set_title("IMIX throughput")
lat = senders[0]
for key, off, lab in (("p50_us", -0.27, "p50"), ("p99_us", 0.0, "p99"), ("p999_us", 0.27, "p99.9")):
    c.bar([i + off for i in x], [max(float(val[(cf, lat)][key]), 0.1) if (cf, lat) in val else 0 for cf in configs], 0.27, label=lab)
c.set_yscale("log")
c.yaxis.set_major_formatter(ScalarFormatter())
c.set_ylabel("one-way latency, µs")
c.set_title("Latency at 50 kpps, 64 B")
for ax in (a, b, c):
    ax.set_xticks(list(x))
    ax.set_xticklabels(configs, rotation=30, ha="right")
    ax.legend(fontsize=8)
fig.suptitle("xdpgraph on the veth lab (copy-mode AF_XDP), 2 vCPU VM")
fig.tight_layout()
fig.savefig(out, dpi=100)
