//! The end-to-end benchmark suite on the veth lab (root only; run through `bench/e2e.sh`).
//!
//! For each configuration — the Linux bridge, an in-kernel XDP redirect, our bare AF_XDP loop,
//! the same loop on the `xdpilone` crate (bench/xdpilone_l2fwd.rs: the AF_XDP library choice),
//! and xdpgraph as ether→ether, ether→bridge→ether (with the XDP fast path off: every frame
//! through a worker; and on: learned unicast redirected by the XDP program, issue 13) and
//! ether→vlan→bridge→ether — on a fresh lab of two veth pairs (one queue each):
//!
//! * throughput with 64-byte frames and with simple IMIX: the replay engine (BPF_PROG_RUN live
//!   frames, pinned to core 1) sends as fast as it can out of the first namespace's veth end;
//!   an XDP program on the second namespace's end counts and drops what arrives;
//! * latency at a fixed moderate rate (50 kpps, 64 B): the generator's latency probe (its
//!   `packet` engine and receiver, src/gen/packet.rs) sends one frame per due time out of the
//!   first namespace's end and receives on the second's (both threads on core 1); the latency
//!   is between the kernel's stamps, the sending veth's driver's and the receiving stack's, so
//!   the probe's own scheduling is not in it.
//!
//! Placement (`BENCH_PLACEMENT`, see `Placement`): by default every forwarder gets core 0 for
//! all its work (xdpgraph's worker and the bare loops pinned there; the ingress veth's NAPI a
//! kernel thread pinned there, or RPS to core 0 where the veth has no NAPI; the sink in softirq
//! where the forwarder transmits), the sender alone on core 1. `sender-core` is the earlier
//! placement (the ingress NAPI in softirq on the sender's core, the sink a NAPI thread on core
//! 1). xdpgraph runs with the daemon's defaults (no busy polling, TAPs on); `BENCH_TUNED=1`
//! busy-polls without TAPs. RUNS rounds, configurations in a rotating order; medians. Prints Markdown and writes it between the `e2e` markers of
//! docs/BENCHMARKS.md, and the medians to bench/results/e2e.csv (for the chart).
//!
//! Built with `--features dpdk` (and with `dpdk-testpmd` installed), four more configurations:
//! xdpgraph on DPDK (the xdpgraph binary with `--dpdk-eal "--vdev ..."`, a cross-connect)
//! beside `dpdk-testpmd` io forwarding, each with the af_xdp and the af_packet driver on the
//! same veths, forwarding on core 0 (testpmd's main lcore on core 1), socket sender only (the
//! replay sender needs an XDP program on the veth, which af_packet does not attach). Also the
//! in-memory rate of both over `net_null` devices (bench/dpdknull.rs: cross-connect against
//! testpmd's io forwarding, bridge against its mac forwarding; `BENCH_ONLY=dpdknull` alone).
//!
//! Senders (`BENCH_SENDER=afxdp,replay,trafficgen`, default all that are there): the
//! generator's AF_XDP engine ("socket sender"), its replay engine, and xdp-trafficgen (xdp-tools,
//! patched for 6.18 by `../shared/tools/build-xdp-tools.sh`; `XDP_TRAFFICGEN=path`, else
//! /opt/xdp-tools-6.18/bin/xdp-trafficgen or PATH): an independent sender of live frames, 64 B
//! only (it has no IMIX).
//!
//! `BENCH_ONLY=fastpath` measures the fast path's comparison alone (linux-bridge, xdp-redirect,
//! xdpgraph-bridge with the fast path off and on), checks in every run that the fast-path
//! configuration's frames took the fast path, and writes its section of docs/BENCHMARKS.md
//! (between the `fastpath` markers).
//!
//! `BENCH_ONLY=jumbo` measures 9018-byte frames at MTU 9000 (bench/jumbo.rs) and writes its
//! section (between the `jumbo` markers).
//!
//! Env: BENCH_SECS (default 3), BENCH_RUNS (default 3), BENCH_ONLY (substrings, comma-separated;
//! or `dpdk`, `dpdknull`, `fastpath`, `jumbo`, `latency` (bench/latency.rs)), BENCH_SENDER, BENCH_NO_WRITE, BENCH_VERBOSE (NAPI threads, the
//! workers' counts), BENCH_PROG_STATS (ns per run of the XDP program on the first interface;
//! turns kernel.bpf_stats_enabled on for the run, so its rates are not for the tables),
//! BENCH_PLACEMENT (`own-core`, `sender-core`), BENCH_TUNED, and two diagnoses of xdpgraph's
//! worker: BENCH_IDLE_POLLS (empty polls before poll(2)), BENCH_WORKER_NICE; BENCH_NAPI_NICE
//! (the lab's NAPI threads' nice value: on a machine others load, run the suite under
//! `nice -n -15` with BENCH_WORKER_NICE=-20 BENCH_NAPI_NICE=-15, the worker's and the NAPI
//! threads' default distance kept).

mod dpdknull;
mod jumbo;
mod latency;
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
    "xdp-bench-redirect",
    "afxdp-l2fwd",
    "xdpilone-l2fwd",
    "xdpgraph-xconnect",
    "xdpgraph-bridge",
    "xdpgraph-bridge-fastpath",
    "xdpgraph-vlan-bridge",
];

/// What `BENCH_ONLY=fastpath` measures: the fast path, its in-kernel ceiling, the same bridge
/// without it, and the Linux bridge.
const FASTPATH_CONFIGS: &[&str] = &[
    "linux-bridge",
    "xdp-redirect",
    "xdp-bench-redirect",
    "xdpgraph-bridge",
    "xdpgraph-bridge-fastpath",
];

/// What each configuration is, in one line (the fast path section's tables).
fn describe(cfg: &str) -> &'static str {
    match cfg {
        "linux-bridge" => "the kernel's bridge (static FDB entry for the receiver)",
        "xdp-redirect" => {
            "in-kernel XDP redirect, no lookups (`bpf_redirect` to the other veth): the ceiling"
        }
        "xdp-bench-redirect" => {
            "`xdp-bench redirect` (xdp-tools 1.4.3): the in-kernel redirect as xdp-tools \
             measures it, the MACs swapped in every frame (`bpf_redirect`): an independent \
             reference that, like any L2 forwarder, reads and writes the frame"
        }
        "xdpgraph-bridge" => "xdpgraph bridge, `--fast-path off`: every frame through the worker",
        "xdpgraph-bridge-fastpath" => {
            "xdpgraph bridge, `--fast-path on`: both hosts learned, frames redirected by the XDP program"
        }
        _ => "",
    }
}

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

