//! The end-to-end benchmark suite on the veth lab (root only; run through `bench/e2e.sh`).
//!
//! For each configuration — the Linux bridge, an in-kernel XDP redirect, our bare AF_XDP loop,
//! and xdpgraph as ether→ether, ether→bridge→ether and ether→vlan→bridge→ether — on a fresh
//! lab of two veth pairs (one queue each):
//!
//! * throughput with 64-byte frames and with simple IMIX: the replay engine (BPF_PROG_RUN live
//!   frames, pinned to core 1) sends as fast as it can out of the first namespace's veth end;
//!   an XDP program on the second namespace's end counts and drops what arrives;
//! * latency at a fixed moderate rate (50 kpps, 64 B): the AF_XDP engine stamps every frame,
//!   the AF_XDP matcher on the second namespace's end (core 1) measures one-way latency.
//!
//! xdpgraph and the bare loop forward on core 0, busy polling. The kernel paths forward in
//! softirq where veth schedules its NAPI (the sender's core); the sink's NAPI is a kernel
//! thread pinned to core 1. RUNS rounds, configurations in a
//! rotating order; medians. Prints Markdown and writes it between the `e2e` markers of
//! docs/BENCHMARKS.md, and the medians to bench/results/e2e.csv (for the chart).
//!
//! Env: BENCH_SECS (default 3), BENCH_RUNS (default 3), BENCH_ONLY (substring), BENCH_NO_WRITE.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xdpgraph::afxdp::{self, SocketConfig, XdpMode};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::gen::frame::{FrameSpec, Sizes};
use xdpgraph::gen::rate::Rate;
use xdpgraph::gen::xdp::Helpers;
use xdpgraph::gen::{self, Engine, GenConfig, RxEngine};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::value::Value;

const CONFIGS: &[&str] = &[
    "linux-bridge",
    "xdp-redirect",
    "afxdp-l2fwd",
    "xdpgraph-xconnect",
    "xdpgraph-bridge",
    "xdpgraph-vlan-bridge",
];

fn sh(args: &[&str]) {
    let s = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap();
    assert!(s.success(), "{args:?}");
}

/// Threaded NAPI on a veth end (in namespace `ns`), so that its receive work runs in a kernel
/// thread we can pin instead of in whichever softirq scheduled it.
fn threaded(ns: Option<&str>, ifname: &str) {
    let p = format!("/sys/class/net/{ifname}/threaded");
    let _ = xdpgraph::gen::xdp::in_netns(ns, move || std::fs::write(&p, "1"));
}

/// Keeps NAPI threads pinned while a measurement runs: the forwarder's ingress veth
/// (`napi/bl0-*`) on core 0 with the forwarder, the sink's (`napi/eth0-*`, the only namespace
/// end with an XDP program) on core 1 with the sender.
struct Pinner(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Pinner {
    fn start() -> Pinner {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                        continue;
                    };
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    let core = if comm.starts_with("napi/bl") {
                        0
                    } else if comm.starts_with("napi/eth0-") {
                        1
                    } else {
                        continue;
                    };
                    let _ = xdpgraph::sys::cpu::pin_thread(pid, core);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Pinner(stop, Some(t))
    }
}

