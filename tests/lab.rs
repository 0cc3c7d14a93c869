//! Integration tests on the veth lab (root only; CI runs them as root).
//!
//! Each test makes its own lab (unique prefix), runs the data plane in-process on it, sends raw
//! frames from the namespaces and checks where they arrive. Labs and XDP programs are removed
//! when the test ends, even when it fails (guards); the last test checks that.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::dataplane::afxdp::{AfxdpIface, IfaceCtl};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::graph::gstat;
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::netdev::PacketSocket;
use xdpgraph::value::Value;
use xdpgraph::wire::{EtherType, MacAddr, VlanHeader};

/// Our test frames' EtherType (IEEE local experimental).
const ETYPE: u16 = 0x88b5;
static SERIAL: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);

/// Root, or the test is skipped loudly (and fails when `CI` is set).
fn root() -> bool {
    xdpgraph::testkit::require_root()
}

/// A lab of `ports` ports with the data plane attached to every port. Field order: the data
/// plane goes before the lab.
struct Env {
    dp: Dataplane,
    lab: LabGuard,
    _serial: MutexGuard<'static, ()>,
}

impl Env {
    fn new(ports: usize, addresses: bool) -> Option<Env> {
        if !root() {
            return None;
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let prefix = format!(
            "t{}x{}",
            std::process::id() % 1000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let cores = if xdpgraph::sys::cpu::online_cores() >= 2 {
            vec![0, 1]
        } else {
            vec![0]
        };
        let lab = LabGuard::up(LabConfig {
            prefix,
            ports,
            queues: cores.len() as u32,
            addresses,
            ..Default::default()
        })
        .unwrap();
        let mut dp = Dataplane::start(DataplaneConfig {
            cores,
            frames_per_worker: Some(8192),
            ..Default::default()
        })
        .unwrap();
        for i in 0..ports {
            dp.attach(&lab.iface(i), None).unwrap();
            let p = format!("{}:", lab.iface(i));
            dp.graph()
                .msg(&p, "setautosrc", Some(&Value::Int(0)))
                .unwrap();
            dp.graph()
                .msg(&p, "setpromisc", Some(&Value::Int(1)))
                .unwrap();
        }
        Some(Env {
            dp,
            lab,
            _serial: serial,
        })
    }
    fn p(&self, i: usize) -> String {
        format!("{}:", self.lab.iface(i))
    }
    fn sock(&self, i: usize) -> PacketSocket {
        PacketSocket::open_in(&self.lab.ns(i), "eth0").unwrap()
    }
    fn mac(&self, i: usize) -> MacAddr {
        self.lab.host_mac(i)
    }
}

fn frame(dst: MacAddr, src: MacAddr, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ETYPE.to_be_bytes());
    f.extend_from_slice(b"XGTEST");
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(64, 0xa5);
    f
}

/// Our frames received on `s` within `ms` of silence: (seq, whole frame).
fn collect(s: &PacketSocket, ms: i32) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(Some(n)) = s.recv(&mut buf, ms) {
        let f = &buf[..n];
        // Find our marker after an optional tag.
        let at = (12..=20).step_by(4).find(|&o| {
            f.len() >= o + 12 && f[o..o + 2] == ETYPE.to_be_bytes() && &f[o + 2..o + 8] == b"XGTEST"
        });
        if let Some(o) = at {
            let seq = u32::from_be_bytes(f[o + 8..o + 12].try_into().unwrap());
            out.push((seq, f.to_vec()));
        }
    }
    out
}

fn send(s: &PacketSocket, frames: &[Vec<u8>]) {
    for f in frames {
        s.send(f).unwrap();
    }
}

#[test]
fn cross_connect_carries_frames_both_ways() {
    let Some(mut e) = Env::new(2, false) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    e.dp.graph().connect(&p0, &p1, "lower", "lower").unwrap();
    let (s0, s1) = (e.sock(0), e.sock(1));
    let frames: Vec<_> = (0..200).map(|i| frame(e.mac(1), e.mac(0), i)).collect();
    send(&s0, &frames);
    let got = collect(&s1, 300);
    assert_eq!(got.len(), 200);
    assert!(
        got.iter().all(|(i, f)| *f == frames[*i as usize]),
        "frames arrive unchanged"
    );
    send(&s1, &[frame(e.mac(0), e.mac(1), 7)]);
    assert_eq!(
        collect(&s0, 300).iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![7]
    );
}