/// testpmd forwarding (`mode`: io, mac) between `vdevs` on core 0, its main lcore on core 1;
/// application arguments may follow.
fn testpmd(file_prefix: &str, vdevs: &[String], mode: &str) -> std::process::Command {
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
    c.args([
        "--",
        &format!("--forward-mode={mode}"),
        "--auto-start",
        "--nb-cores=1",
    ]);
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

/// xdp-tools' `xdp-bench`: `XDP_BENCH`, the build script's prefix, or PATH.
fn xdp_bench_bin() -> Option<String> {
    xdp_tool("XDP_BENCH", "xdp-bench")
}

/// `xdp-bench redirect a b` running, its program attached to `a` (and its dummy program to
/// `b`): returns once `a` has an XDP program, which is only xdp-bench's (the lab is fresh).
fn xdp_bench_redirect(a: &str, b: &str) -> Proc {
    use std::process::Stdio;
    let bin = xdp_bench_bin().expect(
        "xdp-bench not found: ../shared/tools/build-xdp-tools.sh builds it (or set XDP_BENCH)",
    );
    let p = Proc(
        (std::process::Command::new(&bin))
            .args(["redirect", "-i", "60", a, b])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xdp-bench"),
    );
    for _ in 0..100 {
        let out = sys_read({
            let mut c = std::process::Command::new("ip");
            c.args(["-d", "link", "show", "dev", a]);
            c
        });
        if out.contains("prog/xdp") {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("xdp-bench redirect {a} {b}: no XDP program on {a} after 10 s");
}

/// `vdevs` are the EAL's `--vdev` arguments.
fn spawn_forwarder(forwarder: &str, vdevs: &[String]) -> Proc {
    use std::process::Stdio;
    let pid = std::process::id();
    if forwarder == "testpmd" {
        let mut c = testpmd(&format!("tp{pid}"), vdevs, "io");
        c.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let p = Proc(c.spawn().expect("dpdk-testpmd"));
        std::thread::sleep(Duration::from_secs(3));
        return p;
    }
    spawn_xdpgraph(vdevs, "xconnect")
}

/// xdpgraph on `vdevs` (its worker on core 0), their ether nodes cross-connected
/// (`topology` "xconnect") or both on a bridge's uplinks ("bridge": uplinks do not learn).
fn spawn_xdpgraph(vdevs: &[String], topology: &str) -> Proc {
    use std::process::{Command, Stdio};
    let pid = std::process::id();
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
    let (a, b) = (format!("{}:", nodes[0]), format!("{}:", nodes[1]));
    if topology == "bridge" {
        ctl(&["mkpeer", &a, "bridge", "lower", "uplink1"]);
        ctl(&["name", &format!("{a}lower"), "nullbr"]);
        ctl(&["connect", &b, "nullbr:", "lower", "uplink2"]);
    } else {
        ctl(&["connect", &a, &b, "lower", "lower"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    p
}

fn sh(args: &[&str]) {
    let s = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap();
    assert!(s.success(), "{args:?}");
}

/// Threaded NAPI on a veth end (in namespace `ns`), so that its receive work runs in a kernel
/// thread we can pin instead of in whichever softirq scheduled it. The kernel refuses it while
/// the veth has no NAPI (no XDP program, GRO off): returns whether it took.
///
/// Through `ip netns exec`, which mounts the namespace's own sysfs: /sys/class/net read from a
/// thread that has only entered the namespace is still the root namespace's. (Until
/// 2026-12-02 this wrote from such a thread, and so made the root namespace's `eth0` — the
/// machine's own NIC — threaded, never the sink.)
fn threaded(ns: Option<&str>, ifname: &str) -> bool {
    let p = format!("/sys/class/net/{ifname}/threaded");
    let cmd = format!("echo 1 > {p} && cat {p}");
    let mut c = std::process::Command::new("ip");
    match ns {
        Some(ns) => c.args(["netns", "exec", ns, "sh", "-c", &cmd]),
        None => {
            c = std::process::Command::new("sh");
            c.args(["-c", &cmd])
        }
    };
    sys_read(c).trim() == "1"
}

/// What `c` printed (nothing when it failed).
fn sys_read(mut c: std::process::Command) -> String {
    c.stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether a veth end in namespace `ns` has threaded NAPI now (read in the namespace's sysfs).
fn is_threaded(ns: &str, ifname: &str) -> bool {
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", ns, "cat"])
        .arg(format!("/sys/class/net/{ifname}/threaded"));
    sys_read(c).trim() == "1"
}

/// Keeps NAPI threads pinned while a measurement runs: the forwarder's ingress veth
/// (`napi/bl0-*`) on core 0 with the forwarder, the sink's (`napi/eth0-*`, the only threaded
/// namespace end) on core 1 with the sender. (Other labs' threaded `eth0` ends on the machine
/// would be pinned too: the name does not say the namespace.)
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
                    // BENCH_NAPI_NICE=N: the NAPI threads' priority (a busy shared machine:
                    // raise them with the rest of the suite, see BENCH_WORKER_NICE)
                    if let Ok(n) = std::env::var("BENCH_NAPI_NICE") {
                        let _ = std::process::Command::new("renice")
                            .args(["-n", &n, "-p", &pid.to_string()])
                            .stdout(std::process::Stdio::null())
                            .status();
                    }
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

fn setup(cfg: &str, lab: &LabGuard, sender: Sender) -> Fwd {
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
            // The replay sender's and xdp-trafficgen's frames arrive as xdp_frames: the veth
            // needs an XDP program (which also moves its receive path into NAPI). Socket-sent
            // frames need none.
            if sender.xdp_frames() {
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
            // BENCH_REDIRECT_PROG=xdpgraph_redirect_l2: a diagnostic reference that reads the
            // frame's MACs before it redirects (bpf/bench.bpf.c)
            let prog =
                std::env::var("BENCH_REDIRECT_PROG").unwrap_or_else(|_| "xdpgraph_redirect".into());
            f._attach
                .push(h.attach(&prog, None, &a, XdpMode::Native).unwrap());
            f._attach.push(
                h.attach("xdpgraph_pass", None, &b, XdpMode::Native)
                    .unwrap(),
            );
            f._helpers = Some(h);
        }
        "xdp-bench-redirect" => {
            f._proc = Some(xdp_bench_redirect(&a, &b));
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
                    tuned(),
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
                xdpilone_l2fwd::run(&a2, &b2, 0, 8192, tuned(), &s2).unwrap();
            });
            std::thread::sleep(Duration::from_millis(300));
            f.thread = Some((stop, t));
        }
        _ => {
            let fast_path = cfg == "xdpgraph-bridge-fastpath";
            let mut dp = Dataplane::start(DataplaneConfig {
                cores: vec![0],
                // the daemon's defaults (no busy polling, TAPs, its frame count);
                // BENCH_TUNED=1 busy-polls without TAPs (a labelled variant, never the default)
                busy_poll: tuned(),
                taps: !tuned(),
                // BENCH_WORKER_NICE=N: a diagnosis of the worker's priority against the
                // ingress NAPI thread it shares core 0 with
                worker_nice: std::env::var("BENCH_WORKER_NICE")
                    .ok()
                    .and_then(|v| v.parse().ok()),
                // BENCH_IDLE_POLLS=N: a diagnosis of the idle spin's cost
                idle_polls: std::env::var("BENCH_IDLE_POLLS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DataplaneConfig::default().idle_polls),
                // explicit: the fast path is the daemon's default, and the worker path is
                // measured with it off
                fast_path,
                ..Default::default()
            })
            .unwrap();
            assert_eq!(dp.fast_path_on(), fast_path, "{cfg}: fast path on/off");
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
                "xdpgraph-bridge" | "xdpgraph-bridge-fastpath" => {
                    g.mkpeer(&format!("{a}:"), "bridge", "lower", "link0")
                        .unwrap();
                    g.name(&format!("{a}:lower"), "br0").unwrap();
                    g.connect(&format!("{b}:"), "br0:", "lower", "link1")
                        .unwrap();
                    g.msg("br0:", "movehost", Some(&Value::parse(&movehost).unwrap()))
                        .unwrap();
                    if fast_path {
                        // The fast path forwards only between hosts the bridge has learned:
                        // the sender's source MAC (every sender here uses the first
                        // namespace end's MAC, `lab.host_mac(0)`) on link0 as well.
                        let src = format!("{{ addr={} hook=\"link0\" }}", lab.host_mac(0));
                        g.msg("br0:", "movehost", Some(&Value::parse(&src).unwrap()))
                            .unwrap();
                    }
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
            if fast_path {
                // an in-process Dataplane has no management loop: sync the maps ourselves
                dp.fast_path_sync();
                let mut ports = dp.fast_path_ports();
                ports.sort();
                let mut want = vec![(a.clone(), true), (b.clone(), true)];
                want.sort();
                assert_eq!(
                    ports, want,
                    "{cfg}: both interfaces in the fast path, as targets"
                );
            }
            f.dp = Some(dp);
        }
    }
    f
}

/// What the xdpgraph data plane counted so far: (frames the XDP program forwarded itself on the
/// first interface, frames it handed to the AF_XDP socket there, frames the workers received).
fn dp_counts(f: &Fwd, a: &str) -> Option<(u64, u64, u64)> {
    let dp = f.dp.as_ref()?;
    let st = dp.driver_stats(a)?;
    let get = |k: &str| {
        st.iter()
            .filter(|d| d.queue.is_none())
            .flat_map(|d| d.counters.iter())
            .find(|c| c.0 == k)
            .map_or(0, |c| c.1)
    };
    Some((
        get("xdp_fast_path"),
        get("xdp_redirect"),
        dp.graph_ref().stat(xdpgraph::graph::gstat::RX),
    ))
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
            dst_flows: false,
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
    /// During the 64 B run, per core: (busy %, softirq %) of the core's time.
    cpu: [(f64, f64); 2],
    /// xdpgraph configurations, over the 64 B and IMIX runs: frames the XDP program forwarded
    /// itself, frames the workers received, frames received at the sink.
    fast: u64,
    worker_rx: u64,
    sink_rx: u64,
    /// The fast-path check failed in this run (see `check_path`).
    wrong_path: bool,
}

/// The throughput senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// The generator's AF_XDP engine: frames reach the first veth as skbs (the kernel paths then
    /// forward them on the sender's core).
    Socket,
    /// The generator's replay engine (BPF_PROG_RUN live frames): frames reach the first veth as
    /// xdp_frames, which it takes only with an XDP program.
    Replay,
    /// xdp-trafficgen (xdp-tools), the same technique as the replay engine in an independent
    /// implementation: 64 B IPv6/UDP frames only.
    Trafficgen,
}

impl Sender {
    fn engine(self) -> Engine {
        match self {
            Sender::Socket => Engine::Afxdp,
            _ => Engine::Replay,
        }
    }

    /// Its frames reach the first veth as xdp_frames.
    fn xdp_frames(self) -> bool {
        self != Sender::Socket
    }

    fn name(self) -> &'static str {
        match self {
            Sender::Socket => "socket sender",
            Sender::Replay => "replay sender",
            Sender::Trafficgen => "xdp-trafficgen",
        }
    }

    fn csv(self) -> &'static str {
        match self {
            Sender::Socket => "socket",
            Sender::Replay => "replay",
            Sender::Trafficgen => "trafficgen",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Sender::Socket => "`xdpgraph gen --engine afxdp`, frames reach the first veth as skbs",
            Sender::Replay => {
                "`xdpgraph gen --engine replay`, frames reach the first veth as xdp_frames; the \
                 Linux bridge's port then needs an XDP program"
            }
            Sender::Trafficgen => {
                "`xdp-trafficgen udp -t 1` from xdp-tools 1.4.3 (patched for 6.18 by \
                 `../shared/tools/build-xdp-tools.sh`), an independent sender of live frames: \
                 64 B IPv6/UDP only, frames reach the first veth as xdp_frames"
            }
        }
    }
}

/// xdp-trafficgen: `XDP_TRAFFICGEN`, the build script's prefix, or PATH.
fn trafficgen_bin() -> Option<String> {
    xdp_tool("XDP_TRAFFICGEN", "xdp-trafficgen")
}

/// An xdp-tools program (patched for 6.18): the path in `$env`, the one
/// `../shared/tools/build-xdp-tools.sh` installs, or `name` if it runs from PATH.
fn xdp_tool(env: &str, name: &str) -> Option<String> {
    if let Ok(p) = std::env::var(env) {
        return Some(p);
    }
    let p = format!("/opt/xdp-tools-6.18/bin/{name}");
    if std::path::Path::new(&p).exists() {
        return Some(p);
    }
    std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()
        .map(|_| name.into())
}

/// 64 B frames from xdp-trafficgen in the first namespace, counted by the XDP sink on the second
/// namespace's end for `secs`: (frames, octets, seconds, per-core CPU use over those seconds).
fn trafficgen_run(lab: &LabGuard, secs: f64) -> (u64, u64, f64, [(f64, f64); 2]) {
    use std::process::{Command, Stdio};
    let bin = trafficgen_bin().expect("xdp-trafficgen");
    let h = Helpers::load().unwrap();
    let _sink = h
        .attach("xdpgraph_sink", Some(&lab.ns(1)), "eth0", XdpMode::Native)
        .unwrap();
    let ns0 = lab.ns(0);
    let c = Command::new("ip")
        .args([
            "netns", "exec", &ns0, "taskset", "-c", "1", &bin, "udp", "eth0",
        ])
        .args(["-m", &lab.host_mac(1).to_string()])
        .args(["-M", &lab.host_mac(0).to_string()])
        .args(["-t", "1", "-I", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xdp-trafficgen");
    // Its sending thread pins itself to core 0 (the first of `-t` consecutive cores, always
    // 0), the forwarder's: once it runs, every thread of it goes to core 1, with the other
    // senders. `ip netns exec` and taskset exec it, so the child's pid is its pid.
    let pid = c.id();
    let tasks = || -> Vec<i32> {
        (std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten())
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok())
        .collect()
    };
    // it loads its programs first (a second or so), then starts its sending thread
    let t0 = std::time::Instant::now();
    while tasks().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "xdp-trafficgen: no sending thread after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    for tid in tasks() {
        xdpgraph::sys::cpu::pin_thread(tid, 1).expect("pinning xdp-trafficgen");
    }
    std::thread::sleep(Duration::from_millis(300));
    let (f0, b0, t0, c0) = (h.stat(0), h.stat(1), std::time::Instant::now(), cpu_times());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (f1, b1, el) = (h.stat(0), h.stat(1), t0.elapsed().as_secs_f64());
    let cpu = cpu_use(&c0, &cpu_times());
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = c.wait_with_output().unwrap();
    if f1 == f0 {
        panic!(
            "xdp-trafficgen: nothing received; it said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (f1 - f0, b1 - b0, el, cpu)
}

/// Per-core CPU time (/proc/stat: user nice system idle iowait irq softirq steal, in ticks).
fn cpu_times() -> [[u64; 8]; 2] {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut v = [[0u64; 8]; 2];
    for (c, row) in v.iter_mut().enumerate() {
        if let Some(l) = s.lines().find(|l| l.starts_with(&format!("cpu{c} "))) {
            for (k, x) in l.split_whitespace().skip(1).take(8).enumerate() {
                row[k] = x.parse().unwrap_or(0);
            }
        }
    }
    v
}

/// (busy %, softirq %) per core between two `cpu_times`.
fn cpu_use(a: &[[u64; 8]; 2], b: &[[u64; 8]; 2]) -> [(f64, f64); 2] {
    let mut r = [(0.0, 0.0); 2];
    for c in 0..2 {
        let d: Vec<f64> = (0..8).map(|k| (b[c][k] - a[c][k]) as f64).collect();
        let total: f64 = d.iter().sum::<f64>().max(1.0);
        r[c] = (100.0 * (total - d[3] - d[4]) / total, 100.0 * d[6] / total);
    }
    r
}

/// The NAPI kernel threads now: (name, core it last ran on, allowed cores).
fn napi_threads() -> Vec<(String, String, String)> {
    let kids = std::fs::read_to_string("/proc/2/task/2/children").unwrap_or_default();
    let mut v = Vec::new();
    for pid in kids.split_whitespace() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.starts_with("napi/") {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // field 39 (processor), counted after the ")" that ends the name
        let last = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(36).map(str::to_string))
            .unwrap_or_default();
        let allowed = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("Cpus_allowed_list:")
                    .map(|x| x.trim().to_string())
            })
            .unwrap_or_default();
        v.push((comm.trim().to_string(), last, allowed));
    }
    v
}

/// `BENCH_PROG_STATS=1`: the kernel's run-time statistics of the XDP program attached to `dev`
/// (in this namespace): (program name, total run time ns, runs). They need
/// `kernel.bpf_stats_enabled`, which adds two clock reads to every program run: a diagnosis
/// (where the time per frame goes), never on for the tables' runs.
fn prog_stats(dev: &str) -> Option<(String, u64, u64)> {
    let json = |args: &[&str]| -> Option<serde_json::Value> {
        let o = std::process::Command::new("bpftool")
            .args(args)
            .output()
            .ok()?;
        serde_json::from_slice(&o.stdout).ok()
    };
    let net = json(&["net", "-j"])?;
    let id = (net.as_array()?.iter())
        .flat_map(|e| e["xdp"].as_array().cloned().unwrap_or_default())
        .find(|x| x["devname"] == dev)?["id"]
        .as_u64()?;
    let p = json(&["prog", "show", "id", &id.to_string(), "-j"])?;
    Some((
        p["name"].as_str()?.to_string(),
        p["run_time_ns"].as_u64().unwrap_or(0),
        p["run_cnt"].as_u64().unwrap_or(0),
    ))
}

/// The fast path's configuration must have forwarded (nearly) every frame in the XDP program
/// and the workers (nearly) none; the bridge with the fast path off, none in the program.
/// Returns whether the run took the path its row says.
fn check_path(cfg: &str, s: &Sample) -> bool {
    match cfg {
        "xdpgraph-bridge-fastpath" => {
            s.fast as f64 >= 0.99 * s.sink_rx as f64
                && s.worker_rx as f64 <= 0.01 * s.sink_rx as f64
        }
        "xdpgraph-bridge" => s.fast == 0 && s.worker_rx as f64 >= 0.99 * s.sink_rx as f64,
        _ => true,
    }
}

/// Where the kernel runs each forwarder's receive work (`BENCH_PLACEMENT`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    /// The default (`own-core`): every forwarder gets core 0 for all its work, kernel or ours.
    /// The ingress veth's NAPI is a kernel thread pinned to core 0 (the XDP program, the
    /// redirect, the copy into the AF_XDP socket, the Linux bridge behind XDP_PASS); without
    /// NAPI there (the Linux bridge with the socket sender) RPS steers its receive work to core
    /// 0. The sink runs in softirq where the forwarder transmits: core 0 too, the same cost for
    /// every row. The sender alone has core 1. (The placement of the figures in issues 13 and
    /// 16: "every forwarder on CPU 0".)
    OwnCore,
    /// `sender-core` (the suite's placement until 2026-12-02): the ingress NAPI in softirq on
    /// the sender's core 1, where veth schedules it, and the sink's NAPI a thread pinned to
    /// core 1: the kernel paths then share the sender's core while a worker has core 0.
    SenderCore,
}

impl Placement {
    /// Where `cfg` runs: a DPDK forwarder busy-polls core 0, so the kernel's work for it (the
    /// veths' receive, the copy into its AF_XDP or packet sockets) goes to the sender's core
    /// (`sender-core`), whatever `BENCH_PLACEMENT` says: with `own-core` the ingress NAPI
    /// thread pinned to core 0 starves behind the busy forwarder (af_xdp 0.16 Mpps, af_packet
    /// 0.02 Mpps in the aborted run `e2e-dpdk-2026-12-03-1742-own-core-starved-aborted.txt`).
    fn for_cfg(cfg: &str) -> Placement {
        if is_dpdk(cfg) {
            Placement::SenderCore
        } else {
            Placement::get()
        }
    }

    fn get() -> Placement {
        match std::env::var("BENCH_PLACEMENT").as_deref() {
            Err(_) | Ok("own-core") => Placement::OwnCore,
            Ok("sender-core") => Placement::SenderCore,
            Ok(o) => panic!("BENCH_PLACEMENT: {o}? (own-core or sender-core)"),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Placement::OwnCore => "every forwarder's work on core 0 (the ingress veth's NAPI a thread pinned there, or RPS to core 0 where it has no NAPI; the sink in softirq where the forwarder transmits, core 0), the sender alone on core 1",
            Placement::SenderCore => "forwarders on core 0, the ingress veth's NAPI in softirq on the sender's core 1 (the kernel paths and the fast path forward there), the sink's NAPI a thread on core 1",
        }
    }
}

/// `BENCH_TUNED=1`: xdpgraph busy-polls without TAPs (the daemon's defaults otherwise).
fn tuned() -> bool {
    std::env::var("BENCH_TUNED").is_ok()
}

fn verbose_on() -> bool {
    std::env::var("BENCH_VERBOSE").is_ok()
}

/// Moves an ingress veth's receive work to core 0: its NAPI made a thread (the [`Pinner`] pins
/// `napi/bl*` there), or, where the veth has no NAPI to make a thread of, RPS to core 0.
/// Returns what it did.
fn own_core(dev: &str) -> &'static str {
    let how = if threaded(None, dev) {
        "NAPI thread on core 0"
    } else {
        std::fs::write(format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus"), "1")
            .unwrap_or_else(|e| panic!("{dev}: RPS to core 0: {e}"));
        "RPS to core 0"
    };
    // the Pinner looks for new NAPI threads every 100 ms
    std::thread::sleep(Duration::from_millis(300));
    how
}

/// A fresh lab for `cfg`, with the receive work placed as `Placement::for_cfg` says.
fn lab_for(cfg: &str) -> (LabGuard, Placement) {
    // GRO on at the namespace ends: veth has NAPI there from the start, which is what lets the
    // sink's NAPI be made a thread below (the kernel refuses threaded NAPI on a veth without
    // NAPI; until 2026-12-02 this suite asked before the sink's XDP program existed, was
    // refused, and the sink ran in softirq on whichever core sent to it: core 0 for frames a
    // worker transmits, core 1 for the kernel paths'). The fast path's redirects need NAPI at
    // the receiving peer too (here the sink's XDP program gives it anyway).
    let lab = LabGuard::up(LabConfig {
        prefix: "bl".into(),
        ports: 2,
        queues: 1,
        addresses: false,
        gro: true,
        ..Default::default()
    })
    .unwrap();
    // Where the receive work runs: see `Placement`. (With `sender-core` the sink's NAPI is a
    // thread pinned to core 1. With `own-core` the ingress NAPI thread shares core 0 with an
    // AF_XDP forwarder: a busy-polling one (BENCH_TUNED=1) starves it, measured ~0.15 Mpps.)
    let placement = Placement::for_cfg(cfg);
    if placement == Placement::SenderCore {
        assert!(
            threaded(Some(&lab.ns(1)), "eth0"),
            "the sink's veth end refused threaded NAPI"
        );
    }
    (lab, placement)
}

/// After the forwarder is set up (the veth has its NAPI only once an XDP program is
/// attached): the ingress NAPI on core 0 for `own-core`.
fn place_ingress(cfg: &str, lab: &LabGuard, placement: Placement, sender: Sender) {
    if placement == Placement::OwnCore {
        let ingress = own_core(&lab.iface(0));
        if verbose_on() {
            eprintln!("    {cfg} ({}): ingress {ingress}", sender.name());
        }
    }
}

/// One configuration with one sender on a fresh lab: 64 B and IMIX throughput, and (when
/// `latency`) latency at 50 kpps.
fn measure(cfg: &str, sender: Sender, secs: f64, latency: bool) -> Sample {
    let (lab, placement) = lab_for(cfg);
    let _pin = Pinner::start();
    let mut fwd = setup(cfg, &lab, sender);
    place_ingress(cfg, &lab, placement, sender);
    let verbose = verbose_on();
    let mut s = Sample::default();
    let c0 = dp_counts(&fwd, &lab.iface(0));
    // 64 B frames; tagged ones (the vlan configuration's trunk) are 68 B, and 64 B once untagged.
    let small = Sizes::Fixed(if cfg == "xdpgraph-vlan-bridge" {
        68
    } else {
        64
    });
    // xdp_frames the second pair refused (its peer's ring full: the sink behind), for the rows
    // that redirect into it (the in-kernel redirect, the fast path)
    let xmit_err = |dev: &str| gen::tx::xmit_counts(dev).map_or(0, |(_, refused)| refused);
    let err0 = xmit_err(&lab.iface(1));
    let prog_stats_on = std::env::var("BENCH_PROG_STATS").is_ok();
    let ps0 = prog_stats_on.then(|| prog_stats(&lab.iface(0))).flatten();
    let cpu0 = cpu_times();
    // (xdp-trafficgen's CPU use is over its measured seconds: its start, a second or two of
    // loading programs, is left out)
    let mut tg_cpu = None;
    if sender == Sender::Trafficgen {
        let (frames, _, el, cpu) = trafficgen_run(&lab, secs);
        s.mpps64 = frames as f64 / el / 1e6;
        s.sink_rx += frames;
        tg_cpu = Some(cpu);
    } else {
        // BENCH_VERBOSE: where the sender's frames went (the namespace end's TX drops: the
        // ingress veth's ring full, its NAPI behind)
        let drops = |lab: &LabGuard| {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", &lab.ns(0), "cat"])
                .arg("/sys/class/net/eth0/statistics/tx_dropped");
            sys_read(c).trim().parse::<u64>().unwrap_or(0)
        };
        let d0 = drops(&lab);
        let r = gen::run(
            &gen_cfg(
                cfg,
                &lab,
                sender.engine(),
                RxEngine::Xdp,
                Rate::Max,
                small.clone(),
                secs,
            ),
            &mut |_, _| {},
        )
        .unwrap();
        s.mpps64 = r.rx_pps.unwrap() / 1e6;
        s.sink_rx += r.rx_frames.unwrap();
        if verbose_on() {
            eprintln!(
                "    {cfg} ({}): 64 B: sent {} ({:.3} Mpps), sink {}, dropped at the sender's veth (ingress ring full) {}",
                sender.name(),
                r.tx_frames,
                r.tx_pps / 1e6,
                r.rx_frames.unwrap_or(0),
                drops(&lab) - d0
            );
        }
    }
    s.cpu = tg_cpu.unwrap_or_else(|| cpu_use(&cpu0, &cpu_times()));
    let refused = xmit_err(&lab.iface(1)) - err0;
    if refused > 0 {
        eprintln!(
            "    {cfg} ({}): 64 B: {refused} frames redirected into {} refused there (its peer's \
             ring full: `ethtool -S {}` tx_queue_0_xdp_xmit_errors), as many as {:.1}% of what the \
             sink received",
            sender.name(),
            lab.iface(1),
            lab.iface(1),
            100.0 * refused as f64 / s.sink_rx.max(1) as f64
        );
    }
    if placement == Placement::SenderCore {
        assert!(
            is_threaded(&lab.ns(1), "eth0"),
            "the sink's NAPI is no longer threaded after the 64 B run"
        );
    } else {
        // the ingress NAPI thread (when there is one) ran on core 0 only
        for (n, last, allowed) in napi_threads() {
            if n.starts_with(&format!("napi/{}-", lab.iface(0))) {
                assert!(
                    allowed == "0" && last == "0",
                    "{cfg}: {n} was not kept on core 0 (last ran on {last}, allowed {allowed})"
                );
            }
        }
    }
    if let (Some(a), Some(b)) = (
        ps0,
        prog_stats_on.then(|| prog_stats(&lab.iface(0))).flatten(),
    ) {
        let n = b.2.saturating_sub(a.2);
        eprintln!(
            "    {cfg} ({}): XDP program on {} ({}): {:.1} ns per run over {n} runs (64 B)",
            sender.name(),
            lab.iface(0),
            b.0,
            b.1.saturating_sub(a.1) as f64 / n.max(1) as f64
        );
    }
    let napi = napi_threads();
    if sender == Sender::Trafficgen {
        // xdp-trafficgen has no IMIX
        (s.mpps_imix, s.gbps_imix) = (f64::NAN, f64::NAN);
    } else {
        let r = gen::run(
            &gen_cfg(
                cfg,
                &lab,
                sender.engine(),
                RxEngine::Xdp,
                Rate::Max,
                Sizes::Imix,
                secs,
            ),
            &mut |_, _| {},
        )
        .unwrap();
        let rx = r.rx_frames.unwrap() as f64;
        s.sink_rx += r.rx_frames.unwrap();
        s.mpps_imix = r.rx_pps.unwrap() / 1e6;
        // Received bits on the wire (+20 B preamble and inter-frame gap per frame).
        s.gbps_imix = (r.rx_bytes.unwrap() as f64 + 20.0 * rx) * 8.0 / r.seconds / 1e9;
    }
    // the throughput runs' path (the latency run below goes through too, uncounted)
    if let (Some(a), Some(b)) = (c0, dp_counts(&fwd, &lab.iface(0))) {
        s.fast = b.0 - a.0;
        s.worker_rx = b.2 - a.2;
        s.wrong_path = !check_path(cfg, &s);
        if s.wrong_path || verbose || cfg == "xdpgraph-bridge-fastpath" {
            eprintln!(
                "    {cfg}: of {} frames received at the sink, {} were forwarded by the XDP \
                 program (fast path) and {} received by the worker ({} handed to its socket){}",
                s.sink_rx,
                s.fast,
                s.worker_rx,
                b.1 - a.1,
                if s.wrong_path {
                    " -- NOT THE PATH THIS ROW IS ABOUT: the row is marked and not written"
                } else {
                    ""
                }
            );
        }
    }
    let mut loss = 0.0;
    if latency {
        let r = latency_run(cfg, &lab, small, secs.min(3.0));
        if let Some(l) = r.latency {
            (s.p50, s.p99, s.p999) = (l.p50, l.p99, l.p999);
        }
        loss = r.loss_ratio.unwrap_or(0.0);
    }
    if let Some(dp) = fwd.dp.as_mut().filter(|d| d.fast_path_on()) {
        // What the kernel refused after a redirect to the second interface (its peer's ring
        // full, or no NAPI there), counted by the tracepoint programs and named once flushed.
        // (The management loop would flush every 100 ms and stop redirecting to a port that
        // refused frames; here nothing flushes during the runs.)
        dp.fast_path_flush();
        let refused = dp
            .driver_stats(&lab.iface(1))
            .unwrap_or_default()
            .iter()
            .flat_map(|d| d.counters.clone())
            .find(|c| c.0 == "fast_path_refused")
            .map_or(0, |c| c.1);
        eprintln!(
            "    {cfg}: refused by the kernel after the fast path's redirect (fast_path_refused): {refused}"
        );
    }
    eprintln!(
        "  {cfg} ({}): 64B {:.3} Mpps, IMIX {:.3} Mpps {:.2} Gbit/s{}; CPU during 64B: core 0 {:.0}% (softirq {:.0}%), core 1 {:.0}% (softirq {:.0}%)",
        sender.name(),
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
        },
        s.cpu[0].0,
        s.cpu[0].1,
        s.cpu[1].0,
        s.cpu[1].1,
    );
    if verbose {
        for (n, last, allowed) in napi {
            eprintln!("    NAPI thread {n}: last ran on core {last}, allowed {allowed}");
        }
    }
    s
}

/// The throughput senders: the socket sender, the replay sender and, when it is installed,
/// xdp-trafficgen. `BENCH_SENDER=afxdp,replay,trafficgen` picks some.
fn senders() -> Vec<Sender> {
    let tg = trafficgen_bin().is_some();
    match std::env::var("BENCH_SENDER") {
        Ok(v) => v
            .split(',')
            .map(|x| match x.trim() {
                "afxdp" | "socket" => Sender::Socket,
                "replay" => Sender::Replay,
                "trafficgen" | "xdp-trafficgen" => {
                    assert!(tg, "BENCH_SENDER=trafficgen: xdp-trafficgen not found");
                    Sender::Trafficgen
                }
                o => panic!("BENCH_SENDER: unknown sender {o}"),
            })
            .collect(),
        Err(_) => {
            let mut v = vec![Sender::Socket, Sender::Replay];
            if tg {
                v.push(Sender::Trafficgen);
            } else {
                eprintln!("(xdp-trafficgen not found: ../shared/tools/build-xdp-tools.sh builds it; skipped)");
            }
            v
        }
    }
}

/// The ratio of `a` to `b` as the median of per-round ratios (run r of `a` against run r of
/// `b`, measured minutes apart in the same round), with their range: pairing cancels the slow
/// drift of a shared machine, and the range shows how much the rounds disagree.
fn paired(a: &[Sample], b: &[Sample]) -> String {
    paired_by(a, b, |s| s.mpps64)
}

/// [`paired`] on any figure of the samples.
fn paired_by(a: &[Sample], b: &[Sample], f: fn(&Sample) -> f64) -> String {
    let r = ratios(a, b, f);
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

/// The per-round ratios of `a` to `b` (rounds where either is missing left out).
fn ratios(a: &[Sample], b: &[Sample], f: fn(&Sample) -> f64) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| f(x) / f(y))
        .filter(|r| r.is_finite())
        .collect()
}

