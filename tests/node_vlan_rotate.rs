//! vlan_rotate (ng_vlan_rotate(4)): FreeBSD's tests/sys/netgraph/vlan_rotate.c ported to the
//! in-memory lab (`basic`, `reverse`, `ethertype`, `typeether`, `minmax`), then the man page's
//! example, the statistics, the drops and the messages as ng_vlan_rotate.c has them.
//!
//! The C test sends from a socket hook into one of `original` / `ordered` and reads what comes
//! out of the other. Here the two hooks hang off ports: frames injected on `p0`'s wire reach the
//! node through `p0`'s `lower` hook, and the node's output is read from the other port's wire.

use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::vlan_rotate;
use xdpgraph::testkit::Lab;
use xdpgraph::value::Value;
use xdpgraph::wire::{EtherType, Tci, VlanStack};

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

fn setconf(l: &mut Lab, arg: &str) -> Result<Option<Value>, GraphError> {
    l.graph.msg("vr:", "setconf", Some(&v(arg)))
}

fn stat(l: &mut Lab, field: &str) -> u64 {
    let s = l.graph.msg("vr:", "getstat", None).unwrap().unwrap();
    s.field(field).map_or(0, |x| x.as_i128().unwrap() as u64)
}

fn histogram(l: &mut Lab) -> Vec<u64> {
    let s = l.graph.msg("vr:", "getstat", None).unwrap().unwrap();
    match s.field("histogram") {
        Some(Value::Array(a)) => a.iter().map(|x| x.as_i128().unwrap() as u64).collect(),
        other => panic!("histogram: {other:?}"),
    }
}

/// The C test's `struct frame msg`: two addresses and ten 4-byte (proto, tag) entries, tags
/// 0x8100 with VIDs 1..9, the tenth entry zero: 52 bytes.
fn c_msg() -> Vec<u8> {
    let mut f = vec![2, 4, 6, 1, 3, 7, 2, 4, 6, 1, 3, 5];
    for vid in 1..=9u16 {
        f.extend_from_slice(&EtherType::VLAN.to_be_bytes());
        f.extend_from_slice(&Tci::new(vid, 0, 0).unwrap().0.to_be_bytes());
    }
    f.extend_from_slice(&[0; 4]);
    f
}

/// Sets entry `i`'s proto (as the C test's `msg.vlan[i].proto = htons(...)`).
fn set_proto(f: &mut [u8], i: usize, proto: u16) {
    f[12 + 4 * i..14 + 4 * i].copy_from_slice(&proto.to_be_bytes());
}

/// The ten entries of a received frame as (proto, tag) pairs (the C test's get_vlan and
/// get_ethertype read these).
fn entries(f: &[u8]) -> Vec<(u16, u16)> {
    (0..10)
        .map(|i| {
            let e = &f[12 + 4 * i..16 + 4 * i];
            (
                u16::from_be_bytes([e[0], e[1]]),
                u16::from_be_bytes([e[2], e[3]]),
            )
        })
        .collect()
}

/// One frame in on port `from`; the one frame that comes out on port `to` (none elsewhere).
fn one_through(l: &mut Lab, from: usize, to: usize, f: &[u8]) -> Vec<u8> {
    l.send(from, &[f.to_vec()]);
    let mut got = Vec::new();
    for i in 0..l.ports.len() {
        let out = l.tx(i);
        if i == to {
            assert_eq!(out.len(), 1, "one frame out of port {to}");
            got = out[0].clone();
        } else {
            assert!(out.is_empty(), "nothing out of port {i}");
        }
    }
    got
}

/// `mkpeer . a vlan_rotate original|ordered; name a vr; connect . b vr: ordered|original`:
/// p0 is "a" (the hook frames are sent from), p1 is "b".
fn rig(direction: i32) -> Lab {
    let (a, b) = if direction > 0 {
        ("original", "ordered")
    } else {
        ("ordered", "original")
    };
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "vlan_rotate", "lower", a).unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    l.graph.connect("p1:", "vr:", "lower", b).unwrap();
    l
}

