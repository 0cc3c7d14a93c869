//! Every lost frame is named, and the worker's core is the worker's (root only; the veth lab).
//!
//! `xdpgraph run` (the binary: it can be stopped with SIGSTOP, and it places its own threads)
//! bridges three lab ports; the generator sends from namespace 0 to the learned host in
//! namespace 1. Frames offered to the bridge are counted at the sender's veth (its `tx_packets`
//! are what reached our port), frames delivered at the receiver's (`rx_packets`), and the
//! difference must be exactly what `ctl --json errors` names (`total`, the sum of `drops`):
//! in a normal run, with the receiver's veth down (no carrier on our egress port), and with
//! the whole daemon stopped for 200 ms under 100 kpps. The churn tests then ask for no loss at
//! all while `ctl -f` scripts edit the graph elsewhere, with clients on the worker's core.
//!
//! The sender is pinned to a core without a worker. These tests need two cores.

use serde_json::Value as J;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::gen::frame::{FrameSpec, Sizes};
use xdpgraph::gen::rate::Rate;
use xdpgraph::gen::{self, Engine, GenConfig, RxEngine};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::netdev::PacketSocket;

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
static SERIAL: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);

fn usable() -> bool {
    if xdpgraph::sys::netdev::euid() != 0 {
        eprintln!("skipped: the lab tests need root");
        return false;
    }
    if xdpgraph::sys::cpu::online_cores() < 2 {
        eprintln!("skipped: needs a core for the worker and one for the sender");
        return false;
    }
    true
}

/// A lab of three ports bridged by a running `xdpgraph run`. Field order: the daemon stops
/// before the lab goes.
struct Env {
    daemon: Child,
    sock: String,
    /// The worker's core; the sender runs on `other`.
    worker: usize,
    other: usize,
    lab: LabGuard,
    _serial: MutexGuard<'static, ()>,
}

impl Env {
    /// `xdpgraph run --cores <worker>` on a fresh lab, with br0 over its three ports and host
    /// 1 learned on link1.
    fn new(worker: usize) -> Env {
        Env::with_cores(&[worker])
    }

