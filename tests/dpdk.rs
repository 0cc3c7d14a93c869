//! The DPDK backend (cargo feature `dpdk`): node semantics over DPDK ring ports (ethdevs over
//! rings this test owns, so it can put frames on the wire and read what was sent), every mbuf
//! home exactly once, a DPDK port and an AF_XDP interface bridged in one graph, the af_packet
//! and af_xdp drivers on the veth lab, and the daemon driven through ctl.
//!
//! DPDK's EAL starts once per process: these tests share it and run one at a time.

#![cfg(feature = "dpdk")]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};
use xdpgraph::dataplane::dpdk::{eal, RingPort};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig, DpdkConfig, FrameCount};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::netdev::PacketSocket;
use xdpgraph::value::Value;
use xdpgraph::wire::MacAddr;

static SERIAL: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);
const ETYPE: u16 = 0x88b5;

/// Root, or the test is skipped loudly (and fails when `CI` is set).
fn root() -> bool {
    xdpgraph::testkit::require_root()
}

/// The EAL for this process (no hugepages needed), and the test lock.
fn setup() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static EAL: Once = Once::new();
    EAL.call_once(|| {
        let a = eal::build_args(
            "--no-huge -m 1024 --no-pci",
            0,
            0,
            false,
            std::process::id(),
        )
        .unwrap();
        eal::init(&a).unwrap();
    });
    g
}