/// The C test's `_basic(direction)`: for every stack depth 9..1 and every rotation that keeps
/// the stack complete, tag `i` of the output carries VID `(2 len + i - direction rot) % len + 1`.
fn basic(direction: i32) {
    let mut l = rig(direction);
    let mut msg = c_msg();
    for len in (1..=9i32).rev() {
        // reduce the number of vlans
        set_proto(&mut msg, len as usize, EtherType::IPV4);
        for rot in -len + 1..len {
            setconf(&mut l, &format!("{{ min=0 max=9 rot={rot} }}")).unwrap();
            let out = one_through(&mut l, 0, 1, &msg);
            assert_eq!(out.len(), msg.len());
            let r = entries(&out);
            for i in 0..len {
                let expect = (2 * len + i - direction * rot) % len + 1;
                let vlan = Tci(r[i as usize].1).vid() as i32;
                assert_eq!(vlan, expect, "len={len} rot={rot} i={i}");
            }
            // Behind the stack nothing moved.
            assert_eq!(out[12 + 4 * len as usize..], msg[12 + 4 * len as usize..]);
            assert_eq!(out[..12], msg[..12]);
        }
    }
    assert_eq!(stat(&mut l, "drops"), 0);
    assert_eq!(l.balance().0, l.balance().1);
    l.graph.shutdown("vr:").unwrap();
}

#[test]
fn basic_from_original() {
    basic(1);
}

#[test]
fn reverse_from_ordered() {
    basic(-1);
}

/// The C harness seeds libc's rand() with 0xb93b; this is a different generator with the same
/// seed (the sequence of the original cannot matter: every case is checked).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

/// The C test's `_ethertype(direction)`: 20 rounds of nine tags with random TPIDs (0x8100,
/// 0x88a8, 0x9100) and a random rotation; each TPID travels with its tag.
fn ethertype(direction: i32) {
    let mut l = rig(direction);
    let mut rng = Rng(0xb93b);
    let mut msg = c_msg();
    for _ in 0..20 {
        let len = 9i32;
        let rot = (rng.next() % (2 * len as u32 - 1)) as i32 - len + 1;
        let mut vlan = [0u16; 10];
        for (i, p) in vlan.iter_mut().enumerate().take(len as usize) {
            *p = match rng.next() % 3 {
                1 => EtherType::QINQ,
                2 => EtherType::VLAN_9100,
                _ => EtherType::VLAN,
            };
            set_proto(&mut msg, i, *p);
        }
        set_proto(&mut msg, len as usize, EtherType::IPV4);
        setconf(&mut l, &format!("{{ min=0 max=9 rot={rot} }}")).unwrap();
        let r = entries(&one_through(&mut l, 0, 1, &msg));
        for i in 0..len {
            let expect = ((2 * len + i - direction * rot) % len) as usize;
            assert_eq!(r[i as usize].0, vlan[expect], "len={len} rot={rot} i={i}");
            // The VID moved with it (the C test checks TPIDs only).
            assert_eq!(Tci(r[i as usize].1).vid() as usize, expect + 1);
        }
    }
    l.graph.shutdown("vr:").unwrap();
}

#[test]
fn ethertype_from_original() {
    ethertype(1);
}

#[test]
fn typeether_from_ordered() {
    ethertype(-1);
}

