//! `BENCH_ONLY=dpdknull` (issue 16), also part of the full and the `dpdk` runs: the forwarders'
//! own cost over DPDK's `net_null` devices (no kernel, no wire: the null driver makes an mbuf
//! for every frame received and frees every frame sent), xdpgraph against `dpdk-testpmd`:
//!
//! * cross-connect: the two devices' ether nodes joined `lower`↔`lower`, against testpmd's
//!   `--forward-mode=io` (each burst received handed to `tx_burst` untouched; xdpgraph does
//!   the same here: its direct cross-connect, docs/DPDK.md);
//! * bridge: both devices on one bridge, against testpmd's `--forward-mode=mac` (each frame's
//!   Ethernet addresses rewritten). net_null's frames all carry 00:00:00:00:00:00 as both
//!   addresses (it never writes the data), so a learning link would see the same host on both
//!   sides and declare a loop: the devices are the bridge's `uplink1` and `uplink2`, which do
//!   not learn, and every frame is read, looked up (unknown) and sent to the other uplink.
//!
//! Both forwarders run the same devices (`--vdev net_null0 --vdev net_null1`, the driver's
//! defaults: 64-byte frames, no copy), the same memory (hugepages `--in-memory` when some are
//! free, else `--no-huge`), forwarding on core 0 (xdpgraph's one worker, testpmd's one
//! forwarding lcore), the rest on core 1 (xdpgraph's management thread, testpmd's main lcore),
//! with the same burst (xdpgraph's 64; testpmd gets `--burst=64`, its default being 32). Both
//! are counted the same way: the
//! devices' TX counters (`rte_eth_stats.opackets`) of both devices, over the run (xdpgraph:
//! `getstats` before and after; testpmd: its once-a-second `Tx-pps`, from the same counters,
//! the first report left out). Rounds alternate the forwarders, in a rotating order; the
//! ratio is the median of per-round ratios.

use super::*;

/// The rows: (name, xdpgraph topology, testpmd forwarding mode).
pub const PAIRS: &[(&str, &str, &str)] = &[
    ("cross-connect", "xconnect", "io"),
    ("bridge", "bridge", "mac"),
];

fn vdevs() -> Vec<String> {
    vec!["net_null0".to_string(), "net_null1".to_string()]
}

/// testpmd's rate in `mode`: the mean over the run of both ports' `Tx-pps`.
fn testpmd_rate(mode: &str, secs: f64) -> f64 {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut c = testpmd(&format!("tpn{}", std::process::id()), &vdevs(), mode)
        .args(["--stats-period", "1"])
        .arg(format!("--burst={}", xdpgraph::buf::BURST))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dpdk-testpmd");
    std::thread::sleep(Duration::from_secs_f64(secs + 3.0));
    let _ = Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status();
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = c.wait();
    let pps: Vec<f64> = out
        .split("Tx-pps:")
        .skip(1)
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    // two ports per report
    let per_report: Vec<f64> = pps.chunks(2).map(|p| p.iter().sum()).collect();
    let steady: Vec<f64> = per_report
        .iter()
        .skip(1)
        .copied()
        .filter(|r| *r > 0.0)
        .collect();
    steady.iter().sum::<f64>() / steady.len().max(1) as f64
}

/// xdpgraph's rate with `topology`: both devices' `tx_packets` over `secs`.
fn xdpgraph_rate(topology: &str, secs: f64) -> f64 {
    let sock = format!("/tmp/xdpgraph-bench-{}.sock", std::process::id());
    let _p = spawn_xdpgraph(&vdevs(), topology);
    let tx = || -> f64 {
        ["net_null0:", "net_null1:"]
            .iter()
            .map(|n| {
                let o = std::process::Command::new(XDPGRAPH)
                    .args(["ctl", "--socket", &sock, "--json", "msg", n, "getstats"])
                    .output()
                    .unwrap();
                let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
                j["reply"]["tx_packets"].as_f64().unwrap_or(0.0)
            })
            .sum()
    };
    let (a, t0) = (tx(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (b, el) = (tx(), t0.elapsed().as_secs_f64());
    (b - a) / el
}

/// Every pair, `runs` rounds; the Markdown of the section.
pub fn run(runs: usize, secs: f64) -> String {
    // rate[pair][0 xdpgraph, 1 testpmd][round], Mpps
    let mut rate = vec![[Vec::new(), Vec::new()]; PAIRS.len()];
    for r in 0..runs {
        let n = PAIRS.len() * 2;
        for k in 0..n {
            let i = (k + r) % n;
            let (p, who) = (i / 2, (i + r) % 2);
            let (name, topo, mode) = PAIRS[p];
            let m = if who == 0 {
                xdpgraph_rate(topo, secs)
            } else {
                testpmd_rate(mode, secs)
            } / 1e6;
            eprintln!(
                "  round {} net_null {name}: {} {m:.2} Mpps",
                r + 1,
                ["xdpgraph", "testpmd"][who]
            );
            rate[p][who].push(m);
        }
    }
    let memory = if hugepages() {
        "hugepages (`--in-memory`)"
    } else {
        "no hugepages (`--no-huge`)"
    };
    let f = |v: &[f64]| {
        v.iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut md = format!(
        "Measured {} with `sudo BENCH_ONLY=dpdknull ./bench/e2e.sh` (or a full run): {runs} \
         rounds, {secs} s per run, {memory}. Two `net_null` devices, both directions, 64-byte \
         frames; forwarding on core 0 (xdpgraph's worker, testpmd's forwarding lcore), the \
         rest on core 1 (xdpgraph's management thread, testpmd's main lcore); bursts of {} for \
         both (testpmd `--burst`); both counted by the devices' TX counters. xdpgraph's \
         cross-connect is its direct one (mbufs handed from device to device, docs/DPDK.md).\n\n\
         | xdpgraph | Mpps (runs) | median | testpmd | Mpps (runs) | median | ratio (per-round median, range) |\n\
         |---|---|---:|---|---|---:|---:|\n",
        utc_now(),
        xdpgraph::buf::BURST,
    );
    for (p, (name, _, mode)) in PAIRS.iter().enumerate() {
        let [x, t] = &rate[p];
        let ratios: Vec<f64> = x.iter().zip(t).map(|(a, b)| a / b).collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        md += &format!(
            "| {name} | {} | {:.2} | `--forward-mode={mode}` | {} | {:.2} | {:.2}x ({lo:.2}–{hi:.2}) |\n",
            f(x),
            median(x.clone()),
            f(t),
            median(t.clone()),
            median(ratios),
        );
    }
    md + "\n"
}