fn uniq(tag: &str) -> String {
    format!(
        "xr{}{tag}{}",
        std::process::id() % 1000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn start(cores: Vec<usize>) -> Dataplane {
    start_mtu(cores, 0)
}

/// A data plane whose DPDK devices start with MTU `mtu` (0: the default).
fn start_mtu(cores: Vec<usize>, mtu: u32) -> Dataplane {
    start_with(cores, mtu, 0)
}

/// A data plane whose DPDK devices start with MTU `mtu`, its frame areas' mbufs of
/// `mbuf_size` bytes (0: the default).
fn start_with(cores: Vec<usize>, mtu: u32, mbuf_size: u16) -> Dataplane {
    Dataplane::start(DataplaneConfig {
        cores,
        frames_per_worker: Some(4096),
        taps: false,
        dpdk: Some(DpdkConfig {
            eal: String::new(),
            desc: 512,
            rx_queues: 0,
            require_device: false,
            mbuf_size,
        }),
        dpdk_mtu: mtu,
        ..Default::default()
    })
    .unwrap()
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, n])
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

/// Everything transmitted on `r` (all queues) until `want` frames or 2 s.
fn take(r: &RingPort, queues: usize, want: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        for q in 0..queues {
            out.extend(r.take(q));
        }
        if out.len() >= want {
            // a little longer, to catch frames that should not have come
            std::thread::sleep(Duration::from_millis(50));
            for q in 0..queues {
                out.extend(r.take(q));
            }
            return out;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    out
}

fn setautosrc0(dp: &mut Dataplane, node: &str) {
    dp.graph()
        .msg(&format!("{node}:"), "setautosrc", Some(&Value::Int(0)))
        .unwrap();
}

/// Checks the shutdown accounting: every mbuf of the frame areas, and of the rings' injection
/// pools, is home exactly once.
fn shutdown_all_home(dp: Dataplane, rings: Vec<RingPort>) {
    let c = shutdown_count(dp);
    assert_eq!(c.home, c.total, "every frame back in its mempool: {c:?}");
    for p in &rings {
        let (free, total) = p.pool_count();
        assert_eq!(free, total, "injected mbufs all freed");
    }
}

fn shutdown_count(dp: Dataplane) -> FrameCount {
    let c = dp
        .shutdown()
        .dpdk_frames
        .expect("a DPDK data plane reports its frames");
    assert!(c.total > 0);
    assert_eq!(c.double_freed, 0, "no frame freed twice: {c:?}");
    assert_eq!(c.home + c.kept_by_drivers, c.total);
    c
}

#[test]
fn bridge_over_dpdk_ring_ports() {
    let _g = setup();
    let r: Vec<RingPort> = (0..3)
        .map(|_| RingPort::new(&uniq("b"), 1).unwrap())
        .collect();
    let names: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start(vec![0]);
    for n in &names {
        setautosrc0(&mut dp, n);
    }
    let g = dp.graph();
    g.mkpeer(&format!("{}:", names[0]), "bridge", "lower", "link0")
        .unwrap();
    g.name(&format!("{}:lower", names[0]), "br0").unwrap();
    g.connect(&format!("{}:", names[1]), "br0:", "lower", "link1")
        .unwrap();
    g.connect(&format!("{}:", names[2]), "br0:", "lower", "link2")
        .unwrap();
    // unknown destination: flooded to 1 and 2, never back to 0
    let f1 = frame(mac(2), mac(1), 1);
    assert!(r[0].inject(0, &f1));
    assert_eq!(take(&r[1], 1, 1), vec![f1.clone()]);
    assert_eq!(take(&r[2], 1, 1), vec![f1]);
    assert!(
        take(&r[0], 1, 1).is_empty(),
        "no bounce to the ingress link"
    );
    // learned: unicast back to host 1 goes only to port 0
    let f2 = frame(mac(1), mac(2), 2);
    assert!(r[1].inject(0, &f2));
    assert_eq!(take(&r[0], 1, 1), vec![f2]);
    assert!(take(&r[2], 1, 1).is_empty());
    // a burst of 500 learned unicast frames, all delivered in order
    let burst: Vec<_> = (0..500).map(|i| frame(mac(2), mac(1), 100 + i)).collect();
    for f in &burst {
        assert!(r[0].inject(0, f));
    }
    assert_eq!(take(&r[1], 1, 500), burst);
    assert!(take(&r[2], 1, 1).is_empty());
    let t = dp.graph().msg("br0:", "gettable", None).unwrap().unwrap();
    assert_eq!(t.field("numHosts").unwrap().as_i128(), Some(2));
    // the device's counters reach the ether node
    let s = dp
        .graph()
        .msg(&format!("{}:", names[1]), "getstats", None)
        .unwrap()
        .unwrap();
    assert_eq!(s.field("tx_packets").unwrap().as_i128(), Some(501));
    assert_eq!(s.field("rx_packets").unwrap().as_i128(), Some(1));
    assert_eq!(s.field("rx_copied").unwrap().as_i128(), Some(1));
    shutdown_all_home(dp, r);
}

/// Hook counter `name` of `node`'s hook `hook`.
fn hook_stat(dp: &Dataplane, node: &str, hook: &str, name: &str) -> u64 {
    let s = dp.graph_ref().node_stats(&format!("{node}:")).unwrap();
    let h = s.hooks.iter().find(|h| h.0 == hook).unwrap();
    h.1.iter().find(|c| c.0 == name).unwrap().1
}

/// Two DPDK ports joined `lower`↔`lower`, without autosrc: the worker hands the mbufs from one
/// device to the other (graph::worker::direct), counted as the graph counts; a frame the ether
/// node would not send as it is (a runt) takes the graph's way, and so does every frame once
/// autosrc is on.
#[test]
fn cross_connect_hands_mbufs_port_to_port() {
    let _g = setup();
    let r: Vec<RingPort> = (0..2)
        .map(|_| RingPort::new(&uniq("x"), 1).unwrap())
        .collect();
    let n: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start(vec![0]);
    setautosrc0(&mut dp, &n[0]);
    setautosrc0(&mut dp, &n[1]);
    let (a, b) = (format!("{}:", n[0]), format!("{}:", n[1]));
    dp.graph().connect(&a, &b, "lower", "lower").unwrap();
    let burst: Vec<_> = (0..300).map(|i| frame(mac(2), mac(1), i)).collect();
    for f in &burst {
        assert!(r[0].inject(0, f));
    }
    assert_eq!(
        take(&r[1], 1, 300),
        burst,
        "all of them, in order, unchanged"
    );
    // the ring's mbufs went through as they were: none copied into the frame area
    assert_eq!(stat(&mut dp, &n[0], "rx_copied"), 0);
    assert_eq!(hook_stat(&dp, &n[0], "lower", "outFrames"), 300);
    assert_eq!(hook_stat(&dp, &n[0], "lower", "outOctets"), 300 * 64);
    assert_eq!(hook_stat(&dp, &n[1], "lower", "inFrames"), 300);
    assert_eq!(stat(&mut dp, &n[1], "tx_packets"), 300);
    // a jumbo frame (an mbuf chain of the ring's mempool) goes through as the chain it is
    let big = jumbo(mac(2), mac(1), 7, 9000);
    assert!(r[0].inject(0, &big));
    assert_eq!(take(&r[1], 1, 1), vec![big]);
    assert_eq!(stat(&mut dp, &n[0], "rx_copied"), 0);
    assert_eq!(stat(&mut dp, &n[0], "rx_chained"), 0);
    // a runt: its burst takes the graph's way (copied in from the ring's mempool), dropped
    assert!(r[0].inject(0, &frame(mac(2), mac(1), 0)[..10]));
    assert!(take(&r[1], 1, 1).is_empty());
    let drops = || dp.graph_ref().drops_named("runt");
    let t = Instant::now();
    while drops() == 0 && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(drops(), 1);
    assert_eq!(stat(&mut dp, &n[0], "rx_copied"), 1);
    // autosrc on the way out: the graph's way, the source rewritten
    dp.graph()
        .msg(&b, "setautosrc", Some(&Value::Int(1)))
        .unwrap();
    assert!(r[0].inject(0, &burst[0]));
    let got = take(&r[1], 1, 1);
    assert_eq!(got.len(), 1);
    let enaddr = dp.graph().msg(&b, "getenaddr", None).unwrap().unwrap();
    assert_eq!(
        Value::Mac(MacAddr::from_bytes(&got[0][6..12])),
        enaddr,
        "source rewritten"
    );
    assert_eq!(stat(&mut dp, &n[0], "rx_copied"), 2);
    assert_eq!(hook_stat(&dp, &n[1], "lower", "inFrames"), 303);
    shutdown_all_home(dp, r);
}

#[test]
fn vlan_tee_and_two_workers_over_dpdk() {
    let _g = setup();
    let cores = if xdpgraph::sys::cpu::online_cores() >= 2 {
        vec![0, 1]
    } else {
        vec![0]
    };
    let nq = cores.len();
    let r: Vec<RingPort> = (0..3)
        .map(|_| RingPort::new(&uniq("v"), nq as u16).unwrap())
        .collect();
    let names: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start(cores);
    for n in &names {
        setautosrc0(&mut dp, n);
    }
    // p0 -> tee: right -> vlan(v10, 802.1ad) -> p1 (trunk); left2right copies -> p2
    let (p0, p1, p2) = (
        format!("{}:", names[0]),
        format!("{}:", names[1]),
        format!("{}:", names[2]),
    );
    let g = dp.graph();
    g.mkpeer(&p0, "tee", "lower", "left").unwrap();
    g.name(&format!("{p0}lower"), "t").unwrap();
    g.mkpeer("t:", "vlan", "right", "v10").unwrap();
    g.name("t:right", "v").unwrap();
    g.connect("v:", &p1, "downstream", "lower").unwrap();
    g.msg(
        "v:",
        "addfilter",
        Some(&Value::parse(r#"{ hook="v10" vid=10 pcp=5 }"#).unwrap()),
    )
    .unwrap();
    g.msg("v:", "setencapproto", Some(&Value::Int(0x88a8)))
        .unwrap();
    g.connect("t:", &p2, "left2right", "lower").unwrap();
    // frames on every RX queue (each polled by its own worker)
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let f = frame(mac(9), mac(1), i);
        assert!(r[0].inject(i as usize % nq, &f));
        sent.push(f);
    }
    let mut tagged = take(&r[1], nq, 200);
    let mut copies = take(&r[2], nq, 200);
    assert_eq!(tagged.len(), 200);
    assert_eq!(copies.len(), 200);
    let seq = |f: &Vec<u8>, at: usize| u32::from_be_bytes(f[at..at + 4].try_into().unwrap());
    tagged.sort_by_key(|f| seq(f, 24));
    copies.sort_by_key(|f| seq(f, 20));
    for (i, (t, c)) in tagged.iter().zip(&copies).enumerate() {
        assert_eq!(*c, sent[i], "the tee's copy is the frame unchanged");
        // TPID 0x88a8, PCP 5, VID 10, then the original EtherType and payload
        assert_eq!(&t[12..16], &[0x88, 0xa8, 0xa0, 0x0a], "frame {i}");
        assert_eq!(&t[..12], &sent[i][..12]);
        assert_eq!(&t[16..], &sent[i][12..]);
    }
    shutdown_all_home(dp, r);
}

#[test]
fn frames_dropped_in_the_graph_still_come_home() {
    let _g = setup();
    let r: Vec<RingPort> = (0..2)
        .map(|_| RingPort::new(&uniq("d"), 1).unwrap())
        .collect();
    let names: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start(vec![0]);
    // port 0 into a hole, port 1 unconnected (its frames go to a host it does not have)
    dp.graph()
        .mkpeer(&format!("{}:", names[0]), "hole", "lower", "in")
        .unwrap();
    for i in 0..300 {
        assert!(r[0].inject(0, &frame(mac(2), mac(1), i)));
        assert!(r[1].inject(0, &frame(mac(2), mac(1), i)));
    }
    let t = Instant::now();
    while dp.graph_ref().total_drops() < 600 && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    use xdpgraph::graph::DropReason;
    assert_eq!(dp.graph_ref().drops(DropReason::Discarded), 300);
    assert_eq!(dp.graph_ref().drops(DropReason::HostUnavailable), 300);
    shutdown_all_home(dp, r);
}

#[test]
fn attach_and_detach_at_run_time() {
    let _g = setup();
    let r = RingPort::new(&uniq("h"), 1).unwrap();
    let mut dp = start(vec![0]);
    // hot-plug a null device, attach it, detach it
    let null = format!("net_null{}", N.fetch_add(1, Ordering::SeqCst) + 50);
    dp.attach(&null, None).unwrap();
    assert!(dp.interfaces().iter().any(|(n, _)| *n == null));
    let err = dp.attach(&null, None).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    dp.detach(&null).unwrap();
    assert!(!dp.interfaces().iter().any(|(n, _)| *n == null));
    let err = dp
        .attach("net_nosuchdriver0", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("net_nosuchdriver0"), "{err}");
    shutdown_all_home(dp, vec![r]);
}

// ---- jumbo frames

/// The frame sizes every jumbo test sends: around one chunk (2048 bytes of an mbuf as a driver
/// fills it, 2112 of a pool frame; 3648 and 3712 with large mbufs) and up to a 9000-byte MTU's
/// frame.
const JUMBO_SIZES: [usize; 11] = [
    60, 1514, 1515, 2048, 2049, 2112, 2113, 4096, 4097, 8000, 9014,
];

/// The default MTU of a device without a wire (net_ring, net_null): 18 mbufs' frame, the
/// Ethernet header and a VLAN tag left out.
const SOFT_MTU: i128 = (18 * MBUF_ROOM - 18) as i128;

/// Bytes of a frame one mbuf of a default frame area holds as a driver fills it.
const MBUF_ROOM: usize = xdpgraph::sys::dpdk::CHUNK
    - xdpgraph::sys::dpdk::BUF_START
    - xdpgraph::sys::dpdk::MBUF_HEADROOM;

/// A test frame of `len` bytes with a pseudo-random payload (seeded by `seq`).
fn jumbo(dst: MacAddr, src: MacAddr, seq: u32, len: usize) -> Vec<u8> {
    let mut f = frame(dst, src, seq);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (seq as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    f.truncate(24);
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f.push(x as u8);
    }
    f.truncate(len);
    f
}

fn stat(dp: &mut Dataplane, node: &str, name: &str) -> i128 {
    let s = dp
        .graph()
        .msg(&format!("{node}:"), "getstats", None)
        .unwrap()
        .unwrap();
    s.field(name)
        .and_then(|v| v.as_i128())
        .unwrap_or_else(|| panic!("{node}: no {name} in {s:?}"))
}

/// Moves what `from` transmitted into `to`'s RX ring, as a wire would, until `want` frames or
/// 2 s; returns how many moved.
fn wire(from: &RingPort, to: &RingPort, want: usize) -> usize {
    let mut moved = 0;
    let t = Instant::now();
    while moved < want && t.elapsed() < Duration::from_secs(2) {
        moved += from.wire(0, to, 0, (want - moved) as u32);
        std::thread::sleep(Duration::from_millis(2));
    }
    moved
}

/// Jumbo frames over DPDK ring ports at MTU 9000, byte for byte: flooded and learned by a
/// bridge (frames from a foreign mempool are copied into chains of the frame area), then
/// carried as mbuf chains over a wire to another port, which takes them in place (no copy);
/// frames longer than MTU + 18 are the named drop `tx_too_big`; a frame of more than 18
/// segments is `rx_too_many_segs`; every mbuf comes home.
#[test]
fn jumbo_frames_over_dpdk_ring_ports() {
    let _g = setup();
    let r: Vec<RingPort> = (0..5)
        .map(|_| RingPort::new(&uniq("j"), 1).unwrap())
        .collect();
    let names: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start_mtu(vec![0], 9000);
    for n in &names {
        setautosrc0(&mut dp, n);
    }
    let g = dp.graph();
    g.mkpeer(&format!("{}:", names[0]), "bridge", "lower", "link0")
        .unwrap();
    g.name(&format!("{}:lower", names[0]), "brj").unwrap();
    for (i, n) in names.iter().enumerate().take(3).skip(1) {
        g.connect(&format!("{n}:"), "brj:", "lower", &format!("link{i}"))
            .unwrap();
    }
    // a null device (it frees what it sends: every chain must come home) as link 3
    let null = format!("net_null{}", N.fetch_add(1, Ordering::SeqCst) + 90);
    dp.attach(&format!("{null},no-rx=1"), None).unwrap();
    setautosrc0(&mut dp, &null);
    let g = dp.graph();
    g.connect(&format!("{null}:"), "brj:", "lower", "link3")
        .unwrap();
    // port 3's frames go out of port 4 through a tee: the graph's way (joined directly, the
    // ports would hand the chains on as they are, without making frames of them)
    g.mkpeer(&format!("{}:", names[3]), "tee", "lower", "left")
        .unwrap();
    g.name(&format!("{}:lower", names[3]), "tj").unwrap();
    g.connect(&format!("{}:", names[4]), "tj:", "lower", "right")
        .unwrap();
    assert_eq!(stat(&mut dp, &names[0], "mtu"), 9000);
    let chained = JUMBO_SIZES.iter().filter(|&&n| n > MBUF_ROOM).count() as i128;
    // flooded: from port 0 to ports 1 and 2
    let sent: Vec<_> = (JUMBO_SIZES.iter().enumerate())
        .map(|(i, &n)| jumbo(mac(2), mac(1), i as u32, n))
        .collect();
    for f in &sent {
        assert!(r[0].inject(0, f), "inject {}", f.len());
    }
    assert_eq!(take(&r[2], 1, sent.len()), sent, "flooded to port 2");
    // port 1's frames (mbuf chains of the frame area) cross a wire into port 3
    assert_eq!(wire(&r[1], &r[3], sent.len()), sent.len());
    assert_eq!(
        take(&r[4], 1, sent.len()),
        sent,
        "port 1 -> wire -> port 3 -> port 4"
    );
    assert_eq!(stat(&mut dp, &names[0], "rx_chained"), chained);
    assert_eq!(stat(&mut dp, &names[0], "rx_copied"), sent.len() as i128);
    assert_eq!(stat(&mut dp, &null, "tx_packets"), sent.len() as i128);
    assert_eq!(stat(&mut dp, &names[3], "rx_chained"), chained);
    assert_eq!(
        stat(&mut dp, &names[3], "rx_copied"),
        0,
        "our own mbuf chains are taken in place"
    );
    // learned: mac(1) is behind port 0 only
    let back: Vec<_> = (JUMBO_SIZES.iter().enumerate())
        .map(|(i, &n)| jumbo(mac(1), mac(2), 100 + i as u32, n))
        .collect();
    for f in &back {
        assert!(r[1].inject(0, f));
    }
    assert_eq!(take(&r[0], 1, back.len()), back, "learned");
    assert!(take(&r[2], 1, 1).is_empty());
    // MTU + 18 = 9018 goes out; 9019 is too big, on both ports it floods to
    let edge = [
        jumbo(mac(3), mac(1), 200, 9018),
        jumbo(mac(3), mac(1), 201, 9019),
    ];
    for f in &edge {
        assert!(r[0].inject(0, f));
    }
    assert_eq!(take(&r[2], 1, 1), edge[..1].to_vec());
    assert_eq!(take(&r[1], 1, 1), edge[..1].to_vec());
    assert_eq!(stat(&mut dp, &names[1], "tx_too_big"), 1);
    assert_eq!(stat(&mut dp, &names[2], "tx_too_big"), 1);
    assert_eq!(stat(&mut dp, &null, "tx_too_big"), 1);
    assert_eq!(stat(&mut dp, &null, "tx_packets"), sent.len() as i128 + 1);
    let errs = dp.port_drops();
    let named = |p: &str| {
        (errs.iter().filter(|d| d.port == p))
            .flat_map(|d| &d.drops)
            .any(|d| d.reason.name == "tx_too_big" && d.count == 1)
    };
    assert!(
        named(&names[1]) && named(&names[2]),
        "a named drop: {errs:?}"
    );
    // 70000 bytes need 20 chunks: more than a frame may have
    assert!(r[0].inject(0, &jumbo(mac(2), mac(1), 300, 70000)));
    let t = Instant::now();
    while stat(&mut dp, &names[0], "rx_too_many_segs") == 0 && t.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(stat(&mut dp, &names[0], "rx_too_many_segs"), 1);
    assert!(take(&r[1], 1, 1).is_empty());
    shutdown_all_home(dp, r);
}

/// Jumbo frames through a tee and a vlan node over DPDK ring ports, with two workers where
/// there are two cores and the default MTU (a ring has no wire: the largest it takes): the
/// tee's copy (a whole chain copied) unchanged, the other output tagged (9014 + 4 bytes),
/// byte for byte; every mbuf home.
#[test]
fn jumbo_frames_through_tee_and_vlan_over_dpdk() {
    let _g = setup();
    let cores = if xdpgraph::sys::cpu::online_cores() >= 2 {
        vec![0, 1]
    } else {
        vec![0]
    };
    let nq = cores.len();
    let r: Vec<RingPort> = (0..3)
        .map(|_| RingPort::new(&uniq("t"), nq as u16).unwrap())
        .collect();
    let names: Vec<String> = r.iter().map(RingPort::device).collect();
    let mut dp = start(cores);
    for n in &names {
        setautosrc0(&mut dp, n);
    }
    // no wire: the largest MTU a chain of 18 mbufs holds (net_ring's own limit is 65535)
    assert_eq!(stat(&mut dp, &names[1], "mtu"), SOFT_MTU);
    let (p0, p1, p2) = (
        format!("{}:", names[0]),
        format!("{}:", names[1]),
        format!("{}:", names[2]),
    );
    let g = dp.graph();
    g.mkpeer(&p0, "tee", "lower", "left").unwrap();
    g.name(&format!("{p0}lower"), "tj").unwrap();
    g.mkpeer("tj:", "vlan", "right", "v10").unwrap();
    g.name("tj:right", "vj").unwrap();
    g.connect("vj:", &p1, "downstream", "lower").unwrap();
    g.msg(
        "vj:",
        "addfilter",
        Some(&Value::parse(r#"{ hook="v10" vid=10 }"#).unwrap()),
    )
    .unwrap();
    g.connect("tj:", &p2, "left2right", "lower").unwrap();
    let mut sent = Vec::new();
    for round in 0..4u32 {
        for (i, &n) in JUMBO_SIZES.iter().enumerate() {
            let seq = round * 10 + i as u32;
            let f = jumbo(mac(9), mac(1), seq, n);
            assert!(r[0].inject(seq as usize % nq, &f));
            sent.push(f);
        }
    }
    let seq = |f: &Vec<u8>, at: usize| u32::from_be_bytes(f[at..at + 4].try_into().unwrap());
    let mut copies = take(&r[2], nq, sent.len());
    let mut tagged = take(&r[1], nq, sent.len());
    copies.sort_by_key(|f| seq(f, 20));
    tagged.sort_by_key(|f| seq(f, 24));
    assert_eq!(copies.len(), sent.len());
    assert_eq!(tagged.len(), sent.len());
    sent.sort_by_key(|f| seq(f, 20));
    for (i, (t, c)) in tagged.iter().zip(&copies).enumerate() {
        assert_eq!(*c, sent[i], "the tee's copy, frame {i}");
        assert_eq!(t.len(), sent[i].len() + 4);
        assert_eq!(&t[..12], &sent[i][..12]);
        assert_eq!(&t[12..16], &[0x81, 0x00, 0x00, 0x0a], "frame {i}");
        assert_eq!(&t[16..], &sent[i][12..], "frame {i} after its tag");
    }
    assert_eq!(stat(&mut dp, &names[1], "tx_too_big"), 0);
    shutdown_all_home(dp, r);
}

/// An MTU a driver cannot take is refused at attach, naming its limit; without an MTU asked
/// for, a kernel-backed device starts at its interface's MTU, capped at the driver's limit.
#[test]
fn dpdk_mtu_limits_per_driver() {
    if !root() {
        return;
    }
    let _g = setup();
    let l = lab(2);
    for i in 0..2 {
        let ok = Command::new("ip")
            .args(["link", "set", "dev", &l.iface(i), "mtu", "9000"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let n = N.fetch_add(1, Ordering::SeqCst) + 70;
    let (a, x, z) = (
        format!("net_af_packet{n}"),
        format!("net_af_xdp{n}"),
        format!("net_null{n}"),
    );
    let mut dp = start_mtu(vec![0], 9000);
    let e = dp
        .attach(&format!("{a},iface={}", l.iface(0)), None)
        .unwrap_err()
        .to_string();
    println!("net_af_packet at MTU 9000: {e}");
    assert!(
        e.contains("cannot take MTU 9000: at most 1500") && e.contains("1518"),
        "{e}"
    );
    let e = dp
        .attach(
            &format!("{x},iface={},start_queue=0,queue_count=1", l.iface(1)),
            None,
        )
        .unwrap_err()
        .to_string();
    println!("net_af_xdp at MTU 9000: {e}");
    // its UMEM frames are our mbufs: 2048 bytes by default, less the kernel's 256 (a frame
    // of 1793 bytes is dropped by the kernel: checked by hand, rx_missed)
    assert!(e.contains("cannot take MTU 9000: at most 1774"), "{e}");
    assert!(e.contains("256-byte XDP headroom"), "{e}");
    assert!(dp.interfaces().is_empty(), "nothing left attached");
    dp.attach(&z, None).unwrap();
    assert_eq!(stat(&mut dp, &z, "mtu"), 9000);
    shutdown_count(dp);
    // with large mbufs (3648 bytes): 3648 - 256 - 18
    let mut dp = start_with(vec![0], 9000, 3776);
    let e = dp
        .attach(
            &format!("{x},iface={},start_queue=0,queue_count=1", l.iface(1)),
            None,
        )
        .unwrap_err()
        .to_string();
    println!("net_af_xdp at MTU 9000, large mbufs: {e}");
    assert!(e.contains("cannot take MTU 9000: at most 3374"), "{e}");
    shutdown_count(dp);
    // the default: the interface's MTU (9000), capped at the driver's limit (the refused
    // devices were unplugged again: none is attached at start)
    let mut dp = start_mtu(vec![0], 0);
    assert!(dp.interfaces().is_empty(), "{:?}", dp.interfaces());
    dp.attach(&format!("{a},iface={}", l.iface(0)), None)
        .unwrap();
    dp.attach(
        &format!("{x},iface={},start_queue=0,queue_count=1", l.iface(1)),
        None,
    )
    .unwrap();
    assert_eq!(stat(&mut dp, &a, "mtu"), 1500);
    assert_eq!(stat(&mut dp, &x, "mtu"), 1774);
    let z2 = format!("net_null{}", n + 100);
    dp.attach(&format!("{z2},no-rx=1"), None).unwrap();
    assert_eq!(
        stat(&mut dp, &z2, "mtu"),
        SOFT_MTU,
        "no wire: the largest a chain of mbufs holds"
    );
    shutdown_count(dp);
    drop(l);
}

// ---- on the veth lab (root)

fn lab(ports: usize) -> LabGuard {
    LabGuard::up(LabConfig {
        prefix: uniq("l"),
        ports,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap()
}

fn collect(s: &PacketSocket, want: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(Some(n)) = s.recv(&mut buf, 300) {
        let f = &buf[..n];
        if f.len() >= 20 && f[12..14] == ETYPE.to_be_bytes() && &f[14..20] == b"XGTEST" {
            out.push(f.to_vec());
            if out.len() >= want + 16 {
                break;
            }
        }
    }
    out
}

/// A DPDK ring port and an AF_XDP interface in one bridge, one worker, one frame area: frames
/// cross between the two backends as descriptors.
#[test]
fn dpdk_port_and_afxdp_interface_bridged() {
    if !root() {
        return;
    }
    let _g = setup();
    let l = lab(1);
    let r = RingPort::new(&uniq("x"), 1).unwrap();
    let name = r.device();
    let mut dp = start(vec![0]);
    dp.attach(&l.iface(0), None).unwrap();
    let (pd, px) = (format!("{name}:"), format!("{}:", l.iface(0)));
    setautosrc0(&mut dp, &name);
    setautosrc0(&mut dp, &l.iface(0));
    let g = dp.graph();
    g.mkpeer(&pd, "bridge", "lower", "link0").unwrap();
    g.name(&format!("{pd}lower"), "br").unwrap();
    g.connect(&px, "br:", "lower", "link1").unwrap();
    let s = PacketSocket::open_in(&l.ns(0), "eth0").unwrap();
    let host = l.host_mac(0);
    // DPDK -> AF_XDP
    let out: Vec<_> = (0..100).map(|i| frame(host, mac(1), i)).collect();
    for f in &out {
        assert!(r.inject(0, f));
    }
    assert_eq!(collect(&s, 100), out);
    // AF_XDP -> DPDK (host learned behind link1, mac(1) behind link0)
    let back: Vec<_> = (0..100).map(|i| frame(mac(1), host, 1000 + i)).collect();
    for f in &back {
        s.send(f).unwrap();
    }
    assert_eq!(take(&r, 1, 100), back);
    shutdown_all_home(dp, vec![r]);
    drop(l);
}

/// Frame areas use 2368-byte chunks, or 3968-byte ones with large mbufs (neither a power of two,
/// so mbuf headers spread over the cache sets), and an AF_XDP interface beside DPDK devices
/// must fit its frames in them: a larger MTU is refused at attach, with the limit in the
/// message, and nothing is left attached.
#[test]
fn frame_areas_and_the_afxdp_mtu_beside_them() {
    if !root() {
        return;
    }
    let _g = setup();
    use xdpgraph::sys::dpdk::{Area, CHUNK, CHUNK_LARGE};
    for chunk in [CHUNK, CHUNK_LARGE] {
        let a = Area::new(&uniq("a"), 64, chunk).unwrap();
        assert_eq!(a.chunk_size(), chunk);
        assert_eq!(a.chunks(), 64);
        assert_eq!(a.available(), 64);
    }
    let e = Area::new(&uniq("a"), 64, 4096).err().unwrap().to_string();
    assert!(
        e.contains("no frame area layout with 4096-byte chunks"),
        "{e}"
    );
    let max = xdpgraph::frame::max_mtu(CHUNK);
    assert_eq!(max, 2368 - 256 - 18);
    let l = lab(1);
    let set_mtu = |m: u32| {
        let ok = Command::new("ip")
            .args(["link", "set", "dev", &l.iface(0), "mtu", &m.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip link set mtu {m}");
    };
    let mut dp = start(vec![0]);
    set_mtu(max + 1);
    let e = dp.attach(&l.iface(0), None).unwrap_err().to_string();
    assert!(e.contains(&format!("({max})")), "{e}");
    assert!(
        !xdp_prog_on(&l.iface(0)),
        "a refused interface keeps no program"
    );
    set_mtu(max);
    dp.attach(&l.iface(0), None).unwrap();
    assert!(xdp_prog_on(&l.iface(0)));
    shutdown_all_home(dp, vec![]);
    assert!(!xdp_prog_on(&l.iface(0)));
    // large mbufs: up to 3968 - 256 - 18
    let large = xdpgraph::frame::max_mtu(CHUNK_LARGE);
    assert_eq!(large, 3694);
    let mut dp = start_with(vec![0], 0, 3776);
    set_mtu(large + 1);
    let e = dp.attach(&l.iface(0), None).unwrap_err().to_string();
    assert!(e.contains(&format!("({large})")), "{e}");
    set_mtu(large);
    dp.attach(&l.iface(0), None).unwrap();
    shutdown_all_home(dp, vec![]);
    drop(l);
}

/// The af_packet and af_xdp DPDK drivers on lab veths, cross-connected: DPDK's af_xdp driver
/// (system libbpf) and xdpgraph's own XDP loader (vendored libbpf) live in one binary, and
/// closing the device removes the driver's XDP program.
#[test]
fn af_packet_and_af_xdp_drivers_on_the_lab() {
    if !root() {
        return;
    }
    let _g = setup();
    let l = lab(2);
    let mut dp = start(vec![0]);
    let n = N.fetch_add(1, Ordering::SeqCst) + 60;
    let (a, x) = (format!("net_af_packet{n}"), format!("net_af_xdp{n}"));
    dp.attach(&format!("{a},iface={}", l.iface(0)), None)
        .unwrap();
    dp.attach(
        &format!("{x},iface={},start_queue=0,queue_count=1", l.iface(1)),
        None,
    )
    .unwrap();
    setautosrc0(&mut dp, &a);
    setautosrc0(&mut dp, &x);
    dp.graph()
        .connect(&format!("{a}:"), &format!("{x}:"), "lower", "lower")
        .unwrap();
    let s0 = PacketSocket::open_in(&l.ns(0), "eth0").unwrap();
    let s1 = PacketSocket::open_in(&l.ns(1), "eth0").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let fw: Vec<_> = (0..100)
        .map(|i| frame(l.host_mac(1), l.host_mac(0), i))
        .collect();
    for f in &fw {
        s0.send(f).unwrap();
    }
    assert_eq!(collect(&s1, 100), fw, "af_packet in, af_xdp out");
    let bw: Vec<_> = (0..100)
        .map(|i| frame(l.host_mac(0), l.host_mac(1), 500 + i))
        .collect();
    for f in &bw {
        s1.send(f).unwrap();
    }
    assert_eq!(collect(&s0, 100), bw, "af_xdp in, af_packet out");
    assert!(
        xdp_prog_on(&l.iface(1)),
        "the af_xdp driver's program is attached"
    );
    // DPDK 22.11's af_xdp driver does not free the 2048 mbufs of its fill ring (nor frames
    // left in its RX ring) when the device closes; the audit finds and reclaims exactly
    // those, and nothing was freed twice
    let c = shutdown_count(dp);
    assert!(
        (2048..=2048 + 512).contains(&c.kept_by_drivers),
        "only the af_xdp driver's fill and RX rings are missing: {c:?}"
    );
    assert!(
        !xdp_prog_on(&l.iface(1)),
        "closing the device removed its XDP program"
    );
    drop(l);
}

fn xdp_prog_on(ifname: &str) -> bool {
    let o = Command::new("ip")
        .args(["-d", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
}

// ---- the daemon, driven through ctl

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");

fn ctl(sock: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(BIN)
        .arg("ctl")
        .arg("--socket")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn daemon_with_dpdk_devices() {
    let _g = setup();
    let sock = format!("/tmp/xdpgraph-dpdk-{}.sock", std::process::id());
    let mut child = Command::new(BIN)
        .args(["run", "--cores", "0", "--frames", "4096", "--socket", &sock])
        .args(["--dpdk-eal", "--vdev net_null0 --vdev net_null1"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        assert!(child.try_wait().unwrap().is_none(), "daemon exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, out, err) = ctl(&sock, &["--json", "interfaces"]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let ifs = j["interfaces"].as_array().unwrap();
    assert_eq!(ifs.len(), 2);
    assert!(ifs
        .iter()
        .all(|i| i["kind"] == "dpdk" && i["mode"] == "net_null"));
    assert!(
        ctl(
            &sock,
            &["connect", "net_null0:", "net_null1:", "lower", "lower"]
        )
        .0
    );
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out, _) = ctl(&sock, &["--json", "msg", "net_null1:", "getstats"]);
    assert!(ok);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(j["reply"]["tx_packets"].as_u64().unwrap() > 1000, "{j}");
    worker_core_is_the_workers_alone(child.id());
    // hot-plug a third device through ctl, then detach it
    let (ok, _, err) = ctl(&sock, &["attach", "net_null7"]);
    assert!(ok, "ctl attach net_null7: {err}");
    assert!(ctl(&sock, &["show", "net_null7:"]).0);
    assert!(ctl(&sock, &["detach", "net_null7"]).0);
    assert!(!ctl(&sock, &["show", "net_null7:"]).0);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let st = child.wait().unwrap();
    let mut log = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(st.success(), "{log}");
    assert!(log.contains("every frame back in its pool"), "{log}");
    assert_no_runtime_dir(child.id());
}

/// The threads of process `pid`: (thread id, name, allowed CPUs, CPU ticks used so far).
fn threads(pid: u32) -> Vec<(String, String, Vec<usize>, u64)> {
    let mut v = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let p = t.path();
        let (Ok(status), Ok(stat)) = (
            std::fs::read_to_string(p.join("status")),
            std::fs::read_to_string(p.join("stat")),
        ) else {
            continue; // gone meanwhile
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let cpus = field("Cpus_allowed_list:")
            .split(',')
            .flat_map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()
            })
            .collect();
        // utime and stime: fields 14 and 15, counted after the parenthesised name
        let f: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        let tid = t.file_name().to_string_lossy().into_owned();
        v.push((tid, field("Name:"), cpus, ticks));
    }
    v
}

/// Issue 16, part 3, for DPDK: while the worker on core 0 forwards, no other thread of the
/// daemon (the management and ctl threads, the EAL's interrupt and telemetry threads) may run on
/// core 0, and none of them polls (each uses under 5% of a CPU).
fn worker_core_is_the_workers_alone(pid: u32) {
    if xdpgraph::sys::cpu::online_cores() < 2 {
        eprintln!("one CPU: the placement check needs a second one; skipped");
        return;
    }
    let before = threads(pid);
    let secs = 1.0;
    std::thread::sleep(Duration::from_secs_f64(secs));
    let after = threads(pid);
    let hz = 100.0; // USER_HZ
    for (tid, name, cpus, ticks) in &after {
        let was = before.iter().find(|t| &t.0 == tid).map_or(0, |t| t.3);
        let share = (ticks - was.min(*ticks)) as f64 / hz / secs;
        if name.starts_with("xdpgraph-w") {
            assert_eq!(cpus, &vec![0], "the worker's CPUs");
            continue;
        }
        assert!(
            !cpus.contains(&0),
            "thread {name} may run on the worker's core: {cpus:?}"
        );
        assert!(
            share < 0.05,
            "thread {name} used {share:.2} of a CPU while the worker forwarded"
        );
    }
}

/// Where the EAL of process `pid` kept its runtime files (the default `--file-prefix`).
fn runtime_dirs(pid: u32) -> Vec<std::path::PathBuf> {
    let mut bases = vec![std::path::PathBuf::from("/var/run/dpdk")];
    if let Ok(x) = std::env::var("XDG_RUNTIME_DIR") {
        bases.push(std::path::Path::new(&x).join("dpdk"));
    }
    bases.push("/tmp/dpdk".into());
    (bases.into_iter())
        .map(|b| b.join(format!("xdpgraph-{pid}")))
        .collect()
}

fn assert_no_runtime_dir(pid: u32) {
    for d in runtime_dirs(pid) {
        assert!(
            !d.exists(),
            "the EAL's runtime directory {} is left",
            d.display()
        );
    }
}

#[test]
fn clear_errors_when_dpdk_cannot_start() {
    let _g = setup();
    let run = |eal: &str, frames: &str| {
        let c = Command::new(BIN)
            .args(["run", "--cores", "0", "--frames", frames, "--socket"])
            .arg(format!(
                "/tmp/xdpgraph-dpdk-bad-{}.sock",
                std::process::id()
            ))
            .args(["--dpdk-eal", eal])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = c.id();
        let o = c.wait_with_output().unwrap();
        assert!(!o.status.success());
        // an EAL that started and a run that failed after: its runtime files are gone too
        assert_no_runtime_dir(pid);
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = run("--no-such-eal-option", "1024");
    assert!(e.contains("EAL initialisation failed"), "{e}");
    let e = run("--vdev net_null0 --no-huge -m 64", "65536");
    assert!(
        e.contains("cannot reserve") && e.contains("DPDK memory"),
        "{e}"
    );
    let e = run("", "1024");
    assert!(e.contains("DPDK found no device"), "{e}");
}