#[test]
fn bridge_learns_and_floods_on_the_wire() {
    let Some(mut e) = Env::new(3, false) else {
        return;
    };
    let (p0, p1, p2) = (e.p(0), e.p(1), e.p(2));
    let g = e.dp.graph();
    g.mkpeer(&p0, "bridge", "lower", "link0").unwrap();
    g.name(&format!("{p0}lower"), "br0").unwrap();
    g.connect(&p1, "br0:", "lower", "link1").unwrap();
    g.connect(&p2, "br0:", "lower", "link2").unwrap();
    let s: Vec<_> = (0..3).map(|i| e.sock(i)).collect();
    // A broadcast from host 0 floods to 1 and 2, not back to 0.
    send(&s[0], &[frame(MacAddr::BROADCAST, e.mac(0), 1)]);
    assert_eq!(collect(&s[1], 300).len(), 1);
    assert_eq!(collect(&s[2], 300).len(), 1);
    assert_eq!(
        collect(&s[0], 100).len(),
        0,
        "never back out of the ingress link"
    );
    // Host 0 is learned: unicast to it goes only to port 0.
    send(&s[1], &[frame(e.mac(0), e.mac(1), 2)]);
    assert_eq!(collect(&s[0], 300).len(), 1);
    assert_eq!(collect(&s[2], 100).len(), 0);
    // Host 1 is learned too now.
    send(
        &s[0],
        &[frame(e.mac(1), e.mac(0), 3), frame(e.mac(1), e.mac(0), 4)],
    );
    assert_eq!(collect(&s[1], 300).len(), 2);
    assert_eq!(collect(&s[2], 100).len(), 0);
    let t = e.dp.graph().msg("br0:", "gettable", None).unwrap().unwrap();
    assert_eq!(t.field("numHosts").unwrap().as_i128(), Some(2));
}

#[test]
fn tee_copies_reach_the_wire() {
    let Some(mut e) = Env::new(3, false) else {
        return;
    };
    let (p0, p1, p2) = (e.p(0), e.p(1), e.p(2));
    let g = e.dp.graph();
    g.mkpeer(&p0, "tee", "lower", "left").unwrap();
    g.name(&format!("{p0}lower"), "t").unwrap();
    g.connect(&p1, "t:", "lower", "right").unwrap();
    g.connect(&p2, "t:", "lower", "left2right").unwrap();
    let s: Vec<_> = (0..3).map(|i| e.sock(i)).collect();
    let frames: Vec<_> = (0..50).map(|i| frame(e.mac(1), e.mac(0), i)).collect();
    send(&s[0], &frames);
    let (a, b) = (collect(&s[1], 300), collect(&s[2], 300));
    assert_eq!((a.len(), b.len()), (50, 50));
    assert_eq!(
        a.iter().map(|x| &x.1).collect::<Vec<_>>(),
        b.iter().map(|x| &x.1).collect::<Vec<_>>()
    );
}