    /// The same with a worker on each of `cores` (the traffic, on RX queue 0, is the first
    /// one's); the sender runs on the last core, or on another one if there is one.
    fn with_cores(cores: &[usize]) -> Env {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let n = N.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("a{}x{n}", std::process::id() % 1000);
        let lab = LabGuard::up(LabConfig {
            prefix,
            ports: 3,
            queues: cores.len() as u32,
            addresses: false,
            ..Default::default()
        })
        .unwrap();
        let worker = cores[0];
        let online = xdpgraph::sys::cpu::online_cores();
        let other = (0..online)
            .find(|c| !cores.contains(c))
            .unwrap_or(cores[cores.len() - 1]);
        let sock = format!("/tmp/xdpgraph-acct-{}-{n}.sock", std::process::id());
        let setup = format!("{sock}.ngctl");
        let (p0, p1, p2) = (lab.iface(0), lab.iface(1), lab.iface(2));
        std::fs::write(
            &setup,
            format!(
                "mkpeer {p0}: bridge lower link0\nname {p0}:lower br0\n\
                 connect {p1}: br0: lower link1\nconnect {p2}: br0: lower link2\n"
            ),
        )
        .unwrap();
        let core = cores
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let args = [
            "run", "--cores", &core, "-i", &p0, "-i", &p1, "-i", &p2, "--socket", &sock, "-f",
            &setup,
        ];
        // measurement knob (docs/TESTING.md): more `run` arguments, e.g. --worker-nice 0
        let extra = std::env::var("XDPGRAPH_TEST_RUN_ARGS").unwrap_or_default();
        let daemon = Command::new(BIN)
            .args(args)
            .args(extra.split_whitespace())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let e = Env {
            daemon,
            sock,
            worker,
            other,
            lab,
            _serial: serial,
        };
        let t = Instant::now();
        while !e.ctl(&["show", "br0:"]).0 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&setup);
        if std::env::var_os("XDPGRAPH_TEST_SQUEEZE").is_some() {
            e.squeeze();
        }
        if let Ok(n) = std::env::var("XDPGRAPH_TEST_SERVICE_NICE") {
            e.renice_services(&n);
        }
        e.learn_host1();
        e
    }

    /// Measurement knob (docs/TESTING.md): gives every thread of the daemon but the workers
    /// nice `n` (threads spawned later inherit it).
    fn renice_services(&self, n: &str) {
        let dir = format!("/proc/{}/task", self.daemon.id());
        for t in std::fs::read_dir(dir).unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("xdpgraph-w") {
                let tid = t.file_name().to_string_lossy().to_string();
                let _ = Command::new("renice").args(["-n", n, "-p", &tid]).output();
            }
        }
    }

    /// Measurement knob (docs/TESTING.md): moves every thread of the daemon but the worker
    /// onto the worker's core, as they were before they had a placement of their own (threads
    /// spawned later inherit it).
    fn squeeze(&self) {
        let dir = format!("/proc/{}/task", self.daemon.id());
        for t in std::fs::read_dir(dir).unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("xdpgraph-w") {
                let tid = t.file_name().to_string_lossy().to_string();
                let w = self.worker.to_string();
                let _ = Command::new("taskset")
                    .args(["-p", "-c", &w, &tid])
                    .output();
            }
        }
    }

    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let o = Command::new(BIN)
            .args(["ctl", "--socket", &self.sock])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
        (o.status.success(), text.into_owned())
    }

    fn json(&self, line: &str) -> J {
        let mut a = vec!["--json"];
        a.extend(line.split_whitespace());
        let (ok, out) = self.ctl(&a);
        assert!(ok, "{line}: {out}");
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Everything `ctl errors` names, and its JSON.
    fn named(&self) -> (u64, J) {
        let j = self.json("errors");
        let sum: u64 = (j["drops"].as_array().unwrap().iter())
            .map(|d| d["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            Some(sum),
            j["total"].as_u64(),
            "drops sum to the total: {j}"
        );
        (sum, j)
    }

    /// One frame from host 1, so the bridge forwards to it (not floods).
    fn learn_host1(&self) {
        let s = PacketSocket::open_in(&self.lab.ns(1), "eth0").unwrap();
        let mut f = Vec::new();
        f.extend_from_slice(&self.lab.host_mac(0).0);
        f.extend_from_slice(&self.lab.host_mac(1).0);
        f.extend_from_slice(&0x88b5u16.to_be_bytes());
        f.resize(64, 0);
        s.send(&f).unwrap();
        let t = Instant::now();
        loop {
            let g = self.json("msg br0: gettable");
            if g["reply"]["numHosts"].as_u64() == Some(1) {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "host 1 not learned: {g}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (frames offered to the bridge, frames delivered to host 1): namespace 0's veth
    /// `tx_packets` and namespace 1's `rx_packets`.
    fn counts(&self) -> (u64, u64) {
        (veth(&self.lab.ns(0), "tx"), veth(&self.lab.ns(1), "rx"))
    }

    /// `count` frames at `pps` from host 0 to host 1, the sender pinned off the worker core.
    fn send(&self, pps: &str, count: u64) -> u64 {
        let cfg = GenConfig {
            tx: "eth0".into(),
            tx_netns: Some(self.lab.ns(0)),
            rx: None,
            rx_netns: None,
            engine: Engine::Afxdp,
            rx_engine: RxEngine::Afxdp,
            rate: Rate::parse(pps).unwrap(),
            sizes: Sizes::Fixed(64),
            spec: FrameSpec {
                src_mac: self.lab.host_mac(0),
                dst_mac: self.lab.host_mac(1),
                src_ip: [198, 18, 0, 1],
                dst_ip: [198, 18, 0, 2],
                vlan: None,
                flows: 1,
                dst_flows: false,
            },
            duration: None,
            count: Some(count),
            tx_core: Some(self.other),
            rx_core: None,
            drain: Duration::from_millis(200),
        };
        gen::run(&cfg, &mut |_, _| {}).unwrap().tx_frames
    }

    /// Waits until delivery and the named drops stop changing; returns (offered, delivered,
    /// named) and the errors JSON.
    fn settle(&self) -> (u64, u64, u64, J) {
        let mut last = None;
        let t = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let (o, d) = self.counts();
            let (n, j) = self.named();
            if last == Some((o, d, n)) || t.elapsed() > Duration::from_secs(10) {
                return (o, d, n, j);
            }
            last = Some((o, d, n));
        }
    }

    fn link(&self, ns: usize, state: &str) {
        let ok = Command::new("ip")
            .args(["-n", &self.lab.ns(ns), "link", "set", "eth0", state])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits until `ctl interfaces` shows port `i` in `state` ("up"/"DOWN").
    fn wait_state(&self, i: usize, state: &str) {
        let t = Instant::now();
        loop {
            let (_, out) = self.ctl(&["interfaces"]);
            let line = out
                .lines()
                .find(|l| l.contains(&self.lab.iface(i)))
                .unwrap_or("");
            if line.trim_end().ends_with(state) {
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.daemon.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.daemon.id().to_string()])
            .status();
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A counter of `eth0` in namespace `ns` (`dir`: "rx" or "tx" packets).
fn veth(ns: &str, dir: &str) -> u64 {
    let o = Command::new("ip")
        .args(["-n", ns, "-s", "-j", "link", "show", "eth0"])
        .output()
        .unwrap();
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    j[0]["stats64"][dir]["packets"].as_u64().unwrap()
}

/// The reasons `ctl errors` names (with a count).
fn reasons(j: &J) -> Vec<String> {
    (j["drops"].as_array().unwrap().iter())
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

#[test]
fn lost_frames_are_named_in_a_normal_run() {
    if !usable() {
        return;
    }
    let e = Env::new(0);
    let (o0, d0) = e.counts();
    let (n0, _) = e.named();
    e.send("80k", 50_000);
    let (o, d, n, j) = e.settle();
    let (offered, delivered, named) = (o - o0, d - d0, n - n0);
    eprintln!(
        "normal: offered {offered} delivered {delivered} named {named}; load {}",
        load()
    );
    assert_eq!(offered, 50_000, "the sender's veth took every frame");
    assert_eq!(offered - delivered, named, "every lost frame is named: {j}");
}

#[test]
fn lost_frames_are_named_when_the_egress_peer_is_down() {
    if !usable() {
        return;
    }
    let e = Env::new(0);
    let (o0, d0) = e.counts();
    e.link(1, "down");
    e.send("80k", 20_000);
    let (o, d, n, j) = e.settle();
    eprintln!(
        "peer down: offered {} delivered {} named {n}: {:?}",
        o - o0,
        d - d0,
        reasons(&j)
    );
    assert_eq!((o - o0, d - d0), (20_000, 0));
    assert_eq!(n, 20_000, "every frame is named: {j}");
    let text = e.ctl(&["errors"]).1;
    assert!(
        text.contains("port_down") || text.contains("tx_not_sent"),
        "{text}"
    );
    // the port shows DOWN (no carrier), and carries frames again once its peer is back
    e.wait_state(1, "DOWN");
    e.link(1, "up");
    e.wait_state(1, "up");
    e.send("80k", 10_000);
    let (o2, d2, n2, j) = e.settle();
    assert_eq!(o2 - o, 10_000);
    assert_eq!((o2 - o) - (d2 - d), n2 - n, "{j}");
}

#[test]
fn lost_frames_are_named_when_the_daemon_is_stopped() {
    if !usable() {
        return;
    }
    let e = Env::new(0);
    let (o0, d0) = e.counts();
    let (n0, _) = e.named();
    std::thread::scope(|s| {
        let sender = s.spawn(|| e.send("100k", 100_000));
        std::thread::sleep(Duration::from_millis(300));
        e.signal("-STOP");
        std::thread::sleep(Duration::from_millis(200));
        e.signal("-CONT");
        sender.join().unwrap();
    });
    let (o, d, n, j) = e.settle();
    let (offered, delivered, named) = (o - o0, d - d0, n - n0);
    eprintln!(
        "SIGSTOP: offered {offered} delivered {delivered} named {named}: {}",
        j["ports"]
    );
    assert_eq!(offered, 100_000);
    assert!(named > 0, "200 ms at 100 kpps overflow the rings: {j}");
    assert_eq!(offered - delivered, named, "every lost frame is named: {j}");
    let r = reasons(&j);
    assert!(
        r.iter().any(|r| r == "rx_dropped" || r == "rx_ring_full"),
        "the ingress socket's kernel counters name them: {j}"
    );
    // the fill-ring-empty detail explains rx_dropped, and is no extra drop
    for p in j["ports"].as_array().unwrap() {
        if let Some(f) = p["detail"]["fill_ring_empty"].as_u64() {
            assert!(f <= p["count"].as_u64().unwrap(), "{p}");
        }
    }
}

/// A script of ~450 edits and reads elsewhere in the graph (nodes hung off the `.` node),
/// leaving the graph as it found it; `tag` keeps names apart between clients and rounds.
fn churn_script(tag: &str) -> String {
    let mut s = String::new();
    for i in 0..38 {
        let (t, h) = (format!("{tag}T{i}"), format!("{tag}H{i}"));
        s += &format!(
            "mkpeer . tee {tag}t{i} left\nname .:{tag}t{i} {t}\nmkpeer {t}: hole right in\n\
             mkpeer {t}: hub left2right a\nname {t}:left2right {h}\nmkpeer {h}: echo b x\n\
             msg {t}: getstats\nconnect {h}: {t}: c right2left\nrmhook {t}: right\n\
             msg br0: gettable\nshutdown {h}:\nshutdown {t}:\n"
        );
    }
    s
}

/// Runs ctl clients until `stop`: `ctl -f` edit scripts (one on the worker's core, one
/// anywhere) and a read-only client on the worker's core. Returns edit rounds applied.
fn churn(e: &Env, stop: &AtomicBool, rounds: &AtomicU64) {
    let worker = e.worker.to_string();
    std::thread::scope(|s| {
        for (c, pin) in [(0, true), (1, false)] {
            let worker = &worker;
            s.spawn(move || {
                let mut r = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("{}.c{c}.ngctl", e.sock);
                    std::fs::write(&path, churn_script(&format!("c{c}r{r}x"))).unwrap();
                    let mut cmd = Command::new(if pin { "taskset" } else { BIN });
                    if pin {
                        cmd.args(["-c", worker, BIN]);
                    }
                    let o = cmd
                        .args(["ctl", "--socket", &e.sock, "-f", &path])
                        .output()
                        .unwrap();
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                    rounds.fetch_add(1, Ordering::Relaxed);
                    let _ = std::fs::remove_file(&path);
                    r += 1;
                }
            });
        }
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for line in ["stats", "msg br0: gettable", "list -l", "errors"] {
                    let mut cmd = Command::new("taskset");
                    cmd.args(["-c", &worker, BIN, "ctl", "--socket", &e.sock]);
                    let _ = cmd.args(line.split_whitespace()).output();
                }
            }
        });
    });
}

/// One churn run: `frames` at 80 kpps through br0 while the clients edit; returns (lost,
/// named, edit rounds).
fn churn_run(cores: &[usize], frames: u64) -> (u64, u64, u64) {
    let e = Env::with_cores(cores);
    let worker = cores
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let (o0, d0) = e.counts();
    let (n0, _) = e.named();
    let stop = AtomicBool::new(false);
    let rounds = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| churn(&e, &stop, &rounds));
        std::thread::sleep(Duration::from_millis(200));
        e.send("80k", frames);
        stop.store(true, Ordering::Relaxed);
    });
    let (o, d, n, j) = e.settle();
    let (offered, lost, named) = (o - o0, (o - o0) - (d - d0), n - n0);
    let r = rounds.load(Ordering::Relaxed);
    eprintln!(
        "churn --cores {worker}: offered {offered} lost {lost} named {named} {:?} ({r} rounds of \
         ~450 edits); load {}",
        reasons(&j),
        load()
    );
    if lost > 0 {
        for i in 0..3 {
            eprintln!("{}", e.ctl(&["stats", &format!("{}:", e.lab.iface(i))]).1);
        }
    }
    assert_eq!(offered, frames, "the sender's veth took every frame");
    assert_eq!(lost, named, "every lost frame is named: {j}");
    assert!(r > 0, "the clients edited meanwhile");
    (lost, named, r)
}