/// The median (the mean of the two middle values for an even count) of the finite values;
/// NaN when there are none.
fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
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
    if only == "jumbo" {
        machine_state();
        let md = jumbo::run(runs, secs);
        println!("{md}");
        if std::env::var("BENCH_NO_WRITE").is_err() {
            write_section("jumbo", &md);
        }
        return;
    }
    if only == "latency" {
        machine_state();
        let md = latency::run(runs);
        println!("{md}");
        if std::env::var("BENCH_NO_WRITE").is_err() {
            write_section("latency", &md);
        }
        return;
    }
    let dpdk = dpdk_enabled();
    if !dpdk {
        eprintln!("(DPDK configurations need `--features dpdk` and dpdk-testpmd; skipped)");
    }
    // the net_null comparison: alone, or with the full and the `dpdk` runs
    let null_md = || {
        let md = dpdknull::run(runs, secs);
        println!("{md}");
        if std::env::var("BENCH_NO_WRITE").is_err() {
            write_section("dpdknull", &md);
        }
    };
    if only == "dpdknull" {
        if dpdk {
            machine_state();
            null_md();
        }
        return;
    }
    let fastpath = only == "fastpath";
    let cfgs: Vec<&str> = CONFIGS
        .iter()
        .copied()
        .chain(DPDK_CONFIGS.iter().map(|c| c.0).filter(|_| dpdk))
        .filter(|c| {
            if fastpath {
                return FASTPATH_CONFIGS.contains(c);
            }
            // BENCH_ONLY=dpdk keeps the Linux bridge as the DPDK table's common reference
            only.split(',').any(|o| c.contains(o.trim()))
                || (only == "dpdk" && *c == "linux-bridge")
        })
        .collect();
    let senders = senders();
    eprintln!(
        "configurations: {}; senders: {}; {runs} rounds of {secs} s runs",
        cfgs.join(", "),
        senders
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    machine_state();
    let stats_sysctl = "/proc/sys/kernel/bpf_stats_enabled";
    let stats_before = std::fs::read_to_string(stats_sysctl).unwrap_or_default();
    if std::env::var("BENCH_PROG_STATS").is_ok() {
        eprintln!("BENCH_PROG_STATS: kernel.bpf_stats_enabled on for this run (it costs every program two clock reads): the rates below are not comparable with other runs'");
        std::fs::write(stats_sysctl, "1").expect("kernel.bpf_stats_enabled");
    }
    // res[sender][config] = samples
    let mut res: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); cfgs.len()]; senders.len()];
    for r in 0..runs {
        round_header(r);
        for k in 0..cfgs.len() {
            let i = (k + r) % cfgs.len();
            for (j, snd) in senders.iter().enumerate() {
                if (is_dpdk(cfgs[i]) || only == "dpdk") && snd.xdp_frames() {
                    continue;
                }
                res[j][i].push(measure(cfgs[i], *snd, secs, j == 0));
            }
        }
    }
    if std::env::var("BENCH_PROG_STATS").is_ok() {
        let _ = std::fs::write(stats_sysctl, stats_before.trim());
    }
    if dpdk && (only.is_empty() || only == "dpdk") {
        null_md();
    }
    let idx = |n: &str| cfgs.iter().position(|c| *c == n);
    let mut md = String::new();
    md += &format!(
        "Measured {} with `sudo ./bench/e2e.sh`: {runs} rounds, {secs} s per throughput run. Placement: {}. xdpgraph {}.\n\n",
        utc_now(),
        Placement::get().what(),
        if tuned() {
            "tuned (`BENCH_TUNED=1`): busy polling, no TAPs"
        } else {
            "with the daemon's defaults (its worker sleeps in poll(2) when idle, TAPs on)"
        }
    );
    let mut csv = String::from("config,sender,mpps64,mpps_imix,gbps_imix,p50_us,p99_us,p999_us\n");
    for (j, snd) in senders.iter().enumerate() {
        let med = |i: usize, f: fn(&Sample) -> f64| {
            if res[j][i].is_empty() {
                return f64::NAN;
            }
            median(res[j][i].iter().map(f).collect())
        };
        md += &format!("**{}** ({}):\n\n", snd.name(), snd.what());
        md += "| configuration | 64 B Mpps (runs) | 64 B median | vs Linux bridge | vs bare AF_XDP loop | IMIX Mpps | IMIX Gbit/s |";
        if j == 0 {
            md += " latency p50 / p99 / p99.9 µs at 50 kpps (kernel stamps) |";
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
                "| {c} | {} | {:.3} | {} | {} | {} | {} |",
                runs.join(", "),
                m64,
                vs("linux-bridge"),
                vs("afxdp-l2fwd"),
                num(med(i, |s| s.mpps_imix), 3),
                num(med(i, |s| s.gbps_imix), 2)
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
                snd.csv(),
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
        let (m, c) = dpdk_tables(&cfgs, &res[0]);
        md_dpdk = format!("{}{m}", &md[..md.find("\n\n").unwrap() + 2]);
        csv_dpdk = c;
    }
    let md_fast = if fastpath {
        fastpath_tables(
            &cfgs,
            &senders,
            &res,
            &md[..md.find("\n\n").unwrap() + 2].replace(
                "`sudo ./bench/e2e.sh`",
                "`sudo BENCH_ONLY=fastpath XDPGRAPH_NO_DPDK=1 ./bench/e2e.sh`",
            ),
        )
    } else {
        String::new()
    };
    // the lab section is rewritten only by a full run
    let base_ran = only.is_empty();
    println!("{md}{md_dpdk}{md_fast}");
    let wrong: Vec<String> = (senders.iter().enumerate())
        .flat_map(|(j, snd)| {
            let res = &res;
            cfgs.iter().enumerate().flat_map(move |(i, c)| {
                (res[j][i].iter().enumerate())
                    .filter(|(_, s)| s.wrong_path)
                    .map(move |(r, _)| format!("{c} with the {}, round {}", snd.name(), r + 1))
            })
        })
        .collect();
    if !wrong.is_empty() {
        eprintln!(
            "frames did not take the path their configuration is about in: {}; nothing written",
            wrong.join("; ")
        );
        std::process::exit(1);
    }
    // BENCH_ONLY=dpdk re-measures and rewrites the DPDK section alone, BENCH_ONLY=fastpath the
    // fast path's; other subsets are not written
    if std::env::var("BENCH_NO_WRITE").is_ok() || !(only.is_empty() || only == "dpdk" || fastpath) {
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
    if !md_fast.is_empty() {
        put("fastpath", &md_fast);
    }
    std::fs::write(path, doc).unwrap();
}

/// Writes `body` between the `tag` markers of docs/BENCHMARKS.md.
/// The latency probe (`--engine packet --rx-engine packet`, 50 kpps) through `cfg` for
/// `secs` seconds.
fn latency_run(cfg: &str, lab: &LabGuard, sizes: Sizes, secs: f64) -> gen::Report {
    gen::run(
        &gen_cfg(
            cfg,
            lab,
            Engine::Packet,
            RxEngine::Packet,
            Rate::Pps(50_000.0),
            sizes,
            secs,
        ),
        &mut |_, _| {},
    )
    .unwrap()
}

/// Prints round `r`'s header (1-based) with the load average.
fn round_header(r: usize) {
    eprintln!(
        "round {} (load average {})",
        r + 1,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

/// "YYYY-MM-DD HH:MM UTC", from date(1), for the tables' "Measured ..." lines.
fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn write_section(tag: &str, body: &str) {
    let path = "docs/BENCHMARKS.md";
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let (b, e) = (
        format!("<!-- {tag}:begin -->"),
        format!("<!-- {tag}:end -->"),
    );
    match (doc.find(&b), doc.find(&e)) {
        (Some(x), Some(y)) => {
            let doc = format!("{}{b}\n{body}{}", &doc[..x], &doc[y..]);
            std::fs::write(path, doc).unwrap();
            eprintln!("wrote the {tag} section of {path}");
        }
        _ => eprintln!("{path} has no {tag} markers; not written"),
    }
}

/// `x` with `prec` decimals, or "-" when it was not measured.
fn num(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "-".into()
    }
}

/// The host's load and the CPU-hungriest processes, printed at the start (the machine is
/// shared: the raw output says with what). %CPU is ps's average over each process's life; STAT
/// says whether it runs now (T: stopped).
fn machine_state() {
    let o = std::process::Command::new("ps")
        .args(["-eo", "pid,stat,ni,pcpu,etime,comm", "--sort=-pcpu"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    eprintln!(
        "load average {}; busiest processes:\n{}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
        o.lines().take(6).collect::<Vec<_>>().join("\n")
    );
}

/// The fast path's comparison (`BENCH_ONLY=fastpath`), one table per sender: every row with its
/// ratios to the in-kernel redirect and to the same bridge with the fast path off (medians of
/// per-round ratios, with their range), where the cores' time went, and the goal.
fn fastpath_tables(
    cfgs: &[&str],
    senders: &[Sender],
    res: &[Vec<Vec<Sample>>],
    head: &str,
) -> String {
    let idx = |n: &str| cfgs.iter().position(|c| *c == n);
    let (Some(redir), Some(off), Some(on)) = (
        idx("xdp-redirect"),
        idx("xdpgraph-bridge"),
        idx("xdpgraph-bridge-fastpath"),
    ) else {
        return String::new();
    };
    // xdp-tools' redirect, when measured: a second, independent reference
    let xb = idx("xdp-bench-redirect");
    let mut md = head.to_string();
    md += "Each round measures every configuration once, in a rotating order, each on a fresh \
           lab, each sender right after the other; ratios are medians of per-round ratios \
           (range in brackets). CPU: each core's busy time (softirq part in brackets) during \
           the 64 B runs, medians.\n\n";
    for c in cfgs {
        md += &format!("* `{c}`: {}\n", describe(c));
    }
    md += "\n";
    for (j, snd) in senders.iter().enumerate() {
        let r = &res[j];
        let med = |i: usize, f: fn(&Sample) -> f64| median(r[i].iter().map(f).collect());
        let runs = |i: usize, f: fn(&Sample) -> f64| {
            (r[i].iter().map(|s| num(f(s), 3)).collect::<Vec<_>>()).join(", ")
        };
        md += &format!("**{}** ({}):\n\n", snd.name(), snd.what());
        md += "| configuration | 64 B Mpps (runs) | 64 B median | vs xdp-redirect | vs xdp-bench redirect | vs fast path off | IMIX Mpps (runs) | IMIX median | IMIX vs xdp-redirect | IMIX vs xdp-bench redirect | IMIX vs fast path off | CPU core 0 / core 1, % |\n";
        md += "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|\n";
        let imix = snd != &Sender::Trafficgen;
        for (i, c) in cfgs.iter().enumerate() {
            if r[i].is_empty() {
                continue;
            }
            let vs = |k: usize, f: fn(&Sample) -> f64| {
                if k == i {
                    "1.00x".to_string()
                } else {
                    paired_by(&r[i], &r[k], f)
                }
            };
            let vs_xb = |f: fn(&Sample) -> f64| match xb {
                Some(k) if !r[k].is_empty() => vs(k, f),
                _ => "-".to_string(),
            };
            let (ir, im, iv, ix, io) = if imix {
                (
                    runs(i, |s| s.mpps_imix),
                    num(med(i, |s| s.mpps_imix), 3),
                    vs(redir, |s| s.mpps_imix),
                    vs_xb(|s| s.mpps_imix),
                    vs(off, |s| s.mpps_imix),
                )
            } else {
                let d = || "-".to_string();
                (d(), d(), d(), d(), d())
            };
            md += &format!(
                "| {c} | {} | {:.3} | {} | {} | {} | {ir} | {im} | {iv} | {ix} | {io} | {:.0} ({:.0}) / {:.0} ({:.0}) |\n",
                runs(i, |s| s.mpps64),
                med(i, |s| s.mpps64),
                vs(redir, |s| s.mpps64),
                vs_xb(|s| s.mpps64),
                vs(off, |s| s.mpps64),
                med(i, |s| s.cpu[0].0),
                med(i, |s| s.cpu[0].1),
                med(i, |s| s.cpu[1].0),
                med(i, |s| s.cpu[1].1),
            );
        }
        let goal = |f: fn(&Sample) -> f64, what: &str| {
            let a = median(ratios(&r[on], &r[redir], f));
            let b = median(ratios(&r[on], &r[off], f));
            // The ceiling itself against the worker path: when the in-kernel redirect is under
            // 3x the fast path off with this sender, no program on that path can reach 3x.
            let ceiling = median(ratios(&r[redir], &r[off], f));
            let above = if b < 3.0 && ceiling < 3.0 {
                format!(
                    "; the in-kernel redirect itself is {ceiling:.2}x the fast path off with \
                     this sender: 3x is above its ceiling"
                )
            } else {
                String::new()
            };
            let indep = match xb {
                Some(k) if !r[k].is_empty() => {
                    let x = median(ratios(&r[on], &r[k], f));
                    format!(
                        ", {x:.2}x xdp-bench redirect ({})",
                        if x >= 0.8 { "met" } else { "**not met**" }
                    )
                }
                _ => String::new(),
            };
            format!(
                "{what}: {a:.2}x the redirect ({}){indep}, {b:.2}x the fast path off ({}{above})",
                if a >= 0.8 { "met" } else { "**not met**" },
                if b >= 3.0 { "met" } else { "**not met**" }
            )
        };
        md += &format!(
            "\nGoal (fast path ≥ 0.8x the in-kernel redirect and ≥ 3x the same bridge with \
                the fast path off), {}: {}{}.\n",
            snd.name(),
            goal(|s| s.mpps64, "64 B"),
            if imix {
                format!("; {}", goal(|s| s.mpps_imix, "IMIX"))
            } else {
                "; IMIX not measured (xdp-trafficgen sends 64 B frames only)".into()
            }
        );
        let share = (r[on].iter())
            .map(|s| s.fast as f64 / s.sink_rx.max(1) as f64)
            .fold(f64::MAX, f64::min);
        let worker = r[on].iter().map(|s| s.worker_rx).max().unwrap_or(0);
        let off_fast = r[off].iter().map(|s| s.fast).max().unwrap_or(0);
        md += &format!(
            "Path check: in every run with the fast path on, the XDP program forwarded at least \
             {:.1}% as many frames as the sink received (over 100%: it counts frames it \
             redirected, and the kernel refused some of them when the sink's ring was full; \
             the in-kernel redirect loses frames there too, see the raw output) and the worker \
             received at most {worker} frames; with it off, the XDP program forwarded \
             {off_fast}.\n\n",
            100.0 * share
        );
    }
    md
}

/// The DPDK comparison (socket sender): xdpgraph on DPDK against dpdk-testpmd io forwarding
/// with the same driver on the same veths (net_null: `dpdknull`).
fn dpdk_tables(cfgs: &[&str], res: &[Vec<Sample>]) -> (String, String) {
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
        "**DPDK** (socket sender; forwarding on core 0, testpmd's main lcore on core 1, the veths' receive (NAPI) on the sender's core 1: `sender-core`, whatever the placement above; {memory}; \
         frame rings of {}; copy-mode AF_XDP underneath):\n\n\
         | configuration | 64 B Mpps (runs) | 64 B median | vs testpmd, same driver | vs Linux bridge | IMIX Mpps | IMIX Gbit/s | latency p50 / p99 / p99.9 µs at 50 kpps (kernel stamps) | p99 / p99.9 vs testpmd (per-round median) |\n\
         |---|---|---:|---:|---:|---:|---:|---|---:|\n",
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
        let tail = if *fwd == "xdpgraph" {
            tail_ratio(&res[i], of(&peer))
        } else {
            "1.00x / 1.00x".into()
        };
        let runs_s: Vec<String> = res[i].iter().map(|s| format!("{:.3}", s.mpps64)).collect();
        md += &format!(
            "| {name} | {} | {m:.3} | {vs_tp} | {vs_lb} | {:.3} | {:.2} | {:.1} / {:.1} / {:.1} | {tail} |\n",
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
    (md, csv)
}

/// p99 and p99.9 latency against the reference's, as medians of the per-round ratios
/// ("a.bcx / d.efx"; lower is better).
fn tail_ratio(a: &[Sample], b: &[Sample]) -> String {
    let ratio = |f: fn(&Sample) -> f64| {
        let r: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(x, y)| f(x) > 0.0 && f(y) > 0.0)
            .map(|(x, y)| f(x) / f(y))
            .collect();
        if r.is_empty() {
            "n/a".to_string()
        } else {
            format!("{:.2}x", median(r))
        }
    };
    format!("{} / {}", ratio(|s| s.p99), ratio(|s| s.p999))
}