#[test]
fn vlan_tags_seen_on_the_wire() {
    let Some(mut e) = Env::new(2, false) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    let g = e.dp.graph();
    // Port 0 is an access port on VLAN 10 (priority 5); port 1 the trunk.
    g.mkpeer(&p0, "vlan", "lower", "v10").unwrap();
    g.name(&format!("{p0}lower"), "v").unwrap();
    g.connect(&p1, "v:", "lower", "downstream").unwrap();
    g.msg(
        "v:",
        "addfilter",
        Some(&Value::parse(r#"{ hook="v10" vid=10 pcp=5 }"#).unwrap()),
    )
    .unwrap();
    let (s0, s1) = (e.sock(0), e.sock(1));
    send(&s0, &[frame(e.mac(1), e.mac(0), 1)]);
    let got = collect(&s1, 300);
    assert_eq!(got.len(), 1);
    let tag = VlanHeader::new_checked(&got[0].1[12..]).unwrap();
    assert_eq!(
        (tag.tpid(), tag.tci().vid(), tag.tci().pcp()),
        (EtherType::VLAN, 10, 5)
    );
    // QinQ: the same with an 802.1ad TPID.
    e.dp.graph()
        .msg("v:", "setencapproto", Some(&Value::Int(0x88a8)))
        .unwrap();
    send(&s0, &[frame(e.mac(1), e.mac(0), 2)]);
    let got = collect(&s1, 300);
    let tag = VlanHeader::new_checked(&got[0].1[12..]).unwrap();
    assert_eq!(
        (tag.tpid(), tag.tci().vid(), tag.tci().pcp()),
        (EtherType::QINQ, 10, 5)
    );
    // A tagged frame from the trunk reaches the access port untagged.
    let mut t = frame(e.mac(0), e.mac(1), 3);
    t.splice(12..12, [0x88, 0xa8, 0xa0, 0x0a]);
    send(&s1, &[t]);
    let got = collect(&s0, 300);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].1[12..14], &ETYPE.to_be_bytes(), "tag removed");
}