fn churn_runs(frames: u64, runs: usize) {
    if !usable() {
        return;
    }
    let mut results = Vec::new();
    for worker in [0, 1] {
        for _ in 0..runs {
            results.push((worker, churn_run(&[worker], frames).0));
        }
    }
    eprintln!("churn results (--cores, lost of {frames}): {results:?}");
    assert!(
        results.iter().all(|(_, lost)| *lost == 0),
        "no frame lost: {results:?}"
    );
}

/// Issue 12's case: 200,000 frames at 80 kpps through a 3-port bridge while `ctl -f` scripts
/// apply ~450 edits per round elsewhere, clients also on the worker's core: nothing lost, in
/// 3 of 3 runs with the worker on core 0 and on core 1 (about 25 s).
#[test]
fn churn_loses_nothing_200k_3_runs() {
    churn_runs(200_000, 3);
}

/// With a worker on every core, the service threads share the workers' cores, below them
/// (nice −10): what is lost is still named. Measured and reported (docs/AFXDP.md), not asked
/// to be zero: the sender shares a core with a worker too.
#[test]
#[ignore = "a measurement (about 25 s)"]
fn churn_with_a_worker_on_every_core() {
    if !usable() {
        return;
    }
    let cores: Vec<usize> = (0..xdpgraph::sys::cpu::online_cores()).collect();
    let lost: Vec<u64> = (0..3).map(|_| churn_run(&cores, 200_000).0).collect();
    eprintln!("churn results (--cores {cores:?}, lost of 200000): {lost:?}");
}