/// The C test's `minmax`: with `{ min=3 max=7 rot=0 }`, stacks of 3..7 pass between original
/// and ordered, shorter ones go to incomplete, longer ones to excessive, and whatever comes in
/// on excessive or incomplete goes to original.
#[test]
fn minmax() {
    let mut l = Lab::new(4);
    l.graph
        .mkpeer("p0:", "vlan_rotate", "lower", "original")
        .unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    l.graph.connect("p1:", "vr:", "lower", "ordered").unwrap();
    l.graph.connect("p2:", "vr:", "lower", "excessive").unwrap();
    l.graph
        .connect("p3:", "vr:", "lower", "incomplete")
        .unwrap();
    setconf(&mut l, "{ min=3 max=7 rot=0 }").unwrap();
    let mut msg = c_msg();
    for len in (1..=9usize).rev() {
        set_proto(&mut msg, len, EtherType::IPV4);
        let side = match len {
            0..=2 => 3,
            8.. => 2,
            _ => usize::MAX,
        };
        let out = one_through(&mut l, 0, if side == usize::MAX { 1 } else { side }, &msg);
        assert_eq!(out, msg, "len={len}: rot=0 changes nothing");
        one_through(&mut l, 1, if side == usize::MAX { 0 } else { side }, &msg);
        one_through(&mut l, 2, 0, &msg);
        one_through(&mut l, 3, 0, &msg);
    }
    // 2 frames each (from original and from ordered) of 9 and 8 tags, 2 of 2 and 1 tag.
    assert_eq!(stat(&mut l, "excessive"), 4);
    assert_eq!(stat(&mut l, "incomplete"), 4);
    assert_eq!(histogram(&mut l), vec![0, 0, 0, 2, 2, 2, 2, 2, 0, 0]);
    assert_eq!(stat(&mut l, "drops"), 0);
    assert_eq!(l.balance().0, l.balance().1);
}

// ----- beyond the C test ----------------------------------------------------------------------

/// A frame with these tags (TPID, VID, PCP, CFI), then IPv4 and a payload: 64 bytes and more.
fn stacked(tags: &[(u16, u16, u8, u8)]) -> Vec<u8> {
    let mut f = xdpgraph::testkit::eth(2, 1);
    let mut at = 12;
    for &(tpid, vid, pcp, cfi) in tags {
        let mut tag = tpid.to_be_bytes().to_vec();
        tag.extend_from_slice(&Tci::new(vid, pcp, cfi).unwrap().0.to_be_bytes());
        f.splice(at..at, tag);
        at += 4;
    }
    f
}

fn tags_of(f: &[u8]) -> Vec<(u16, u16, u8, u8)> {
    let s = VlanStack::new_checked(f, 10).unwrap();
    (0..s.depth())
        .map(|i| {
            let t = s.tag(i);
            let c = t.tci();
            (t.tpid(), c.vid(), c.pcp(), c.cfi())
        })
        .collect()
}

/// ng_vlan_rotate(4)'s first example: `setconf { min=2 max=3 rot=1 }` brings the innermost
/// tag (0x8100 vid 123 p 7) outermost; each tag keeps its TPID and QoS bits. The way back
/// (ordered → original) restores the frame.
#[test]
fn man_page_example_and_back() {
    let mut l = rig(1);
    setconf(&mut l, "{ min=2 max=3 rot=1 }").unwrap();
    let inp = stacked(&[(0x9100, 2, 1, 0), (0x88a8, 101, 0, 1), (0x8100, 123, 7, 0)]);
    let out = one_through(&mut l, 0, 1, &inp);
    assert_eq!(
        tags_of(&out),
        vec![(0x8100, 123, 7, 0), (0x9100, 2, 1, 0), (0x88a8, 101, 0, 1)]
    );
    assert_eq!(out.len(), inp.len());
    assert_eq!(out[24..], inp[24..], "the payload is untouched");
    let back = one_through(&mut l, 1, 0, &out);
    assert_eq!(back, inp);
    assert_eq!(histogram(&mut l)[3], 2);
    let c = l.graph.msg("vr:", "getconf", None).unwrap().unwrap();
    assert_eq!(c.to_string(), "{ rot=1 min=2 max=3 }");
}