fn ping_root(e: &Env, i: usize) -> bool {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &e.lab.ns(i),
            "ping",
            "-n",
            "-q",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "10.77.0.254",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn disconnecting_lower_gives_the_interface_back_to_the_kernel() {
    let Some(mut e) = Env::new(1, true) else {
        return;
    };
    let ifname = e.lab.iface(0);
    let ok = std::process::Command::new("ip")
        .args(["addr", "add", "10.77.0.254/24", "dev", &ifname])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(
        ping_root(&e, 0),
        "attached but unhooked: the host still has the interface"
    );
    let p0 = e.p(0);
    e.dp.graph().mkpeer(&p0, "hole", "lower", "in").unwrap();
    assert!(
        !ping_root(&e, 0),
        "lower connected: frames go to the graph (and into the hole)"
    );
    assert!(e.dp.graph().drops(xdpgraph::graph::DropReason::Discarded) > 0);
    e.dp.graph().rmhook(&p0, "lower").unwrap();
    assert!(ping_root(&e, 0), "lower disconnected: ping works again");
    e.dp.detach(&ifname).unwrap();
    assert!(ping_root(&e, 0), "detached: ping works without xdpgraph");
}

#[test]
fn every_frame_is_delivered_or_counted() {
    let Some(mut e) = Env::new(2, false) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    let g = e.dp.graph();
    g.mkpeer(&p0, "bridge", "lower", "link0").unwrap();
    g.name(&format!("{p0}lower"), "br0").unwrap();
    g.connect(&p1, "br0:", "lower", "link1").unwrap();
    let ctls: Vec<Arc<IfaceCtl>> = (0..2)
        .map(|i| {
            let a = e.dp.interface::<AfxdpIface>(&e.lab.iface(i));
            a.unwrap().ctl().clone()
        })
        .collect();
    let (s0, s1) = (e.sock(0), e.sock(1));
    // ~50 kpps in bursts: a rate this machine carries.
    const N: u32 = 20_000;
    let t = Instant::now();
    let mut sent = 0u64;
    for i in 0..N {
        if s0.send(&frame(e.mac(1), e.mac(0), i)).is_ok() {
            sent += 1;
        }
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = collect(&s1, 500);
    let (_, rcv_drops) = s1.stats().unwrap();
    let graph_drops = e.dp.graph().total_drops();
    // Close the sockets so their final counters are published.
    let names: Vec<String> = (0..2).map(|i| e.lab.iface(i)).collect();
    for n in &names {
        e.dp.detach(n).unwrap();
    }
    let kernel: u64 = ctls.iter().flat_map(|c| c.drops()).map(|d| d.count).sum();
    let mut uniq: Vec<u32> = got.iter().map(|x| x.0).collect();
    uniq.sort();
    uniq.dedup();
    eprintln!(
        "sent {sent} in {:?}, received {} ({} distinct), graph drops {graph_drops}, kernel drops {kernel}, receiver drops {rcv_drops}",
        t.elapsed(),
        got.len(),
        uniq.len()
    );
    assert_eq!(uniq.len(), got.len(), "no duplicates");
    assert_eq!(
        sent,
        got.len() as u64 + graph_drops + kernel + rcv_drops as u64,
        "sent = received + every counted drop"
    );
    assert_eq!(
        e.dp.graph().stat(gstat::RX),
        e.dp.graph().stat(gstat::TX) + graph_drops,
        "graph in = out + drops"
    );
}

#[test]
fn nothing_is_left_behind_even_when_a_test_panics() {
    if !root() {
        return;
    }
    let prefix = format!("t{}p", std::process::id() % 1000);
    let p2 = prefix.clone();
    let r = std::thread::spawn(move || {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let lab = LabGuard::up(LabConfig {
            prefix: p2,
            ports: 2,
            queues: 1,
            ..Default::default()
        })
        .unwrap();
        let mut dp = Dataplane::start(DataplaneConfig {
            cores: vec![0],
            frames_per_worker: Some(4096),
            ..Default::default()
        })
        .unwrap();
        dp.attach(&lab.iface(0), None).unwrap();
        panic!("deliberate failure with a lab and an XDP program in place");
    })
    .join();
    assert!(r.is_err());
    let links = String::from_utf8(
        std::process::Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains(&format!("{prefix}0")), "veths removed");
    let ns = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!ns.contains(&prefix), "namespaces removed");
}

fn lab_only(ports: usize) -> Option<(LabGuard, MutexGuard<'static, ()>)> {
    if !root() {
        return None;
    }
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!(
        "t{}x{}",
        std::process::id() % 1000,
        N.fetch_add(1, Ordering::SeqCst)
    );
    let lab = LabGuard::up(LabConfig {
        prefix,
        ports,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap();
    Some((lab, serial))
}

#[test]
fn generic_mode_forwards_too() {
    let Some((lab, _s)) = lab_only(2) else { return };
    let mut dp = Dataplane::start(DataplaneConfig {
        cores: vec![0],
        xdp_mode: xdpgraph::dataplane::afxdp::XdpMode::Generic,
        frames_per_worker: Some(4096),
        ..Default::default()
    })
    .unwrap();
    for i in 0..2 {
        dp.attach(&lab.iface(i), None).unwrap();
        dp.graph()
            .msg(
                &format!("{}:", lab.iface(i)),
                "setautosrc",
                Some(&Value::Int(0)),
            )
            .unwrap();
    }
    assert_eq!(
        dp.interface::<AfxdpIface>(&lab.iface(0))
            .unwrap()
            .ctl()
            .program()
            .mode(),
        "generic"
    );
    dp.graph()
        .connect(
            &format!("{}:", lab.iface(0)),
            &format!("{}:", lab.iface(1)),
            "lower",
            "lower",
        )
        .unwrap();
    let (s0, s1) = (
        PacketSocket::open_in(&lab.ns(0), "eth0").unwrap(),
        PacketSocket::open_in(&lab.ns(1), "eth0").unwrap(),
    );
    send(
        &s0,
        &(0..20)
            .map(|i| frame(lab.host_mac(1), lab.host_mac(0), i))
            .collect::<Vec<_>>(),
    );
    assert_eq!(collect(&s1, 300).len(), 20);
}

/// Jumbo MTUs attach (multi-buffer; tests/jumbo.rs carries the frames), up to the largest a
/// veth takes (65535, below our limit of 18 chunks, 69102). The refusal of an MTU beyond what
/// the frames carry is tested where it can happen: AF_XDP beside DPDK devices (tests/dpdk.rs).
#[test]
fn jumbo_mtus_attach_up_to_the_largest_a_veth_takes() {
    let Some((lab, _s)) = lab_only(1) else { return };
    let mut dp = Dataplane::start(DataplaneConfig {
        cores: vec![0],
        frames_per_worker: Some(4096),
        ..Default::default()
    })
    .unwrap();
    for mtu in ["9000", "65535"] {
        let ok = std::process::Command::new("ip")
            .args(["link", "set", &lab.iface(0), "mtu", mtu])
            .status()
            .unwrap();
        assert!(ok.success());
        dp.attach(&lab.iface(0), None)
            .unwrap_or_else(|e| panic!("MTU {mtu}: {e}"));
        dp.detach(&lab.iface(0)).unwrap();
    }
    const { assert!(xdpgraph::dataplane::afxdp::MAX_MTU > 65535) };
    let links = String::from_utf8(
        std::process::Command::new("ip")
            .args(["-o", "link", "show", &lab.iface(0)])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains("xdp"), "nothing attached: {links}");
}

#[test]
fn upper_reaches_the_host_through_the_tap() {
    let Some(mut e) = Env::new(2, false) else {
        return;
    };
    // Port 1's frames go up into port 0's host stack; what the host sends there comes back.
    let (p0, p1) = (e.p(0), e.p(1));
    e.dp.graph().connect(&p1, &p0, "lower", "upper").unwrap();
    let tap = xdpgraph::dataplane::afxdp::tap_name(&e.lab.iface(0));
    let host = PacketSocket::open(&tap).unwrap();
    let s1 = e.sock(1);
    send(&s1, &[frame(e.mac(0), e.mac(1), 5)]);
    let got = collect(&host, 500);
    assert_eq!(
        got.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![5],
        "received by the host on {tap}"
    );
    host.send(&frame(e.mac(1), e.mac(0), 6)).unwrap();
    let got = collect(&s1, 500);
    assert_eq!(
        got.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![6],
        "the host's frame came out of upper"
    );
}

#[test]
fn a_vanished_interface_marks_its_node_down_and_the_rest_keeps_going() {
    let Some(mut e) = Env::new(3, false) else {
        return;
    };
    let (p0, p1, p2) = (e.p(0), e.p(1), e.p(2));
    e.dp.graph().connect(&p0, &p1, "lower", "lower").unwrap();
    e.dp.graph().mkpeer(&p2, "hole", "lower", "in").unwrap();
    // Delete the third veth under the running data plane.
    let ok = std::process::Command::new("ip")
        .args(["link", "del", &e.lab.iface(2)])
        .status()
        .unwrap();
    assert!(ok.success());
    e.dp.tick();
    let info = xdpgraph::ctl::Control::interfaces(&e.dp);
    let gone = info.iter().find(|i| i.name == e.lab.iface(2)).unwrap();
    assert!(!gone.up, "marked down");
    assert!(info
        .iter()
        .filter(|i| i.name != e.lab.iface(2))
        .all(|i| i.up));
    let (s0, s1) = (e.sock(0), e.sock(1));
    send(&s0, &[frame(e.mac(1), e.mac(0), 9)]);
    assert_eq!(collect(&s1, 300).len(), 1, "the others still forward");
    // Detaching the vanished one works and leaves the rest running.
    e.dp.detach(&e.lab.iface(2)).unwrap();
    send(&s0, &[frame(e.mac(1), e.mac(0), 10)]);
    assert_eq!(collect(&s1, 300).len(), 1);
}

fn xdp_on(ifname: &str) -> String {
    let o = std::process::Command::new("ip")
        .args(["-o", "link", "show", ifname])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn a_stale_program_is_replaced_a_live_holder_and_a_foreign_one_refused() {
    use xdpgraph::dataplane::afxdp::{program, AfxdpError, Owner, XdpMode, XdpProgram};
    let Some((lab, _s)) = lab_only(1) else { return };
    let ifname = lab.iface(0);
    // A run killed with SIGKILL: its program stays attached, its owner (a process that has
    // exited) is gone.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = Owner {
        pid: gone.id(),
        start_time: 1,
        socket: "/run/gone.sock".into(),
        ..Owner::this_process(None)
    };
    let stale = XdpProgram::attach_owned(&ifname, XdpMode::Native, &dead).unwrap();
    assert_eq!(program::owner_of(stale.prog_id()), Some(dead.clone()));
    assert_eq!(dead.alive(), Some(false));
    std::mem::forget(stale);
    let p = XdpProgram::attach(&ifname, XdpMode::Native).unwrap();
    assert!(p.prog_id() > 0);
    let me = program::owner_of(p.prog_id()).unwrap();
    assert_eq!((me.pid, me.alive()), (std::process::id(), Some(true)));
    // A live holder (this process) is refused by name, and keeps its program.
    let err = XdpProgram::attach(&ifname, XdpMode::Native).err().unwrap();
    assert!(matches!(err, AfxdpError::Held { .. }), "{err}");
    assert_eq!(err.errno().name(), "EBUSY");
    let want = format!(
        "{ifname} is in use by another xdpgraph (pid {}",
        std::process::id()
    );
    assert!(err.to_string().contains(&want), "{err}");
    assert!(xdp_on(&ifname).contains(&format!("prog/xdp id {} ", p.prog_id())));
    drop(p);
    let links = xdp_on(&ifname);
    assert!(
        !links.contains("xdp"),
        "the replacement detached cleanly: {links}"
    );
    // Someone else's program is left alone.
    let h = xdpgraph::gen::xdp::Helpers::load().unwrap();
    let _other = h
        .attach("xdpgraph_pass", None, &ifname, XdpMode::Native)
        .unwrap();
    let err = XdpProgram::attach(&ifname, XdpMode::Native)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("another XDP program is attached (xdpgraph_pass"),
        "{err}"
    );
}

#[test]
fn ctl_attach_and_detach_at_run_time() {
    use xdpgraph::ctl::exec::execute;
    let Some((lab, _s)) = lab_only(2) else { return };
    let mut dp = Dataplane::start(DataplaneConfig {
        cores: vec![0],
        frames_per_worker: Some(4096),
        ..Default::default()
    })
    .unwrap();
    let r = execute(&mut dp, &format!("attach {} --queues 1", lab.iface(0)));
    assert!(r.ok, "{r:?}");
    let r = execute(&mut dp, &format!("attach {}", lab.iface(1)));
    assert!(r.ok, "{r:?}");
    let r = execute(&mut dp, &format!("attach {}", lab.iface(1)));
    assert!(r.error.unwrap().contains("already exists"));
    let r = execute(&mut dp, "interfaces");
    assert!(
        r.text.contains(&lab.iface(0)) && r.text.contains("afxdp"),
        "{}",
        r.text
    );
    assert!(execute(&mut dp, &format!("show {}:", lab.iface(0))).ok);
    let r = execute(&mut dp, &format!("detach {}", lab.iface(0)));
    assert!(r.ok, "{r:?}");
    assert!(
        !execute(&mut dp, &format!("show {}:", lab.iface(0))).ok,
        "its node went with it"
    );
    let links = String::from_utf8(
        std::process::Command::new("ip")
            .args(["-o", "link", "show", &lab.iface(0)])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains("xdp"), "program detached: {links}");
    let r = execute(&mut dp, "attach nosuchif9 --queues x");
    assert!(r.error.unwrap().contains("positive number"));
}

/// The receive queues of an interface in another namespace, from a thread that entered it:
/// ethtool answers for that namespace (/sys/class/net shows the one /sys was mounted in, where
/// the namespace's `eth0` is not: `gen --rx-engine afxdp --rx-netns` failed with ENOENT).
#[test]
fn rx_queues_are_read_in_the_namespace_a_thread_entered() {
    if !root() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!(
        "t{}q{}",
        std::process::id() % 1000,
        N.fetch_add(1, Ordering::SeqCst)
    );
    let lab = LabGuard::up(LabConfig {
        prefix,
        ports: 1,
        queues: 3,
        ..Default::default()
    })
    .unwrap();
    let ns = lab.ns(0);
    let n = std::thread::spawn(move || {
        xdpgraph::sys::netdev::enter_netns(&ns).unwrap();
        xdpgraph::dataplane::afxdp::rx_queues("eth0").unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        xdpgraph::dataplane::afxdp::rx_queues(&lab.iface(0)).unwrap(),
        3
    );
}
