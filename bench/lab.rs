//! End-to-end benchmark on the veth lab (root only): 64-byte frames (60 B + FCS) from one sender
//! through one forwarder into one sink, for
//!
//! * `linux-bridge`       the kernel bridge on the same veths (static FDB entry: learned unicast)
//! * `xdp-redirect`       an in-kernel XDP redirect on the same veths
//! * `afxdp-l2fwd`        our bare AF_XDP loop: the data plane's sockets and rings, no graph
//! * `xdpgraph-xconnect`  xdpgraph, ether → ether
//! * `xdpgraph-bridge`    xdpgraph, ether → bridge (learned unicast) → ether
//!
//! The sender is the replay engine (BPF_PROG_RUN with live frames) transmitting out of the first
//! namespace's veth end, pinned to core 1; the sink is an XDP program on the second namespace's
//! end that counts and drops. xdpgraph and the AF_XDP loop forward on core 0 (busy polling).
//! The kernel paths forward in softirq where veth schedules its NAPI (the sender's core).
//! RUNS runs of SECS seconds each, interleaved; medians and ratios. Prints a Markdown table.
//!
//! `sudo cargo bench --bench lab` (env BENCH_SECS, default 3; BENCH_RUNS, default 3;
//! BENCH_ONLY=substring to pick configurations).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xdpgraph::afxdp::{self, SocketConfig, XdpMode};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::gen::xdp::{in_netns, stat, Helpers};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::value::Value;

const CONFIGS: &[&str] = &[
    "linux-bridge",
    "xdp-redirect",
    "afxdp-l2fwd",
    "xdpgraph-xconnect",
    "xdpgraph-bridge",
];

fn sh(args: &[&str]) {
    let s = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap();
    assert!(s.success(), "{args:?}");
}

enum Setup {
    Kernel,
    Thread(Arc<AtomicBool>, std::thread::JoinHandle<()>),
    Dp(Box<Dataplane>),
}