#[test]
fn every_tpid_the_c_node_knows_is_a_tag() {
    let mut l = rig(1);
    setconf(&mut l, "{ rot=-1 }").unwrap();
    let tags = [
        (0x8100, 1, 0, 0),
        (0x88a8, 2, 0, 0),
        (0x9100, 3, 0, 0),
        (0x9200, 4, 0, 0),
        (0x9300, 5, 0, 0),
    ];
    let out = one_through(&mut l, 0, 1, &stacked(&tags));
    let mut want = tags.to_vec();
    want.rotate_left(1);
    assert_eq!(tags_of(&out), want);
    assert_eq!(histogram(&mut l)[5], 1);
}

/// As the C source: 10 tags are excessive whatever max says, and the depth is counted before
/// the configuration is applied (the histogram has 10 entries, 0..9).
#[test]
fn ten_tags_are_excessive_nine_are_counted() {
    let mut l = Lab::new(3);
    l.graph
        .mkpeer("p0:", "vlan_rotate", "lower", "original")
        .unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    l.graph.connect("p1:", "vr:", "lower", "ordered").unwrap();
    l.graph.connect("p2:", "vr:", "lower", "excessive").unwrap();
    let nine: Vec<_> = (1..=9).map(|v| (0x8100, v, 0, 0)).collect();
    let ten: Vec<_> = (1..=10).map(|v| (0x8100, v, 0, 0)).collect();
    let twelve: Vec<_> = (1..=12).map(|v| (0x88a8, v, 0, 0)).collect();
    // The default configuration: rot=0 min=0 max=10.
    one_through(&mut l, 0, 1, &stacked(&nine));
    one_through(&mut l, 0, 2, &stacked(&ten));
    one_through(&mut l, 0, 2, &stacked(&twelve));
    let h = histogram(&mut l);
    assert_eq!(h.len(), vlan_rotate::MAX_VLANS);
    assert_eq!(h[9], 1);
    assert_eq!(stat(&mut l, "excessive"), 2);
}

