//! `BENCH_ONLY=latency` (issue 16, part 3): one-way latency alone, in more and longer runs
//! than the full suite gives it, for xdpgraph on DPDK against `dpdk-testpmd` on the same
//! driver (the goal: p99 and p99.9 within 1.5x testpmd's at the same offered load),
//! with xdpgraph's own AF_XDP bridge and the Linux bridge beside them.
//!
//! Each run: a fresh lab, the forwarder set up as in the full suite (same placement), then
//! the generator's latency probe (`--engine packet --rx-engine packet`: one 64-byte frame per
//! due time at 50 kpps, the latency between the kernel's transmit stamp at the first
//! namespace's veth and its receive stamp at the second's) for `BENCH_LATENCY_SECS` (default
//! 10) seconds. Configurations in a rotating order per round; medians of the rounds and of
//! the per-round ratios to testpmd. p99.9 is the 500th-worst frame of a 10 s run: a single
//! stall of a few milliseconds anywhere on the machine (the forwarder, the kernel, the
//! hypervisor) sets it for that run, hence the rounds. `BENCH_LATENCY_CFGS` (substrings,
//! comma-separated) measures a subset.

use super::*;

/// The configurations, DPDK's when it is built in.
fn configs(dpdk: bool) -> Vec<&'static str> {
    let mut v = vec!["linux-bridge", "xdpgraph-bridge"];
    if dpdk {
        v.extend(DPDK_CONFIGS.iter().map(|c| c.0));
    }
    // BENCH_LATENCY_CFGS: a subset (comma-separated substrings), for diagnosis
    if let Ok(only) = std::env::var("BENCH_LATENCY_CFGS") {
        v.retain(|c| only.split(',').any(|o| c.contains(o.trim())));
    }
    v
}

/// (p50, p99, p99.9 µs, loss ratio) of one run of `cfg`.
fn one(cfg: &str, secs: f64) -> (f64, f64, f64, f64) {
    let (lab, placement) = lab_for(cfg);
    let _pin = Pinner::start();
    let _fwd = setup(cfg, &lab, Sender::Socket);
    place_ingress(cfg, &lab, placement, Sender::Socket);
    let r = latency_run(cfg, &lab, Sizes::Fixed(64), secs);
    assert_eq!(r.latency_source, Some("kernel"), "{cfg}: {r:?}");
    let l = r
        .latency
        .unwrap_or_else(|| panic!("{cfg}: no latency: {r:?}"));
    (l.p50, l.p99, l.p999, r.loss_ratio.unwrap_or(1.0))
}

type Runs = Vec<(f64, f64, f64, f64)>;

/// The median of `f` over the runs, and the median of its per-round ratios to `reference`.
fn stat(a: &Runs, reference: Option<&Runs>, f: fn(&(f64, f64, f64, f64)) -> f64) -> String {
    let m = median(a.iter().map(f).collect());
    match reference {
        Some(b) => {
            let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect();
            let (lo, hi) = r
                .iter()
                .fold((f64::MAX, 0f64), |(l, h), v| (l.min(*v), h.max(*v)));
            format!("{m:.1} ({:.2}x, {lo:.2}–{hi:.2})", median(r))
        }
        None => format!("{m:.1}"),
    }
}

/// Measures and returns the Markdown section.
pub fn run(runs: usize) -> String {
    let secs: f64 = std::env::var("BENCH_LATENCY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let cfgs = configs(dpdk_enabled());
    let mut res: Vec<Runs> = vec![Vec::new(); cfgs.len()];
    for r in 0..runs {
        super::round_header(r);
        for k in 0..cfgs.len() {
            let i = (k + r) % cfgs.len();
            let x = one(cfgs[i], secs);
            eprintln!(
                "  {}: p50 {:.1} p99 {:.1} p99.9 {:.1} us, loss {:.4}%",
                cfgs[i],
                x.0,
                x.1,
                x.2,
                x.3 * 100.0
            );
            res[i].push(x);
        }
    }
    let mut md = format!(
        "Measured {} with `sudo BENCH_ONLY=latency ./bench/e2e.sh`: {runs} rounds, {secs} s per \
         run, 64-byte frames at 50 kpps from the generator's latency probe (`xdpgraph gen \
         --engine packet --rx-engine packet`: one frame per due time; latency between the \
         kernel's transmit stamp at the first namespace's veth and its receive stamp at the \
         second's). Placement as in the tables above (DPDK rows `sender-core`). Medians of the \
         rounds; in brackets the median of the per-round ratios to testpmd on the same driver, \
         and their range.\n\n\
         | configuration | p50 µs | p99 µs (vs testpmd) | p99.9 µs (vs testpmd) | loss |\n\
         |---|---:|---:|---:|---:|\n",
        utc_now()
    );
    for (i, c) in cfgs.iter().enumerate() {
        let reference = DPDK_CONFIGS
            .iter()
            .find(|d| d.0 == *c && d.2 == "xdpgraph")
            .and_then(|d| cfgs.iter().position(|x| *x == c.replace(d.2, "testpmd")))
            .map(|k| &res[k]);
        let loss = res[i].iter().map(|x| x.3).fold(0f64, f64::max);
        md += &format!(
            "| {c} | {} | {} | {} | {} |\n",
            stat(&res[i], None, |x| x.0),
            stat(&res[i], reference, |x| x.1),
            stat(&res[i], reference, |x| x.2),
            if loss == 0.0 {
                "0".to_string()
            } else {
                format!("≤ {:.4}%", loss * 100.0)
            }
        );
    }
    md
}
