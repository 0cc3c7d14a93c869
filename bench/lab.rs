//! The end-to-end benchmark suite on the veth lab (root only; run through `bench/e2e.sh`).
//!
//! For each configuration — the Linux bridge, an in-kernel XDP redirect, our bare AF_XDP loop,
//! the same loop on the `xdpilone` crate (bench/xdpilone_l2fwd.rs: the AF_XDP library choice),
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
//! Built with `--features dpdk` (and with `dpdk-testpmd` installed), four more configurations:
//! xdpgraph on DPDK (the xdpgraph binary with `--dpdk-eal "--vdev ..."`, a cross-connect)
//! beside `dpdk-testpmd` io forwarding, each with the af_xdp and the af_packet driver on the
//! same veths, forwarding on core 0 (testpmd's main lcore on core 1), socket sender only (the
//! replay sender needs an XDP program on the veth, which af_packet does not attach). Also the
//! in-memory rate of both over `net_null` devices.
//!
//! Env: BENCH_SECS (default 3), BENCH_RUNS (default 3), BENCH_ONLY (substring), BENCH_NO_WRITE.

mod xdpilone_l2fwd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xdpgraph::dataplane::afxdp::{self, SocketConfig, XdpMode};
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
    "xdpilone-l2fwd",
    "xdpgraph-xconnect",
    "xdpgraph-bridge",
    "xdpgraph-vlan-bridge",
];

/// The DPDK configurations: (name, driver, forwarder).
const DPDK_CONFIGS: &[(&str, &str, &str)] = &[
    ("dpdk-af_xdp-xdpgraph", "net_af_xdp", "xdpgraph"),
    ("dpdk-af_xdp-testpmd", "net_af_xdp", "testpmd"),
    ("dpdk-af_packet-xdpgraph", "net_af_packet", "xdpgraph"),
    ("dpdk-af_packet-testpmd", "net_af_packet", "testpmd"),
];

fn dpdk_enabled() -> bool {
    cfg!(feature = "dpdk")
        && std::process::Command::new("dpdk-testpmd")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
}

fn is_dpdk(cfg: &str) -> bool {
    cfg.starts_with("dpdk-")
}

/// A forwarder in its own process: xdpgraph with DPDK devices, or dpdk-testpmd. Stopped with
/// SIGINT (both then close their devices) on drop.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const XDPGRAPH: &str = env!("CARGO_BIN_EXE_xdpgraph");

/// testpmd forwarding (io mode) between `vdevs` on core 0, its main lcore on core 1;
/// application arguments may follow.
fn testpmd(file_prefix: &str, vdevs: &[String]) -> std::process::Command {
    let mut c = std::process::Command::new("dpdk-testpmd");
    // the same memory as xdpgraph's EAL default: hugepages when some are free
    if hugepages() {
        c.args(["--in-memory", "--no-pci"]);
    } else {
        c.args(["--no-huge", "-m", "1024", "--no-pci", "--no-shconf"]);
    }
    c.args(["-l", "0,1", "--main-lcore", "1", "--log-level=warning"])
        .args(["--file-prefix", file_prefix]);
    for v in vdevs {
        c.arg("--vdev").arg(v);
    }
    c.args(["--", "--forward-mode=io", "--auto-start", "--nb-cores=1"]);
    if let Some(d) = dpdk_desc() {
        c.arg(format!("--rxd={d}")).arg(format!("--txd={d}"));
    }
    c
}

/// Whether hugepages are free (xdpgraph's EAL default then uses them, and so does testpmd here).
fn hugepages() -> bool {
    #[cfg(feature = "dpdk")]
    return xdpgraph::dataplane::dpdk::eal::hugepages_free() > 0;
    #[cfg(not(feature = "dpdk"))]
    false
}

/// BENCH_DPDK_DESC=N: both DPDK forwarders use rings of N descriptors instead of the driver's
/// preferred size.
fn dpdk_desc() -> Option<u16> {
    std::env::var("BENCH_DPDK_DESC").ok()?.parse().ok()
}