fn measure(cfg: &str, secs: f64) -> (f64, f64) {
    let lab = LabGuard::up(LabConfig {
        prefix: "bl".into(),
        ports: 2,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap();
    let (a, b) = (lab.iface(0), lab.iface(1));
    let helpers = Helpers::load().unwrap();
    let _sink = helpers
        .attach("xdpgraph_sink", Some(&lab.ns(1)), "eth0", XdpMode::Native)
        .unwrap();
    let dst = lab.host_mac(1);
    let mut _extra = Vec::new();
    let setup = match cfg {
        "linux-bridge" => {
            _extra.push(
                helpers
                    .attach("xdpgraph_pass", None, &a, XdpMode::Native)
                    .unwrap(),
            );
            sh(&["ip", "link", "add", "blbr", "type", "bridge"]);
            sh(&["ip", "link", "set", &a, "master", "blbr"]);
            sh(&["ip", "link", "set", &b, "master", "blbr"]);
            sh(&["ip", "link", "set", "blbr", "up"]);
            sh(&[
                "bridge",
                "fdb",
                "add",
                &dst.to_string(),
                "dev",
                &b,
                "master",
                "static",
            ]);
            Setup::Kernel
        }
        "xdp-redirect" => {
            helpers
                .set_redirect_target(xdpgraph::sys::netdev::ifindex(&b).unwrap())
                .unwrap();
            _extra.push(
                helpers
                    .attach("xdpgraph_redirect", None, &a, XdpMode::Native)
                    .unwrap(),
            );
            // The target veth must run NAPI (have an XDP program) to take redirected frames.
            _extra.push(
                helpers
                    .attach("xdpgraph_pass", None, &b, XdpMode::Native)
                    .unwrap(),
            );
            Setup::Kernel
        }
        "afxdp-l2fwd" => {
            let stop = Arc::new(AtomicBool::new(false));
            let (s2, a2, b2) = (stop.clone(), a.clone(), b.clone());
            let t = std::thread::spawn(move || {
                afxdp::l2fwd::run(
                    &a2,
                    &b2,
                    0,
                    &SocketConfig::default(),
                    XdpMode::Native,
                    8192,
                    &s2,
                )
                .unwrap();
            });
            std::thread::sleep(Duration::from_millis(300));
            Setup::Thread(stop, t)
        }
        _ => {
            let mut dp = Dataplane::start(DataplaneConfig {
                cores: vec![0],
                busy_poll: true,
                taps: false,
                frames_per_worker: 8192,
                ..Default::default()
            })
            .unwrap();
            dp.attach(&a, None).unwrap();
            dp.attach(&b, None).unwrap();
            let g = dp.graph();
            for i in [&a, &b] {
                g.msg(&format!("{i}:"), "setautosrc", Some(&Value::Int(0)))
                    .unwrap();
            }
            if cfg == "xdpgraph-xconnect" {
                g.connect(&format!("{a}:"), &format!("{b}:"), "lower", "lower")
                    .unwrap();
            } else {
                g.mkpeer(&format!("{a}:"), "bridge", "lower", "link0")
                    .unwrap();
                g.name(&format!("{a}:lower"), "br0").unwrap();
                g.connect(&format!("{b}:"), "br0:", "lower", "link1")
                    .unwrap();
                g.msg(
                    "br0:",
                    "movehost",
                    Some(&Value::parse(&format!("{{ addr={dst} hook=\"link1\" }}")).unwrap()),
                )
                .unwrap();
            }
            Setup::Dp(Box::new(dp))
        }
    };
    // The sender: replay 60-byte frames out of the first namespace's veth end, on core 1.
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&dst.0);
    frame.extend_from_slice(&lab.host_mac(0).0);
    frame.extend_from_slice(&0x88b5u16.to_be_bytes());
    frame.resize(60, 0x5a);
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, ns0) = (stop.clone(), lab.ns(0));
    let sender = std::thread::spawn(move || {
        xdpgraph::sys::netdev::enter_netns(&ns0).unwrap();
        let _ = xdpgraph::sys::cpu::pin_current_thread(1);
        let h = Helpers::load().unwrap();
        let idx = xdpgraph::sys::netdev::ifindex("eth0").unwrap();
        let mut sent = 0u64;
        while !s2.load(Ordering::Relaxed) {
            // Each BPF_PROG_RUN call has a fixed cost of ~25 ms here: make calls long.
            h.replay(idx, &frame, 1 << 21).unwrap();
            sent += 1 << 21;
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0) = (helpers.stat(stat::SINK_FRAMES), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (c1, dt) = (helpers.stat(stat::SINK_FRAMES), t0.elapsed().as_secs_f64());
    stop.store(true, Ordering::SeqCst);
    let sent = sender.join().unwrap();
    match setup {
        Setup::Thread(s, t) => {
            s.store(true, Ordering::SeqCst);
            t.join().unwrap();
        }
        Setup::Dp(dp) => {
            let (_, totals) = dp.graph_ref().errors();
            let k: Vec<(&str, u64)> = [&a, &b]
                .iter()
                .flat_map(|i| dp.iface(i).unwrap().kernel_drops())
                .filter(|x| x.1 > 0)
                .collect();
            if std::env::var("BENCH_VERBOSE").is_ok() {
                eprintln!(
                    "  {cfg}: graph drops {totals:?}; kernel drops {k:?}; rx {} tx {}",
                    dp.graph_ref().stat(xdpgraph::graph::gstat::RX),
                    dp.graph_ref().stat(xdpgraph::graph::gstat::TX)
                );
            }
            dp.shutdown()
        }
        Setup::Kernel => {}
    }
    if cfg == "linux-bridge" {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "blbr"])
            .status();
    }
    drop(_extra);
    let _ = in_netns(None, || ());
    ((c1 - c0) as f64 / dt / 1e6, sent as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    if xdpgraph::sys::netdev::euid() != 0 {
        eprintln!("bench lab: needs root (veth lab, XDP); skipped");
        return;
    }
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let cfgs: Vec<&str> = CONFIGS
        .iter()
        .copied()
        .filter(|c| c.contains(only.as_str()))
        .collect();
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); cfgs.len()];
    for r in 0..runs {
        // Rotate the order each run so a drift in the machine does not always hit the same one.
        for k in 0..cfgs.len() {
            let i = (k + r) % cfgs.len();
            let c = &cfgs[i];
            let (mpps, _) = measure(c, secs);
            eprintln!("run {r} {c}: {mpps:.3} Mpps");
            res[i].push(mpps);
        }
    }
    let med: Vec<f64> = res.iter().map(|v| median(v.clone())).collect();
    let find = |n: &str| cfgs.iter().position(|c| *c == n).map(|i| med[i]);
    println!(
        "| configuration | runs (Mpps) | median Mpps | vs Linux bridge | vs bare AF_XDP loop |"
    );
    println!("|---|---|---:|---:|---:|");
    for (i, c) in cfgs.iter().enumerate() {
        let runs: Vec<String> = res[i].iter().map(|x| format!("{x:.3}")).collect();
        let vs = |r: Option<f64>| {
            r.map(|b| format!("{:.2}x", med[i] / b))
                .unwrap_or("-".into())
        };
        println!(
            "| {c} | {} | {:.3} | {} | {} |",
            runs.join(", "),
            med[i],
            vs(find("linux-bridge")),
            vs(find("afxdp-l2fwd"))
        );
    }
}