/// With `rot=0`, a stack must still be deeper than |rot|: an untagged frame is incomplete even
/// with the default configuration (`vlans <= abs(rotate)` in the C source).
#[test]
fn untagged_and_shallow_stacks_are_incomplete() {
    let mut l = Lab::new(3);
    l.graph
        .mkpeer("p0:", "vlan_rotate", "lower", "original")
        .unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    l.graph.connect("p1:", "vr:", "lower", "ordered").unwrap();
    l.graph
        .connect("p2:", "vr:", "lower", "incomplete")
        .unwrap();
    one_through(&mut l, 0, 2, &stacked(&[]));
    one_through(&mut l, 0, 1, &stacked(&[(0x8100, 7, 0, 0)]));
    setconf(&mut l, "{ rot=2 }").unwrap();
    let two = stacked(&[(0x8100, 7, 0, 0), (0x8100, 8, 0, 0)]);
    assert_eq!(one_through(&mut l, 0, 2, &two), two, "unchanged");
    let three = [(0x8100, 7, 0, 0), (0x8100, 8, 0, 0), (0x8100, 9, 0, 0)];
    let out = one_through(&mut l, 0, 1, &stacked(&three));
    assert_eq!(
        tags_of(&out).iter().map(|t| t.1).collect::<Vec<_>>(),
        [8, 9, 7]
    );
    assert_eq!(stat(&mut l, "incomplete"), 2);
    assert_eq!(histogram(&mut l), vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/// Drops, and the `drops` statistic, as ng_vlanrotate_rcvdata counts them.
#[test]
fn unconnected_targets_and_short_frames_are_dropped_and_counted() {
    let mut l = Lab::new(2);
    l.graph
        .mkpeer("p0:", "vlan_rotate", "lower", "original")
        .unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    // No ordered hook: everything from original is dropped before its stack is looked at
    // (an excessive stack is not counted as excessive).
    let many: Vec<_> = (1..=11).map(|v| (0x8100, v, 0, 0)).collect();
    l.send(0, &[stacked(&[(0x8100, 1, 0, 0)]), stacked(&many)]);
    assert_eq!(stat(&mut l, "drops"), 2);
    assert_eq!(stat(&mut l, "excessive"), 0);
    assert_eq!(l.graph.drops_of("vlan_rotate", DropReason::NotConnected), 2);
    // With ordered: the unconnected excessive and incomplete hooks drop.
    l.graph.connect("p1:", "vr:", "lower", "ordered").unwrap();
    l.send(0, &[stacked(&many), stacked(&[])]);
    assert!(l.tx(1).is_empty());
    assert_eq!(stat(&mut l, "drops"), 4);
    assert_eq!(
        (stat(&mut l, "excessive"), stat(&mut l, "incomplete")),
        (1, 1)
    );
    // Too short for its stack: the EtherType ending it needs two bytes after it.
    let mut short = stacked(&[(0x8100, 1, 0, 0), (0x8100, 2, 0, 0)]);
    short.truncate(12 + 8 + 3);
    let mut runt = stacked(&[]);
    runt.truncate(15);
    let mut just = stacked(&[(0x8100, 1, 0, 0)]);
    just.truncate(12 + 4 + 4);
    l.send(0, &[short, runt, just]);
    assert_eq!(l.tx(1).len(), 1, "16 + 4 bytes carry one tag");
    assert_eq!(
        l.graph
            .drops_of("vlan_rotate", vlan_rotate::reason::TRUNCATED),
        2
    );
    assert_eq!(stat(&mut l, "drops"), 6);
    // Frames from ordered with original gone.
    l.graph.rmhook("p0:", "lower").unwrap();
    l.send(1, &[stacked(&[(0x8100, 1, 0, 0)])]);
    assert_eq!(stat(&mut l, "drops"), 7);
    assert_eq!(l.graph.drops_of("vlan_rotate", DropReason::NotConnected), 5);
    assert_eq!(l.balance().0, l.balance().1);
}

/// Frames written into excessive or incomplete go to original unchanged, or are dropped
/// (counted) when original is not connected.
#[test]
fn excessive_and_incomplete_go_to_original() {
    let mut l = Lab::new(3);
    l.graph
        .mkpeer("p1:", "vlan_rotate", "lower", "excessive")
        .unwrap();
    l.graph.name("p1:lower", "vr").unwrap();
    l.graph
        .connect("p2:", "vr:", "lower", "incomplete")
        .unwrap();
    setconf(&mut l, "{ rot=1 }").unwrap();
    let f = stacked(&[(0x8100, 1, 0, 0), (0x88a8, 2, 0, 0)]);
    l.send(1, std::slice::from_ref(&f));
    l.send(2, &[f.clone(), f.clone()]);
    assert_eq!(stat(&mut l, "drops"), 3);
    l.graph.connect("p0:", "vr:", "lower", "original").unwrap();
    assert_eq!(one_through(&mut l, 1, 0, &f), f);
    assert_eq!(one_through(&mut l, 2, 0, &f), f);
    assert_eq!(stat(&mut l, "drops"), 3);
    assert_eq!(histogram(&mut l).iter().sum::<u64>(), 0, "not counted");
}

/// Every statistic is zero.
fn cleared(l: &mut Lab) -> bool {
    let counts = ["drops", "excessive", "incomplete"].map(|f| stat(l, f));
    counts == [0; 3] && histogram(l) == [0; vlan_rotate::MAX_VLANS]
}

#[test]
fn statistics_messages() {
    let mut l = rig(1);
    l.send(0, &[stacked(&[(0x8100, 1, 0, 0)]), stacked(&[])]);
    l.tx(1);
    let s = l.graph.msg("vr:", "getstat", None).unwrap().unwrap();
    assert_eq!(
        s.to_string(),
        "{ drops=1 incomplete=1 histogram=[ 1=1 ] }",
        "netgraph's field names; zeros left out"
    );
    let s = l.graph.msg("vr:", "getclrstat", None).unwrap().unwrap();
    assert_eq!(s.field("incomplete").unwrap().as_i128(), Some(1));
    assert!(cleared(&mut l));
    l.send(0, &[stacked(&[(0x8100, 1, 0, 0)])]);
    assert_eq!(histogram(&mut l)[1], 1);
    assert_eq!(l.graph.msg("vr:", "clrstat", None).unwrap(), None);
    assert!(cleared(&mut l));
    let e = l.graph.msg("vr:", "getstat", Some(&v("1"))).unwrap_err();
    assert_eq!(e.errno().name(), "EINVAL");
}

/// setconf as ng_vlanrotate_rcvmsg checks it: max=0 keeps max, other fields left out are 0,
/// and max > 10, min > max, |rot| >= max are EINVAL (the configuration unchanged).
#[test]
fn setconf_and_getconf() {
    let mut l = rig(1);
    let get = |l: &mut Lab| {
        l.graph
            .msg("vr:", "getconf", None)
            .unwrap()
            .unwrap()
            .to_string()
    };
    assert_eq!(get(&mut l), "{ max=10 }");
    setconf(&mut l, "{ rot=-2 min=3 max=5 }").unwrap();
    assert_eq!(get(&mut l), "{ rot=-2 min=3 max=5 }");
    setconf(&mut l, "{ rot=1 }").unwrap();
    assert_eq!(
        get(&mut l),
        "{ rot=1 max=5 }",
        "min left out is 0, max=0 keeps max"
    );
    setconf(&mut l, "{ }").unwrap();
    assert_eq!(get(&mut l), "{ max=5 }");
    for bad in [
        "{ max=11 }",
        "{ min=6 }",
        "{ min=4 max=3 }",
        "{ rot=5 }",
        "{ rot=-5 }",
        "{ rot=9 max=9 }",
        "{ rot=128 }",
        "{ min=-1 }",
        "{ max=256 }",
        "{ vid=1 }",
        "7",
    ] {
        let e = setconf(&mut l, bad).unwrap_err();
        assert_eq!(e.errno().name(), "EINVAL", "{bad}: {e}");
    }
    let e = l.graph.msg("vr:", "setconf", None).unwrap_err();
    assert_eq!(e.errno().name(), "EINVAL");
    assert_eq!(get(&mut l), "{ max=5 }");
    setconf(&mut l, "{ rot=-9 max=10 }").unwrap();
    setconf(&mut l, "{ rot=9 min=10 }").unwrap();
    assert_eq!(get(&mut l), "{ rot=9 min=10 max=10 }");
    let e = l.graph.msg("vr:", "nosuch", None).unwrap_err();
    assert_eq!(e.errno().name(), "EINVAL");
}

#[test]
fn hooks_and_shutdown() {
    let mut l = Lab::new(3);
    let e = l
        .graph
        .mkpeer("p0:", "vlan_rotate", "lower", "downstream")
        .unwrap_err();
    assert_eq!(e.errno().name(), "EINVAL");
    l.graph
        .mkpeer("p0:", "vlan_rotate", "lower", "original")
        .unwrap();
    l.graph.name("p0:lower", "vr").unwrap();
    let e = l
        .graph
        .connect("p1:", "vr:", "lower", "original")
        .unwrap_err();
    assert_eq!(e.errno().name(), "EEXIST");
    l.graph
        .connect("p1:", "vr:", "lower", "incomplete")
        .unwrap();
    l.graph.rmhook("vr:", "original").unwrap();
    assert!(l.graph.resolve("vr:").is_ok(), "a hook is left");
    l.graph.rmhook("vr:", "incomplete").unwrap();
    assert!(
        matches!(l.graph.resolve("vr:"), Err(GraphError::NoNode(_))),
        "the node goes with its last hook"
    );
}