/// `vdevs` are the EAL's `--vdev` arguments.
fn spawn_forwarder(forwarder: &str, vdevs: &[String]) -> Proc {
    use std::process::{Command, Stdio};
    let pid = std::process::id();
    if forwarder == "testpmd" {
        let mut c = testpmd(&format!("tp{pid}"), vdevs);
        c.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let p = Proc(c.spawn().expect("dpdk-testpmd"));
        std::thread::sleep(Duration::from_secs(3));
        return p;
    }
    let sock = format!("/tmp/xdpgraph-bench-{pid}.sock");
    let eal: Vec<String> = vdevs.iter().map(|v| format!("--vdev {v}")).collect();
    let p = Proc(
        Command::new(XDPGRAPH)
            .args(["run", "--cores", "0", "--frames", "8192", "--socket", &sock])
            .args(["--dpdk-eal", &eal.join(" ")])
            .args(dpdk_desc().map(|d| format!("--dpdk-desc={d}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xdpgraph"),
    );
    for _ in 0..200 {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let nodes: Vec<String> = vdevs
        .iter()
        .map(|v| v.split(',').next().unwrap().to_string())
        .collect();
    let ctl = |args: &[&str]| {
        let ok = Command::new(XDPGRAPH)
            .args(["ctl", "--socket", &sock])
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "xdpgraph ctl {args:?}");
    };
    for n in &nodes {
        ctl(&["msg", &format!("{n}:"), "setautosrc", "0"]);
    }
    ctl(&[
        "connect",
        &format!("{}:", nodes[0]),
        &format!("{}:", nodes[1]),
        "lower",
        "lower",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    p
}

/// Frames per second forwarded between two `net_null` devices by `forwarder`, measured over
/// `secs` from the device counters.
fn null_rate(forwarder: &str, secs: f64) -> f64 {
    let vdevs = vec!["net_null0".to_string(), "net_null1".to_string()];
    if forwarder == "testpmd" {
        use std::io::Read;
        use std::process::{Command, Stdio};
        // testpmd prints each port's TX rate every second (--stats-period 1): the mean over
        // the run of both ports' Tx-pps, skipping the first report (start-up)
        let mut c = testpmd(&format!("tpn{}", std::process::id()), &vdevs)
            .args(["--stats-period", "1"])
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
        return steady.iter().sum::<f64>() / steady.len().max(1) as f64;
    }
    let sock = format!("/tmp/xdpgraph-bench-{}.sock", std::process::id());
    let _p = spawn_forwarder("xdpgraph", &vdevs);
    let tx = || -> f64 {
        let o = std::process::Command::new(XDPGRAPH)
            .args([
                "ctl",
                "--socket",
                &sock,
                "--json",
                "msg",
                "net_null1:",
                "getstats",
            ])
            .output()
            .unwrap();
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        j["reply"]["tx_packets"].as_f64().unwrap_or(0.0)
    };
    let (a, t0) = (tx(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (b, el) = (tx(), t0.elapsed().as_secs_f64());
    // both directions forward; net_null1's TX is one of them: double it
    2.0 * (b - a) / el
}

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
///
/// NAPI threads appear when the lab and its XDP programs are set up, so they are looked for
/// every 100 ms among kthreadd's children, reading the name of new ones only: a few µs of CPU,
/// on core 1 (the sender's), never on the forwarder's core. (An earlier version read every
/// /proc/PID/comm every 200 ms from an unpinned thread.)
struct Pinner(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Pinner {
    fn start() -> Pinner {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            let _ = xdpgraph::sys::cpu::pin_current_thread(1);
            let mut seen = std::collections::HashSet::new();
            while !s2.load(Ordering::Relaxed) {
                let kids = std::fs::read_to_string("/proc/2/task/2/children").unwrap_or_default();
                for pid in kids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    if !seen.insert(pid) {
                        continue;
                    }
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
                std::thread::sleep(Duration::from_millis(100));
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
    _proc: Option<Proc>,
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
        _proc: None,
    };
    if let Some((_, driver, fwd)) = DPDK_CONFIGS.iter().find(|c| c.0 == cfg) {
        let vdevs = vec![
            format!("{driver}0,iface={a}"),
            format!("{driver}1,iface={b}"),
        ];
        f._proc = Some(spawn_forwarder(fwd, &vdevs));
        return f;
    }
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
        "xdpilone-l2fwd" => {
            let stop = Arc::new(AtomicBool::new(false));
            let (s2, a2, b2) = (stop.clone(), a.clone(), b.clone());
            let t = std::thread::spawn(move || {
                xdpilone_l2fwd::run(&a2, &b2, 0, 8192, &s2).unwrap();
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

/// The ratio of `a` to `b` as the median of per-round ratios (run r of `a` against run r of
/// `b`, measured minutes apart in the same round), with their range: pairing cancels the slow
/// drift of a shared machine, and the range shows how much the rounds disagree.
fn paired(a: &[Sample], b: &[Sample]) -> String {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.mpps64 / y.mpps64)
        .filter(|r| r.is_finite())
        .collect();
    if r.is_empty() {
        return "-".into();
    }
    let (lo, hi) = r
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    if r.len() == 1 {
        return format!("{:.2}x", r[0]);
    }
    format!("{:.2}x ({lo:.2}–{hi:.2})", median(r))
}

/// The median (the mean of the two middle values for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
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
    let dpdk = dpdk_enabled();
    if !dpdk {
        eprintln!("(DPDK configurations need `--features dpdk` and dpdk-testpmd; skipped)");
    }
    let cfgs: Vec<&str> = CONFIGS
        .iter()
        .copied()
        .chain(DPDK_CONFIGS.iter().map(|c| c.0).filter(|_| dpdk))
        // BENCH_ONLY=dpdk keeps the Linux bridge as the DPDK table's common reference
        .filter(|c| c.contains(only.as_str()) || (only == "dpdk" && *c == "linux-bridge"))
        .collect();
    let senders = senders();
    // res[sender][config] = samples
    let mut res: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); cfgs.len()]; senders.len()];
    for r in 0..runs {
        eprintln!("round {}", r + 1);
        for k in 0..cfgs.len() {
            let i = (k + r) % cfgs.len();
            for (j, snd) in senders.iter().enumerate() {
                if (is_dpdk(cfgs[i]) || only == "dpdk") && *snd == Engine::Replay {
                    continue;
                }
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
        let med = |i: usize, f: fn(&Sample) -> f64| {
            if res[j][i].is_empty() {
                return f64::NAN;
            }
            median(res[j][i].iter().map(f).collect())
        };
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
            if res[j][i].is_empty() || is_dpdk(c) {
                continue;
            }
            let m64 = med(i, |s| s.mpps64);
            let vs = |n: &str| {
                idx(n)
                    .map(|k| paired(&res[j][i], &res[j][k]))
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
    let mut md_dpdk = String::new();
    let mut csv_dpdk = String::new();
    if dpdk && cfgs.iter().any(|c| is_dpdk(c)) {
        let (m, c) = dpdk_tables(&cfgs, &res[0], secs, runs);
        md_dpdk = format!("{}{m}", &md[..md.find("\n\n").unwrap() + 2]);
        csv_dpdk = c;
    }
    // the lab section is rewritten only by a full run
    let base_ran = only.is_empty();
    println!("{md}{md_dpdk}");
    // BENCH_ONLY=dpdk re-measures and rewrites the DPDK section alone; other subsets are not
    // written
    if std::env::var("BENCH_NO_WRITE").is_ok() || !(only.is_empty() || only == "dpdk") {
        return;
    }
    let _ = std::fs::create_dir_all("bench/results");
    let old_csv = std::fs::read_to_string("bench/results/e2e.csv").unwrap_or_default();
    let keep: Vec<&str> = old_csv
        .lines()
        .skip(1)
        .filter(|l| {
            let d = l.starts_with("dpdk-");
            (d && md_dpdk.is_empty()) || (!d && !base_ran)
        })
        .collect();
    let mut all = if base_ran {
        csv.clone()
    } else {
        csv.lines().next().unwrap_or_default().to_string() + "\n"
    };
    for l in keep {
        all += l;
        all += "\n";
    }
    all += &csv_dpdk;
    std::fs::write("bench/results/e2e.csv", all).unwrap();
    let path = "docs/BENCHMARKS.md";
    let mut doc = std::fs::read_to_string(path).unwrap_or_default();
    let mut put = |tag: &str, body: &str| {
        let (b, e) = (
            format!("<!-- {tag}:begin -->"),
            format!("<!-- {tag}:end -->"),
        );
        if let (Some(x), Some(y)) = (doc.find(&b), doc.find(&e)) {
            doc = format!("{}{b}\n{body}{}", &doc[..x], &doc[y..]);
            eprintln!("wrote the {tag} section of {path}");
        } else {
            eprintln!("{path} has no {tag} markers; not written");
        }
    };
    if base_ran {
        put("e2e", &md);
    }
    if !md_dpdk.is_empty() {
        put("dpdk", &md_dpdk);
    }
    std::fs::write(path, doc).unwrap();
}

/// The DPDK comparison (socket sender): xdpgraph on DPDK against dpdk-testpmd io forwarding
/// with the same driver on the same veths, and both over net_null.
fn dpdk_tables(cfgs: &[&str], res: &[Vec<Sample>], secs: f64, runs: usize) -> (String, String) {
    let mut csv = String::new();
    let med = |name: &str, f: fn(&Sample) -> f64| {
        cfgs.iter()
            .position(|c| *c == name)
            .filter(|i| !res[*i].is_empty())
            .map(|i| median(res[i].iter().map(f).collect()))
            .unwrap_or(f64::NAN)
    };
    let memory = if hugepages() {
        "hugepages (`--in-memory`)"
    } else {
        "no hugepages (`--no-huge`)"
    };
    let mut md = format!(
        "**DPDK** (socket sender; forwarding on core 0, testpmd's main lcore on core 1; {memory}; \
         frame rings of {}; copy-mode AF_XDP underneath):\n\n\
         | configuration | 64 B Mpps (runs) | 64 B median | vs testpmd, same driver | vs Linux bridge | IMIX Mpps | IMIX Gbit/s | latency p50 / p99 / p99.9 µs at 50 kpps |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
        dpdk_desc().map(|d| format!("{d} descriptors")).unwrap_or("the driver's preferred size".into())
    );
    for (name, _, fwd) in DPDK_CONFIGS {
        let Some(i) = cfgs.iter().position(|c| c == name) else {
            continue;
        };
        if res[i].is_empty() {
            continue;
        }
        let m = med(name, |s| s.mpps64);
        let peer = name.replace(fwd, "testpmd");
        let of = |n: &str| {
            cfgs.iter()
                .position(|c| *c == n)
                .map(|k| res[k].as_slice())
                .unwrap_or(&[])
        };
        let vs_tp = if *fwd == "xdpgraph" {
            paired(&res[i], of(&peer))
        } else {
            "1.00x".into()
        };
        let vs_lb = paired(&res[i], of("linux-bridge"));
        let runs_s: Vec<String> = res[i].iter().map(|s| format!("{:.3}", s.mpps64)).collect();
        md += &format!(
            "| {name} | {} | {m:.3} | {vs_tp} | {vs_lb} | {:.3} | {:.2} | {:.1} / {:.1} / {:.1} |\n",
            runs_s.join(", "),
            med(name, |s| s.mpps_imix),
            med(name, |s| s.gbps_imix),
            med(name, |s| s.p50),
            med(name, |s| s.p99),
            med(name, |s| s.p999),
        );
        csv += &format!(
            "{name},socket,{m:.4},{:.4},{:.4},{:.2},{:.2},{:.2}\n",
            med(name, |s| s.mpps_imix),
            med(name, |s| s.gbps_imix),
            med(name, |s| s.p50),
            med(name, |s| s.p99),
            med(name, |s| s.p999)
        );
    }
    // net_null: no kernel in the path, the forwarders' own cost
    let mut x = Vec::new();
    let mut t = Vec::new();
    for _ in 0..runs {
        x.push(null_rate("xdpgraph", secs) / 1e6);
        t.push(null_rate("testpmd", secs) / 1e6);
        eprintln!(
            "  net_null: xdpgraph {:.2} Mpps, testpmd {:.2} Mpps",
            x.last().unwrap(),
            t.last().unwrap()
        );
    }
    let f = |v: &[f64]| {
        v.iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (mx, mt) = (median(x.clone()), median(t.clone()));
    let ratios: Vec<f64> = x.iter().zip(&t).map(|(a, b)| a / b).collect();
    md += &format!(
        "\nOver `net_null` (two null devices cross-connected, both directions, one core; the \
         null driver makes and frees mbufs, so this is the forwarder's own cost): xdpgraph \
         {mx:.2} Mpps (runs {}), testpmd io {mt:.2} Mpps (runs {}): {:.2}x (median of \
         per-round ratios).\n\n",
        f(&x),
        f(&t),
        median(ratios)
    );
    (md, csv)
}
