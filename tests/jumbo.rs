//! Jumbo frames (issue 14) on the veth lab at MTU 9000 (root only; CI runs them as root).
//!
//! Frames of 60, 1514, 1515, 4096, 4097, 8000 and 9014 bytes with random payloads go through
//! the AF_XDP data plane (multi-buffer: a frame larger than a 4 KiB chunk is a chain) and are
//! checked byte for byte at the far end: bridged (flooded, then learned), tagged and untagged
//! by a vlan node, and on both outputs of a tee. Afterwards every chunk is back in the pool.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::netdev::PacketSocket;
use xdpgraph::value::Value;
use xdpgraph::wire::MacAddr;

const ETYPE: u16 = 0x88b5;
const SIZES: [usize; 7] = [60, 1514, 1515, 4096, 4097, 8000, 9014];
const MTU: u32 = 9000;
static SERIAL: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);

struct Env {
    dp: Dataplane,
    lab: LabGuard,
    ports: usize,
    _serial: MutexGuard<'static, ()>,
}

impl Env {
    fn new(ports: usize) -> Option<Env> {
        if !xdpgraph::testkit::require_root() {
            return None;
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let prefix = format!(
            "j{}x{}",
            std::process::id() % 1000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let lab = LabGuard::up(LabConfig {
            prefix,
            ports,
            queues: 1,
            addresses: false,
            mtu: Some(MTU),
            ..Default::default()
        })
        .unwrap();
        let mut dp = Dataplane::start(DataplaneConfig {
            cores: vec![0],
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
            ports,
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

    /// Every chunk of the worker is back in its pool (after a detach of every port), and
    /// none was freed twice.
    fn all_chunks_home(mut self) {
        for i in 0..self.ports {
            self.dp.detach(&self.lab.iface(i)).unwrap();
        }
        self.dp.tick();
        let w = &self.dp.worker_status()[0];
        assert_eq!(w.double_frees, 0, "no chunk freed twice");
        assert_eq!(w.free_frames, w.frames, "every chunk came home");
    }
}

/// A frame of `len` bytes: addresses, our EtherType, a marker, `seq`, and a payload from a
/// small PRNG seeded by `seq`.
fn frame(dst: MacAddr, src: MacAddr, seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ETYPE.to_be_bytes());
    f.extend_from_slice(b"XGJUMB");
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seq as u64;
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f.push(x as u8);
    }
    f.truncate(len);
    f
}

/// Our frames received on `s` until `ms` of silence: (seq, frame as on the wire).
fn collect(s: &PacketSocket, ms: i32) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16384];
    while let Ok(Some(n)) = s.recv(&mut buf, ms) {
        let f = &buf[..n];
        let at = (12..=16).step_by(4).find(|&o| {
            f.len() >= o + 12 && f[o..o + 2] == ETYPE.to_be_bytes() && &f[o + 2..o + 8] == b"XGJUMB"
        });
        if let Some(o) = at {
            let seq = u32::from_be_bytes(f[o + 8..o + 12].try_into().unwrap());
            out.push((seq, f.to_vec()));
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

fn send(s: &PacketSocket, frames: &[Vec<u8>]) {
    for f in frames {
        s.send(f).unwrap();
    }
}

/// Checks that `got` holds exactly `sent`, byte for byte.
fn same(what: &str, sent: &[Vec<u8>], got: &[(u32, Vec<u8>)]) {
    assert_eq!(got.len(), sent.len(), "{what}: every frame arrives");
    for (f, (_, g)) in sent.iter().zip(got) {
        assert_eq!(g.len(), f.len(), "{what}: length");
        assert!(g == f, "{what}: a {}-byte frame changed", f.len());
    }
}

fn frames(e: &Env, to: MacAddr, from: usize, seq0: u32) -> Vec<Vec<u8>> {
    (SIZES.iter().enumerate())
        .map(|(i, &n)| frame(to, e.mac(from), seq0 + i as u32, n))
        .collect()
}

#[test]
fn jumbo_frames_bridged_flooded_and_learned_byte_for_byte() {
    let Some(mut e) = Env::new(3) else {
        return;
    };
    let (p0, p1, p2) = (e.p(0), e.p(1), e.p(2));
    let g = e.dp.graph();
    g.mkpeer(&p0, "bridge", "lower", "link0").unwrap();
    g.name(&format!("{p0}lower"), "br0").unwrap();
    g.connect(&p1, "br0:", "lower", "link1").unwrap();
    g.connect(&p2, "br0:", "lower", "link2").unwrap();
    let s: Vec<_> = (0..3).map(|i| e.sock(i)).collect();
    // host 1 unknown: flooded to 1 and 2
    let flood = frames(&e, e.mac(1), 0, 100);
    send(&s[0], &flood);
    same("flooded to 1", &flood, &collect(&s[1], 400));
    same("flooded to 2", &flood, &collect(&s[2], 400));
    // host 1 answers (learned), then host 0's frames go to 1 only
    send(&s[1], &[frame(e.mac(0), e.mac(1), 1, 9014)]);
    assert_eq!(collect(&s[0], 400).len(), 1);
    let learned = frames(&e, e.mac(1), 0, 200);
    send(&s[0], &learned);
    same("learned", &learned, &collect(&s[1], 400));
    assert!(collect(&s[2], 200).is_empty(), "learned: not flooded");
    e.all_chunks_home();
}

#[test]
fn jumbo_frames_tagged_and_untagged_by_vlan() {
    let Some(mut e) = Env::new(2) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    let g = e.dp.graph();
    g.mkpeer(&p0, "vlan", "lower", "v10").unwrap();
    g.name(&format!("{p0}lower"), "v").unwrap();
    g.connect(&p1, "v:", "lower", "downstream").unwrap();
    g.msg(
        "v:",
        "addfilter",
        Some(&Value::parse(r#"{ hook="v10" vid=10 }"#).unwrap()),
    )
    .unwrap();
    let (s0, s1) = (e.sock(0), e.sock(1));
    // access → trunk: a tag pushed (a 9014-byte frame leaves as 9018 bytes)
    let plain = frames(&e, e.mac(1), 0, 300);
    send(&s0, &plain);
    let tagged: Vec<Vec<u8>> = (plain.iter())
        .map(|f| {
            let mut t = f.clone();
            t.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
            t
        })
        .collect();
    same("tag pushed", &tagged, &collect(&s1, 400));
    // trunk → access: the tag popped
    let back: Vec<Vec<u8>> = (SIZES.iter().enumerate())
        .map(|(i, &n)| {
            let mut t = frame(e.mac(0), e.mac(1), 400 + i as u32, n);
            t.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
            t.truncate(n.max(64));
            t
        })
        .collect();
    send(&s1, &back);
    let untagged: Vec<Vec<u8>> = (back.iter())
        .map(|t| {
            let mut f = t.clone();
            f.drain(12..16);
            f
        })
        .collect();
    same("tag popped", &untagged, &collect(&s0, 400));
    e.all_chunks_home();
}

#[test]
fn jumbo_frames_on_both_outputs_of_a_tee() {
    let Some(mut e) = Env::new(3) else {
        return;
    };
    let (p0, p1, p2) = (e.p(0), e.p(1), e.p(2));
    let g = e.dp.graph();
    g.mkpeer(&p0, "tee", "lower", "left").unwrap();
    g.name(&format!("{p0}lower"), "t").unwrap();
    g.connect(&p1, "t:", "lower", "right").unwrap();
    g.connect(&p2, "t:", "lower", "left2right").unwrap();
    let s: Vec<_> = (0..3).map(|i| e.sock(i)).collect();
    let sent = frames(&e, e.mac(1), 0, 500);
    send(&s[0], &sent);
    same("tee right", &sent, &collect(&s[1], 400));
    same("tee left2right", &sent, &collect(&s[2], 400));
    e.all_chunks_home();
}

/// A frame longer than the egress interface's MTU allows is dropped before the TX ring and
/// named (`tx_too_big`), never handed to the kernel to vanish.
#[test]
fn a_frame_too_long_for_the_egress_port_is_a_named_drop() {
    let Some(mut e) = Env::new(2) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    e.dp.graph().connect(&p0, &p1, "lower", "lower").unwrap();
    let ok = std::process::Command::new("ip")
        .args(["link", "set", &e.lab.iface(1), "mtu", "1500"])
        .status()
        .unwrap();
    assert!(ok.success());
    e.dp.tick(); // the link check notices the new MTU
    let (s0, s1) = (e.sock(0), e.sock(1));
    let sent = vec![
        frame(e.mac(1), e.mac(0), 1, 1514),
        frame(e.mac(1), e.mac(0), 2, 1519),
        frame(e.mac(1), e.mac(0), 3, 9014),
    ];
    send(&s0, &sent);
    let got = collect(&s1, 400);
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1]);
    let d = e.dp.port_drops();
    let s = format!("{d:?}");
    assert!(s.contains("tx_too_big"), "named: {s}");
    e.all_chunks_home();
}

/// The ether node's `upper` hook reaches the host through the interface's TAP mirror, which
/// gets the interface's MTU: jumbo frames go up to the host and come back down whole.
#[test]
fn jumbo_frames_through_upper_and_the_tap() {
    let Some(mut e) = Env::new(2) else {
        return;
    };
    let (p0, p1) = (e.p(0), e.p(1));
    e.dp.graph().connect(&p1, &p0, "lower", "upper").unwrap();
    let tap = xdpgraph::dataplane::afxdp::tap_name(&e.lab.iface(0));
    assert_eq!(
        xdpgraph::sys::netdev::mtu(&tap).unwrap(),
        MTU,
        "the TAP has the MTU"
    );
    let host = PacketSocket::open(&tap).unwrap();
    let s1 = e.sock(1);
    let up = frames(&e, e.mac(0), 1, 600);
    send(&s1, &up);
    same("up to the host", &up, &collect(&host, 400));
    let down: Vec<Vec<u8>> = (SIZES.iter().enumerate())
        .map(|(i, &n)| frame(e.mac(1), e.mac(0), 700 + i as u32, n))
        .collect();
    send(&host, &down);
    same("down from the host", &down, &collect(&s1, 400));
    drop(host);
    e.all_chunks_home();
}
