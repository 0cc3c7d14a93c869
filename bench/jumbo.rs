//! `BENCH_ONLY=jumbo` (issue 14): 9018-byte frames on a lab at MTU 9000, Gbit/s on the wire
//! (with preamble and inter-frame gap) at the sink, through the Linux bridge, the in-kernel
//! XDP redirect and the xdpgraph bridge with the daemon's defaults (the XDP fast path on, both
//! hosts learned: the program redirects the multi-buffer frames) and with `--fast-path off`
//! (every frame through the worker: AF_XDP multi-buffer in copy mode), in interleaved rounds,
//! with the placement of the rest of the suite. The sender is the generator's AF_XDP engine (the
//! replay engine and xdp-trafficgen send live frames, which the kernel refuses above a page).

use super::*;

/// The rows, in order.
pub const CONFIGS: &[&str] = &[
    "linux-bridge",
    "xdp-redirect",
    "xdpgraph-bridge-fastpath",
    "xdpgraph-bridge",
];

/// One run: Gbit/s and Mpps at the sink, and where the cores' time went.
#[derive(Clone, Copy, Default)]
pub struct JumboSample {
    pub gbps: f64,
    pub mpps: f64,
    pub cpu: [(f64, f64); 2],
    /// xdpgraph: the share of the frames received at the sink that the XDP program forwarded.
    pub fast: f64,
}

/// One configuration on a fresh lab at MTU 9000, as fast as the sender goes.
pub fn measure(cfg: &str, secs: f64) -> JumboSample {
    let lab = LabGuard::up(LabConfig {
        prefix: "bl".into(),
        ports: 2,
        queues: 1,
        addresses: false,
        gro: true,
        mtu: Some(9000),
        ..Default::default()
    })
    .unwrap();
    let _pin = Pinner::start();
    let fwd = setup(cfg, &lab, Sender::Socket);
    if Placement::get() == Placement::OwnCore {
        own_core(&lab.iface(0));
    }
    let c0 = dp_counts(&fwd, &lab.iface(0));
    let cpu0 = cpu_times();
    let c = gen_cfg(
        cfg,
        &lab,
        Engine::Afxdp,
        RxEngine::Xdp,
        Rate::Max,
        Sizes::Fixed(9018),
        secs,
    );
    let r = gen::run(&c, &mut |_, _| {}).unwrap();
    let cpu = cpu_use(&cpu0, &cpu_times());
    let rx = r.rx_frames.unwrap() as f64;
    let fast = match (c0, dp_counts(&fwd, &lab.iface(0))) {
        (Some(a), Some(b)) => (b.0 - a.0) as f64 / rx.max(1.0),
        _ => f64::NAN,
    };
    drop(fwd);
    let s = JumboSample {
        gbps: (r.rx_bytes.unwrap() as f64 + 20.0 * rx) * 8.0 / r.seconds / 1e9,
        mpps: rx / r.seconds / 1e6,
        cpu,
        fast,
    };
    eprintln!(
        "  {cfg} (9018 B): {:.2} Gbit/s, {:.4} Mpps (sent {:.4} Mpps), fast path {:.1}%; CPU: core 0 {:.0}% (softirq {:.0}%), core 1 {:.0}% (softirq {:.0}%)",
        s.gbps, s.mpps, r.tx_pps / 1e6, 100.0 * fast, cpu[0].0, cpu[0].1, cpu[1].0, cpu[1].1
    );
    s
}

/// `runs` interleaved rounds; the Markdown section.
pub fn run(runs: usize, secs: f64) -> String {
    let mut res: Vec<Vec<JumboSample>> = vec![Vec::new(); CONFIGS.len()];
    for r in 0..runs {
        eprintln!("round {}", r + 1);
        for k in 0..CONFIGS.len() {
            let i = (k + r) % CONFIGS.len();
            res[i].push(measure(CONFIGS[i], secs));
        }
    }
    let gb = |i: usize| res[i].iter().map(|s| s.gbps).collect::<Vec<_>>();
    let ratio = |i: usize, j: usize| {
        let r: Vec<f64> = gb(i).iter().zip(gb(j)).map(|(a, b)| a / b).collect();
        let (lo, hi) = r
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        format!("{:.2}x ({lo:.2}–{hi:.2})", median(r))
    };
    let mut md = format!(
        "Measured {} with `sudo BENCH_ONLY=jumbo XDPGRAPH_NO_DPDK=1 ./bench/e2e.sh`: {runs} rounds, {secs} s per run, 9018-byte frames (MTU 9000) from `xdpgraph gen --engine afxdp` in the first namespace, counted by an XDP sink in the second. Placement: {}. xdpgraph with the daemon's defaults.\n\n",
        super::utc_now(),
        Placement::get().what(),
    );
    md += "| configuration | Gbit/s (runs) | median Gbit/s | Mpps | vs Linux bridge | vs XDP redirect | busy % core 0 / core 1 | in the fast path |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (i, c) in CONFIGS.iter().enumerate() {
        let runs: Vec<String> = gb(i).iter().map(|g| format!("{g:.2}")).collect();
        let busy = |k: usize| median(res[i].iter().map(|s| s.cpu[k].0).collect());
        let fast = median(res[i].iter().map(|s| s.fast).collect());
        let fast = if fast.is_finite() {
            format!("{:.1}%", 100.0 * fast)
        } else {
            "-".into()
        };
        md += &format!(
            "| {c} | {} | {:.2} | {:.4} | {} | {} | {:.0} / {:.0} | {fast} |\n",
            runs.join(", "),
            median(gb(i)),
            median(res[i].iter().map(|s| s.mpps).collect()),
            ratio(i, 0),
            ratio(i, 1),
            busy(0),
            busy(1)
        );
    }
    md += "\nxdpgraph-bridge-fastpath is the daemon's defaults (the fast path on; both hosts learned before the run); xdpgraph-bridge is `--fast-path off` (every frame through the worker). Goal (issue 14): the xdpgraph bridge ≥ 1.0× the Linux bridge in Gbit/s.\n\n";
    md
}