impl Drop for Pinner {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

/// A configuration set up on a lab; torn down on drop.
struct Fwd {
    _attach: Vec<xdpgraph::gen::xdp::Attachment>,
    _helpers: Option<Helpers>,
    thread: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    dp: Option<Dataplane>,
    bridge: bool,
}

impl Drop for Fwd {
    fn drop(&mut self) {
        if let Some((s, t)) = self.thread.take() {
            s.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
        if let Some(dp) = self.dp.take() {
            if std::env::var("BENCH_VERBOSE").is_ok() {
                use xdpgraph::graph::gstat;
                let g = dp.graph_ref();
                eprintln!(
                    "    xdpgraph: rx {} in {} bursts ({:.1} frames/burst), drops {:?}",
                    g.stat(gstat::RX),
                    g.stat(gstat::BURSTS),
                    g.stat(gstat::RX) as f64 / g.stat(gstat::BURSTS).max(1) as f64,
                    g.errors().1
                );
            }
            dp.shutdown();
        }
        if self.bridge {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", "blbr"])
                .status();
        }
    }
}

fn setup(cfg: &str, lab: &LabGuard, sender: Engine) -> Fwd {
    let (a, b) = (lab.iface(0), lab.iface(1));
    let dst = lab.host_mac(1);
    let mut f = Fwd {
        _attach: Vec::new(),
        _helpers: None,
        thread: None,
        dp: None,
        bridge: false,
    };
    match cfg {
        "linux-bridge" => {
            let h = Helpers::load().unwrap();
            // The replay sender's frames arrive as XDP_TX frames: the veth needs an XDP program
            // (which also moves its receive path into NAPI). Socket-sent frames need none.
            if sender == Engine::Replay {
                f._attach.push(
                    h.attach("xdpgraph_pass", None, &a, XdpMode::Native)
                        .unwrap(),
                );
            }
            sh(&["ip", "link", "add", "blbr", "type", "bridge"]);
            f.bridge = true;
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
            f._helpers = Some(h);
        }
        "xdp-redirect" => {
            let h = Helpers::load().unwrap();
            h.set_redirect_target(xdpgraph::sys::netdev::ifindex(&b).unwrap())
                .unwrap();
            f._attach.push(
                h.attach("xdpgraph_redirect", None, &a, XdpMode::Native)
                    .unwrap(),
            );
            f._attach.push(
                h.attach("xdpgraph_pass", None, &b, XdpMode::Native)
                    .unwrap(),
            );
            f._helpers = Some(h);
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
            f.thread = Some((stop, t));
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
            let movehost = format!("{{ addr={dst} hook=\"link1\" }}");
            match cfg {
                "xdpgraph-xconnect" => g
                    .connect(&format!("{a}:"), &format!("{b}:"), "lower", "lower")
                    .unwrap(),
                "xdpgraph-bridge" => {
                    g.mkpeer(&format!("{a}:"), "bridge", "lower", "link0")
                        .unwrap();
                    g.name(&format!("{a}:lower"), "br0").unwrap();
                    g.connect(&format!("{b}:"), "br0:", "lower", "link1")
                        .unwrap();
                    g.msg("br0:", "movehost", Some(&Value::parse(&movehost).unwrap()))
                        .unwrap();
                }
                _ => {
                    g.mkpeer(&format!("{a}:"), "vlan", "lower", "downstream")
                        .unwrap();
                    g.name(&format!("{a}:lower"), "v").unwrap();
                    g.mkpeer("v:", "bridge", "v10", "link0").unwrap();
                    g.name("v:v10", "br0").unwrap();
                    g.msg(
                        "v:",
                        "addfilter",
                        Some(&Value::parse(r#"{ hook="v10" vid=10 }"#).unwrap()),
                    )
                    .unwrap();
                    g.connect(&format!("{b}:"), "br0:", "lower", "link1")
                        .unwrap();
                    g.msg("br0:", "movehost", Some(&Value::parse(&movehost).unwrap()))
                        .unwrap();
                }
            }
            f.dp = Some(dp);
        }
    }
    f
}

fn gen_cfg(
    cfg: &str,
    lab: &LabGuard,
    engine: Engine,
    rx: RxEngine,
    rate: Rate,
    sizes: Sizes,
    secs: f64,
) -> GenConfig {
    GenConfig {
        tx: "eth0".into(),
        tx_netns: Some(lab.ns(0)),
        rx: Some("eth0".into()),
        rx_netns: Some(lab.ns(1)),
        engine,
        rx_engine: rx,
        rate,
        sizes,
        spec: FrameSpec {
            src_mac: lab.host_mac(0),
            dst_mac: lab.host_mac(1),
            src_ip: [198, 18, 0, 1],
            dst_ip: [198, 18, 0, 2],
            vlan: (cfg == "xdpgraph-vlan-bridge").then_some((10, 0)),
            flows: 1,
        },
        duration: Some(Duration::from_secs_f64(secs)),
        count: None,
        tx_core: Some(1),
        rx_core: Some(1),
        drain: Duration::from_millis(300),
    }
}

#[derive(Clone, Default)]
struct Sample {
    mpps64: f64,
    mpps_imix: f64,
    gbps_imix: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

/// One configuration with one sender on a fresh lab: 64 B and IMIX throughput, and (when
/// `latency`) latency at 50 kpps.
fn measure(cfg: &str, sender: Engine, secs: f64, latency: bool) -> Sample {
    let lab = LabGuard::up(LabConfig {
        prefix: "bl".into(),
        ports: 2,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap();
    // The sink's receive work runs in a NAPI thread pinned to core 1 (with the sender), so it
    // never lands on the forwarding core. BENCH_NAPI_THREAD=1 also moves the forwarder's ingress
    // NAPI into a thread pinned to core 0: then the kernel paths forward on core 0, but that
    // thread competes with a busy-polling AF_XDP forwarder for the same core (measured: the
    // AF_XDP paths fall to ~0.15 Mpps), so by default the ingress NAPI stays in softirq on the
    // sender's core, where veth runs it.
    threaded(Some(&lab.ns(1)), "eth0");
    let _pin = Pinner::start();
    let _fwd = setup(cfg, &lab, sender);
    if std::env::var("BENCH_NAPI_THREAD").is_ok() {
        // After setup: the veth has its NAPI only once an XDP program is attached.
        threaded(None, &lab.iface(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut s = Sample::default();
    // 64 B frames; tagged ones (the vlan configuration's trunk) are 68 B, and 64 B once untagged.
    let small = Sizes::Fixed(if cfg == "xdpgraph-vlan-bridge" {
        68
    } else {
        64
    });
    let r = gen::run(
        &gen_cfg(
            cfg,
            &lab,
            sender,
            RxEngine::Xdp,
            Rate::Max,
            small.clone(),
            secs,
        ),
        &mut |_, _| {},
    )
    .unwrap();
    s.mpps64 = r.rx_pps.unwrap() / 1e6;
    let r = gen::run(
        &gen_cfg(
            cfg,
            &lab,
            sender,
            RxEngine::Xdp,
            Rate::Max,
            Sizes::Imix,
            secs,
        ),
        &mut |_, _| {},
    )
    .unwrap();
    let rx = r.rx_frames.unwrap() as f64;
    s.mpps_imix = r.rx_pps.unwrap() / 1e6;
    // Received bits on the wire (+20 B preamble and inter-frame gap per frame).
    s.gbps_imix = (r.rx_bytes.unwrap() as f64 + 20.0 * rx) * 8.0 / r.seconds / 1e9;
    let mut loss = 0.0;
    if latency {
        let r = gen::run(
            &gen_cfg(
                cfg,
                &lab,
                Engine::Afxdp,
                RxEngine::Afxdp,
                Rate::Pps(50_000.0),
                small,
                secs.min(3.0),
            ),
            &mut |_, _| {},
        )
        .unwrap();
        if let Some(l) = r.latency {
            (s.p50, s.p99, s.p999) = (l.p50, l.p99, l.p999);
        }
        loss = r.loss_ratio.unwrap_or(0.0);
    }
    eprintln!(
        "  {cfg} ({}): 64B {:.3} Mpps, IMIX {:.3} Mpps {:.2} Gbit/s{}",
        sender_name(sender),
        s.mpps64,
        s.mpps_imix,
        s.gbps_imix,
        if latency {
            format!(
                ", latency p50 {:.1} p99 {:.1} p99.9 {:.1} us (loss at 50 kpps {:.3}%)",
                s.p50,
                s.p99,
                s.p999,
                loss * 100.0
            )
        } else {
            String::new()
        }
    );
    s
}

fn sender_name(e: Engine) -> &'static str {
    match e {
        Engine::Afxdp => "socket sender",
        Engine::Replay => "replay sender",
    }
}

/// The throughput senders: the AF_XDP engine (socket-based: frames reach the veth as skbs; the
/// kernel paths then forward them on the sender's core) and the replay engine (frames reach
/// the veth as xdp_frames; the veth needs an XDP program). `BENCH_SENDER=afxdp|replay` picks one.
fn senders() -> Vec<Engine> {
    match std::env::var("BENCH_SENDER").as_deref() {
        Ok("afxdp") => vec![Engine::Afxdp],
        Ok("replay") => vec![Engine::Replay],
        _ => vec![Engine::Afxdp, Engine::Replay],
    }
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
    let senders = senders();
    // res[sender][config] = samples
    let mut res: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); cfgs.len()]; senders.len()];
    for r in 0..runs {
        eprintln!("round {}", r + 1);
        for k in 0..cfgs.len() {
            let i = (k + r) % cfgs.len();
            for (j, snd) in senders.iter().enumerate() {
                res[j][i].push(measure(cfgs[i], *snd, secs, j == 0));
            }
        }
    }
    let idx = |n: &str| cfgs.iter().position(|c| *c == n);
    let mut md = String::new();
    md += &format!(
        "Measured {} with `sudo ./bench/e2e.sh`: {runs} rounds, {secs} s per throughput run, forwarder on core 0, sender and receiver on core 1.\n\n",
        std::process::Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
    );
    let mut csv = String::from("config,sender,mpps64,mpps_imix,gbps_imix,p50_us,p99_us,p999_us\n");
    for (j, snd) in senders.iter().enumerate() {
        let med = |i: usize, f: fn(&Sample) -> f64| median(res[j][i].iter().map(f).collect());
        md += &format!(
            "**{}** ({}):\n\n",
            sender_name(*snd),
            if *snd == Engine::Afxdp {
                "`xdpgraph gen --engine afxdp`, frames reach the first veth as skbs"
            } else {
                "`xdpgraph gen --engine replay`, frames reach the first veth as xdp_frames; the Linux bridge's port then needs an XDP program"
            }
        );
        md += "| configuration | 64 B Mpps (runs) | 64 B median | vs Linux bridge | vs bare AF_XDP loop | IMIX Mpps | IMIX Gbit/s |";
        if j == 0 {
            md += " latency p50 / p99 / p99.9 µs at 50 kpps |";
        }
        md += "\n|---|---|---:|---:|---:|---:|---:|";
        if j == 0 {
            md += "---|";
        }
        md += "\n";
        for (i, c) in cfgs.iter().enumerate() {
            let m64 = med(i, |s| s.mpps64);
            let vs = |n: &str| {
                idx(n)
                    .map(|k| format!("{:.2}x", m64 / med(k, |s| s.mpps64)))
                    .unwrap_or("-".into())
            };
            let runs: Vec<String> = res[j][i]
                .iter()
                .map(|s| format!("{:.3}", s.mpps64))
                .collect();
            md += &format!(
                "| {c} | {} | {:.3} | {} | {} | {:.3} | {:.2} |",
                runs.join(", "),
                m64,
                vs("linux-bridge"),
                vs("afxdp-l2fwd"),
                med(i, |s| s.mpps_imix),
                med(i, |s| s.gbps_imix)
            );
            if j == 0 {
                md += &format!(
                    " {:.1} / {:.1} / {:.1} |",
                    med(i, |s| s.p50),
                    med(i, |s| s.p99),
                    med(i, |s| s.p999)
                );
            }
            md += "\n";
            csv += &format!(
                "{c},{},{m64:.4},{:.4},{:.4},{:.2},{:.2},{:.2}\n",
                if *snd == Engine::Afxdp {
                    "socket"
                } else {
                    "replay"
                },
                med(i, |s| s.mpps_imix),
                med(i, |s| s.gbps_imix),
                med(i, |s| s.p50),
                med(i, |s| s.p99),
                med(i, |s| s.p999)
            );
        }
        md += "\n";
    }
    println!("{md}");
    if std::env::var("BENCH_NO_WRITE").is_ok() || !only.is_empty() {
        return;
    }
    let _ = std::fs::create_dir_all("bench/results");
    std::fs::write("bench/results/e2e.csv", csv).unwrap();
    let path = "docs/BENCHMARKS.md";
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let (b, e) = ("<!-- e2e:begin -->", "<!-- e2e:end -->");
    if let (Some(x), Some(y)) = (doc.find(b), doc.find(e)) {
        let new = format!("{}{b}\n{md}{}", &doc[..x], &doc[y..]);
        std::fs::write(path, new).unwrap();
        eprintln!("wrote {path}");
    } else {
        eprintln!("{path} has no e2e markers; not written");
    }
}
